"""The ``cancelkit`` command.

Its console script is :func:`run`: a cancel in one of the forms ``_quick`` knows
(``cancel VENUE ID... [--market SLUG]``) runs before click is loaded, so that
its first request leaves sooner; any other command line goes to the click tree
(:data:`main`, in ``_main``), loaded then. Nothing here loads click.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from .. import _VENUES
from ._loading import skip_httpx_cli

if TYPE_CHECKING:
    from ._main import main as main

skip_httpx_cli()

# Each venue's commands, by module path, from the one table of venues: a command
# imports only the venue it acts on, and `cancelkit --help` none.
VENUES = {venue: f"cancelkit.{venue}._cli" for venue in _VENUES}


def run() -> None:
    """``cancelkit``: the command line in ``sys.argv``; exits with its status."""
    from ._quick import quick

    quick(sys.argv[1:])  # returns if it is not one of its forms (nothing was sent)
    from ._main import main

    main()


def __getattr__(name: str) -> Any:
    """``main``, the click group, loaded when first named."""
    if name == "main":
        from ._main import main

        return main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

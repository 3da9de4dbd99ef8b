"""click, loaded at its first use.

The modules on a cancel's way to its first request (``_cancel``, ``_inputs``,
``_options``, a venue's ``_cancel_cmd``) use click only inside functions: to say a
line, or to raise a usage error. They take it from here, so that a cancel that
``_quick`` recognises sends its first request before click is loaded (about 15 ms
of a cold start), and click loads when a line is first said or an error raised.
Type checkers see click itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import click
else:

    class _Click:
        """The click module, imported when one of its names is first read."""

        def __getattr__(self, name: str) -> Any:
            import click as loaded

            return getattr(loaded, name)

    click = _Click()

__all__ = ["click"]

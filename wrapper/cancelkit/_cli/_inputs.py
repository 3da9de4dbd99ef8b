"""The operator's input at the edges: JSON lines, ``-``, another venue's ids (each
venue's ``_cli`` says which look foreign to it), the environment. Each problem is
one clear usage error (exit 2) before anything is sent."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, TypeVar

from ._click import click

_C = TypeVar("_C")

# A UUID in its one canonical spelling (8-4-4-4-12 hex digits): a common form, more
# than one venue's ids take it, so it is no one venue's own.
UUID_FORM = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


def json_line(label: str, text: str) -> Any:
    """A JSON line of an input file, parsed; a usage error naming the line if it is not
    JSON, or is nested too deeply to parse (Python's parser recurses: a line of
    100,000 ``[`` would otherwise be a ``RecursionError`` traceback)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise click.UsageError(f"{label}: a JSON line nested too deeply to read") from None
    except ValueError:
        raise click.UsageError(f"{label}: a JSON line that is not a cancelkit record") from None


Listed = tuple[str, str]
"""How a venue's listing (``cancelkit orders <venue> --json``) shows an order: the
key of its id, and a key every listed order has and no cancelkit record does. The
venue's ``_cli`` says which (``gather(..., listed=...)``)."""

LISTED: Listed = ("id", "marketSlug")
"""The shape most venues' listings share (an ``id`` and a ``marketSlug``)."""


def listed_order_id(record: Any, listed: Listed = LISTED) -> str | None:
    """The id of a line of ``cancelkit orders <venue> --json`` (an order as the
    listing shows it: ``listed``), so that a listing can be reviewed and then
    cancelled."""
    id_key, marker = listed
    if not isinstance(record, dict) or marker not in record:
        return None
    order_id = record.get(id_key)
    return order_id if isinstance(order_id, str) else None


def no_bare_dash(args: Sequence[tuple[str, str]]) -> None:
    """A bare ``-`` among the ids is refused: it is no order id, and stdin is read only
    through ``--from-file -``."""
    for label, value in args:
        kind, sep, rest = value.partition(":")
        if (rest if sep and kind in ("order", "client") else value).strip() == "-":
            raise click.UsageError(
                f"{label} is '-': to read ids from stdin use --from-file -; nothing was sent"
            )


def refuse_foreign(hits: Sequence[str], message: str) -> None:
    """Refuse, with one message, the inputs (their labels) that a venue's ``foreign``
    check found written in another venue's form: one wrong file is one mistake, not
    one error per line."""
    if hits:
        where = hits[0] + (f" and {len(hits) - 1} more" if len(hits) > 1 else "")
        raise click.UsageError(f"{where}: {message}; nothing was sent")

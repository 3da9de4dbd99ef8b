"""The operator's input at the edges: JSON lines, ``-``, the other venue's ids, the
environment. Each problem is one clear usage error (exit 2) before anything is sent."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, TypeVar

import click

_C = TypeVar("_C")

# A Limitless order id in the one spelling its cancel endpoint takes.
UUID_FORM = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
_LIMITLESS_FORM = re.compile(r"(?:order|client):")


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


def listed_order_id(record: Any) -> str | None:
    """The id of a line of ``cancelkit orders polymarket --json`` (an order as the
    listing shows it), so that a listing can be reviewed and then cancelled."""
    if not isinstance(record, dict) or "marketSlug" not in record:
        return None
    order_id = record.get("id")
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


def limitless_target(text: str) -> str:
    """``text`` in the ``order:``/``client:`` form: a bare UUID is an order id (the
    exchange's internal ids are UUIDs; a client order id that is itself a UUID must
    be written ``client:<uuid>``)."""
    return f"order:{text}" if UUID_FORM.fullmatch(text) else text


def foreign_ids(venue: str, items: Sequence[tuple[str, str]]) -> None:
    """Refuse, with one message, inputs written in the other venue's forms: any
    ``order:``/``client:`` id given to Polymarket; to Limitless, inputs that are all
    bare ids and no UUIDs (a Polymarket list). One wrong file is one mistake, not
    one error per line."""
    if venue == "polymarket":
        hits = [label for label, text in items if _LIMITLESS_FORM.match(text)]
        other, forms = "limitless", "order:<uuid> / client:<id> is the Limitless form"
    else:
        hits = [
            label
            for label, text in items
            if ":" not in text and not UUID_FORM.fullmatch(text.strip())
        ]
        if len(hits) < len(items):
            hits = []  # some inputs are Limitless ids: each bad one gets its own message
        other, forms = "polymarket", "bare ids that are not UUIDs look like Polymarket ids"
    if hits:
        where = hits[0] + (f" and {len(hits) - 1} more" if len(hits) > 1 else "")
        raise click.UsageError(
            f"{where}: {forms}; use 'cancelkit cancel {other}'"
            + (" (or write order:<uuid> / client:<id>)" if venue == "limitless" else "")
            + "; nothing was sent"
        )

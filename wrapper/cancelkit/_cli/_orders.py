"""``cancelkit orders <venue>``: the orders of a key, as a table, counts or JSON (the
venue's ``_cli`` gives its columns and each order's cells).

The table is plain aligned text: a rich table of 100,000 rows took
minutes and gigabytes, and rich reads ids and slugs as markup (an id ``[/bold]x``
crashed it). Everything the server chose is made printable first.

At 100,000 orders a listing can be read one order at a time (a venue's ``_listing``)
and what is printed is written in chunks, never joined into one string.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from itertools import islice
from typing import Any

import click

from ._terminal import json_safe, printable

# The spec's enum values carry their type as a prefix: ORDER_SIDE_BUY is "buy".
_PREFIXES = ("ORDER_SIDE_", "ORDER_STATE_")


def readable(value: Any) -> str:
    """An enum value as an operator reads it (``ORDER_STATE_PENDING_CANCEL``:
    ``pending cancel``); other values as text, ``-`` when absent."""
    text = getattr(value, "value", value)
    if not isinstance(text, str | int | float) or isinstance(text, bool):
        return "-"
    text = str(text)
    for prefix in _PREFIXES:
        if text.startswith(prefix):
            return text.removeprefix(prefix).lower().replace("_", " ")
    return text


# A listing has a handful of sides and states: each read once, not once per order.
enum_text = lru_cache(maxsize=256, typed=True)(readable)


def text(value: Any) -> str:
    """A value as text, ``-`` when it is no string or number."""
    return "-" if not isinstance(value, str | int | float) else str(value)


def market_of(order: Any) -> str:
    """An order's market as printed (the table's second column)."""
    return printable(text(order.market_slug))


def per_market(orders: Iterable[Any]) -> Counter[str]:
    """How many orders in each market."""
    return Counter(market_of(o) for o in orders)


def footer(counts: Counter[str], noun: str = "open order(s)") -> str:
    """``N open order(s) in M market(s)``, then one line per market, largest first."""
    total = sum(counts.values())
    lines = [f"{total} {noun} in {len(counts)} market(s)"]
    largest_first = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    lines += [f"  {n:>8}  {slug}" for slug, n in largest_first]
    return "\n".join(lines)


def table(
    orders: Sequence[Any],
    columns: Sequence[str],
    cells: Callable[[Any], tuple[str, ...]],
    noun: str = "open order(s)",
) -> str:
    """The orders as aligned columns, then the footer with the counts."""
    rows = [cells(o) for o in orders]
    return "\n".join(table_lines(rows, columns, per_market(orders), noun))


def table_lines(
    rows: Sequence[tuple[str, ...]],
    columns: Sequence[str],
    counts: Counter[str],
    noun: str = "open order(s)",
) -> Iterator[str]:
    """:func:`table`'s lines from the rows' cells, one at a time."""
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    last = len(columns) - 1

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c if i == last else c.ljust(widths[i]) for i, c in enumerate(cells))

    if rows:
        yield line(columns)
        yield line(["-" * w for w in widths])
    yield from (line(r) for r in rows)
    yield footer(counts, noun)


# json.dumps(..., ensure_ascii=False) without building an encoder per order.
_encode = json.JSONEncoder(ensure_ascii=False).encode


def json_line(order: Any) -> str:
    """One order as a printable JSON line (the model's ``to_dict``)."""
    return json_safe(_encode(order.to_dict()))


def json_lines(orders: Iterable[Any]) -> str:
    """One JSON order per line, as the listing shows it: a file that the venue's
    ``cancelkit cancel --from-file`` reads (its ``id``s, see ``_inputs``), so a
    listing can be saved, reviewed, trimmed and cancelled."""
    return "\n".join(json_line(o) for o in orders)


def write(lines: Iterable[str], chunk: int = 2000) -> None:
    """The lines on stdout, ``chunk`` at a time: what ``click.echo("\\n".join(lines))``
    prints, without the whole text in memory; nothing at all for no lines."""
    it = iter(lines)
    while part := list(islice(it, chunk)):
        click.echo("\n".join(part))

"""``cancelkit orders polymarket|limitless``: the orders of a key, as a table, counts or JSON.

The table is plain aligned text written at once: a rich table of 100,000 rows took
minutes and gigabytes, and rich reads ids and slugs as markup (an id ``[/bold]x``
crashed it). Everything the server chose is made printable first.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ._terminal import json_safe, printable

COLUMNS = ("id", "market", "side", "price", "quantity left", "state")
LIMITLESS_COLUMNS = ("id", "client order id", "market", "side", "price", "size left", "status")
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


def _text(value: Any) -> str:
    return "-" if not isinstance(value, str | int | float) else str(value)


def row(order: Any) -> tuple[str, ...]:
    """One order's cells, printable."""
    price = getattr(order.price, "value", None)
    left = order.leaves_quantity
    return tuple(
        printable(cell)
        for cell in (
            _text(order.id),
            _text(order.market_slug),
            readable(order.side),
            _text(price),
            f"{left:g}" if isinstance(left, int | float) else "-",
            readable(order.state),
        )
    )


def limitless_row(order: Any) -> tuple[str, ...]:
    """One Limitless order's cells, printable."""
    return tuple(
        printable(readable(cell))
        for cell in (
            order.id,
            order.client_order_id,
            order.market_slug,
            order.side,
            order.price,
            order.remaining_size,
            order.status,
        )
    )


def per_market(orders: Iterable[Any]) -> Counter[str]:
    """How many orders in each market."""
    return Counter(printable(_text(o.market_slug)) for o in orders)


def footer(counts: Counter[str], noun: str = "open order(s)") -> str:
    """``N open order(s) in M market(s)``, then one line per market, largest first."""
    total = sum(counts.values())
    lines = [f"{total} {noun} in {len(counts)} market(s)"]
    largest_first = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    lines += [f"  {n:>8}  {slug}" for slug, n in largest_first]
    return "\n".join(lines)


def table(
    orders: Sequence[Any],
    columns: Sequence[str] = COLUMNS,
    cells: Callable[[Any], tuple[str, ...]] = row,
    noun: str = "open order(s)",
) -> str:
    """The orders as aligned columns, then the footer with the counts."""
    rows = [cells(o) for o in orders]
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    last = len(columns) - 1

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c if i == last else c.ljust(widths[i]) for i, c in enumerate(cells))

    out = [line(columns), line(["-" * w for w in widths])] if rows else []
    out += [line(r) for r in rows]
    out.append(footer(per_market(orders), noun))
    return "\n".join(out)


def json_lines(orders: Iterable[Any]) -> str:
    """One JSON order per line, as the listing shows it: a file that
    ``cancelkit cancel polymarket --from-file`` reads (its ``id``s), so a listing
    can be saved, reviewed, trimmed and cancelled."""
    return "\n".join(json_safe(json.dumps(o.to_dict(), ensure_ascii=False)) for o in orders)

"""The Polymarket US commands: ``cancelkit cancel polymarket``, ``cancelkit orders
polymarket``. Registered by module path in ``cancelkit._cli``; the client and its
dependencies load inside the commands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from .._cli._options import CancelOptions, common, listing_errors
from .._cli._terminal import printable_cells

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .._base import SyncOptions


@click.command("polymarket")
@click.argument("order_ids", nargs=-1)
@click.option(
    "--market",
    "--market-slug",
    "markets",
    multiple=True,
    metavar="SLUG",
    help="With ids: the market they are in; their cancels go at once, with no listing"
    " before them (one open in another market is not reached: failed, left open). With"
    " --all: cancel-all in these markets only (repeatable with --all); each is counted"
    " first, and one with no open orders is warned about.",
)
@click.option(
    "--all",
    "all_orders",
    is_flag=True,
    help="Cancel every open order (cancel-all), or every one in --market's markets.",
)
@common(
    rate="[default: 20]. The per-endpoint 10-second windows still apply and are not raised"
    " by it: listing (confirmation) 55, cancel-all 110, single cancel 440, 2,000 over all.",
    concurrency="4",
    missing_ok=" (and one absent from this key's listing not looked up in time: not_listed)",
)
def cancel_polymarket(
    order_ids: tuple[str, ...],
    markets: tuple[str, ...],
    all_orders: bool,
    opts: CancelOptions,
) -> None:
    """Cancel Polymarket US orders by ORDER_ID (batched, confirmed by the listing).
    Credentials: POLYMARKET_KEY_ID and POLYMARKET_SECRET_KEY. An order may also end
    filled (it filled while the cancel was pending)."""
    from ._cancel_cmd import cancel

    cancel(order_ids, markets, all_orders, opts)


@click.command("polymarket")
@click.option(
    "--market", "markets", multiple=True, metavar="SLUG", help="Only this market (repeatable)."
)
@click.option(
    "--json",
    "json_lines",
    is_flag=True,
    help="One JSON order per line: a file 'cancel polymarket --from-file' reads.",
)
@click.option("--count", "count_only", is_flag=True, help="Only the counts, per market.")
@click.option("--base-url", help="API root [default: POLYMARKET_API_URL, else the exchange].")
def orders_polymarket(
    markets: tuple[str, ...], json_lines: bool, count_only: bool, base_url: str | None
) -> None:
    """The open orders of this key: id, market, side, price, quantity left, state;
    then the count, per market."""
    from collections import Counter

    from .._cli import _orders as view
    from ._client import PolymarketUSClient
    from ._listing import open_orders

    if json_lines and count_only:
        raise click.UsageError("give --json or --count, not both")
    lines: Iterable[str]
    with listing_errors():
        options: SyncOptions = {"base_url": base_url} if base_url else {}
        with PolymarketUSClient.from_env(**options) as pm:
            # One order at a time into what is printed: 100,000 orders stay small.
            slugs = markets or None
            if json_lines:
                lines = open_orders(pm, slugs, view.json_line)
            elif count_only:
                lines = [view.footer(Counter(open_orders(pm, slugs, view.market_of)))]
            else:
                rows = open_orders(pm, slugs, row)
                lines = view.table_lines(rows, COLUMNS, Counter(r[1] for r in rows))
    view.write(lines)


COLUMNS = ("id", "market", "side", "price", "quantity left", "state")


def row(order: Any) -> tuple[str, ...]:
    """One order's cells (``COLUMNS``), printable."""
    from .._cli._orders import enum_text, text  # (the listing's: not on a cancel's way)

    price = getattr(order.price, "value", None)
    left = order.leaves_quantity
    return printable_cells(
        (
            text(order.id),
            text(order.market_slug),
            enum_text(order.side),
            text(price),
            f"{left:g}" if isinstance(left, int | float) else "-",
            enum_text(order.state),
        )
    )

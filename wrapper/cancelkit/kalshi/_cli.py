"""The Kalshi commands: ``cancelkit cancel kalshi``, ``cancelkit orders kalshi``.
Registered by module path in ``cancelkit._cli``; the client and its dependencies load
inside the commands."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

from .._cli._inputs import UUID_FORM  # Kalshi's order ids (the stream's ``format: uuid``)
from .._cli._options import CancelOptions, common, gather, listing_errors
from .._cli._terminal import printable_cells

if TYPE_CHECKING:
    from .._base import AsyncOptions, SyncOptions
    from .._bulk import CancelResult, Control
    from .._cli._cancel import Report
    from ._client import AsyncKalshiClient

# The tiers of Kalshi's rate-limit page (``_rates.TIERS``), written out so that
# loading the command loads nothing else; tests/test_kalshi_cli.py checks the two agree.
TIERS = ("basic", "advanced", "expert", "premier", "paragon", "prime", "prestige")

_MINUTE_WARNING = (
    "Kalshi's cancel-all page warns that orders placed in the minute after the request may"
    " also be cancelled"
)


@click.command("kalshi")
@click.argument("order_ids", nargs=-1)
@click.option(
    "--market",
    "markets",
    multiple=True,
    metavar="TICKER",
    help="With ids: cancel only those resting in these markets (each other one is looked"
    " up; resting elsewhere, it is not_sent, left alone). With --all: every resting order"
    " in these markets, by batch (not the exchange's cancel-all). (repeatable)",
)
@click.option(
    "--all",
    "all_orders",
    is_flag=True,
    help="Cancel every resting order with the exchange's cancel-all, confirmed by listing"
    " until none is left: in every subaccount unless --subaccount is given. "
    + _MINUTE_WARNING
    + ".",
)
@click.option(
    "--subaccount",
    type=click.IntRange(0, 63),
    default=None,
    help="The subaccount (0: primary, 1-63). With ids: the one they rest in [default:"
    " none given, which the exchange reads as the primary]. With --all: only its orders"
    " [default: every subaccount]. (One an id rests in is named when its cancel fails.)",
)
@click.option(
    "--tier",
    type=click.Choice(TIERS),
    default="basic",
    show_default=True,
    help="The key's rate-limit tier: its Read and Write token buckets pace every request"
    " and size each batch (basic: 50 orders).",
)
@common(
    rate="[Kalshi: not taken; the key's --tier paces every request by its token buckets"
    " (basic: 100 Write tokens/s, 2 per order)].",
    concurrency="4 batches",
)
def cancel_kalshi(
    order_ids: tuple[str, ...],
    markets: tuple[str, ...],
    all_orders: bool,
    subaccount: int | None,
    tier: str,
    opts: CancelOptions,
) -> None:
    """Cancel Kalshi orders by ORDER_ID (V2 batches as large as the tier's Write bucket
    holds, each entry read, confirmed by the resting listing), or every resting order
    with --all. Credentials: KALSHI_API_KEY_ID and KALSHI_PRIVATE_KEY_PATH (a PEM file)
    or KALSHI_PRIVATE_KEY (the PEM itself). An order may also end filled (executed)."""
    from .._cli import _cancel as cli
    from . import _rates as rates
    from . import _validation as check
    from ._client import DEFAULT_CONCURRENCY, AsyncKalshiClient

    if all_orders and (order_ids or opts.from_file):
        raise click.UsageError("--all cancels every resting order: give no ORDER_ID or --from-file")
    if opts.rate is not None:
        raise click.UsageError(
            "--rate is not taken for Kalshi: its token buckets pace every request; give"
            " the key's --tier instead"
        )
    args = [(f"argument {n}", v) for n, v in enumerate(order_ids, 1)]
    parsed = gather(args, opts.from_file, check.kalshi_order_id, foreign_ids, LISTED)
    _, problems = cli.validate([("--market", m) for m in markets], check.ticker)
    kwargs: AsyncOptions = {"base_url": opts.base_url} if opts.base_url else {}
    chosen: rates.Tier = rates.TIERS[TIERS.index(tier)]
    concurrency = opts.concurrency or DEFAULT_CONCURRENCY
    batch = rates.batch_size(chosen)

    async def work(
        client: AsyncKalshiClient,
        targets: list[str],
        report: Report,
        control: Control,
    ) -> list[CancelResult[Any]]:
        if all_orders and markets:
            return await _cancel_in_markets(
                client, markets, subaccount, concurrency, report, control
            )
        if all_orders:
            return await client.cancel_all(
                subaccount=subaccount, on_result=report, control=_unindexed(control)
            )
        return await client.cancel_orders(
            targets,
            subaccount=subaccount,
            tickers=markets or None,
            concurrency=concurrency,
            missing_ok=opts.missing_ok,
            on_result=report,
            control=control,
        )

    query = "" if subaccount is None else f"?subaccount={subaccount}"
    if all_orders and markets:
        request = (
            f"GET /portfolio/orders?status=resting&ticker=... for {', '.join(markets)}, then"
            f" DELETE /portfolio/events/orders/batched ({batch} per request), GET"
            " /portfolio/orders until confirmed"
        )
        what = f"every resting order in market(s) {', '.join(markets)}" + _where(subaccount)
    elif all_orders:
        request = (
            f"GET /portfolio/orders, DELETE /portfolio/events/orders{query} (cancel-all"
            f"{_where(subaccount)}), then GET /portfolio/orders until none is left."
            f" {_MINUTE_WARNING}"
        )
        what = f"every resting order{_where(subaccount)} (cancel-all; {_MINUTE_WARNING})"
    else:
        listing = f"GET /portfolio/orders?ticker=... for {', '.join(markets)}, " if markets else ""
        request = (
            f"{listing}DELETE /portfolio/events/orders/batched ({batch} per request at"
            f" {tier}), then GET /portfolio/orders until confirmed, GET"
            " /portfolio/orders/{id} for the rest"
        )
        what = None
    job = cli.Job(
        venue="kalshi",
        build_client=lambda: AsyncKalshiClient.from_env(tier=chosen, **kwargs),
        work=work,
        rate=f"{tier} tier token buckets ({_budget(chosen)})",
        deadline=opts.deadline,
        as_json_lines=opts.json_lines,
        journal=opts.journal,
        dry_run=opts.dry_run,
        describe_request=request,
        verbose=opts.verbose,
        what=what,
        estimate=lambda n: seconds(n, chosen),
        foreign_record=opts.foreign_record,
        source=opts.from_file,
        give="give ORDER_ID arguments, --from-file FILE, or --all",
        too_slow_hint=" (a higher --tier if the key has one; --all cancels every resting"
        " order in one request)",
    )
    raise SystemExit(
        cli.run(
            job,
            items=parsed.items,
            invalid=parsed.bad + problems,
            skip_invalid=opts.skip_invalid,
            all_orders=all_orders,
            invalid_records=parsed.invalid_records,
            recorded=parsed.recorded,
            origins=parsed.origins,
            recorded_sent=parsed.recorded_sent,
        )
    )


def _where(subaccount: int | None) -> str:
    return " of every subaccount" if subaccount is None else f" of subaccount {subaccount}"


def _budget(tier: Any) -> str:
    from . import _rates as rates

    budgets = rates.tier_budgets(tier)
    return f"Write {budgets.write:g}/s, bucket {budgets.write_capacity:g}; Read {budgets.read:g}/s"


def seconds(orders: int, tier: Any) -> float:
    """The least time N cancels take at ``tier``: 2 Write tokens each, the first
    bucketful at once, the rest at the refill rate."""
    from . import _rates as rates

    budgets = rates.tier_budgets(tier)
    tokens = orders * rates.COSTS[rates.CANCEL_BATCH][1]
    return max(0.0, tokens - budgets.write_capacity) / budgets.write


def _unindexed(control: Control) -> Control:
    """``control`` for a call whose orders are not the command's inputs (cancel-all,
    and --all --market: the orders come from a listing): each request it sends is
    counted, but not journaled against inputs it does not have. For the rest of the
    run: the run is that one call."""
    given = control.on_sent
    if given is not None:
        control.on_sent = lambda indices: given([])
    return control


async def _cancel_in_markets(
    client: AsyncKalshiClient,
    markets: Sequence[str],
    subaccount: int | None,
    concurrency: int,
    report: Report,
    control: Control,
) -> list[CancelResult[Any]]:
    """``--all --market``: one listing of each market's resting orders, then those
    orders by batch (the kill switch: each entry read, confirmed by the listing)."""
    from .._bulk import CancelResult, in_time
    from .._exceptions import CancelKitError
    from .._limiter import DeadlinePassed

    # Each order is cancelled in its own subaccount (a batch entry without one means
    # the primary): one run of batches per subaccount listed.
    by_account: dict[int | None, list[str]] = {}
    for market in markets:
        try:
            listed = await in_time(
                control,
                _lister(client, market, subaccount),
                "GET /portfolio/orders",
            )
        except (CancelKitError, DeadlinePassed) as exc:
            control.stop(f"the listing of market {market} failed: {exc}")
            error = exc if isinstance(exc, CancelKitError) else None
            failed = CancelResult[Any](
                "",
                "not_sent",
                f"nothing sent: the listing of market {market} failed ({exc})",
                error,
            )
            report(failed)
            return [failed]
        for order in listed:
            account = order.subaccount_number
            key = account if isinstance(account, int) else subaccount
            by_account.setdefault(key, []).append(order.order_id)
        click.echo(f"cancelkit: {len(listed)} resting order(s) in {market}", err=True)
    results: list[CancelResult[Any]] = []
    unindexed = _unindexed(control)
    for account, ids in sorted(by_account.items(), key=lambda item: item[0] or 0):
        results += await client.cancel_orders(
            list(dict.fromkeys(ids)),
            subaccount=account,
            concurrency=concurrency,
            on_result=report,
            control=unindexed,
        )
    return results


def _lister(client: AsyncKalshiClient, market: str, subaccount: int | None) -> Callable[[], Any]:
    return lambda: client.open_orders(ticker=market, subaccount=subaccount)


# How `orders kalshi --json` shows an order (the generated Order's own keys): its
# lines are read back by `cancel kalshi --from-file`, and by no other venue's.
LISTED = ("order_id", "ticker")

# Limitless's id forms in a file: ``order:<uuid>`` and ``client:<id>``.
_LIMITLESS_FORM = re.compile(r"(?:order|client):")


def foreign_ids(items: list[tuple[str, str]]) -> None:
    """Refuse, with one message, another venue's id forms: any ``order:``/``client:``
    id (Limitless's file form), or a list whose ids are all bare ids that are no UUID
    (Kalshi's ids are UUIDs: such a list is a Polymarket one). A bare UUID cannot be
    told apart from a Limitless order id: it is taken as Kalshi's (one unknown to
    this key is reported not_found). Inputs no id could be are left to parsing, which
    names each."""
    from .._cli._inputs import refuse_foreign

    limitless = [label for label, value in items if _LIMITLESS_FORM.match(value)]
    refuse_foreign(
        limitless,
        "order:<uuid> / client:<id> is the Limitless form; use 'cancelkit cancel limitless'",
    )
    plausible = [(label, value.strip()) for label, value in items if _plausible(value.strip())]
    others = [label for label, value in plausible if not UUID_FORM.fullmatch(value)]
    if others and len(others) == len(plausible):
        refuse_foreign(
            others,
            "Kalshi order ids are UUIDs, and these are not: they look like Polymarket ids;"
            " use 'cancelkit cancel polymarket'",
        )


def _plausible(value: str) -> bool:
    """Whether ``value`` could be an order id of some venue (else parsing says why not)."""
    from .._exceptions import InvalidRequest
    from . import _validation as check

    try:
        check.kalshi_order_id(value)
    except InvalidRequest:
        return False
    return True


@click.command("kalshi")
@click.option(
    "--market", "markets", multiple=True, metavar="TICKER", help="Only this market (repeatable)."
)
@click.option(
    "--subaccount",
    type=click.IntRange(0, 63),
    default=None,
    help="Only this subaccount (0: primary, 1-63) [default: every subaccount].",
)
@click.option(
    "--json",
    "json_lines",
    is_flag=True,
    help="One JSON order per line: a file 'cancel kalshi --from-file' reads.",
)
@click.option("--base-url", help="API root [default: KALSHI_API_URL, else the exchange].")
def orders_kalshi(
    markets: tuple[str, ...], subaccount: int | None, json_lines: bool, base_url: str | None
) -> None:
    """This key's resting orders (every page): id, market, subaccount, side, price,
    contracts left, status; then the count, per market."""
    from .._cli import _orders as view
    from . import _validation as check
    from ._client import KalshiClient

    with listing_errors():
        for market in markets:
            check.ticker(market)
        options: SyncOptions = {"base_url": base_url} if base_url else {}
        with KalshiClient.from_env(**options) as kalshi:
            if markets:
                listed = [
                    o
                    for market in dict.fromkeys(markets)
                    for o in kalshi.open_orders(ticker=market, subaccount=subaccount)
                ]
            else:
                listed = kalshi.open_orders(subaccount=subaccount)
    if json_lines:
        if listed:
            click.echo(view.json_lines(listed))
        return
    rows = [row(o) for o in listed]
    view.write(view.table_lines(rows, COLUMNS, _per_market(rows), "resting order(s)"))


def _per_market(rows: list[tuple[str, ...]]) -> Any:
    from collections import Counter

    return Counter(r[1] for r in rows)


COLUMNS = ("id", "market", "subaccount", "side", "price", "contracts left", "status")


def row(order: Any) -> tuple[str, ...]:
    """One order's cells (``COLUMNS``), printable: the price is the outcome side's."""
    from .._cli._orders import enum_text, text  # (the listing's: not on a cancel's way)

    side = enum_text(order.outcome_side)
    price = order.yes_price_dollars if side == "yes" else order.no_price_dollars
    return printable_cells(
        (
            text(order.order_id),
            text(order.ticker),
            text(getattr(order, "subaccount_number", None)),
            side,
            text(price),
            text(order.remaining_count_fp),
            enum_text(order.status),
        )
    )

"""``cancelkit cancel polymarket``'s work, apart from its click command (``_cli``): a
cancel whose arguments ``cancelkit._cli._quick`` recognises runs it before click is
loaded, so that its first request leaves sooner. Nothing here needs click loaded
before a usage error (``_cli._click``)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, NoReturn

from .._cli._click import click
from .._cli._options import CancelOptions, gather, rate_or, rate_text

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .._base import AsyncOptions, SyncOptions
    from .._bulk import CancelResult, Control
    from .._cli._cancel import Report
    from ._client import AsyncPolymarketUSClient


QUICK = {"--market": "market", "--market-slug": "market"}
"""The options ``cancelkit._cli._quick`` takes with ids, by spelling: their name."""


def quick(ids: tuple[str, ...], given: Mapping[str, str], opts: CancelOptions) -> NoReturn:
    """``cancel polymarket ID... [--market SLUG]`` as ``_cli._quick`` read it."""
    market = given.get("market")
    cancel(ids, () if market is None else (market,), False, opts)


def cancel(
    order_ids: tuple[str, ...],
    markets: tuple[str, ...],
    all_orders: bool,
    opts: CancelOptions,
) -> NoReturn:
    """``cancelkit cancel polymarket``: the command's work, after its arguments are parsed
    (by click, or by ``_cli._quick`` for the forms it knows); exits with the run's
    status."""
    from .._cli._loading import without_gc

    # The sync client alone: what the first cancel is sent on (_cli._first). The async
    # one, and the kill switch under it, load when the run builds it (after that cancel
    # has left: _async_client), from _client, which joins the two.
    with without_gc():  # the client and the run's modules (see _loading)
        from .._cli import _cancel as cli
        from .._cli import _first as cli_first
        from . import _validation as check
        from ._client_base import DEFAULT_CONCURRENCY, DEFAULT_MAX_RATE
        from ._sync_client import PolymarketUSClient

    if all_orders and (order_ids or opts.from_file):
        raise click.UsageError("--all cancels every open order: give no ORDER_ID or --from-file")
    if len(markets) > 1 and not all_orders:
        raise click.UsageError("give one --market with ids (or several with --all)")
    args = [(f"argument {n}", v) for n, v in enumerate(order_ids, 1)]
    parsed = gather(args, opts.from_file, check.polymarket_order_id, foreign_ids)
    _, problems = cli.validate([("--market", m) for m in markets], check.market_slug)
    max_rate = rate_or(opts.rate, DEFAULT_MAX_RATE)
    kwargs: AsyncOptions = {"base_url": opts.base_url} if opts.base_url else {}

    async def work(
        client: AsyncPolymarketUSClient,
        targets: list[str],
        report: Report,
        control: Control,
    ) -> list[CancelResult[Any]]:
        if all_orders:
            if markets:
                await _count_markets(client, markets, control)
            return await client.cancel_all(
                market_slugs=markets or None, max_rate=max_rate, on_result=report, control=control
            )
        return await client.cancel_orders(
            targets,
            market_slug=markets[0] if markets else None,
            concurrency=opts.concurrency or DEFAULT_CONCURRENCY,
            max_rate=max_rate,
            missing_ok=opts.missing_ok,
            on_result=report,
            control=control,
        )

    first = None
    sync_kwargs: SyncOptions = {"base_url": opts.base_url} if opts.base_url else {}
    ids = [order_id for _, order_id in parsed.items]
    one = _one_request(ids, parsed.bad + problems)
    if one and markets and not all_orders and not opts.from_file:
        # The whole cancel is one batch, and no stream is opened for so few orders
        # (_rates.FEW): it is sent before the event loop loads (_cli._first).
        entries = [(order_id, markets[0]) for order_id in ids]
        first = cli_first.First(
            build=lambda: PolymarketUSClient.from_env(**sync_kwargs),
            request=lambda: PolymarketUSClient._batch_request(entries),
        )
    elif one and not markets and not all_orders and not opts.from_file:
        # The run lists first to learn each order's market: that listing and, when
        # it shows every id open in one market, the one batch after it are sent
        # before the event loop loads (_cli._first); anything else, the run's way.
        from ._rates import LIST_OPEN

        first = cli_first.First(
            build=lambda: PolymarketUSClient.from_env(**sync_kwargs),
            listing=cli_first.Listing(
                request=lambda: PolymarketUSClient._list_request(None),
                then=lambda answer: _one_cancel_after(ids, answer),
                operation=LIST_OPEN,
            ),
        )
    job = cli.Job(
        venue="polymarket",
        build_client=lambda: _async_client().from_env(**kwargs),
        work=work,
        rate=rate_text(max_rate),
        deadline=opts.deadline,
        as_json_lines=opts.json_lines,
        journal=opts.journal,
        dry_run=opts.dry_run,
        describe_request=(
            f"POST /v1/orders/open/cancel {_cancel_all_body(markets)}, then GET"
            " /v1/orders/open until confirmed"
            if all_orders
            else (
                f"POST /v1/orders/batched/cancel (20 per request, each naming {markets[0]}),"
                f" then GET /v1/orders/open?slugs={markets[0]} until confirmed,"
                " GET /v1/order/{id} for the rest"
                if markets
                else "GET /v1/orders/open, POST /v1/orders/batched/cancel (20 per request),"
                " then GET /v1/orders/open until confirmed, GET /v1/order/{id} for the rest"
            )
        ),
        verbose=opts.verbose,
        what=(
            (f"every open order in market(s) {', '.join(markets)}" if markets else None)
            if all_orders
            else None
        ),
        estimate=lambda n: None if max_rate is None else (2 + -(-n // 20)) / max_rate,
        foreign_record=opts.foreign_record,
        source=opts.from_file,
        give="give ORDER_ID arguments, --from-file FILE, or --all",
        too_slow_hint=" (--all cancels every open order in one request)",
        first=first,
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


def _async_client() -> type[AsyncPolymarketUSClient]:
    """The async client, loaded when the run builds it (its module joins the two)."""
    from ._client import AsyncPolymarketUSClient

    return AsyncPolymarketUSClient


def _one_request(ids: list[str], bad: list[str]) -> bool:
    """Whether a cancel of ``ids`` in one market is one request that opens no stream:
    every input good, none twice, no more than the stream waits for (``_rates.FEW``)."""
    from .._generated.polymarket_us_api.constraints import (
        CANCEL_ORDER_LIST_REQUEST_ORDERS_MAX_ITEMS as BATCH,  # (_kill.BATCH)
    )
    from ._rates import FEW

    return not bad and 0 < len(ids) <= min(FEW, BATCH) and len(set(ids)) == len(ids)


def _one_cancel_after(ids: list[str], answer: Any) -> tuple[Any, dict[str, Any] | None] | None:
    """From the first listing's answer (``GET /v1/orders/open``), when it is a 2xx of
    the spec's shape: the listing as the run takes it (``_kill``'s own code), and the
    batch the run sends after it when it lists every id open in one market (else
    None: the run goes its own way from it). None for any other answer (the run
    lists again: its own listing retries or reports it)."""
    from ._kill import by_id, listed_entries
    from ._sync_client import PolymarketUSClient

    if not 200 <= answer.status_code < 300:
        return None  # a refusal or a fault: the run's own listing retries or reports it
    listed = by_id(PolymarketUSClient._parse_orders(answer))
    entries, rest = listed_entries(listed, ids)
    if rest or len({market for _, market in entries}) != 1:
        return listed, None  # not listed, or in several markets: the run's way
    return listed, PolymarketUSClient._batch_request(entries)


# Limitless's id forms: a file written for it, given here by mistake.
_LIMITLESS_FORM = re.compile(r"(?:order|client):")


def foreign_ids(items: list[tuple[str, str]]) -> None:
    """Refuse, with one message, any ``order:``/``client:`` id: the Limitless form.

    Kalshi's order ids are bare UUIDs, and Polymarket US does not document the form
    of its own: a bare UUID could be either's, so it is not refused (one unknown to
    this key is reported not_found, never cancelled elsewhere)."""
    from .._cli._inputs import refuse_foreign

    hits = [label for label, text in items if _LIMITLESS_FORM.match(text)]
    refuse_foreign(
        hits, "order:<uuid> / client:<id> is the Limitless form; use 'cancelkit cancel limitless'"
    )


def _cancel_all_body(markets: tuple[str, ...]) -> str:
    import json

    return json.dumps({"slugs": list(markets)} if markets else {})


async def _count_markets(
    client: AsyncPolymarketUSClient, markets: tuple[str, ...], control: Control
) -> None:
    """Say how many open orders each market has before cancel-all: a misspelt
    market is otherwise a quiet "0 orders". A courtesy, so it never holds the
    cancel-all: a third of the time left at most (and no more than the grace), and
    an abort ends it."""
    from collections import Counter

    from .._bulk import in_time
    from .._exceptions import CancelKitError

    seconds = min(control.grace, control.left() / 3)
    try:
        listed = await in_time(
            control, lambda: client.open_orders(market_slugs=markets), "the count", seconds=seconds
        )
    except CancelKitError as exc:
        click.echo(f"cancelkit: could not count the open orders first: {exc}", err=True)
        return
    per = Counter(getattr(o, "market_slug", None) for o in listed)
    counts = ", ".join(f"{per[m]} in {m}" for m in markets)
    click.echo(f"cancelkit: open orders before cancel-all: {counts}", err=True)
    for market in markets:
        if not per[market]:
            click.echo(
                f"cancelkit: warning: market {market} has no open orders for this key"
                " (misspelt? another key's?)",
                err=True,
            )

"""The Limitless commands: ``cancelkit cancel limitless``, ``cancelkit orders
limitless``, and the id format of their files (``order:<uuid>``, ``client:<id>``).
Registered by module path in ``cancelkit._cli``; the client and its dependencies load
inside the commands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from .._cli._options import CancelOptions, common, gather, listing_errors

if TYPE_CHECKING:
    from .._base import AsyncOptions, SyncOptions
    from .._bulk import CancelResult, Control
    from .._cli._cancel import Report
    from ._client import AsyncLimitlessClient
    from ._kill import CancelTarget


@click.command("limitless")
@click.option("--order-id", "order_ids", multiple=True, metavar="UUID", help="Internal order id.")
@click.option(
    "--client-order-id", "client_ids", multiple=True, metavar="ID", help="Client order id."
)
@click.option(
    "--on-behalf-of",
    type=click.IntRange(min=1),
    help="Sub-account profile id (partner flow; needs delegated_signing).",
)
@click.option(
    "--market",
    "--market-slug",
    "markets",
    multiple=True,
    metavar="SLUG",
    help="With --all: the market to cancel everything in (repeatable).",
)
@click.option(
    "--all", "all_orders", is_flag=True, help="Cancel every order in each --market (cancel-all)."
)
@common
def cancel_limitless(
    order_ids: tuple[str, ...],
    client_ids: tuple[str, ...],
    on_behalf_of: int | None,
    markets: tuple[str, ...],
    all_orders: bool,
    opts: CancelOptions,
) -> None:
    """Cancel Limitless orders (batches of 50, each outcome the exchange's word), or with
    --all every order in each --market. In --from-file, a line is order:<uuid> or
    client:<id>. Requests keep the published limit: 2 in flight, 300 ms apart."""
    from .._cli import _cancel as cli
    from . import _validation as check
    from ._client import DEFAULT_CONCURRENCY, AsyncLimitlessClient

    if all_orders and (order_ids or client_ids or opts.from_file):
        raise click.UsageError("--all cancels every order of a market: give no ids or --from-file")
    if all_orders and not markets:
        raise click.UsageError("--all needs --market SLUG (Limitless cancels all per market)")
    if markets and not all_orders:
        raise click.UsageError("--market goes with --all")
    args = [(f"--order-id {n}", f"order:{v}") for n, v in enumerate(order_ids, 1)]
    args += [(f"--client-order-id {n}", f"client:{v}") for n, v in enumerate(client_ids, 1)]
    parsed = gather("limitless", args, opts.from_file, parse_target)
    bad = parsed.bad
    if on_behalf_of is not None:
        _, problem = cli.validate([("--on-behalf-of", on_behalf_of)], check.on_behalf_of)
        bad += problem
    _, problems = cli.validate([("--market", m) for m in markets], check.market_slug)
    bad += problems
    max_rate = opts.rate or None  # --rate adds a cap to the published pace; 0: none
    kwargs: AsyncOptions = {"base_url": opts.base_url} if opts.base_url else {}

    async def work(
        client: AsyncLimitlessClient,
        targets: list[CancelTarget],
        report: Report,
        control: Control,
    ) -> list[CancelResult[Any]]:
        if all_orders:
            results: list[CancelResult[Any]] = []
            for slug in markets:  # one after another: the pace is per token
                results += await client.cancel_all(
                    slug, on_behalf_of, max_rate=max_rate, on_result=report, control=control
                )
            return results
        return await client.cancel_orders(
            targets,
            on_behalf_of=on_behalf_of,
            concurrency=opts.concurrency or DEFAULT_CONCURRENCY,
            max_rate=max_rate,
            missing_ok=opts.missing_ok,
            on_result=report,
            control=control,
        )

    query = f"?onBehalfOf={on_behalf_of}" if on_behalf_of else ""
    if all_orders:
        request = f"DELETE /orders/all/{{slug}}{query} for {', '.join(markets)}" + (
            "" if on_behalf_of else ", then GET /markets/{slug}/user-orders until confirmed"
        )
    elif on_behalf_of:
        request = f"POST /orders/cancel{query}, one request per order"
    else:
        request = (
            "POST /orders/batch-cancel (50 per request, ids and client ids apart), then"
            " POST /orders/status/batch for any order the answer does not settle"
        )
    job = cli.Job(
        venue="limitless",
        build_client=lambda: AsyncLimitlessClient.from_env(**kwargs),
        work=work,
        rate="published limit (2 in flight, 300 ms apart)"
        + (f" and {max_rate:g}/s" if max_rate else "")
        + ", slower after a 429",
        deadline=opts.deadline,
        as_json_lines=opts.json_lines,
        journal=opts.journal,
        dry_run=opts.dry_run,
        describe_request=request,
        verbose=opts.verbose,
        estimate=lambda n: _limitless_seconds(n, max_rate, one_by_one=on_behalf_of is not None),
        foreign_record=opts.foreign_record,
        source=opts.from_file,
    )
    raise SystemExit(
        cli.run(
            job,
            items=parsed.items,
            invalid=bad,
            skip_invalid=opts.skip_invalid,
            invalid_records=parsed.invalid_records,
            recorded=parsed.recorded,
            origins=parsed.origins,
            recorded_sent=parsed.recorded_sent,
            all_orders=all_orders,
        )
    )


def _limitless_seconds(orders: int, max_rate: float | None, *, one_by_one: bool) -> float:
    """The least time N orders take: one request per batch of 50 (per order with
    --on-behalf-of), each at least the published spacing (or 1/--rate) apart."""
    from ._client import PACE
    from ._kill import BATCH

    requests = orders if one_by_one else -(-orders // BATCH)
    return requests * max(PACE.spacing, 1 / max_rate if max_rate else 0.0)


@click.command("limitless")
@click.option(
    "--market", "markets", multiple=True, required=True, metavar="SLUG", help="The market."
)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(["LIVE", "MATCHED", "CANCELED", "UNMATCHED"]),
    help="Only these statuses (repeatable) [default: LIVE].",
)
@click.option("--json", "json_lines", is_flag=True, help="One JSON order per line.")
@click.option("--base-url", help="API root [default: LIMITLESS_API_URL, else the exchange].")
def orders_limitless(
    markets: tuple[str, ...], statuses: tuple[str, ...], json_lines: bool, base_url: str | None
) -> None:
    """This token's orders in each --market (LIVE unless --status): id, client order id,
    market, side, price, size left, status."""
    from .._cli import _orders as view
    from .._generated.limitless_api.models import OrderStatus
    from . import _validation as check
    from ._client import LimitlessClient

    chosen = [OrderStatus(s) for s in statuses] or None
    with listing_errors():
        for slug in markets:
            check.market_slug(slug)
        kwargs: SyncOptions = {"base_url": base_url} if base_url else {}
        with LimitlessClient.from_env(**kwargs) as lm:
            listed = [o for slug in markets for o in lm.open_orders(slug, statuses=chosen)]
    if json_lines:
        if listed:
            click.echo(view.json_lines(listed))
    else:
        click.echo(view.table(listed, view.LIMITLESS_COLUMNS, view.limitless_row, "order(s)"))


def parse_target(text: str) -> CancelTarget:
    """``order:<uuid>``, ``client:<id>`` or a bare UUID (an order id) to a generated
    request variant."""
    from .._cli import _inputs
    from .._exceptions import InvalidRequest
    from .._generated.limitless_api.models import CancelByClientOrderId, CancelByOrderId
    from . import _validation as check

    kind, sep, value = _inputs.limitless_target(text).partition(":")
    if not sep or kind not in ("order", "client"):
        raise InvalidRequest(f"{text[:80]!r} is not order:<uuid> or client:<id>")
    if kind == "order":
        return CancelByOrderId(order_id=check.limitless_order_id(value))
    return CancelByClientOrderId(client_order_id=check.client_order_id(value))

"""The Limitless commands: ``cancelkit cancel limitless``, ``cancelkit orders
limitless``, and the id format of their files (``order:<uuid>``, ``client:<id>``).
Registered by module path in ``cancelkit._cli``; the client and its dependencies load
inside the commands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from .._cli._inputs import UUID_FORM  # an order id in the one spelling the cancel takes
from .._cli._options import CancelOptions, common, gather, listing_errors
from .._cli._terminal import printable

if TYPE_CHECKING:
    from .._base import AsyncOptions, SyncOptions
    from .._bulk import CancelResult, Control
    from .._cli._cancel import Report
    from ._client import AsyncLimitlessClient
    from ._kill import CancelTarget


@click.command("limitless")
@click.option(
    "--order-id", "order_ids", multiple=True, metavar="UUID", help="Internal order id (repeatable)."
)
@click.option(
    "--client-order-id",
    "client_ids",
    multiple=True,
    metavar="ID",
    help="Client order id (repeatable).",
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
@common(
    rate="[default: none beyond its published limit, 2 in flight 300 ms apart, always kept].",
    concurrency="2, its published limit",
)
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
    client:<id>. Requests keep the published limit: 2 in flight, 300 ms apart.
    Credentials: LIMITLESS_TOKEN_ID and LIMITLESS_TOKEN_SECRET."""
    from .._cli._loading import without_gc

    with without_gc():  # the client and the run's modules (see _loading)
        from .._cli import _cancel as cli
        from .._cli import _first as cli_first
        from . import _validation as check
        from ._client import DEFAULT_CONCURRENCY, AsyncLimitlessClient, LimitlessClient

    if all_orders and (order_ids or client_ids or opts.from_file):
        raise click.UsageError("--all cancels every order of a market: give no ids or --from-file")
    if all_orders and not markets:
        raise click.UsageError("--all needs --market SLUG (Limitless cancels all per market)")
    if markets and not all_orders:
        raise click.UsageError("--market goes with --all")
    args = [(f"--order-id {n}", f"order:{v}") for n, v in enumerate(order_ids, 1)]
    args += [(f"--client-order-id {n}", f"client:{v}") for n, v in enumerate(client_ids, 1)]
    parsed = gather(args, opts.from_file, parse_target, foreign_ids)
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
    first = None
    sync_kwargs: SyncOptions = {"base_url": opts.base_url} if opts.base_url else {}
    batch = _one_batch([target for _, target in parsed.items], bad)
    if batch is not None and not all_orders and on_behalf_of is None and not opts.from_file:
        # The whole cancel is one batch-cancel: sent before the event loop loads
        # (_cli._first); the run reads its answer and asks about the rest as always.
        kind, values = batch
        first = cli_first.First(
            build=lambda: LimitlessClient.from_env(**sync_kwargs),
            request=lambda: LimitlessClient._batch_request(kind, values),
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
        describe=describe,
        give="give --order-id/--client-order-id, --from-file FILE",
        first=first,
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


def _one_batch(targets: list[CancelTarget], bad: list[str]) -> tuple[str, list[str]] | None:
    """The one batch-cancel (its kind of id, its values as the run sends them) that
    is the whole cancel of ``targets``, or None: every input good and valid as a
    single cancel, none twice, one kind, no more than a batch holds."""
    from .._exceptions import InvalidRequest
    from ._client_base import validated
    from ._kill import BATCH, key_of

    if bad or not 0 < len(targets) <= BATCH:
        return None
    try:
        keys = [key_of(validated(target)) for target in targets]
    except InvalidRequest:
        return None  # the run reports it, as always
    kinds = {kind for kind, _ in keys}
    if len(kinds) != 1 or len(set(keys)) != len(keys):
        return None
    return kinds.pop(), [value for _, value in keys]


def _limitless_seconds(orders: int, max_rate: float | None, *, one_by_one: bool) -> float:
    """The least time N orders take: one request per batch of 50 (per order with
    --on-behalf-of), each at least the published spacing (or 1/--rate) apart."""
    from ._client import PACE
    from ._kill import BATCH

    requests = orders if one_by_one else -(-orders // BATCH)
    return requests * max(PACE.spacing, 1 / max_rate if max_rate else 0.0)


@click.command("limitless")
@click.option(
    "--market",
    "markets",
    multiple=True,
    required=True,
    metavar="SLUG",
    help="The market (repeatable).",
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
        click.echo(view.table(listed, COLUMNS, row, "order(s)"))


def target_text(text: str) -> str:
    """``text`` in the ``order:``/``client:`` form: a bare UUID is an order id (the
    exchange's internal ids are UUIDs; a client order id that is itself a UUID must
    be written ``client:<uuid>``)."""
    return f"order:{text}" if UUID_FORM.fullmatch(text) else text


def describe(target: CancelTarget | str) -> str:
    """The order as an operator writes it (and as a resumed run reads it); text (an
    input refused before parsing) as it is."""
    if isinstance(target, str):
        return target
    if hasattr(target, "order_id"):
        return f"order:{target.order_id}"
    return f"client:{target.client_order_id}"


def foreign_ids(items: list[tuple[str, str]]) -> None:
    """Refuse, with one message, inputs that are all bare ids and no UUIDs: a
    Polymarket list. If some inputs are Limitless ids, each bad one gets its own
    message instead (from parsing).

    Kalshi's order ids are bare UUIDs too, the very form of a Limitless order id: a
    Kalshi list cannot be told apart, so it is not refused (an id unknown to this
    token is reported not_found, never cancelled elsewhere)."""
    from .._cli._inputs import refuse_foreign

    hits = [
        label for label, text in items if ":" not in text and not UUID_FORM.fullmatch(text.strip())
    ]
    if len(hits) < len(items):
        hits = []
    refuse_foreign(
        hits,
        "bare ids that are not UUIDs look like Polymarket ids; use 'cancelkit cancel"
        " polymarket' (or write order:<uuid> / client:<id>)",
    )


COLUMNS = ("id", "client order id", "market", "side", "price", "size left", "status")


def row(order: Any) -> tuple[str, ...]:
    """One order's cells (``COLUMNS``), printable."""
    from .._cli._orders import readable  # (the listing's: not on a cancel's way)

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


def parse_target(text: str) -> CancelTarget:
    """``order:<uuid>``, ``client:<id>`` or a bare UUID (an order id) to a generated
    request variant."""
    from .._exceptions import InvalidRequest
    from .._generated.limitless_api.models import CancelByClientOrderId, CancelByOrderId
    from . import _validation as check

    kind, sep, value = target_text(text).partition(":")
    if not sep or kind not in ("order", "client"):
        raise InvalidRequest(f"{text[:80]!r} is not order:<uuid> or client:<id>")
    if kind == "order":
        return CancelByOrderId(order_id=check.limitless_order_id(value))
    return CancelByClientOrderId(client_order_id=check.client_order_id(value))

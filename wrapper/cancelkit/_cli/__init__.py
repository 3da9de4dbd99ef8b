"""The ``cancelkit`` command. Heavy modules are imported inside the commands so
that ``cancelkit --help`` starts fast."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import attrs
import click

if TYPE_CHECKING:
    from .._base import AsyncOptions, SyncOptions


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cancelkit")
def main() -> None:
    """Cancel orders on Polymarket US and Limitless Exchange, or run the local sandbox."""


_NOT_LOOPBACK = (
    "Address to listen on. Anything but loopback exposes the /_sandbox/ admin routes,"
    " which have NO authentication, to that network."
)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help=_NOT_LOOPBACK)
@click.option("--polymarket-port", default=0, help="Port for Polymarket US (0: any free one).")
@click.option("--limitless-port", default=0, help="Port for Limitless (0: any free one).")
@click.option("--rate-limit", default=0.0, help="Requests/s per key before 429 (Polymarket: 20).")
@click.option(
    "--endpoint-limits",
    is_flag=True,
    help="Also enforce Polymarket's per-endpoint 10-second limits.",
)
@click.option("--latency", default=0.0, help="Seconds added to every request.")
@click.option("--failure-rate", default=0.0, help="Share of requests answered 500.")
@click.option("--drop-rate", default=0.0, help="Share of cancels dropped after taking effect.")
@click.option("--throttle-rate", default=0.0, help="Share of requests answered 429.")
@click.option("--max-fault-streak", type=int, default=None, help="Cap on injected faults in a row.")
@click.option("--clock-offset", default=0.0, help="Seconds added to the sandbox clock.")
@click.option("--spike-rate", default=0.0, help="Share of requests delayed by --spike-latency.")
@click.option("--spike-latency", default=0.0, help="Seconds of a latency spike.")
@click.option(
    "--cancel-delay",
    default=0.0,
    help="Seconds a cancelled order stays listed as pending cancel.",
)
@click.option(
    "--fill-pending",
    default=0.0,
    help="Share of accepted cancels whose order fills while the cancel is pending.",
)
@click.option(
    "--validate/--no-validate",
    default=True,
    show_default=True,
    help="Check every request against the published specs.",
)
@click.option("--seed", type=int, default=None, help="Seed for the fault dice.")
@click.option(
    "--published-limits/--no-published-limits",
    default=True,
    show_default=True,
    help="Limitless: enforce its published limit (2 in flight, 300 ms apart, per token).",
)
@click.option(
    "--maintenance",
    type=click.Choice(["normal", "post_only", "cancel_only", "disabled"]),
    default="normal",
    show_default=True,
    help="Limitless maintenance mode (disabled: cancels answered 503).",
)
@click.option(
    "--cancel-all-stuck",
    type=click.IntRange(min=0),
    default=0,
    help="Limitless: orders of each cancel-all that cannot be cancelled (a 207).",
)
def sandbox(host: str, polymarket_port: int, limitless_port: int, **knobs: Any) -> None:
    """Run both exchange sandboxes until interrupted; print URLs, demo credentials,
    commands that seed and cancel orders, and the admin routes.

    Each flag sets the knob of the same name on both venues (POST /_sandbox/knobs
    changes them while running; POST /_sandbox/reset restores the defaults). The
    /_sandbox/ admin routes have NO authentication: keep --host on loopback."""
    import threading

    from . import _sandbox as view

    module = _sandbox_module()
    warning = view.host_warning(host)
    if warning:
        click.secho(warning, err=True, fg="red", bold=True)
    box = module.Sandbox(host, polymarket_port, limitless_port)
    try:
        box.set_knobs(**{k: v for k, v in knobs.items() if v is not None})
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    with box:
        click.echo(view.banner(box, module.DEFAULT_MARKET))
        if warning:
            click.secho(warning, err=True, fg="red", bold=True)
        click.echo("Press Ctrl+C to stop.")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            click.echo("stopping")


def _sandbox_module() -> Any:
    from .._extras import MissingExtra, sandbox

    try:
        return sandbox()
    except MissingExtra as exc:
        click.echo(f"cancelkit: {exc}", err=True)
        raise SystemExit(2) from None


def _common(command: Callable[..., None]) -> Callable[..., None]:
    options = [
        click.option(
            "--from-file",
            "from_file",
            metavar="FILE",
            help="Orders, one per line ('-': stdin); UTF-8, # comments; or a journal or --json"
            " record of an earlier run, to resume it (every order in it, final ones checked"
            " again).",
        ),
        click.option("--base-url", help="API root [default: *_API_URL, else the exchange]."),
        click.option(
            "--json", "json_lines", is_flag=True, help="One JSON record per order on stdout."
        ),
        click.option(
            "--journal",
            metavar="FILE",
            help="Write-ahead record, fsynced (survives kill -9): the plan (every order),"
            " each request as it is sent, each outcome. --from-file FILE resumes it.",
        ),
        click.option(
            "--missing-ok/--no-missing-ok",
            default=False,
            show_default=True,
            help="Count an order the exchange does not know for this key as done (and,"
            " Polymarket, one absent from this key's listing not looked up in time:"
            " not_listed).",
        ),
        click.option(
            "--deadline",
            type=click.FloatRange(min=0, min_open=True),
            default=60.0,
            show_default=True,
            help="The run's end: no request is started after it, every wait (rate limit, 429"
            " pause, retry) ends with it; then up to 3 s for answers and one confirming"
            " listing. What was not sent by then is not_sent.",
        ),
        click.option(
            "--rate",
            type=click.FloatRange(min=0),
            default=None,
            help="Max requests/s over all endpoints (0: no cap) [default: polymarket 20;"
            " limitless: its published limit, 2 in flight 300 ms apart, always kept]. A rate R"
            " is whole attempts per window: floor(R) per floor(R)/R s (2.5 is 2 per 0.8 s)."
            " Polymarket's per-endpoint 10-second windows still apply and are not raised by it:"
            " listing (confirmation) 55, cancel-all 110, single cancel 440, 2,000 over all."
            " Each 429 halves the limit, recovered over ~10 windows.",
        ),
        click.option(
            "--concurrency",
            type=click.IntRange(min=1),
            default=4,
            show_default=True,
            help="Requests in flight at once.",
        ),
        click.option(
            "--skip-invalid", is_flag=True, help="Send the valid orders, report the rest."
        ),
        click.option("--dry-run", is_flag=True, help="Validate and show what would be sent."),
        click.option(
            "--foreign-record",
            is_flag=True,
            help="Resume from a record made for another venue, base URL or key (refused"
            " otherwise).",
        ),
        click.option("--verbose", is_flag=True, help="The library's debug log on stderr."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _rate(value: float | None, default: float) -> float | None:
    if value is None:
        return default
    return value or None


def _rate_text(rate: float | None) -> str:
    return "no cap" if rate is None else f"{rate:g}/s"


@attrs.frozen
class _Inputs:
    """Parsed orders, the problems, what a record of an earlier run says."""

    items: list[tuple[str, Any]]
    bad: list[str]
    invalid_records: list[tuple[str, str, str]]
    recorded: dict[int, str]  # index in items -> final outcome recorded for it
    origins: list[Any]  # the venue, URL and key the records were made for
    recorded_sent: set[int]  # index in items of orders the record shows were sent


def _gather(
    venue: str,
    args: list[tuple[str, str]],
    from_file: str | None,
    parse: Callable[[str], Any],
) -> _Inputs:
    """Parsed orders from arguments and the file; a record's orders all come back
    (each as its latest record says), final ones marked to be checked again."""
    from . import _cancel as cli
    from . import _inputs as given

    given.no_bare_dash(args)
    lines = cli.read_lines(from_file) if from_file else []
    origins = list({line.origin for line in lines if line.origin is not None})
    lines = cli.latest_records(lines)
    listed = [(line.label, line.text) for line in lines]
    given.foreign_ids(venue, [*args, *listed])
    good, bad = cli.validate_records(args, parse)
    more, problems = cli.validate_records(listed, cli.plausible(parse))
    done = {line.label: line.done for line in lines if line.done is not None}
    items = good + more
    recorded = {n: done[label] for n, (label, _) in enumerate(items) if label in done}
    sent = {line.label for line in lines if line.record == "sent"}
    recorded_sent = {n for n, (label, _) in enumerate(items) if label in sent}
    invalid = bad + problems
    return _Inputs(
        items,
        [f"{label}: {why}" for label, _, why in invalid],
        invalid,
        recorded,
        origins,
        recorded_sent,
    )


@main.group()
def cancel() -> None:
    """Cancel orders: the kill switch. Credentials come only from the environment
    (never from flags, which land in shell history): POLYMARKET_KEY_ID /
    POLYMARKET_SECRET_KEY, or LIMITLESS_TOKEN_ID / LIMITLESS_TOKEN_SECRET.

    Each order ends as: cancelled, not open (cancelled before, filled...), not found
    (unknown to the exchange for this key), failed (may still be open), not sent, or
    unknown (sent, no answer before an interrupt or the deadline); Polymarket also
    filled (it filled while the cancel was pending). Exit status: 0 every order
    cancelled, filled or not open (not found too with --missing-ok); 1 any other; 2
    invalid input or usage (nothing sent); 130 interrupted (after every outcome is
    written). SIGINT, SIGTERM and SIGHUP all stop the run the same way."""


@cancel.command("polymarket")
@click.argument("order_ids", nargs=-1)
@click.option(
    "--market",
    "--market-slug",
    "markets",
    multiple=True,
    metavar="SLUG",
    help="With ids: cancel only those in this market (the others are not_sent, left"
    " alone). With --all: cancel-all in these markets only (repeatable); each is counted"
    " first, and one with no open orders is warned about.",
)
@click.option(
    "--all",
    "all_orders",
    is_flag=True,
    help="Cancel every open order (cancel-all), or every one in --market's markets.",
)
@_common
def cancel_polymarket(
    order_ids: tuple[str, ...],
    markets: tuple[str, ...],
    all_orders: bool,
    from_file: str | None,
    base_url: str | None,
    json_lines: bool,
    journal: str | None,
    missing_ok: bool,
    deadline: float,
    rate: float | None,
    concurrency: int,
    skip_invalid: bool,
    dry_run: bool,
    verbose: bool,
    foreign_record: bool,
) -> None:
    """Cancel Polymarket US orders by ORDER_ID (batched, confirmed by the listing)."""
    from ..polymarket import _validation as check
    from ..polymarket._client import RATE_LIMIT, AsyncPolymarketUSClient
    from . import _cancel as cli

    if all_orders and (order_ids or from_file):
        raise click.UsageError("--all cancels every open order: give no ORDER_ID or --from-file")
    if len(markets) > 1 and not all_orders:
        raise click.UsageError("give one --market with ids (or several with --all)")
    args = [(f"argument {n}", v) for n, v in enumerate(order_ids, 1)]
    parsed = _gather("polymarket", args, from_file, check.polymarket_order_id)
    _, problems = cli.validate([("--market", m) for m in markets], check.market_slug)
    max_rate = _rate(rate, RATE_LIMIT)
    kwargs: AsyncOptions = {"base_url": base_url} if base_url else {}

    async def work(client: Any, targets: list[Any], report: Any, control: Any) -> Any:
        if all_orders:
            if markets:
                await _count_markets(client, markets, control)
            return await client.cancel_all(
                market_slugs=markets or None, max_rate=max_rate, on_result=report, control=control
            )
        return await client.cancel_orders(
            targets,
            market_slug=markets[0] if markets else None,
            concurrency=concurrency,
            max_rate=max_rate,
            missing_ok=missing_ok,
            on_result=report,
            control=control,
        )

    job = cli.Job(
        venue="polymarket",
        build_client=lambda: AsyncPolymarketUSClient.from_env(**kwargs),
        work=work,
        rate=_rate_text(max_rate),
        deadline=deadline,
        as_json_lines=json_lines,
        journal=journal,
        dry_run=dry_run,
        describe_request=(
            f"POST /v1/orders/open/cancel {_cancel_all_body(markets)}, then GET"
            " /v1/orders/open until confirmed"
            if all_orders
            else "GET /v1/orders/open, POST /v1/orders/batched/cancel (20 per request),"
            " then GET /v1/orders/open until confirmed, GET /v1/order/{id} for the rest"
        ),
        verbose=verbose,
        what=(
            (f"every open order in market(s) {', '.join(markets)}" if markets else None)
            if all_orders
            else None
        ),
        estimate=lambda n: None if max_rate is None else (2 + -(-n // 20)) / max_rate,
        foreign_record=foreign_record,
        source=from_file,
    )
    raise SystemExit(
        cli.run(
            job,
            items=parsed.items,
            invalid=parsed.bad + problems,
            skip_invalid=skip_invalid,
            all_orders=all_orders,
            invalid_records=parsed.invalid_records,
            recorded=parsed.recorded,
            origins=parsed.origins,
            recorded_sent=parsed.recorded_sent,
        )
    )


def _cancel_all_body(markets: tuple[str, ...]) -> str:
    import json

    return json.dumps({"slugs": list(markets)} if markets else {})


async def _count_markets(client: Any, markets: tuple[str, ...], control: Any) -> None:
    """Say how many open orders each market has before cancel-all: a misspelt
    market is otherwise a quiet "0 orders"."""
    from collections import Counter

    from .._exceptions import CancelKitError

    try:
        listed = await client.open_orders(market_slugs=markets)
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


@cancel.command("limitless")
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
@_common
def cancel_limitless(
    order_ids: tuple[str, ...],
    client_ids: tuple[str, ...],
    on_behalf_of: int | None,
    markets: tuple[str, ...],
    all_orders: bool,
    from_file: str | None,
    base_url: str | None,
    json_lines: bool,
    journal: str | None,
    missing_ok: bool,
    deadline: float,
    rate: float | None,
    concurrency: int,
    skip_invalid: bool,
    dry_run: bool,
    verbose: bool,
    foreign_record: bool,
) -> None:
    """Cancel Limitless orders (batches of 50, each outcome the exchange's word), or with
    --all every order in each --market. In --from-file, a line is order:<uuid> or
    client:<id>. Requests keep the published limit: 2 in flight, 300 ms apart."""
    from ..limitless import _validation as check
    from ..limitless._client import AsyncLimitlessClient
    from . import _cancel as cli

    if all_orders and (order_ids or client_ids or from_file):
        raise click.UsageError("--all cancels every order of a market: give no ids or --from-file")
    if all_orders and not markets:
        raise click.UsageError("--all needs --market SLUG (Limitless cancels all per market)")
    if markets and not all_orders:
        raise click.UsageError("--market goes with --all")
    args = [(f"--order-id {n}", f"order:{v}") for n, v in enumerate(order_ids, 1)]
    args += [(f"--client-order-id {n}", f"client:{v}") for n, v in enumerate(client_ids, 1)]
    parsed = _gather("limitless", args, from_file, cli.parse_limitless)
    bad = parsed.bad
    if on_behalf_of is not None:
        _, problem = cli.validate([("--on-behalf-of", on_behalf_of)], check.on_behalf_of)
        bad += problem
    _, problems = cli.validate([("--market", m) for m in markets], check.market_slug)
    bad += problems
    max_rate = rate or None  # --rate adds a cap to the published pace; 0: none
    kwargs: AsyncOptions = {"base_url": base_url} if base_url else {}

    async def work(client: Any, targets: list[Any], report: Any, control: Any) -> Any:
        if all_orders:
            results: list[Any] = []
            for slug in markets:  # one after another: the pace is per token
                results += await client.cancel_all(
                    slug, on_behalf_of, max_rate=max_rate, on_result=report, control=control
                )
            return results
        return await client.cancel_orders(
            targets,
            on_behalf_of=on_behalf_of,
            concurrency=concurrency,
            max_rate=max_rate,
            missing_ok=missing_ok,
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
        deadline=deadline,
        as_json_lines=json_lines,
        journal=journal,
        dry_run=dry_run,
        describe_request=request,
        verbose=verbose,
        estimate=lambda n: _limitless_seconds(n, max_rate, one_by_one=on_behalf_of is not None),
        foreign_record=foreign_record,
        source=from_file,
    )
    raise SystemExit(
        cli.run(
            job,
            items=parsed.items,
            invalid=bad,
            skip_invalid=skip_invalid,
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
    from ..limitless._client import PACE
    from ..limitless._kill import BATCH

    requests = orders if one_by_one else -(-orders // BATCH)
    return requests * max(PACE.spacing, 1 / max_rate if max_rate else 0.0)


@main.group()
def orders() -> None:
    """List open orders."""


@contextmanager
def _listing_errors() -> Iterator[None]:
    """A listing's failure as the CLI reports it: bad input exit 2, the rest exit 1."""
    from .._exceptions import CancelKitError, InvalidRequest
    from ._terminal import printable

    try:
        yield
    except InvalidRequest as exc:
        click.echo(f"cancelkit: {printable(exc.message)}", err=True)
        raise SystemExit(2) from None
    except CancelKitError as exc:
        click.echo(f"cancelkit: {type(exc).__name__}: {printable(exc)}", err=True)
        raise SystemExit(1) from None


@orders.command("polymarket")
@click.option("--market", "markets", multiple=True, metavar="SLUG", help="Only this market.")
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
    from ..polymarket._client import PolymarketUSClient
    from . import _orders as view

    if json_lines and count_only:
        raise click.UsageError("give --json or --count, not both")
    with _listing_errors():
        options: SyncOptions = {"base_url": base_url} if base_url else {}
        with PolymarketUSClient.from_env(**options) as pm:
            listed = pm.open_orders(market_slugs=markets or None)
    if json_lines:
        if listed:
            click.echo(view.json_lines(listed))
    elif count_only:
        click.echo(view.footer(view.per_market(listed)))
    else:
        click.echo(view.table(listed))


@orders.command("limitless")
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
    from .._generated.limitless_api.models import OrderStatus
    from ..limitless import _validation as check
    from ..limitless._client import LimitlessClient
    from . import _orders as view

    chosen = [OrderStatus(s) for s in statuses] or None
    with _listing_errors():
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


@main.command()
def demo() -> None:
    """Start the sandbox in-process and run cancels on both venues through the clients."""
    _sandbox_module()
    from ._demo import run

    raise SystemExit(run())

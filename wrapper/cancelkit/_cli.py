"""The ``cancelkit`` command. Heavy modules are imported inside the commands so
that ``cancelkit --help`` starts fast."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cancelkit")
def main() -> None:
    """Cancel orders on Polymarket US and Limitless Exchange, or run the local sandbox."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--polymarket-port", default=0, help="Port for Polymarket US (0: any free one).")
@click.option("--limitless-port", default=0, help="Port for Limitless (0: any free one).")
@click.option("--rate-limit", default=0.0, help="Requests/s per key before 429 (Polymarket: 20).")
@click.option("--latency", default=0.0, help="Seconds added to every request.")
@click.option("--failure-rate", default=0.0, help="Share of requests answered 500.")
@click.option("--drop-rate", default=0.0, help="Share of cancels dropped after taking effect.")
@click.option("--throttle-rate", default=0.0, help="Share of requests answered 429.")
@click.option("--max-fault-streak", type=int, default=None, help="Cap on injected faults in a row.")
@click.option("--clock-offset", default=0.0, help="Seconds added to the sandbox clock.")
@click.option("--spike-rate", default=0.0, help="Share of requests delayed by --spike-latency.")
@click.option("--spike-latency", default=0.0, help="Seconds of a latency spike.")
@click.option("--seed", type=int, default=None, help="Seed for the fault dice.")
def sandbox(host: str, polymarket_port: int, limitless_port: int, **knobs: float) -> None:
    """Run both exchange sandboxes until interrupted; print URLs and demo credentials."""
    import threading

    box = _sandbox_module().Sandbox(host, polymarket_port, limitless_port)
    box.set_knobs(**{k: v for k, v in knobs.items() if v is not None})
    with box:
        c = box.credentials
        click.echo(f"Polymarket US  {box.polymarket_url}")
        click.echo(f"Limitless      {box.limitless_url}")
        click.echo("\nDemo credentials (sandbox only) - export them to use the CLI or from_env():")
        for name, value in box.env().items():
            click.echo(f"export {name}={value}")
        click.echo(
            f"\nLimitless partner profile {c.limitless_profile_id} (delegated_signing) manages"
            f" sub-account {c.limitless_sub_account}; another account's token:"
            f" {c.limitless_other_token_id}"
        )
        click.echo(
            "Seed orders: POST {url}/_sandbox/orders {id, owner, client_order_id, market_slug}"
        )
        click.echo("Press Ctrl+C to stop.")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            click.echo("stopping")


def _sandbox_module() -> Any:
    from ._extras import MissingExtra, sandbox

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
            help="Max requests/s (0: no cap) [default: polymarket 20, limitless 10, adaptive].",
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


def _inputs(
    args: list[tuple[str, str]], from_file: str | None, parse: Callable[[str], Any]
) -> _Inputs:
    """Parsed orders from arguments and the file; a record's orders all come back
    (each as its latest record says), final ones marked to be checked again."""
    from . import _cancel_cli as cli

    good, bad = cli.validate_records(args, parse)
    lines = cli.read_lines(from_file) if from_file else []
    origins = list({line.origin for line in lines if line.origin is not None})
    lines = cli.latest_records(lines)
    more, problems = cli.validate_records(
        [(line.label, line.text) for line in lines], cli.plausible(parse)
    )
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
    from . import _cancel_cli as cli
    from . import _validation as check
    from ._polymarket import RATE_LIMIT, AsyncPolymarketUSClient

    if all_orders and (order_ids or from_file):
        raise click.UsageError("--all cancels every open order: give no ORDER_ID or --from-file")
    if len(markets) > 1 and not all_orders:
        raise click.UsageError("give one --market with ids (or several with --all)")
    args = [(f"argument {n}", v) for n, v in enumerate(order_ids, 1)]
    given = _inputs(args, from_file, check.polymarket_order_id)
    _, problems = cli.validate([("--market", m) for m in markets], check.market_slug)
    max_rate = _rate(rate, RATE_LIMIT)
    kwargs = {"base_url": base_url} if base_url else {}

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
            items=given.items,
            invalid=given.bad + problems,
            skip_invalid=skip_invalid,
            all_orders=all_orders,
            invalid_records=given.invalid_records,
            recorded=given.recorded,
            origins=given.origins,
            recorded_sent=given.recorded_sent,
        )
    )


def _cancel_all_body(markets: tuple[str, ...]) -> str:
    import json

    return json.dumps({"slugs": list(markets)} if markets else {})


async def _count_markets(client: Any, markets: tuple[str, ...], control: Any) -> None:
    """Say how many open orders each market has before cancel-all: a misspelt
    market is otherwise a quiet "0 orders"."""
    from collections import Counter

    from ._exceptions import CancelKitError

    try:
        listed = await client._list(list(markets), None, control.deadline)
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
@_common
def cancel_limitless(
    order_ids: tuple[str, ...],
    client_ids: tuple[str, ...],
    on_behalf_of: int | None,
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
    """Cancel Limitless orders. In --from-file, a line is order:<uuid> or client:<id>."""
    from . import _cancel_cli as cli
    from . import _validation as check
    from ._limitless import DEFAULT_RATE, AsyncLimitlessClient

    args = [(f"--order-id {n}", f"order:{v}") for n, v in enumerate(order_ids, 1)]
    args += [(f"--client-order-id {n}", f"client:{v}") for n, v in enumerate(client_ids, 1)]
    given = _inputs(args, from_file, cli.parse_limitless)
    bad = given.bad
    if on_behalf_of is not None:
        _, problem = cli.validate([("--on-behalf-of", on_behalf_of)], check.on_behalf_of)
        bad += problem
    max_rate = _rate(rate, DEFAULT_RATE)
    kwargs = {"base_url": base_url} if base_url else {}

    async def work(client: Any, targets: list[Any], report: Any, control: Any) -> Any:
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
    job = cli.Job(
        venue="limitless",
        build_client=lambda: AsyncLimitlessClient.from_env(**kwargs),
        work=work,
        rate=_rate_text(max_rate) + (" (halved on each 429)" if max_rate else ""),
        deadline=deadline,
        as_json_lines=json_lines,
        journal=journal,
        dry_run=dry_run,
        describe_request=f"POST /orders/cancel{query}, one request per order",
        verbose=verbose,
        estimate=lambda n: None if max_rate is None else n / max_rate,
        foreign_record=foreign_record,
        source=from_file,
    )
    raise SystemExit(
        cli.run(
            job,
            items=given.items,
            invalid=bad,
            skip_invalid=skip_invalid,
            invalid_records=given.invalid_records,
            recorded=given.recorded,
            origins=given.origins,
            recorded_sent=given.recorded_sent,
        )
    )


@main.group()
def orders() -> None:
    """List open orders."""


@orders.command("polymarket")
@click.option("--market", "markets", multiple=True, metavar="SLUG", help="Only this market.")
@click.option("--json", "json_lines", is_flag=True, help="One JSON order per line.")
@click.option("--base-url", help="API root [default: POLYMARKET_API_URL, else the exchange].")
def orders_polymarket(markets: tuple[str, ...], json_lines: bool, base_url: str | None) -> None:
    """The open orders of this key: id, market, side, price, quantity left, state."""
    import json

    from ._exceptions import CancelKitError, InvalidRequest
    from ._polymarket import PolymarketUSClient

    try:
        with PolymarketUSClient.from_env(**({"base_url": base_url} if base_url else {})) as pm:
            listed = pm.open_orders(market_slugs=markets or None)
    except InvalidRequest as exc:
        click.echo(f"cancelkit: {exc.message}", err=True)
        raise SystemExit(2) from None
    except CancelKitError as exc:
        click.echo(f"cancelkit: {type(exc).__name__}: {exc}", err=True)
        raise SystemExit(1) from None
    if json_lines:
        for order in listed:
            click.echo(json.dumps(order.to_dict(), ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(listed)} open order(s)")
    for column in ("id", "market", "side", "price", "quantity left", "state"):
        table.add_column(column)
    for order in listed:
        price = getattr(order.price, "value", "")
        table.add_row(
            str(order.id),
            str(order.market_slug),
            str(order.side),
            str(price),
            str(order.leaves_quantity),
            str(order.state),
        )
    Console().print(table)


@main.command()
def demo() -> None:
    """Start the sandbox in-process and run cancels on both venues through the clients."""
    _sandbox_module()
    from ._demo import run

    raise SystemExit(run())

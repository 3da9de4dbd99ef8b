"""The ``cancelkit`` command. Heavy modules are imported inside the commands so
that ``cancelkit --help`` starts fast."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
            "--from-file", "from_file", metavar="FILE", help="One order per line ('-': stdin)."
        ),
        click.option("--base-url", help="API root (default: *_API_URL or the exchange)."),
        click.option("--json", "json_lines", is_flag=True, help="One JSON result per line."),
        click.option(
            "--missing-ok/--no-missing-ok",
            default=True,
            show_default=True,
            help="Count an order the exchange does not know as already gone.",
        ),
        click.option("--rate", type=float, default=None, help="Max requests/s (0: no limit)."),
        click.option("--concurrency", type=click.IntRange(min=1), default=8, show_default=True),
        click.option(
            "--skip-invalid", is_flag=True, help="Send the valid orders, report the rest."
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _rate(value: float | None, default: float | None) -> float | None:
    if value is None:
        return default
    return value or None


@main.group()
def cancel() -> None:
    """Cancel orders. Credentials come only from the environment (never from flags,
    which land in shell history): POLYMARKET_KEY_ID / POLYMARKET_SECRET_KEY, or
    LIMITLESS_TOKEN_ID / LIMITLESS_TOKEN_SECRET.

    Exit status: 0 all cancelled (or already gone with --missing-ok), 1 some failed,
    2 usage error or invalid input (then nothing is sent unless --skip-invalid)."""


@cancel.command("polymarket")
@click.argument("order_ids", nargs=-1)
@click.option("--market-slug", help="Market of the orders.")
@_common
def cancel_polymarket(
    order_ids: tuple[str, ...],
    market_slug: str | None,
    from_file: str | None,
    base_url: str | None,
    json_lines: bool,
    missing_ok: bool,
    rate: float | None,
    concurrency: int,
    skip_invalid: bool,
) -> None:
    """Cancel Polymarket US orders by ORDER_ID."""
    from . import _cancel_cli as cli
    from . import _validation as check
    from ._polymarket import RATE_LIMIT, PolymarketUSClient

    raw = [(f"argument {n}", v) for n, v in enumerate(order_ids, 1)]
    good, bad = cli.validate(raw, check.polymarket_order_id)
    lines = cli.read_lines(from_file) if from_file else []
    more, problems = cli.validate(lines, cli.plausible(check.polymarket_order_id))
    good, bad = good + more, bad + problems
    if market_slug is not None:
        _, slug_problem = cli.validate([("--market-slug", market_slug)], check.market_slug)
        bad += slug_problem
    kwargs = {"base_url": base_url} if base_url else {}
    raise SystemExit(
        cli.run(
            build_client=lambda: PolymarketUSClient.from_env(**kwargs),
            items=good,
            invalid=bad,
            skip_invalid=skip_invalid,
            as_json_lines=json_lines,
            batch=lambda client, targets, progress: client.cancel_orders(
                targets,
                market_slug=market_slug,
                concurrency=concurrency,
                max_rate=_rate(rate, RATE_LIMIT),
                missing_ok=missing_ok,
                on_result=progress,
            ),
        )
    )


@cancel.command("limitless")
@click.option("--order-id", "order_ids", multiple=True, metavar="UUID", help="Internal order id.")
@click.option(
    "--client-order-id", "client_ids", multiple=True, metavar="ID", help="Client order id."
)
@click.option("--on-behalf-of", type=int, help="Sub-account profile id (partner flow).")
@_common
def cancel_limitless(
    order_ids: tuple[str, ...],
    client_ids: tuple[str, ...],
    on_behalf_of: int | None,
    from_file: str | None,
    base_url: str | None,
    json_lines: bool,
    missing_ok: bool,
    rate: float | None,
    concurrency: int,
    skip_invalid: bool,
) -> None:
    """Cancel Limitless orders. In --from-file, a line is order:<uuid> or client:<id>."""
    from . import _cancel_cli as cli
    from . import _validation as check
    from ._limitless import LimitlessClient

    raw = [(f"--order-id {n}", f"order:{v}") for n, v in enumerate(order_ids, 1)]
    raw += [(f"--client-order-id {n}", f"client:{v}") for n, v in enumerate(client_ids, 1)]
    good, bad = cli.validate(raw, cli.parse_limitless)
    lines = cli.read_lines(from_file) if from_file else []
    more, problems = cli.validate(lines, cli.plausible(cli.parse_limitless))
    good, bad = good + more, bad + problems
    if on_behalf_of is not None:
        _, problem = cli.validate([("--on-behalf-of", on_behalf_of)], check.on_behalf_of)
        bad += problem
    kwargs = {"base_url": base_url} if base_url else {}
    raise SystemExit(
        cli.run(
            build_client=lambda: LimitlessClient.from_env(**kwargs),
            items=good,
            invalid=bad,
            skip_invalid=skip_invalid,
            as_json_lines=json_lines,
            batch=lambda client, targets, progress: client.cancel_orders(
                targets,
                on_behalf_of=on_behalf_of,
                concurrency=concurrency,
                max_rate=_rate(rate, None),
                missing_ok=missing_ok,
                on_result=progress,
            ),
        )
    )


@main.command()
def demo() -> None:
    """Start the sandbox in-process and run cancels on both venues through the clients."""
    _sandbox_module()
    from ._demo import run

    raise SystemExit(run())

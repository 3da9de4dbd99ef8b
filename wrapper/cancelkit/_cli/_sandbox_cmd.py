"""The ``sandbox`` command: the exchange sandboxes until interrupted (loaded when
named: a cancel's start-up does not build its options)."""

from __future__ import annotations

from typing import Any

import click

_NOT_LOOPBACK = (
    "Address to listen on. Anything but loopback exposes the /_sandbox/ admin routes,"
    " which have NO authentication, to that network."
)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help=_NOT_LOOPBACK)
@click.option("--polymarket-port", default=0, help="Port for Polymarket US (0: any free one).")
@click.option("--limitless-port", default=0, help="Port for Limitless (0: any free one).")
@click.option("--kalshi-port", default=0, help="Port for Kalshi (0: any free one).")
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
    help="Enforce the published limits: Limitless's (2 in flight, 300 ms apart, per"
    " token), Kalshi's token buckets (per key, at --tier).",
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
@click.option(
    "--wrong-answer-rate",
    default=0.0,
    help="Kalshi: share of V2 cancels answered about another order (the cancel takes effect).",
)
@click.option(
    "--tier",
    default="basic",
    show_default=True,
    help="Kalshi: the demo keys' tier (basic ... prestige), whose token buckets are"
    " enforced with --published-limits.",
)
@click.option(
    "--stream/--no-stream",
    default=True,
    show_default=True,
    help="Polymarket: serve the private order stream (/v1/ws/private).",
)
@click.option("--stream-heartbeat", default=5.0, help="Seconds between stream heartbeats.")
@click.option("--stream-delay", default=0.0, help="Seconds each stream execution waits.")
@click.option(
    "--stream-snapshot-delay",
    default=0.0,
    help="Seconds a stream subscription takes to start (its snapshot, then executions).",
)
@click.option(
    "--stream-drop-every", type=click.IntRange(min=0), default=0, help="Drop every n-th execution."
)
@click.option(
    "--stream-duplicate-every",
    type=click.IntRange(min=0),
    default=0,
    help="Send every n-th execution twice.",
)
@click.option(
    "--stream-reorder-every",
    type=click.IntRange(min=0),
    default=0,
    help="Send every n-th execution after the next one.",
)
@click.option(
    "--stream-close-after",
    type=click.IntRange(min=0),
    default=0,
    help="Close each stream connection after this many executions (0: never).",
)
@click.option(
    "--stream-ping-every",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Kalshi: seconds between the stream's Ping frames (body heartbeat; 0: none).",
)
@click.option(
    "--stream-silent/--no-stream-silent",
    default=False,
    show_default=True,
    help="Kalshi: the stream hangs (sends nothing, answers no Ping) until turned off.",
)
def sandbox(
    host: str, polymarket_port: int, limitless_port: int, kalshi_port: int, **knobs: Any
) -> None:
    """Run the exchange sandboxes until interrupted; print URLs, demo credentials,
    commands that seed and cancel orders, and the admin routes.

    Each flag sets the knob of the same name on every venue (POST /_sandbox/knobs
    changes them while running; POST /_sandbox/reset restores the defaults). The
    /_sandbox/ admin routes have NO authentication: keep --host on loopback."""
    import threading

    from . import _sandbox as view

    module = sandbox_module()
    warning = view.host_warning(host)
    if warning:
        click.secho(warning, err=True, fg="red", bold=True)
    box = module.Sandbox(host, polymarket_port, limitless_port, kalshi_port)
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


def sandbox_module() -> Any:
    """``cancelkit.sandbox``, or exit 2 saying which extra to install."""
    from .._extras import MissingExtra

    try:
        from .. import sandbox
    except MissingExtra as exc:  # the sandbox's own check, before starlette is imported
        click.echo(f"cancelkit: {exc}", err=True)
        raise SystemExit(2) from None
    return sandbox

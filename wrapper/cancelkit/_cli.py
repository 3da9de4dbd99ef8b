"""The ``cancelkit`` command. Heavy modules are imported inside the commands so
that ``cancelkit --help`` starts fast."""

from __future__ import annotations

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
@click.option("--clock-offset", default=0.0, help="Seconds added to the sandbox clock.")
@click.option("--seed", type=int, default=None, help="Seed for the fault dice.")
def sandbox(host: str, polymarket_port: int, limitless_port: int, **knobs: float) -> None:
    """Run both exchange sandboxes until interrupted; print URLs and demo credentials."""
    import threading

    from .sandbox import Sandbox

    box = Sandbox(host, polymarket_port, limitless_port)
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


@main.command()
def demo() -> None:
    """Start the sandbox in-process and run cancels on both venues through the clients."""
    from ._demo import run

    raise SystemExit(run())

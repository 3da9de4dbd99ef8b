"""The ``cancelkit`` command. Heavy modules are imported inside the commands so
that ``cancelkit --help`` starts fast."""

from __future__ import annotations

from typing import Any

from ._loading import skip_httpx_cli, without_gc

skip_httpx_cli()
with without_gc():  # (click, the table of venues, the commands: see _loading)
    import click

    from .. import _VENUES
    from ._accounts_cmd import accounts
    from ._guard import arm, guard, heartbeat, status, trigger
    from ._params import Finite
    from ._runs import runs

# Each venue's commands, by module path, from the one table of venues: a command
# imports only the venue it acts on, and `cancelkit --help` none.
VENUES = {venue: f"cancelkit.{venue}._cli" for venue in _VENUES}


class _Venues(click.Group):
    """A group whose subcommands are the venues' (``cancel_<venue>`` or
    ``orders_<venue>`` of the venue's ``_cli`` module), loaded when used."""

    def __init__(self, *args: Any, commands_from: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._prefix = commands_from

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*VENUES, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in VENUES:
            return super().get_command(ctx, cmd_name)
        import importlib

        with without_gc():
            module = importlib.import_module(VENUES[cmd_name])
        command = getattr(module, f"{self._prefix}_{cmd_name}")
        assert isinstance(command, click.Command)
        return command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cancelkit")
def main() -> None:
    """Cancel orders on Polymarket US, Limitless Exchange and Kalshi, or run the local
    sandbox."""


main.add_command(runs)
main.add_command(accounts)
for _command in (guard, trigger, heartbeat, arm, status):
    main.add_command(_command)


_NOT_LOOPBACK = (
    "Address to listen on. Anything but loopback exposes the /_sandbox/ admin routes,"
    " which have NO authentication, to that network."
)


@main.command()
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

    module = _sandbox_module()
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


def _sandbox_module() -> Any:
    from .._extras import MissingExtra

    try:
        from .. import sandbox
    except MissingExtra as exc:  # the sandbox's own check, before starlette is imported
        click.echo(f"cancelkit: {exc}", err=True)
        raise SystemExit(2) from None
    return sandbox


@main.group(cls=_Venues, commands_from="cancel", invoke_without_command=True)
@click.option(
    "--everywhere",
    is_flag=True,
    help="Every open order of every account of the accounts file (or of each venue"
    " whose variables are set), all venues at once; see `cancelkit accounts`.",
)
@click.option(
    "--account",
    "names",
    multiple=True,
    metavar="NAME",
    help="With --everywhere: only this account (repeatable).",
)
@click.option(
    "--config",
    metavar="FILE",
    help="With --everywhere: the accounts file [default: $CANCELKIT_CONFIG, else"
    " $XDG_CONFIG_HOME/cancelkit/accounts.toml, else ~/.config/cancelkit/accounts.toml].",
)
@click.option(
    "--deadline",
    type=Finite(min=0, min_open=True),
    default=None,
    help="With --everywhere: the run's end, as a venue command's --deadline [default: 60].",
)
@click.option(
    "--json", "json_lines", is_flag=True, help="With --everywhere: one JSON record per order."
)
@click.option("--dry-run", is_flag=True, help="With --everywhere: say what would be sent.")
@click.option("-v", "--verbose", is_flag=True, help="With --everywhere: the debug log on stderr.")
@click.pass_context
def cancel(
    ctx: click.Context,
    everywhere: bool,
    names: tuple[str, ...],
    config: str | None,
    deadline: float | None,
    json_lines: bool,
    dry_run: bool,
    verbose: bool,
) -> None:
    """Cancel orders: the kill switch. Credentials come only from the environment
    (never from flags, which land in shell history): each venue's command help names
    its variables.

    Each order ends as: cancelled, not open (cancelled before, filled...), not found
    (unknown to the exchange for this key), not listed (absent from this key's listing
    or answered "not found or already canceled", and not looked up in time), failed
    (may still be open), not sent, or unknown (sent, no answer before an interrupt or
    the deadline); where a venue can tell, filled (it filled while the cancel was
    pending). Exit status: 0 every order cancelled, filled or not open (not found and
    not listed too with --missing-ok); 1 any other; 2
    invalid input or usage (nothing sent); 130 interrupted (after every outcome is
    written). SIGINT, SIGTERM and SIGHUP all stop the run the same way.

    --everywhere: every account at once, one report per account; exit 0 only when
    every account's listing confirms nothing of ours is open. On Linux each account
    runs in a process of its own (``ck:<account>``); this one relays their lines and
    passes the first signal on."""
    given = names or config or deadline is not None or json_lines or dry_run or verbose
    if ctx.invoked_subcommand is not None:
        if everywhere or given:
            raise click.UsageError(
                "--everywhere and its options come without a venue; a venue's own options"
                " go after its name"
            )
        return
    if not everywhere:
        if given:
            raise click.UsageError("--account, --config, --json... go with --everywhere")
        click.echo(ctx.get_help())
        ctx.exit(2)  # a usage error, as a group without its command always was
    from ._everywhere import command

    raise SystemExit(command(config, names, deadline or 60.0, json_lines, dry_run, verbose))


@main.group(cls=_Venues, commands_from="orders")
def orders() -> None:
    """List open orders."""


@main.command()
def demo() -> None:
    """Start the sandbox in-process and run cancels on every venue through the clients."""
    _sandbox_module()
    from ._demo import run

    raise SystemExit(run())

"""The ``cancelkit`` command's click tree: the top group, ``cancel`` and ``orders``
(each venue's commands loaded by module path when named), ``demo``, and the
commands off a cancel's way loaded when named (:data:`_LAZY`). Heavy modules are
imported inside the commands so that ``cancelkit --help`` starts fast."""

from __future__ import annotations

from typing import Any

from . import VENUES
from ._loading import without_gc

with without_gc():  # (click and the commands: see _loading)
    import click

    from ._params import Finite


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


# The commands off a cancel's way, by the module that has each: loaded when named
# (and by --help), so that a cancel's start-up neither imports nor builds them.
_LAZY = {
    "accounts": "._accounts_cmd",
    "arm": "._guard",
    "guard": "._guard",
    "heartbeat": "._guard",
    "runs": "._runs",
    "sandbox": "._sandbox_cmd",
    "status": "._guard",
    "trigger": "._guard",
}


class _Main(click.Group):
    """The top group: its own commands, and those of :data:`_LAZY`, loaded when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*_LAZY, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _LAZY:
            return super().get_command(ctx, cmd_name)
        import importlib

        command = getattr(importlib.import_module(_LAZY[cmd_name], __package__), cmd_name)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cancelkit")
def main() -> None:
    """Cancel orders on Polymarket US, Limitless Exchange and Kalshi, or run the local
    sandbox."""


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
    from ._sandbox_cmd import sandbox_module

    sandbox_module()
    from ._demo import run

    raise SystemExit(run())

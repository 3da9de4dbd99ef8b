"""``cancelkit accounts``: the desk's accounts (never a secret: only where each is),
and with ``--check`` one cheap signed read per account, naming every refused key."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from .._accounts import Account

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2
CHECK_SECONDS = 20.0  # an account still unanswered then is reported, not waited for


@click.command("accounts")
@click.option(
    "--config",
    metavar="FILE",
    help="The accounts file [default: $CANCELKIT_CONFIG, else"
    " $XDG_CONFIG_HOME/cancelkit/accounts.toml, else ~/.config/cancelkit/accounts.toml;"
    " none: one account per venue whose variables are set].",
)
@click.option(
    "--check",
    is_flag=True,
    help="Prove each key with one cheap signed read; exit 1 naming every refused one.",
)
@click.option("--json", "json_lines", is_flag=True, help="One JSON object per account.")
def accounts(config: str | None, check: bool, json_lines: bool) -> None:
    """The accounts `cancel --everywhere` (and the guard) act on: name, venue, key id,
    where the secret is (a variable's name or a file: never the secret), URL, tier,
    sub-account, markets. The file: one TOML table per account, e.g.

    \b
    [desk-1]
    venue = "VENUE"                # a venue command's name: cancelkit cancel --help
    key_id = "..."
    secret_env = "DESK_1_SECRET"   # or secret_file = "~/.keys/desk-1" (mode 600)

    Exit status: 0; 1 with --check if any key was refused or could not be checked;
    2 if the accounts file (or the environment) is refused."""
    from .._accounts import AccountsError, load_accounts
    from ._terminal import json_safe, library_log, printable

    try:
        found = load_accounts(config)
    except AccountsError as exc:
        click.echo(f"cancelkit: {exc.message}", err=True)
        raise SystemExit(EXIT_USAGE) from None
    checked: dict[str, BaseException | None] = {}
    if check:
        with library_log(False):
            checked = _prove(found)
    for account in found:
        record: dict[str, Any] = account.public()
        if check:
            error = checked[account.name]
            record["check"] = {
                "ok": error is None,
                "error": None
                if error is None
                else {"type": type(error).__name__, "message": str(error)},
            }
        if json_lines:
            click.echo(json_safe(json.dumps(record, ensure_ascii=False)))
        else:
            click.echo(printable(_line(account, record)))
    refused = [name for name, error in checked.items() if error is not None]
    if refused:
        click.echo(f"cancelkit: refused or not checked: {', '.join(refused)}", err=True)
        raise SystemExit(EXIT_REFUSED)
    raise SystemExit(EXIT_OK)


def _line(account: Account, record: dict[str, Any]) -> str:
    cells = [account.name, account.venue, f"key {account.key_id}", f"secret {account.secret}"]
    if account.base_url:
        cells.append(account.base_url)
    cells += [f"{k} {record[k]}" for k in ("tier", "subaccount") if record[k] is not None]
    if account.markets:
        cells.append(f"markets {','.join(account.markets)}")
    if "check" in record:
        error = record["check"]["error"]
        cells.append("ok" if error is None else f"REFUSED: {error['type']}: {error['message']}")
    return "  ".join(cells)


def _prove(found: tuple[Account, ...]) -> dict[str, BaseException | None]:
    import anyio

    from .._desk import one_shot_desk

    async def main() -> dict[str, BaseException | None]:
        async with one_shot_desk(found) as desk:  # one read per account: httpx's own transport
            return await desk.prove(CHECK_SECONDS)

    return anyio.run(main)

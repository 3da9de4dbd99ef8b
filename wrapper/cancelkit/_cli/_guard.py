"""The guard's commands: ``guard`` (the armed kill switch itself) and those that
talk to it over its control socket: ``trigger``, ``heartbeat``, ``arm``,
``status``. Only click is imported here; the guard's modules load when used."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from ._params import Finite

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_DEADLINE = 60.0  # seconds a firing's run may take (as `cancel --everywhere`)


@click.command()
@click.option(
    "--config",
    metavar="FILE",
    help="The accounts file [default: $CANCELKIT_CONFIG, else"
    " $XDG_CONFIG_HOME/cancelkit/accounts.toml, else ~/.config/cancelkit/accounts.toml].",
)
@click.option(
    "--account",
    "names",
    multiple=True,
    metavar="NAME",
    help="Guard only this account (repeatable) [default: every account].",
)
@click.option(
    "--heartbeat-timeout",
    type=Finite(min=0, min_open=True),
    default=None,
    metavar="S",
    help="The dead-man's switch: fire when S seconds pass without a heartbeat, after"
    " the first one [default: off].",
)
@click.option(
    "--heartbeat-file",
    metavar="PATH",
    help="Each touch of PATH (its modification time changing) is a heartbeat, if PATH"
    " is a regular file of yours (not a link) that no one else may write, in"
    " directories no one else controls.",
)
@click.option(
    "--cancel-on-exit",
    is_flag=True,
    help="Fire on SIGTERM/SIGINT before exiting [default: they disarm and exit 0,"
    " cancelling nothing].",
)
@click.option(
    "--deadline",
    type=Finite(min=0, min_open=True),
    default=DEFAULT_DEADLINE,
    show_default=True,
    metavar="S",
    help="Seconds each firing's run may take.",
)
@click.option(
    "--prove-every",
    type=Finite(min=1),
    default=60.0,
    show_default=True,
    metavar="S",
    help="Seconds between each account's signed reads while armed (each proves the key,"
    " corrects the clock and lists its open orders, unless its order stream is live; lower"
    " costs more of the venue's budget).",
)
@click.option(
    "--realtime",
    is_flag=True,
    help="Run on Linux's real-time scheduler (SCHED_FIFO, priority 1): the guard takes a"
    " core before any ordinary process the moment it is ready, even with the machine's"
    " cores all busy (a runaway bot's). Needs a real-time priority limit of 1"
    " (systemd: LimitRTPRIO=1) or CAP_SYS_NICE; refused at start otherwise (exit 2)."
    " Without it the guard asks the ordinary scheduler for its shortest time slice"
    " (Linux 6.12+; no privilege needed).",
)
@click.option(
    "--status",
    "show_status",
    is_flag=True,
    help="Show the running guard's state (as `cancelkit status`; exit 0 only when armed and well).",
)
@click.option("--json", "as_json", is_flag=True, help="With --status: one JSON object.")
@click.option("-v", "--verbose", is_flag=True, help="The debug log on stderr.")
def guard(
    config: str | None,
    names: tuple[str, ...],
    heartbeat_timeout: float | None,
    heartbeat_file: str | None,
    cancel_on_exit: bool,
    deadline: float,
    prove_every: float,
    realtime: bool,
    show_status: bool,
    as_json: bool,
    verbose: bool,
) -> None:
    """The kill switch, armed: a foreground process that keeps every account's
    connection warm and its key proven, and cancels every open order of every
    account (as `cancel --everywhere`, on the connections it keeps open) when it
    fires: on SIGUSR1,
    on `cancelkit trigger`, or, with --heartbeat-timeout, when the heartbeats
    (`cancelkit heartbeat`, cancelkit.Heartbeat, or touches of --heartbeat-file)
    stop.

    Only its user can fire it, beat it or read it: its control socket is in the
    state directory, which must be open to nobody else. After firing it stays up,
    refuses heartbeats (the bot learns it fired) and waits for `cancelkit arm`.
    SIGTERM and SIGINT disarm it and exit 0 without cancelling anything (unless
    --cancel-on-exit). Exit status 2: a key refused at start (each one named), the
    state directory open to others, another guard running there, a bad accounts
    file, or --realtime not permitted."""
    if show_status:
        raise SystemExit(_status(as_json))
    if heartbeat_file is not None and heartbeat_timeout is None:
        raise click.UsageError("--heartbeat-file needs --heartbeat-timeout (when to fire)")
    from ._guard_run import Settings, run
    from ._terminal import library_log

    settings = Settings(
        config,
        names,
        heartbeat_timeout,
        heartbeat_file,
        cancel_on_exit,
        deadline,
        prove_every,
        realtime,
    )
    with library_log(verbose):
        raise SystemExit(run(settings))


@click.command()
@click.option(
    "--timeout",
    type=Finite(min=0, min_open=True),
    default=DEFAULT_DEADLINE + 30.0,
    show_default=True,
    help="Seconds to wait for the firing's report.",
)
@click.option("--json", "as_json", is_flag=True, help="The firing's records, one JSON per line.")
def trigger(timeout: float, as_json: bool) -> None:
    """Fire this user's running guard now, wait for the run, print its report; exit
    with the run's status (0 only when every account's listing confirms nothing of
    ours is open; 2 if no guard answered: nothing was fired)."""
    answer = _ask("trigger", timeout)
    report = str(answer.get("report") or "")
    if as_json:
        click.echo(report, nl=False)
    else:
        _summaries(report)
    status = answer.get("status")
    raise SystemExit(status if isinstance(status, int) else EXIT_FAILED)


@click.command()
def heartbeat() -> None:
    """One heartbeat to this user's running guard (for shell scripts and cron).
    Exit 0 if it took it; 1 if it refused it (it has fired: `cancelkit arm`); 2 if
    no guard answered."""
    answer = _ask("heartbeat", 5.0, refuse=EXIT_FAILED)
    click.echo(f"cancelkit: heartbeat taken ({answer.get('state')})", err=True)


@click.command()
def arm() -> None:
    """Arm this user's running guard again after it fired (its dead-man's switch
    then waits for a first heartbeat)."""
    answer = _ask("arm", 5.0, refuse=EXIT_FAILED)
    click.echo(f"cancelkit: the guard is {answer.get('state')}", err=True)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def status(as_json: bool) -> None:
    """The running guard's state (as `cancelkit guard --status`): armed, firing,
    fired or disarmed; its accounts and keys; its last heartbeat; its last run's
    outcome; the venues it cannot reach. Exit 0 only when it is armed with every
    key accepted and every venue reachable; 1 otherwise; 2 if no guard answered."""
    raise SystemExit(_status(as_json))


def _ask(operation: str, timeout: float, *, refuse: int = EXIT_USAGE) -> dict[str, Any]:
    """The guard's answer; exits 2 when no guard answers or the channel is not
    safe, ``refuse`` when the guard refuses."""
    from .. import _guard_link as link

    try:
        answer = link.request(operation, timeout=timeout)
    except (link.GuardUnreachable, link.GuardRefused) as exc:
        click.echo(f"cancelkit: {exc}", err=True)
        raise SystemExit(EXIT_USAGE) from None
    if not answer.get("ok"):
        click.echo(f"cancelkit: {answer.get('error')}", err=True)
        raise SystemExit(refuse)
    return answer


def _status(as_json: bool) -> int:
    answer = _ask("status", 5.0)
    answer.pop("ok", None)
    report = answer.pop("last_report", "")
    accounts = answer.get("accounts") or []
    healthy = (
        answer.get("state") == "armed"
        and all(a.get("key") == "accepted" for a in accounts)
        and not answer.get("venues_unreachable")
    )
    outcome = EXIT_OK if healthy else EXIT_FAILED
    if as_json:
        click.echo(json.dumps(answer, sort_keys=True))
        return outcome
    from ._terminal import printable

    lines = [f"state: {answer.get('state')} (pid {answer.get('pid')})"]
    if answer.get("scheduling"):
        lines.append(f"scheduling: {answer.get('scheduling')}")
    timeout = answer.get("heartbeat_timeout")
    if timeout is None:
        lines.append("heartbeat: no dead-man's switch")
    else:
        last = answer.get("last_heartbeat") or "none yet"
        lines.append(f"heartbeat: fires {timeout:g} s after the last; last {last}")
    run = answer.get("last_run")
    if run:
        ended = run.get("ended") or "(under way)"
        lines.append(
            f"last run: {run.get('cause')}; started {run.get('started')}, ended {ended},"
            f" exit status {run.get('status')}"
        )
    else:
        lines.append("last run: none")
    for account in accounts:
        orders = account.get("open_orders")
        known = "unknown" if orders is None else f"{orders} ({account.get('orders_from')})"
        line = (
            f"  {account.get('name')} ({account.get('venue')}, key {account.get('key_id')}):"
            f" key {account.get('key')}; open orders {known}"
        )
        line += _markets(account.get("markets_covered"))
        if account.get("unreachable"):
            line += f"; UNREACHABLE: {account['unreachable']}"
        lines.append(line)
    venues = answer.get("venues_unreachable") or []
    lines.append(f"venues unreachable: {', '.join(venues) or 'none'}")
    click.echo("\n".join(printable(line) for line in lines))
    if report and run:
        _summaries(report)
    return outcome


def _summaries(report: str) -> None:
    """The per-account lines of a firing's report (its records' summaries), each
    with its venue and, when not confirmed empty, the first problem it met."""
    from ._terminal import printable

    problems: dict[str, str] = {}
    for record in _records(report):
        if record.get("summary") or record.get("ok") is not False:
            continue
        error = record.get("error") or {}
        why = f"{error.get('type')}: {error.get('message')}" if error else record.get("message")
        problems.setdefault(str(record.get("account")), f"{record.get('status')}: {why}")
    for record in _records(report):
        if not record.get("summary"):
            continue
        name = str(record.get("account"))
        counts = record.get("counts") or {}
        parts = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in counts.items()) or "no orders"
        left = record.get("left")
        text = (
            f"{name} ({record.get('venue')}): {parts}; left: {'unknown' if left is None else left}"
        )
        origins = record.get("covered_from")
        if isinstance(origins, dict):
            text += _markets([{"market": m, "from": f} for m, f in origins.items()])
        error = record.get("error")
        if error:
            text += f"; FAILED: {error.get('type')}: {error.get('message')}"
        if not record.get("ok"):
            text += " (not confirmed empty)"
            if name in problems and not error:
                text += f"; first problem: {problems[name]}"
        click.echo(printable(text))
    sys.stdout.flush()


def _markets(covered: Any) -> str:
    """Where a per-market account's listings and kill reach, each market with where it
    came from ('' for an account its venue covers whole)."""
    if not isinstance(covered, list):
        return ""
    if not covered:
        return "; markets: NONE known (not covered)"
    named = ", ".join(f"{c.get('market')} ({c.get('from')})" for c in covered)
    return f"; markets: {named} (only these are covered)"


def _records(report: str) -> list[dict[str, Any]]:
    found = []
    for line in report.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            found.append(record)
    return found

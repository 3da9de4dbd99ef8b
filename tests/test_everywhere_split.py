"""``cancelkit cancel --everywhere`` split across processes (``_cli/_processes``): each
account's run in a process of its own, one report and one exit status, and the
kill switch's promises kept when a part, or the command itself, is killed or
signalled. Through real processes against the sandbox."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cancelkit._account import Account, SecretRef
from cancelkit._cli._processes import MAX_PARTS, parts_of
from cancelkit.sandbox import Sandbox
from test_everywhere import DeskFile, desk3, open_ids

__all__ = ["desk3"]  # the fixture, used here

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="split on Linux only")

Desk3 = tuple[DeskFile, dict[str, list[str]]]
NAMES = {"ck:pm-a": "pm-a", "ck:pm-b": "pm-b", "ck:lm": "lm", "ck:ks": "ks"}


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, process group) of ``pid``, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return int(fields[1]), int(fields[2])


def descendants(root: int) -> dict[int, str]:
    """Every live process below ``root``, by pid, with its name (comm)."""
    found: dict[int, str] = {}
    parents = {root}
    grew = True
    while grew:
        grew = False
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in found:
                continue
            stat = _stat(int(entry))
            if stat is not None and stat[0] in parents:
                try:
                    found[int(entry)] = Path(f"/proc/{entry}/comm").read_text().strip()
                except OSError:
                    continue
                parents.add(int(entry))
                grew = True
    return found


def start(file: DeskFile, *args: str) -> subprocess.Popen[str]:
    config = ("--config", str(file.path))
    return subprocess.Popen(
        [sys.executable, "-m", "cancelkit", "cancel", "--everywhere", "--json", *args, *config],
        env={**os.environ, **file.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def first_requests_in(box: Sandbox) -> None:
    """Until every account's first request has arrived (counted on arrival)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (
        box.polymarket.stats.requests < 2
        or box.limitless.stats.requests < 1
        or box.kalshi.stats.requests < 1
    ):
        time.sleep(0.02)


def parts_of_run(process: subprocess.Popen[str]) -> dict[str, int]:
    """The run's part processes, by account (each named ``ck:<account>``)."""
    deadline = time.monotonic() + 10
    while True:
        named = {NAMES[c]: pid for pid, c in descendants(process.pid).items() if c in NAMES}
        if len(named) == len(NAMES) or time.monotonic() > deadline:
            return named
        time.sleep(0.02)


def run_script(
    path: Path, source: str, file: DeskFile, *before: str
) -> subprocess.CompletedProcess[str]:
    """``cancel --everywhere --json`` on the desk of ``file``, through ``source`` (a
    script that wraps the command to inject a fault), its own arguments first."""
    path.write_text(source)
    command = [sys.executable, str(path), *before, "cancel", "--everywhere", "--json"]
    return subprocess.run(
        [*command, "--deadline", "20", "--config", str(file.path)],
        env={**os.environ, **file.env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def summaries(out: str) -> dict[str, dict[str, object]]:
    return {r["account"]: r for r in map(json.loads, out.splitlines()) if r.get("summary")}


def test_each_account_runs_in_a_process_of_its_own_in_a_group_of_their_own(
    desk3: Desk3, cancelkit_sandbox: Sandbox
) -> None:
    """Four accounts, four processes, each named after its account, in one process
    group that is not the command's (a terminal's Ctrl-C reaches the command only,
    which passes it on once); one JSON stream, every line whole; exit 0."""
    file, orders = desk3
    box = cancelkit_sandbox
    box.set_knobs(latency=0.5)  # the parts are still there when looked for
    with start(file, "--deadline", "20") as process:
        first_requests_in(box)
        parts = parts_of_run(process)
        groups = {_stat(pid) for pid in parts.values()}
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert sorted(parts) == sorted(orders)
    assert len({g[1] for g in groups if g is not None}) == 1
    assert os.getpgid(0) not in {g[1] for g in groups if g is not None}
    assert open_ids(box) == set()
    records = [json.loads(line) for line in out.splitlines()]  # no line mixed with another
    for name, ids in orders.items():
        mine = [r for r in records if r["account"] == name and not r.get("summary")]
        assert sorted(r["order"] for r in mine) == sorted(ids)
    assert {n: s["ok"] for n, s in summaries(out).items()} == dict.fromkeys(orders, True)
    # Each banner says the command's deadline (each part's is what is left of it).
    banners = [line for line in err.splitlines() if "every open order" in line]
    assert len(banners) == 4
    assert all(line.endswith("; deadline 20 s") for line in banners), err


def journaled(box: Sandbox) -> list[dict[str, object]]:
    """The runs ``cancelkit runs`` lists (each account's, from its journal)."""
    runs = subprocess.run(
        [sys.executable, "-m", "cancelkit", "runs", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [json.loads(line) for line in runs.stdout.splitlines()]


@pytest.mark.parametrize("closed", ["1", "2"])
def test_a_closed_stdout_or_stderr_still_cancels_every_account(
    desk3: Desk3, cancelkit_sandbox: Sandbox, closed: str
) -> None:
    """Started with stdout or stderr closed (``>&-``, ``2>&-``: Python's None), the
    kill still cancels every order of every account, each run journaled (the split
    run crashed before its first fork, and cancelled nothing)."""
    file, orders = desk3
    box = cancelkit_sandbox
    command = [sys.executable, "-m", "cancelkit", "cancel", "--everywhere", "--json"]
    command += ["--deadline", "20", "--config", str(file.path)]
    done = subprocess.run(
        ["sh", "-c", f'exec "$@" {closed}>&-', "sh", *command],
        env={**os.environ, **file.env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert open_ids(box) == set(), done.stderr
    assert len(journaled(box)) == len(orders)
    if closed == "2":
        assert done.returncode == 0
        assert {n: s["ok"] for n, s in summaries(done.stdout).items()} == dict.fromkeys(
            orders, True
        )


def test_no_descriptors_for_the_parts_pipes_runs_every_account_in_one_process(
    desk3: Desk3, cancelkit_sandbox: Sandbox
) -> None:
    """An open-files limit too low for the parts' pipes (three each; one process
    needs far fewer): the run is not split, says so, and cancels every order of
    every account in one process, exit 0 (it crashed on the pipes before its first
    fork, and cancelled nothing)."""
    file, orders = desk3
    command = [sys.executable, "-m", "cancelkit", "cancel", "--everywhere", "--json"]
    command += ["--deadline", "20", "--config", str(file.path)]
    done = subprocess.run(
        ["sh", "-c", 'ulimit -n 20 && exec "$@"', "sh", *command],
        env={**os.environ, **file.env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "not split across processes (Too many open files)" in done.stderr
    assert open_ids(cancelkit_sandbox) == set()
    assert {n: s["ok"] for n, s in summaries(done.stdout).items()} == dict.fromkeys(orders, True)


def test_a_part_killed_mid_run_is_reported_unconfirmed_and_the_others_finish(
    desk3: Desk3, cancelkit_sandbox: Sandbox
) -> None:
    file, orders = desk3
    box = cancelkit_sandbox
    box.set_knobs(latency=1.0)
    with start(file, "--deadline", "20") as process:
        first_requests_in(box)
        parts = parts_of_run(process)
        os.kill(parts["pm-b"], signal.SIGKILL)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 1, err
    said = summaries(out)
    assert said["pm-b"]["ok"] is False
    assert said["pm-b"]["left"] is None
    assert said["pm-b"]["error"] == {
        "type": "Lost",
        "message": "its process ended without a report (killed, or it crashed)",
    }
    assert {n: said[n]["ok"] for n in ("pm-a", "lm", "ks")} == dict.fromkeys(
        ("pm-a", "lm", "ks"), True
    )
    assert "cancelkit: pm-b: its process ended without a report" in err
    assert open_ids(box) <= set(orders["pm-b"])  # the others' books are empty


# The command with one fault injected: pm-b's part raises as its run starts (a bug,
# MemoryError...), as no sandbox knob can make it.
def as_pm_b_starts(statement: str) -> str:
    """The command, with pm-b's part doing ``statement`` (in its run's task) as its
    run starts: a fault no sandbox knob can make."""
    return f"""
import sys
import anyio
from cancelkit._cli import _everywhere
from cancelkit._cli import main

real = _everywhere.run_everywhere


async def injected(desk, **kwargs):
    if "pm-b" in [a.name for a in desk.select(None)]:
        {statement}
    return await real(desk, **kwargs)


_everywhere.run_everywhere = injected
sys.argv[0] = "cancelkit"
main()
"""


CRASH_PM_B = as_pm_b_starts('raise RuntimeError("injected: pm-b\'s part crashed")')


def test_a_part_that_crashes_is_reported_unconfirmed_as_one_killed(
    desk3: Desk3, cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    """A part whose run raises (a bug) is reported as a part killed is: its account
    named, ``left: unknown``, a ``Lost`` summary; the others finish; exit 1. (Its
    exit status 1 came back as a report: no line and no summary for its account.)"""
    file, orders = desk3
    done = run_script(tmp_path / "crash.py", CRASH_PM_B, file)
    assert done.returncode == 1, done.stderr
    assert "injected: pm-b's part crashed" in done.stderr  # its traceback, relayed
    assert "cancelkit: pm-b: its process ended without a report" in done.stderr
    said = summaries(done.stdout)
    assert sorted(said) == sorted(orders)
    assert said["pm-b"]["ok"] is False
    assert said["pm-b"]["left"] is None
    assert said["pm-b"]["error"] == {
        "type": "Lost",
        "message": "its process ended without a report (killed, or it crashed)",
    }
    assert {n: said[n]["ok"] for n in ("pm-a", "lm", "ks")} == dict.fromkeys(
        ("pm-a", "lm", "ks"), True
    )
    assert open_ids(cancelkit_sandbox) == set(orders["pm-b"])


# fork() refused (EAGAIN: a process limit) in Polymarket's process, as it forks pm-b's.
VENUE_FORK_REFUSED = """
import errno
import os
import sys

from cancelkit._cli import main

COMMAND = os.getpid()
real_fork = os.fork


def fork():
    if os.getpid() != COMMAND and os.getppid() == COMMAND:
        raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN))
    return real_fork()


os.fork = fork
sys.argv[0] = "cancelkit"
main()
"""


def test_a_part_its_venue_s_process_cannot_fork_is_reported_not_run(
    desk3: Desk3, cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    """pm-b's process cannot be forked (EAGAIN) by Polymarket's: pm-b is reported
    once, as not run and why, as when the command cannot fork a venue's process;
    the others finish; exit 1. (It was said twice: not run, then ended without a
    report, "killed, or it crashed", in its summary too.)"""
    file, orders = desk3
    done = run_script(tmp_path / "eagain.py", VENUE_FORK_REFUSED, file)
    assert done.returncode == 1, done.stderr
    why = f"not run: its process could not be started ({os.strerror(errno.EAGAIN)})"
    assert [line for line in done.stderr.splitlines() if line.startswith("cancelkit: pm-b:")] == [
        f"cancelkit: pm-b: {why}; left: unknown; what it did is in its journal (cancelkit runs)"
        " (not confirmed empty)"
    ]
    said = summaries(done.stdout)
    assert said["pm-b"]["error"] == {"type": "Lost", "message": why}
    assert {n: said[n]["ok"] for n in ("pm-a", "lm", "ks")} == dict.fromkeys(
        ("pm-a", "lm", "ks"), True
    )
    assert open_ids(cancelkit_sandbox) == set(orders["pm-b"])


# pm-b's part killed (the OOM killer) while it writes a record: half a line written.
CUT_PM_B = """
import os
import signal
import sys

from cancelkit._cli import _everywhere, main

real_main = _everywhere._main
LONG = int(sys.argv.pop(1))  # what the half line holds past its start


async def cut(accounts, *args):
    if [a.name for a in accounts] == ["pm-b"]:
        sys.stdout.write('{"account": "pm-b", "order": "pm-desk' + "x" * LONG)
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    return await real_main(accounts, *args)


_everywhere._main = cut
sys.argv[0] = "cancelkit"
main()
"""


@pytest.mark.parametrize("long", [0, 100_000])
def test_a_line_cut_short_by_a_part_s_death_is_not_passed_on_as_a_record(
    desk3: Desk3, cancelkit_sandbox: Sandbox, tmp_path: Path, long: int
) -> None:
    """A part killed while it writes a line leaves half of it: that is no record,
    and --json's stdout stays one JSON record a line (it was passed on, a newline
    added, among the others' records); the account is reported lost, exit 1. Half
    of a line longer than the relay holds (passed on in pieces): its pieces are
    ended, and no record is glued to them."""
    file, orders = desk3
    done = run_script(tmp_path / "cut.py", CUT_PM_B, file, str(long))
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    if long:  # its first pieces, ended: on a line of their own
        (at,) = [n for n, line in enumerate(lines) if "pm-deskxxx" in line]
        assert set(lines.pop(at)[len('{"account": "pm-b", "order": "pm-desk') :]) == {"x"}
    records = [json.loads(line) for line in lines]  # each line whole
    said = {r["account"]: r for r in records if r.get("summary")}
    assert sorted(said) == sorted(orders)
    assert said["pm-b"]["error"]["type"] == "Lost"
    assert "cancelkit: pm-b: a line cut short by its process's end, not passed on" in done.stderr


def test_sigterm_to_the_command_and_to_every_part_at_once_is_one_stop_not_two(
    desk3: Desk3, cancelkit_sandbox: Sandbox
) -> None:
    """systemd stops a unit by sending SIGTERM to every process of its control
    group: each part gets it directly and again from the command (passed on).
    That is one stop: every account is reported, nothing exits at once, 130."""
    file, _ = desk3
    box = cancelkit_sandbox
    # Nothing answered before the signal, nor before the run's end (the 3 s grace);
    # each answer still sleeping holds the sandbox's stop until it is due.
    box.set_knobs(latency=6.0)
    with start(file) as process:
        first_requests_in(box)
        parts = parts_of_run(process)
        started = time.monotonic()
        for pid in (process.pid, *parts.values()):
            os.kill(pid, signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert time.monotonic() - started < 5.5  # the 3 s grace, not the 6 s answers
    assert "exiting at once" not in err
    assert "SIGTERM: sending nothing new" in err
    assert sorted(summaries(out)) == ["ks", "lm", "pm-a", "pm-b"]
    assert all(s["ok"] is False for s in summaries(out).values())


# The command's signal, passed on, reaching a venue's process as it forks a part:
# pending there when fork() is called (a signal that has come, its handler not run
# yet); the child starts without it (its pending signals are its own, none).
SIGNAL_AT_FORK = """
import os
import signal
import sys
import time

from cancelkit._cli import main

COMMAND = os.getpid()
real_fork = os.fork


def fork():
    if os.getpid() == COMMAND or os.getppid() != COMMAND:
        return real_fork()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
    os.kill(COMMAND, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while signal.SIGUSR2 not in signal.sigpending() and time.monotonic() < deadline:
        time.sleep(0.01)
    pid = real_fork()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR2})
    return pid


os.fork = fork
sys.argv[0] = "cancelkit"
main()
"""


def test_the_command_s_signal_reaching_a_venue_s_process_as_it_forks_stops_that_part(
    desk3: Desk3, cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    """pm-b's part is forked by Polymarket's process just as the command's SIGTERM,
    passed on, reaches that process: the part still stops on it (the command's
    signal is in the shared page), with pm-a's and the others'; exit 130. (It ran
    on to its answers, and reported its cancels as if no signal had come.)"""
    file, _ = desk3
    box = cancelkit_sandbox
    box.set_knobs(latency=6.0)  # no answer before the 3 s grace ends
    done = run_script(tmp_path / "fork.py", SIGNAL_AT_FORK, file)
    assert done.returncode == 130, done.stderr
    said = summaries(done.stdout)
    assert sorted(said) == ["ks", "lm", "pm-a", "pm-b"]
    assert {n: s["ok"] for n, s in said.items()} == dict.fromkeys(said, False)
    pm_b = [r for r in map(json.loads, done.stdout.splitlines()) if r["account"] == "pm-b"]
    assert all("interrupted (SIGTERM)" in r["message"] for r in pm_b if not r.get("summary"))


# pm-b's desk slow to close (its run over, its report written: the part's loop has
# ended, its status not told yet).
SLOW_CLOSE_PM_B = """
import sys
import time

from cancelkit._cli import main
from cancelkit._desk import AsyncDesk

real_aclose = AsyncDesk.aclose


async def aclose(self):
    await real_aclose(self)
    if "pm-b" in [a.name for a in self.select(None)]:
        print("pm-b: closing", file=sys.stderr, flush=True)
        time.sleep(3)


AsyncDesk.aclose = aclose
sys.argv[0] = "cancelkit"
main()
"""


def test_the_command_s_signal_after_a_part_s_run_has_ended_does_not_kill_it(
    desk3: Desk3, cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    """The command signalled once pm-b's run is over, its part still closing its
    desk: the signal passed on (SIGUSR2) finds the part's own handler, not the
    default (which ended it, its status untold: pm-b reported lost after its
    report said every order cancelled, two summaries for one account)."""
    file, _ = desk3
    script = tmp_path / "slow.py"
    script.write_text(SLOW_CLOSE_PM_B)
    command = [sys.executable, str(script), "cancel", "--everywhere", "--json"]
    with subprocess.Popen(
        [*command, "--deadline", "20", "--config", str(file.path)],
        env={**os.environ, **file.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stderr is not None
        for line in process.stderr:  # pm-b's report written, its desk closing
            if line.startswith("pm-b: closing"):
                break
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    assert "ended without a report" not in err
    pm_b = [r for r in map(json.loads, out.splitlines()) if r["account"] == "pm-b"]
    assert [(r["ok"], r["left"]) for r in pm_b if r.get("summary")] == [(True, 0)]
    assert open_ids(cancelkit_sandbox) == set()
    assert process.returncode == 130  # the command was signalled


def full_pipe() -> tuple[int, int]:
    """A pipe (read end, write end) already full: a blocking write to it waits until
    its reader reads."""
    import fcntl

    read, write = os.pipe()
    flags = fcntl.fcntl(write, fcntl.F_GETFL)
    fcntl.fcntl(write, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    with contextlib.suppress(BlockingIOError):
        while True:
            os.write(write, b"x" * 4096)
    fcntl.fcntl(write, fcntl.F_SETFL, flags)
    return read, write


def test_the_command_s_signal_while_it_waits_on_a_full_stderr_is_one_stop(
    desk3: Desk3, cancelkit_sandbox: Sandbox
) -> None:
    """The command's stderr read by nobody for a while (a stalled log reader): the
    command is inside a line's buffered write when SIGTERM comes. Its handler's
    line does not go through that buffer again ("reentrant call": the relay raised,
    the command ended with a traceback, exit 1, the parts' last outcomes never
    passed on). Python's own buffering, as a user's: no PYTHONUNBUFFERED."""
    file, orders = desk3
    box = cancelkit_sandbox
    box.set_knobs(latency=1.0)
    read, write = full_pipe()
    env = {k: v for k, v in {**os.environ, **file.env}.items() if k != "PYTHONUNBUFFERED"}
    command = [sys.executable, "-m", "cancelkit", "cancel", "--everywhere", "--json"]
    with subprocess.Popen(
        [*command, "--deadline", "20", "--config", str(file.path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=write,
        text=True,
    ) as process:
        os.close(write)
        first_requests_in(box)
        deadline = time.monotonic() + 20
        while "pipe_write" not in Path(f"/proc/{process.pid}/wchan").read_text():
            assert time.monotonic() < deadline, "the command never waited on its stderr"
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        chunks: list[bytes] = []
        reader = threading.Thread(
            target=lambda: chunks.extend(iter(lambda: os.read(read, 1 << 16), b""))
        )
        reader.start()
        out, _ = process.communicate(timeout=60)
        reader.join(30)
        os.close(read)
    err = b"".join(chunks).replace(b"x" * 4096, b"").decode()
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert err.count("cancelkit: SIGTERM: sending nothing new") == 1
    assert sorted(summaries(out)) == sorted(orders)


def test_a_second_signal_to_the_command_ends_every_part_at_once(
    desk3: Desk3, cancelkit_sandbox: Sandbox
) -> None:
    file, _ = desk3
    box = cancelkit_sandbox
    box.set_knobs(latency=6.0)
    with start(file) as process:
        first_requests_in(box)
        parts = parts_of_run(process)
        process.send_signal(signal.SIGINT)
        time.sleep(0.2)
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
        ended = time.monotonic() - started
    assert process.returncode == 130, err
    assert ended < 2
    assert err.count("interrupted again: exiting at once") == 1
    assert err.count("SIGINT: sending nothing new") == 1  # said once, by the command
    deadline = time.monotonic() + 5
    while any(_stat(pid) for pid in parts.values()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not [pid for pid in parts.values() if _stat(pid)]


def test_the_parts_finish_the_kill_when_the_command_dies(
    desk3: Desk3, cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    """A kill switch is not stopped by its reporter's death: the command killed with
    SIGKILL mid-run, each part goes on to its end, the books empty, and every
    account's run is in its journal."""
    file, orders = desk3
    box = cancelkit_sandbox
    box.set_knobs(latency=0.5)
    with start(file, "--deadline", "20") as process:
        first_requests_in(box)
        parts = parts_of_run(process)
        process.kill()
        process.communicate(timeout=30)
    deadline = time.monotonic() + 30
    while any(_stat(pid) for pid in parts.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in parts.values() if _stat(pid)]
    assert open_ids(box) == set()
    listed = journaled(box)
    assert len(listed) == len(orders)
    assert all(sum(r["counts"].values()) >= 1 for r in listed)


def _account(name: str, venue: str) -> Account:
    return Account(name=name, venue=venue, key_id=f"k-{name}", secret=SecretRef(env="X"))


def test_parts_are_one_account_each_until_the_limit_then_shared_within_a_venue() -> None:
    few = [_account(f"a{i}", "polymarket" if i % 3 else "kalshi") for i in range(6)]
    assert [[a.name for a in p] for p in parts_of(few)] == [
        ["a0"],  # Kalshi's, first named
        ["a3"],
        ["a1"],
        ["a2"],
        ["a4"],
        ["a5"],
    ]
    many = [_account(f"p{i}", "polymarket") for i in range(60)] + [
        _account(f"l{i}", "limitless") for i in range(4)
    ]
    parts = parts_of(many)
    assert len(parts) <= MAX_PARTS
    assert sorted(a.name for p in parts for a in p) == sorted(a.name for a in many)
    assert all(len({a.venue for a in p}) == 1 for p in parts)  # a part is one venue's
    assert {p[0].venue for p in parts} == {"polymarket", "limitless"}
    sizes = [len(p) for p in parts if p[0].venue == "polymarket"]
    assert max(sizes) - min(sizes) <= 1  # shared round-robin


def test_a_few_accounts_of_other_venues_do_not_take_the_parts_past_the_limit() -> None:
    """Each venue has one part at least; those are taken from the largest venue's
    share, never added past the limit (62 + 1 + 1 accounts made 33 parts)."""
    many = [_account(f"p{i}", "polymarket") for i in range(62)]
    many += [_account("l0", "limitless"), _account("k0", "kalshi")]
    parts = parts_of(many)
    assert len(parts) == MAX_PARTS
    assert sorted(a.name for p in parts for a in p) == sorted(a.name for a in many)
    assert [p for p in parts if p[0].venue != "polymarket"] == [[many[-2]], [many[-1]]]
    assert len(parts_of(many, limit=3)) == 3


def test_a_part_s_long_line_interrupted_by_a_signal_on_a_full_pipe_is_written_whole() -> None:
    """A part's line longer than the pipe holds, written while the parent reads
    nothing, and a signal (the parent's, passed on) interrupting the write: the
    write comes back short, and the line is still written whole (the text layer
    dropped the rest: a --json record cut, the next glued to it)."""
    import fcntl
    import termios
    import threading

    from cancelkit._cli._processes import _text

    read, write = os.pipe()
    held = fcntl.fcntl(write, fcntl.F_GETPIPE_SZ)
    main = threading.get_ident()
    got: list[bytes] = []

    def reader() -> None:
        # Once the pipe is full (the writer blocked in write()), the signal; then read.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            waiting = fcntl.ioctl(read, termios.FIONREAD, b"\0\0\0\0")
            if int.from_bytes(waiting, sys.byteorder) >= held:
                break
            time.sleep(0.01)
        signal.pthread_kill(main, signal.SIGUSR1)
        time.sleep(0.2)
        while data := os.read(read, 1 << 16):
            got.append(data)

    before = signal.signal(signal.SIGUSR1, lambda number, frame: None)
    thread = threading.Thread(target=reader)
    try:
        thread.start()
        line = json.dumps({"account": "lm", "covered": [f"m-{i}" for i in range(held)]})
        out = _text(write, "utf-8", "strict")
        out.write(line + "\n")
        out.write('{"next": true}\n')
    finally:
        os.close(write)
        thread.join(30)
        os.close(read)
        signal.signal(signal.SIGUSR1, before)
    assert b"".join(got).decode().splitlines() == [line, '{"next": true}']


# The command with pm-b's part slow to start (its run begins 2 s late): the other
# parts are done, their reports said, long before it says anything.
LATE_PM_B = as_pm_b_starts("await anyio.sleep(2)")


def test_every_account_is_named_before_any_report_even_when_a_part_starts_late(
    desk3: Desk3, cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    """As in one process: what each account's run covers, and that one cannot be
    used, is said before any account's report, however late a part gets there (its
    key unusable here). The others' reports wait for it; their outcomes do not."""
    file, orders = desk3
    file.env["SECRET_PM_B"] = "bm90IGEga2V5"  # base64, but no Ed25519 key
    done = run_script(tmp_path / "late.py", LATE_PM_B, file)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    unusable = [i for i, line in enumerate(lines) if "pm-b: cannot be used" in line]
    banners = [i for i, line in enumerate(lines) if "every open order" in line]
    reports = [i for i, line in enumerate(lines) if "nothing left open" in line or "left: " in line]
    assert len(unusable) == 1, done.stderr
    assert len(banners) == 4, done.stderr
    assert len(reports) == 4, done.stderr
    assert max(unusable + banners) < min(reports), done.stderr
    said = summaries(done.stdout)
    assert {n: s["ok"] for n, s in said.items()} == {
        "pm-a": True,
        "pm-b": False,
        "lm": True,
        "ks": True,
    }
    assert open_ids(cancelkit_sandbox) == set(orders["pm-b"])

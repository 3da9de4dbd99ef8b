"""``cancelkit guard`` as a real process against the sandbox (issue 33): it fires on
a heartbeat lapse, a trigger and SIGUSR1, and never on SIGTERM; its control socket
is its user's alone; a venue down does not hold the others; heartbeats after a
firing are refused until ``arm``; and a guard killed mid-firing finishes that
firing when started again, before it arms. Every wait is bounded (status polled
with a deadline)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cancelkit import _guard_link as link
from cancelkit.sandbox import Sandbox
from test_everywhere import DeskFile, closed_port, demo_keys, open_ids, seed

WAIT = 60.0  # seconds any one wait may take, at most (generous: a loaded CI machine)
MARKET = "m-one"


class Guard:
    """A guard process on the desk's accounts file, and what it printed."""

    def __init__(
        self,
        desk: DeskFile,
        state: Path,
        *args: str,
        preexec: Callable[[], None] | None = None,
    ) -> None:
        self.desk, self.state = desk, state
        self.log = state.parent / f"{state.name}-guard-{time.monotonic_ns()}.log"
        with open(self.log, "wb") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cancelkit", "guard", "--config", str(desk.path), *args],
                env={**os.environ, **desk.env, "CANCELKIT_STATE_DIR": str(state)},
                stdout=sink,
                stderr=subprocess.STDOUT,
                preexec_fn=preexec,
            )

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def status(self) -> dict[str, Any] | None:
        """Its status, or None while it does not answer yet."""
        try:
            return link.request("status", path=link.socket_path(self.state), timeout=5)
        except link.GuardUnreachable:
            return None

    def wait_for(self, check: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        """Poll the status until ``check`` holds, at most WAIT seconds."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            found = self.status()
            if found is not None and check(found):
                return found
            if self.process.poll() is not None:
                pytest.fail(f"the guard exited ({self.process.returncode}):\n{self.output}")
            time.sleep(0.05)
        pytest.fail(f"the guard was never {what}: {self.status()}\n{self.output}")

    def armed(self) -> dict[str, Any]:
        return self.wait_for(lambda s: s["state"] == "armed", "armed")

    def fired(self) -> dict[str, Any]:
        return self.wait_for(
            lambda s: s["state"] == "fired" and s["last_run"]["status"] is not None, "fired"
        )

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cancelkit", *args],
            env={**os.environ, "CANCELKIT_STATE_DIR": str(self.state)},
            capture_output=True,
            text=True,
            timeout=WAIT,
        )

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(WAIT)
            raise


@pytest.fixture
def desk(cancelkit_sandbox: Sandbox, tmp_path: Path) -> DeskFile:
    """Three accounts on two venues (two Polymarket keys, one Limitless token with
    its market), each with orders open."""
    box = cancelkit_sandbox
    pm, lm = demo_keys(box)
    other = box.add_account("polymarket")
    made = DeskFile(box, tmp_path)
    made.add("pm-main", pm)
    made.add("pm-second", other)
    made.add("lm-main", lm, markets=f'"{MARKET}"')
    for key in (pm, other, lm):
        seed(box, key, 5, MARKET)
    return made


@pytest.fixture
def guards(state_dir: Path) -> Iterator[list[Guard]]:
    """The guards a test starts, stopped at its end whatever happened."""
    started: list[Guard] = []
    yield started
    for guard in started:
        if guard.process.poll() is None:
            guard.process.kill()
            guard.process.wait(WAIT)


def _start(
    guards: list[Guard],
    desk: DeskFile,
    state: Path,
    *args: str,
    preexec: Callable[[], None] | None = None,
) -> Guard:
    guard = Guard(desk, state, *args, preexec=preexec)
    guards.append(guard)
    return guard


def _cancels(box: Sandbox) -> list[Any]:
    """The cancel requests either venue received (cancel-all, batch or single)."""
    return [
        r
        for r in box.requests
        if r.method == "DELETE" or (r.method == "POST" and "cancel" in r.path)
    ]


def test_a_bot_killed_mid_beat_fires_the_guard_and_every_book_empties(
    desk: DeskFile, state_dir: Path, guards: list[Guard]
) -> None:
    box = desk.box
    assert len(open_ids(box)) == 15
    guard = _start(guards, desk, state_dir, "--heartbeat-timeout", "1")
    guard.armed()
    bot = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time, cancelkit\n"
            "with cancelkit.Heartbeat() as beat:\n"
            "    print('healthy' if beat.healthy else beat.reason, flush=True)\n"
            "    time.sleep(600)\n",
        ],
        env={**os.environ, "CANCELKIT_STATE_DIR": str(state_dir)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert bot.stdout is not None
        assert bot.stdout.readline().strip() == "healthy"
        guard.wait_for(lambda s: s["heartbeats"] >= 2, "beaten twice")
        assert open_ids(box), "nothing may fire while the bot beats"
    finally:
        bot.kill()  # kill -9: no goodbye
        bot.wait(WAIT)
    status = guard.fired()
    assert status["last_run"]["cause"] == "heartbeat lapse (none for 1 s)"
    assert status["last_run"]["status"] == 0
    assert open_ids(box) == set()
    # Journaled as normal runs, one per account, the cause in each header.
    headers = [
        json.loads(p.read_text().splitlines()[0]) for p in sorted(state_dir.glob("run-*.jsonl"))
    ]
    assert sorted(h["account"] for h in headers) == ["lm-main", "pm-main", "pm-second"]
    assert {h["cause"] for h in headers} == {"heartbeat lapse (none for 1 s)"}
    assert "firing (cause: heartbeat lapse (none for 1 s))" in guard.output
    assert guard.stop() == 0


def _network_listeners(pid: int) -> list[str]:
    """The TCP/UDP sockets of process ``pid`` that listen (or are bound, for UDP),
    from /proc: its socket inodes matched against the system's tables."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = []
    for table in ("tcp", "tcp6", "udp", "udp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            listening = (
                fields[3] == "0A" if table.startswith("tcp") else fields[2].endswith(":0000")
            )
            if fields[9] in inodes and listening:
                found.append(f"{table} {fields[1]}")
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc")
def test_an_armed_guard_listens_on_no_network_address(
    desk: DeskFile, state_dir: Path, guards: list[Guard]
) -> None:
    guard = _start(guards, desk, state_dir, "--heartbeat-timeout", "30")
    guard.armed()
    assert _network_listeners(guard.process.pid) == []
    assert _network_listeners(os.getpid()) != []  # the check sees the sandbox's listeners
    assert guard.stop() == 0


def test_sigterm_disarms_and_leaves_every_order_open(
    desk: DeskFile, state_dir: Path, guards: list[Guard]
) -> None:
    box = desk.box
    before = open_ids(box)
    guard = _start(guards, desk, state_dir, "--heartbeat-timeout", "0.5")
    guard.armed()
    assert guard.cli("heartbeat").returncode == 0  # the dead-man's switch is live
    guard.process.send_signal(signal.SIGTERM)
    assert guard.process.wait(WAIT) == 0
    assert "disarmed and stopped; nothing was cancelled" in guard.output
    time.sleep(1.0)  # past the heartbeat timeout: a guard still armed would have fired
    assert open_ids(box) == before
    assert _cancels(box) == []
    assert not link.socket_path(state_dir).exists()


def test_sigterm_with_cancel_on_exit_fires_first(
    desk: DeskFile, state_dir: Path, guards: list[Guard]
) -> None:
    guard = _start(guards, desk, state_dir, "--cancel-on-exit")
    guard.armed()
    guard.process.send_signal(signal.SIGTERM)
    assert guard.process.wait(WAIT) == 0
    assert open_ids(desk.box) == set()
    assert "exit (SIGTERM, --cancel-on-exit)" in guard.output


def test_a_trigger_through_a_channel_open_to_others_is_refused(
    desk: DeskFile, state_dir: Path, guards: list[Guard]
) -> None:
    box = desk.box
    before = open_ids(box)
    guard = _start(guards, desk, state_dir)
    guard.armed()
    sock = link.socket_path(state_dir)
    os.chmod(sock, 0o660)
    refused = guard.cli("trigger")
    assert refused.returncode == 2
    assert f"the socket {sock} is open to other users (mode 0660" in refused.stderr
    os.chmod(sock, 0o600)
    os.chmod(state_dir, 0o750)
    refused = guard.cli("trigger")
    assert refused.returncode == 2
    assert f"the directory {state_dir} is open to other users (mode 0750" in refused.stderr
    os.chmod(state_dir, 0o700)
    assert open_ids(box) == before
    assert _cancels(box) == []
    assert guard.status() is not None  # the guard itself is still up, armed
    assert guard.stop() == 0


def test_the_guard_refuses_to_start_in_a_directory_open_to_others(
    desk: DeskFile, state_dir: Path, guards: list[Guard]
) -> None:
    os.chmod(state_dir, 0o755)
    guard = _start(guards, desk, state_dir)
    assert guard.process.wait(WAIT) == 2
    assert f"refusing to start: the state directory {state_dir} is open to" in guard.output
    assert not link.socket_path(state_dir).exists()


def test_a_refused_key_at_start_is_named_and_the_guard_exits_2(
    desk: DeskFile, state_dir: Path, guards: list[Guard]
) -> None:
    desk.env["SECRET_PM_SECOND"] = desk.box.add_account("polymarket").secret  # another key's
    guard = _start(guards, desk, state_dir)
    assert guard.process.wait(WAIT) == 2
    assert "pm-second: key REFUSED" in guard.output
    assert "key(s) refused: pm-second" in guard.output


def test_a_venue_down_at_firing_time_does_not_hold_the_others(
    desk: DeskFile, state_dir: Path, guards: list[Guard]
) -> None:
    box = desk.box
    guard = _start(guards, desk, state_dir, "--deadline", "8")
    guard.armed()
    box._servers[1].stop()  # the second venue's server goes away
    fired = guard.cli("trigger")
    assert fired.returncode == 1, fired.stderr
    lines = fired.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "pm-main (polymarket)",
        "pm-second (polymarket)",
        "lm-main (limitless)",
    ]
    assert lines[0] == "pm-main (polymarket): 5 cancelled; left: 0"
    assert lines[1] == "pm-second (polymarket): 5 cancelled; left: 0"
    assert "(not confirmed empty); first problem: failed: NetworkError" in lines[2]
    assert {o.owner for o in box.open_orders()} == {"1001"}  # only the venue that was down
    assert guard.fired()["last_run"]["status"] == 1
    # Each account is read again after a firing: the status names the venue down.
    guard.wait_for(lambda s: s["venues_unreachable"] == ["limitless"], "naming the venue down")
    assert "venues unreachable: limitless" in guard.cli("status").stdout


def test_heartbeats_after_a_firing_are_refused_until_arm(
    desk: DeskFile, state_dir: Path, guards: list[Guard]
) -> None:
    guard = _start(guards, desk, state_dir, "--heartbeat-timeout", "30")
    guard.armed()
    assert guard.cli("heartbeat").returncode == 0
    fired = guard.cli("trigger")
    assert fired.returncode == 0, fired.stderr
    assert "pm-main (polymarket): 5 cancelled; left: 0" in fired.stdout
    refused = guard.cli("heartbeat")
    assert refused.returncode == 1
    assert "the guard fired (cause: trigger (cancelkit trigger))" in refused.stderr
    assert "cancelkit arm" in refused.stderr
    status = guard.cli("status")
    assert status.returncode == 1  # not armed: a monitor's alarm
    assert status.stdout.startswith("state: fired")
    assert guard.cli("arm").returncode == 0
    assert guard.cli("heartbeat").returncode == 0
    assert guard.status()["state"] == "armed"  # type: ignore[index]
    assert guard.cli("guard", "--status").returncode == 0


def test_journals_made_when_armed_serve_the_firing_even_one_removed_and_go_at_exit(
    desk: DeskFile, state_dir: Path, guards: list[Guard]
) -> None:
    """An armed guard holds each account's next journal (and its next firing
    record's file), made beforehand (a killed guard's leftovers removed); a firing
    journals every account under the run's own name, also the one whose journal
    was removed meanwhile; the next ones are made after it; SIGTERM removes them."""
    stale = state_dir / ".armed-0123456789abcdef.jsonl"
    stale.write_bytes(b"")
    guard = _start(guards, desk, state_dir)
    guard.armed()
    made = sorted(state_dir.glob(".armed-*.jsonl"))
    assert len(made) == 3
    assert stale not in made
    assert (state_dir / ".guard-firing.next").exists()  # the firing record's file, too
    made[0].unlink()
    fired = guard.cli("trigger")
    assert fired.returncode == 0, fired.stderr
    assert open_ids(desk.box) == set()
    journals = sorted(state_dir.glob("run-*.jsonl"))
    headers = [json.loads(p.read_text().splitlines()[0]) for p in journals]
    assert sorted(h["account"] for h in headers) == ["lm-main", "pm-main", "pm-second"]
    assert {h["cause"] for h in headers} == {"trigger (cancelkit trigger)"}
    assert all(h["cancelkit_run"] in p.name for h, p in zip(headers, journals, strict=True))
    ready = set(state_dir.glob(".armed-*.jsonl"))
    assert len(ready) == 3
    assert not ready & set(made)  # the next firing's, made after this one
    assert guard.stop() == 0
    assert not list(state_dir.glob(".armed-*"))
    assert not (state_dir / ".guard-firing.next").exists()


def test_a_guard_killed_mid_firing_finishes_it_when_started_again_before_arming(
    desk: DeskFile, state_dir: Path, guards: list[Guard]
) -> None:
    box = desk.box
    first = _start(guards, desk, state_dir)
    status = first.armed()
    # Every request now takes 2 s: the firing is still under way when it is killed.
    box.set_knobs(latency=2.0)
    first.process.send_signal(signal.SIGUSR1)
    first.wait_for(lambda s: s["state"] == "firing", "firing")
    first.process.kill()  # kill -9, mid-firing
    first.process.wait(WAIT)
    assert (state_dir / "guard-firing.json").exists()
    assert open_ids(box), "the firing had not ended"
    box.set_knobs(latency=0.0)
    second = _start(guards, desk, state_dir)
    status = second.fired()
    cause = status["last_run"]["cause"]
    assert cause.startswith("finishing an unfinished firing (cause: signal SIGUSR1, at ")
    assert status["last_run"]["status"] == 0
    assert open_ids(box) == set()
    assert not (state_dir / "guard-firing.json").exists()
    assert "cancelkit guard: armed" not in second.output  # not before `arm`
    assert second.cli("arm").returncode == 0
    assert second.status()["state"] == "armed"  # type: ignore[index]
    assert second.stop() == 0


def test_touches_of_the_heartbeat_file_are_heartbeats_and_their_lapse_fires(
    desk: DeskFile, state_dir: Path, guards: list[Guard]
) -> None:
    beat = state_dir.parent / f"{state_dir.name}-beat"
    beat.touch()
    guard = _start(
        guards, desk, state_dir, "--heartbeat-timeout", "1", "--heartbeat-file", str(beat)
    )
    guard.armed()
    assert guard.status()["heartbeats"] == 0  # type: ignore[index]  # its old time is no beat
    os.utime(beat)  # touch
    guard.wait_for(lambda s: s["heartbeats"] == 1, "beaten by the touch")
    status = guard.fired()
    assert status["last_run"]["cause"] == "heartbeat lapse (none for 1 s)"
    assert open_ids(desk.box) == set()


def test_a_venue_unreachable_at_start_is_no_exit_and_the_status_names_it(
    cancelkit_sandbox: Sandbox, tmp_path: Path, state_dir: Path, guards: list[Guard]
) -> None:
    box = cancelkit_sandbox
    pm, lm = demo_keys(box)
    made = DeskFile(box, tmp_path)
    made.add("pm-main", pm)
    made.add("lm-down", lm, url=f"http://127.0.0.1:{closed_port()}", markets=f'"{MARKET}"')
    seed(box, pm, 3)
    guard = _start(guards, made, state_dir, "--deadline", "5")
    status = guard.armed()  # a network error is not a refused key: it arms
    assert status["venues_unreachable"] == ["limitless"]
    down = next(a for a in status["accounts"] if a["name"] == "lm-down")
    assert down["key"] == "unproven"
    assert "NetworkError" in down["unreachable"]
    shown = guard.cli("status")
    assert "venues unreachable: limitless" in shown.stdout
    assert shown.returncode == 1
    fired = guard.cli("trigger")  # the reachable venue is still cancelled
    assert fired.returncode == 1
    assert "pm-main (polymarket): 3 cancelled; left: 0" in fired.stdout
    assert guard.process.poll() is None  # still up
    assert guard.stop() == 0


def test_a_key_revoked_while_armed_shows_in_the_status(
    desk: DeskFile, state_dir: Path, guards: list[Guard]
) -> None:
    box = desk.box
    guard = _start(guards, desk, state_dir, "--prove-every", "1")
    guard.armed()
    revoked = box.credentials.polymarket_key_id
    del box._pm_keys[revoked]  # the exchange no longer knows the key
    status = guard.wait_for(
        lambda s: s["accounts"][0]["key"].startswith("REFUSED"), "showing the key refused"
    )
    assert status["accounts"][0]["name"] == "pm-main"
    assert "AuthenticationError" in status["accounts"][0]["key"]
    assert [a["key"] for a in status["accounts"][1:]] == ["accepted", "accepted"]
    assert status["state"] == "armed"  # it stays up, and says so
    shown = guard.cli("status", "--json")
    assert shown.returncode == 1
    assert json.loads(shown.stdout)["accounts"][0]["key"].startswith("REFUSED")


def test_sigterm_during_a_firing_lets_it_finish_then_exits_with_its_status(
    desk: DeskFile, state_dir: Path, guards: list[Guard]
) -> None:
    box = desk.box
    guard = _start(guards, desk, state_dir)
    guard.armed()
    box.set_knobs(latency=0.5)  # the firing takes seconds
    guard.process.send_signal(signal.SIGUSR1)
    guard.wait_for(lambda s: s["state"] == "firing", "firing")
    guard.process.send_signal(signal.SIGTERM)
    assert guard.process.wait(WAIT) == 0
    assert "SIGTERM: disarmed; the firing under way ends first" in guard.output
    assert open_ids(box) == set()
    assert not (state_dir / "guard-firing.json").exists()


def test_a_heartbeat_file_without_a_timeout_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cancelkit", "guard", "--heartbeat-file", str(tmp_path / "b")],
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert done.returncode == 2
    assert "--heartbeat-file needs --heartbeat-timeout" in done.stderr


def test_sighup_disarms_and_exits_like_sigterm(
    desk: DeskFile, state_dir: Path, guards: list[Guard]
) -> None:
    before = open_ids(desk.box)
    guard = _start(guards, desk, state_dir)
    guard.armed()
    guard.process.send_signal(signal.SIGHUP)
    assert guard.process.wait(WAIT) == 0
    assert "SIGHUP: disarmed and stopped; nothing was cancelled" in guard.output
    assert open_ids(desk.box) == before


def test_housekeeping_starts_after_the_last_first_request_is_written() -> None:
    """The housekeeping thread (journal fsyncs, the state directory's prune) starts
    once the last account's first request has been written, not as it is about to
    be: started in that request's own step, its thread would take the interpreter
    while the request's signature and write are still to come."""
    import asyncio
    import threading

    from cancelkit._cli._everywhere import _Housekeeping

    pruned = threading.Event()

    class Registry:
        def prune(self) -> None:
            pruned.set()

    async def firing() -> tuple[bool, bool]:
        house = _Housekeeping({}, Registry(), {"pm-1", "ks-1"})  # type: ignore[arg-type]
        house.sent("pm-1")
        house.sent("ks-1")  # ks-1's request is about to leave, in this step
        assert house.pruning is not None
        in_step = house.pruning.thread is not None
        await asyncio.sleep(0)  # the step that wrote it has ended
        after = house.pruning.thread is not None
        house.finish(5.0)
        return in_step, after

    in_step, after = asyncio.run(firing())
    assert not in_step, "housekeeping began before the last first request was written"
    assert after
    assert pruned.is_set()


def test_no_cyclic_collection_until_a_firing_s_first_requests_have_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cyclic GC is off from a firing's start until its first requests have left
    (the run calls ``beside`` then, from its housekeeping thread), and on again
    after: a collection in their way took 0.3 ms of the firing."""
    import asyncio
    import gc

    from cancelkit._cli._guard_run import _Firing

    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    monkeypatch.setenv("CANCELKIT_STATE_DIR", str(state))
    seen: list[tuple[str, bool]] = []

    class Upkeep:
        def refresh(self) -> None:
            seen.append(("refresh", gc.isenabled()))

    async def run(desk: object, **kw: Any) -> int:
        seen.append(("first requests being sent", gc.isenabled()))
        kw["beside"]()  # as the housekeeping does once they have left
        seen.append(("after", gc.isenabled()))
        return 0

    firing = _Firing(object(), 5.0, [], Upkeep())  # type: ignore[arg-type]
    firing._run = run  # type: ignore[assignment]
    besides: list[bool] = []
    assert gc.isenabled()
    outcome = asyncio.run(firing("test", lambda: besides.append(True)))
    assert outcome.status == 0
    assert besides == [True]
    assert seen == [
        ("first requests being sent", False),
        ("after", True),
        ("refresh", True),
    ]
    assert gc.isenabled()


def _realtime_permitted() -> bool:
    """Whether a process started here may take the real-time scheduler."""
    probe = "import os; os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0


def _no_realtime() -> None:
    """In the guard's process before it runs: no real-time priority allowed (a limit
    of 0; for root, CAP_SYS_NICE dropped from the bounding set, so lost at exec)."""
    import ctypes
    import resource

    resource.setrlimit(resource.RLIMIT_RTPRIO, (0, 0))
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(24, 23, 0, 0, 0) != 0:  # PR_CAPBSET_DROP, CAP_SYS_NICE
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP, CAP_SYS_NICE)")


@pytest.mark.skipif(not hasattr(os, "SCHED_FIFO"), reason="Linux's real-time scheduler")
def test_realtime_not_permitted_is_refused_at_start_naming_what_it_needs(
    desk: DeskFile, state_dir: Path, guards: list[Guard]
) -> None:
    before = len(desk.box.requests)
    guard = _start(guards, desk, state_dir, "--realtime", preexec=_no_realtime)
    assert guard.process.wait(WAIT) == 2
    assert "--realtime: not permitted" in guard.output
    assert "LimitRTPRIO=1" in guard.output
    assert len(desk.box.requests) == before  # refused before any request
    assert not link.socket_path(state_dir).exists()


@pytest.mark.skipif(
    not hasattr(os, "SCHED_FIFO") or not _realtime_permitted(),
    reason="needs a real-time priority limit or CAP_SYS_NICE here",
)
def test_realtime_puts_every_thread_of_the_guard_on_the_real_time_scheduler_and_it_fires(
    desk: DeskFile, state_dir: Path, guards: list[Guard]
) -> None:
    guard = _start(guards, desk, state_dir, "--realtime")
    status = guard.armed()
    assert status["scheduling"] == "real-time (SCHED_FIFO 1)"
    _all_real_time(guard.process.pid)
    assert "scheduling: real-time (SCHED_FIFO 1)" in guard.cli("status").stdout
    assert guard.cli("trigger").returncode == 0
    assert open_ids(desk.box) == set()
    _all_real_time(guard.process.pid)  # the threads a firing started have it too
    assert guard.stop() == 0


_LATER_THREAD = """
import os, sys, threading
from cancelkit._cli import _priority
said = getattr(_priority, sys.argv[1])()
seen = {}
def look():
    me = threading.get_native_id()
    seen.update(policy=os.sched_getscheduler(me), slice=_priority.slice_of(me))
thread = threading.Thread(target=look)
thread.start()
thread.join()
print(said, seen["policy"], seen["slice"])
"""


def _later_thread(setting: str) -> tuple[str, int, int]:
    """What ``_priority.<setting>()`` said in a fresh process, and the policy and
    slice of a thread that process started after it."""
    done = subprocess.run(
        [sys.executable, "-c", _LATER_THREAD, setting], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    said, policy, granted = done.stdout.rsplit(maxsplit=2)
    return said, int(policy), int(granted)


def _slices_granted() -> bool:
    """Whether this kernel gives a thread the slice it asks for (EEVDF, Linux 6.12+)."""
    if not sys.platform.startswith("linux"):
        return False
    probe = "from cancelkit._cli._priority import short_slice; print(short_slice())"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    return done.returncode == 0 and "slice" in done.stdout


@pytest.mark.skipif(
    not hasattr(os, "SCHED_FIFO") or not _realtime_permitted(),
    reason="needs a real-time priority limit or CAP_SYS_NICE here",
)
def test_a_thread_started_after_realtime_is_on_the_real_time_scheduler_too() -> None:
    # SCHED_RESET_ON_FORK (set here before) reset every later thread to SCHED_OTHER.
    said, policy, _ = _later_thread("realtime")
    assert said == "real-time (SCHED_FIFO 1)"
    assert policy == os.SCHED_FIFO


@pytest.mark.skipif(not _slices_granted(), reason="a kernel that grants slices (Linux 6.12+)")
def test_the_plain_guard_runs_every_thread_on_the_shortest_slice_and_it_fires(
    desk: DeskFile, state_dir: Path, guards: list[Guard]
) -> None:
    """Without any privilege: the guard asks the fair scheduler for its shortest
    slice, so a request it writes does not hand its core to the process it wakes
    before the next account's request is written; a thread started later has it."""
    from cancelkit._cli._priority import SLICE_NS, slice_of

    said, policy, granted = _later_thread("short_slice")
    assert (said, policy, granted) == ("ordinary, 0.1 ms slice", os.SCHED_OTHER, SLICE_NS)
    guard = _start(guards, desk, state_dir)
    status = guard.armed()
    assert status["scheduling"] == "ordinary, 0.1 ms slice"
    assert "scheduling: ordinary, 0.1 ms slice" in guard.cli("status").stdout
    _all_on_slice(guard.process.pid, SLICE_NS, slice_of)
    assert guard.cli("trigger").returncode == 0
    assert open_ids(desk.box) == set()
    _all_on_slice(guard.process.pid, SLICE_NS, slice_of)
    assert guard.stop() == 0


def _all_on_slice(pid: int, wanted: int, slice_of: Callable[[int], int]) -> None:
    for thread in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):  # a thread that has just ended
            assert os.sched_getscheduler(int(thread.name)) == os.SCHED_OTHER, thread.name
            granted = slice_of(int(thread.name))
            assert granted == wanted or not thread.exists(), thread.name


def _all_real_time(pid: int) -> None:
    for thread in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):  # a thread that has just ended
            policy = os.sched_getscheduler(int(thread.name)) & ~os.SCHED_RESET_ON_FORK
            assert policy == os.SCHED_FIFO, thread.name
            assert os.sched_getparam(int(thread.name)).sched_priority == 1

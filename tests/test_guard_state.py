"""The guard's state machine and control channel on their own, with a firing that
is a plain async callable: armed, fired, disarmed; heartbeats and their lapse; the
firing record; who may use the socket. (The guard as a process, against the
sandbox: tests/test_guard.py.)"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cancelkit import Heartbeat
from cancelkit import _guard_link as link
from cancelkit._cli._guard_server import ChannelError, Server, bind, check_directory, hold_lock
from cancelkit._cli._guard_state import RECORD_NAME, FiringRecord, Guard, Outcome, State

SYSTEM_PYTHON = "/usr/bin/python3"  # the venv's may sit in a home the second user cannot enter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _guard(tmp_path: Path, causes: list[str], **kw: Any) -> Guard:
    async def fire(cause: str, beside: Callable[[], None]) -> Outcome:
        causes.append(cause)
        return Outcome(0, f"cancelled everything ({cause})\n")

    return Guard(fire, FiringRecord(tmp_path), **kw)


def test_heartbeats_are_refused_after_a_firing_until_arm(tmp_path: Path) -> None:
    async def main() -> None:
        causes: list[str] = []
        guard = _guard(tmp_path, causes)
        assert guard.arm() is None
        assert guard.heartbeat("test") is None
        outcome = await guard.fire("trigger")
        assert (outcome.status, causes, guard.state) == (0, ["trigger"], State.FIRED)
        refused = guard.heartbeat("test")
        assert refused is not None
        assert "fired" in refused
        assert "cancelkit arm" in refused
        assert guard.status()["last_run"]["cause"] == "trigger"
        assert guard.arm() is None
        assert guard.heartbeat("test") is None
        assert guard.state is State.ARMED

    asyncio.run(main())


def test_the_dead_mans_switch_fires_once_the_beats_lapse_and_not_before(tmp_path: Path) -> None:
    async def main() -> None:
        causes: list[str] = []
        clock = Clock()
        guard = _guard(tmp_path, causes, heartbeat_timeout=2.0, clock=clock)
        guard.arm()
        assert guard.lapse_in() is None  # no first beat yet: nothing to lapse
        guard.heartbeat("bot")
        clock.now += 1.5
        assert guard.lapse_in() == pytest.approx(0.5)
        guard.heartbeat("bot")
        clock.now += 1.9
        watch = asyncio.ensure_future(guard.watch())
        await asyncio.sleep(0)
        assert causes == []  # 1.9 s since the last beat
        clock.now += 0.2
        guard._beat.set()  # the watch re-reads the (fake) clock
        for _ in range(1000):  # bounded: the firing's record is synced in a thread
            await asyncio.sleep(0.01)
            if guard.state is State.FIRED:
                break
        watch.cancel()
        assert causes == ["heartbeat lapse (none for 2 s)"]
        assert guard.state is State.FIRED
        assert guard.lapse_in() is None  # fired: no second firing on its own

    asyncio.run(main())


def test_two_firings_at_once_are_one_run(tmp_path: Path) -> None:
    async def main() -> None:
        started = asyncio.Event()
        go = asyncio.Event()
        causes: list[str] = []

        async def fire(cause: str, beside: Callable[[], None]) -> Outcome:
            causes.append(cause)
            started.set()
            await go.wait()
            return Outcome(1, "left: 1\n")

        guard = Guard(fire, FiringRecord(tmp_path))
        guard.arm()
        first = asyncio.ensure_future(guard.fire("SIGUSR1"))
        await started.wait()
        assert guard.state is State.FIRING
        assert guard.arm() is not None  # not while firing
        second = asyncio.ensure_future(guard.fire("trigger"))
        await asyncio.sleep(0)
        go.set()
        assert (await first).status == (await second).status == 1
        assert causes == ["SIGUSR1"]

    asyncio.run(main())


def test_the_firing_record_is_written_before_the_run_and_removed_after(tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []

    async def main() -> None:
        async def fire(cause: str, beside: Callable[[], None]) -> Outcome:
            path = tmp_path / RECORD_NAME
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            seen.append(json.loads(path.read_text()))
            return Outcome(0, "")

        guard = Guard(fire, FiringRecord(tmp_path))
        await guard.fire("SIGUSR1")

    asyncio.run(main())
    assert seen[0]["cause"] == "SIGUSR1"
    assert not (tmp_path / RECORD_NAME).exists()


def test_the_record_is_synced_once_beside_the_run_or_at_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The firing record's fsync and the "firing" log line wait for the run's first
    requests (the run calls ``beside`` from a thread, then): never before the run
    starts, done once however often it is called, and done at the end by the guard
    when the run never called it."""
    synced: list[str] = []
    monkeypatch.setattr(FiringRecord, "sync", lambda self: synced.append("sync"))

    async def main() -> None:
        async def calls_it(cause: str, beside: Callable[[], None]) -> Outcome:
            assert synced == []  # nothing before the run's own start
            await asyncio.to_thread(beside)
            beside()
            assert synced == ["sync"]
            return Outcome(0, "")

        async def never_does(cause: str, beside: Callable[[], None]) -> Outcome:
            return Outcome(0, "")

        await Guard(calls_it, FiringRecord(tmp_path)).fire("SIGUSR1")
        await Guard(never_does, FiringRecord(tmp_path)).fire("trigger")

    with caplog.at_level("WARNING", logger="cancelkit"):
        asyncio.run(main())
    assert synced == ["sync", "sync"]
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("firing")]
    assert said == ["firing (cause: SIGUSR1)", "firing (cause: trigger)"]


def test_an_unfinished_firing_is_finished_and_the_guard_left_fired(tmp_path: Path) -> None:
    FiringRecord(tmp_path).write("SIGUSR1", 1_700_000_000.0)

    async def main() -> Guard:
        causes: list[str] = []
        guard = _guard(tmp_path, causes)
        outcome = await guard.resume()
        assert outcome is not None
        assert len(causes) == 1
        assert causes[0].startswith("finishing an unfinished firing (cause: SIGUSR1")
        assert await guard.resume() is None  # the record went with the run's end
        return guard

    assert asyncio.run(main()).state is State.FIRED


def test_a_firing_record_another_user_could_write_is_refused(tmp_path: Path) -> None:
    FiringRecord(tmp_path).write("SIGUSR1", 1.0)
    os.chmod(tmp_path / RECORD_NAME, 0o622)
    with pytest.raises(ValueError, match="writable by"):
        FiringRecord(tmp_path).read()


def test_a_cut_off_firing_record_still_means_a_firing_was_under_way(tmp_path: Path) -> None:
    (tmp_path / RECORD_NAME).write_text('{"cause": "SIG')
    found = FiringRecord(tmp_path).read()
    assert found is not None
    assert "cut off" in found.cause


# -- the control channel --------------------------------------------------------------


@pytest.fixture
def channel() -> Iterator[tuple[Path, Guard, list[str]]]:
    """A guard's control server on a loop thread, in a 0700 directory of /tmp (not
    under pytest's own 0700 directory, which a second user could not even reach)."""
    directory = Path(tempfile.mkdtemp(prefix="ck-guard-", dir="/tmp"))
    causes: list[str] = []
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def start() -> None:
        guard = _guard(directory, causes, heartbeat_timeout=8.0)
        guard.arm()

        async def handle(request: dict[str, Any]) -> dict[str, Any]:
            op = request.get("op")
            if op == "heartbeat":
                why = guard.heartbeat("socket")
                return {"ok": why is None, "error": why, "heartbeat_timeout": 8.0}
            if op == "trigger":
                outcome = await guard.fire("trigger")
                return {"ok": True, "status": outcome.status, "report": outcome.report}
            if op == "arm":
                why = guard.arm()
                return {"ok": why is None, "error": why}
            if op == "status":
                return {"ok": True, **guard.status()}
            return {"ok": False, "error": f"unknown request {op!r}"}

        server = Server(link.socket_path(directory), handle)
        await server.start(bind(server.path))
        holder.update(guard=guard, server=server)
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    assert ready.wait(10)
    yield directory, holder["guard"], causes
    asyncio.run_coroutine_threadsafe(holder["server"].close(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    shutil.rmtree(directory)


def test_the_socket_is_the_users_alone(channel: tuple[Path, Guard, list[str]]) -> None:
    directory, _, _ = channel
    info = os.lstat(directory / "guard.sock")
    assert stat.S_ISSOCK(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_uid == os.getuid()


def test_a_trigger_waits_for_the_run_and_gets_its_report(
    channel: tuple[Path, Guard, list[str]],
) -> None:
    directory, guard, causes = channel
    answer = link.request("trigger", path=link.socket_path(directory))
    assert answer == {"ok": True, "status": 0, "report": "cancelled everything (trigger)\n"}
    assert causes == ["trigger"]
    assert guard.state is State.FIRED


def test_a_socket_open_to_others_is_refused_by_both_ends(
    channel: tuple[Path, Guard, list[str]],
) -> None:
    directory, _, causes = channel
    path = link.socket_path(directory)
    os.chmod(path, 0o666)
    with pytest.raises(link.GuardRefused, match=r"open to other users \(mode 0666"):
        link.request("trigger", path=path)
    # The guard checks too: a client that skips the check is refused.
    assert "open to other users" in _raw(path, {"op": "trigger"})["error"]
    assert causes == []


def test_a_directory_open_to_others_is_refused_by_both_ends(
    channel: tuple[Path, Guard, list[str]],
) -> None:
    directory, _, causes = channel
    os.chmod(directory, 0o711)
    path = link.socket_path(directory)
    with pytest.raises(link.GuardRefused, match=r"directory .* is open to other users"):
        link.request("trigger", path=path)
    assert "open to other users" in _raw(path, {"op": "trigger"})["error"]
    assert causes == []


@pytest.mark.skipif(
    os.getuid() != 0 or not os.access(SYSTEM_PYTHON, os.X_OK),
    reason="needs root (to act as a second user) and a system python that user can run",
)
def test_a_second_users_trigger_is_refused_by_the_kernels_word(
    channel: tuple[Path, Guard, list[str]],
) -> None:
    """Even with the permissions opened (so that the connection itself goes
    through), the guard asks SO_PEERCRED who is calling and refuses uid 65534."""
    directory, _, causes = channel
    os.chmod(directory, 0o711)
    path = link.socket_path(directory)
    os.chmod(path, 0o666)
    script = (
        "import json, socket, sys\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "s.connect(sys.argv[1])\n"
        's.sendall(b\'{"op": "trigger"}\\n\')\n'
        "print(s.makefile('rb').readline().decode())\n"
    )
    done = subprocess.run(
        [SYSTEM_PYTHON, "-I", "-c", script, str(path)],
        user=65534,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["ok"] is False
    assert "not uid 65534" in answer["error"]
    assert causes == []


def test_a_second_users_socket_is_refused_by_the_client(tmp_path: Path) -> None:
    directory = tmp_path / "d"
    directory.mkdir(mode=0o700)
    info = os.stat(directory)
    fake = os.stat_result((info.st_mode, 0, 0, 0, info.st_uid + 1, 0, 0, 0, 0, 0))
    assert "owned by another user" in (link.place_problem(fake, "x") or "")


def test_the_guard_refuses_to_start_in_a_directory_open_to_others(tmp_path: Path) -> None:
    directory = tmp_path / "d"
    directory.mkdir(mode=0o750)
    os.chmod(directory, 0o750)
    with pytest.raises(ChannelError, match=r"refusing to start: .* open to other users"):
        check_directory(directory)
    os.chmod(directory, 0o700)
    check_directory(directory)


def test_one_guard_per_state_directory(tmp_path: Path) -> None:
    held = hold_lock(tmp_path)
    try:
        with pytest.raises(ChannelError, match="another guard is running"):
            hold_lock(tmp_path)
    finally:
        held.close()
    hold_lock(tmp_path).close()


def test_no_guard_is_unreachable_not_an_error_of_ours(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o700)
    with pytest.raises(link.GuardUnreachable, match="no guard is running"):
        link.request("status", path=link.socket_path(tmp_path))


# -- cancelkit.Heartbeat ----------------------------------------------------------------


def test_the_heartbeat_says_when_the_guard_has_fired_and_when_it_is_gone(
    channel: tuple[Path, Guard, list[str]],
) -> None:
    directory, guard, _ = channel
    told: list[str] = []
    path = link.socket_path(directory)
    with Heartbeat(on_unhealthy=told.append, socket=path) as beat:
        assert beat.healthy
        assert beat.interval == 2.0
        assert guard.beats == 1
        link.request("trigger", path=path)
        assert beat.beat() is False
        assert not beat.healthy
        assert "fired" in (beat.reason or "")
        assert len(told) == 1
        assert "cancelkit arm" in told[0]
        link.request("arm", path=path)
        assert beat.beat()
        assert beat.healthy
    os.unlink(path)  # the guard gone
    lost: list[str] = []
    with Heartbeat(1.0, on_unhealthy=lost.append, socket=path) as beat:
        assert not beat.healthy
    assert len(lost) == 1
    assert "no guard is running" in lost[0]


def _raw(path: Path, request: dict[str, Any]) -> dict[str, Any]:
    """A request with none of the client's checks (as a hostile client would send)."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(os.fspath(path))
        sock.sendall(link.encode(request))
        return link.decode(sock.makefile("rb").readline())


@pytest.mark.parametrize(
    ("sent", "error"),
    [
        # A well-formed request, but longer than any request need be: refused unread.
        (b'{"op": "status", "pad": "' + b"x" * link.MAX_REQUEST + b'"}\n', "not a request"),
        (b"not json\n", "not a request"),
        (b"[1, 2]\n", "not a request"),
    ],
    ids=["too-long", "not-json", "not-an-object"],
)
def test_a_hostile_request_is_answered_with_an_error_and_fires_nothing(
    channel: tuple[Path, Guard, list[str]], sent: bytes, error: str
) -> None:
    directory, guard, causes = channel
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(os.fspath(link.socket_path(directory)))
        sock.sendall(sent)
        answer = link.decode(sock.makefile("rb").readline())
    assert answer["ok"] is False
    assert error in answer["error"]
    assert causes == []
    assert guard.state is State.ARMED


def test_the_guards_handler_refuses_an_unknown_request_and_states_its_timeout(
    tmp_path: Path,
) -> None:
    from cancelkit._cli._guard_run import _handler

    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        causes: list[str] = []
        guard = _guard(tmp_path, causes, heartbeat_timeout=8.0)
        guard.arm()
        handle = _handler(guard, None)
        return await handle({"op": "reboot"}), await handle({"op": "heartbeat"})

    unknown, beat = asyncio.run(main())
    assert unknown == {"ok": False, "error": "unknown request 'reboot'"}
    assert beat == {"ok": True, "error": None, "state": "armed", "heartbeat_timeout": 8.0}


def test_a_trigger_while_the_guard_is_stopping_fires_nothing(tmp_path: Path) -> None:
    # Stopping (SIGTERM) ends the process once the firing under way has ended: a
    # firing begun after that would be cut off at exit with outcomes unwritten.
    from cancelkit._cli._guard_run import _handler

    async def main() -> dict[str, Any]:
        guard = _guard(tmp_path, causes)
        guard.arm()
        guard.disarm()
        return await _handler(guard, None)({"op": "trigger"})

    causes: list[str] = []
    answer = asyncio.run(main())
    assert answer == {"ok": False, "error": "the guard is stopping: nothing fires now"}
    assert causes == []


@pytest.mark.parametrize("spare", ["made when armed", "removed before the firing"])
def test_an_armed_guard_writes_its_record_through_the_file_made_beforehand(
    tmp_path: Path, spare: str
) -> None:
    """Arming makes the next firing record's file; a firing writes the record whole
    before its run starts (through that file, or anew when it was removed), and a
    new one is made once the firing is over; discard() removes it."""
    seen: list[dict[str, Any]] = []
    record = FiringRecord(tmp_path)

    async def main() -> None:
        async def fire(cause: str, beside: Callable[[], None]) -> Outcome:
            path = tmp_path / RECORD_NAME
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            seen.append(json.loads(path.read_text()))
            assert not record.spare.exists()  # it became the record
            return Outcome(0, "")

        guard = Guard(fire, record)
        assert guard.arm() is None
        assert record.spare.exists()
        assert not (tmp_path / RECORD_NAME).exists()  # made, not a firing's record
        assert FiringRecord(tmp_path).read() is None  # a restart sees no firing
        if spare == "removed before the firing":
            record.spare.unlink()
        await guard.fire("SIGUSR1")

    asyncio.run(main())
    assert [r["cause"] for r in seen] == ["SIGUSR1"]
    assert not (tmp_path / RECORD_NAME).exists()
    assert record.spare.exists()  # the next firing's
    record.discard()
    assert not record.spare.exists()


def test_realtime_refused_by_the_system_names_what_it_needs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    from cancelkit._cli import _priority

    def refuse(*_: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "SCHED_FIFO", 1, raising=False)
    monkeypatch.setattr(os, "sched_setscheduler", refuse, raising=False)
    with pytest.raises(_priority.PriorityError, match="LimitRTPRIO=1"):
        _priority.realtime()
    monkeypatch.delattr(os, "SCHED_FIFO")
    with pytest.raises(_priority.PriorityError, match="Linux only"):
        _priority.realtime()


def test_the_short_slice_is_left_ordinary_where_it_cannot_be_had(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Never a refusal (it needs no privilege and is only an improvement): a system
    without the call, a guard started under a real-time policy (left as it is), and
    a kernel that takes the call but keeps its own slice all say "ordinary"."""
    import os
    import platform

    from cancelkit._cli import _priority

    monkeypatch.setattr(platform, "machine", lambda: "sparc64")
    assert _priority.short_slice() == "ordinary"
    assert _priority.slice_of(0) == 0
    monkeypatch.undo()
    asked: list[tuple[object, ...]] = []

    class Kernel:  # takes the call (not this test process's scheduling: a stand-in)
        def syscall(self, *args: object) -> int:
            asked.append(args)
            return 0

    monkeypatch.setattr(_priority, "_syscalls", lambda: (Kernel(), (1, 2)))
    monkeypatch.setattr(os, "sched_getscheduler", lambda _: 1, raising=False)  # SCHED_FIFO
    assert _priority.short_slice() == "ordinary"
    assert asked == []  # a real-time policy is left as it is, not asked to change
    monkeypatch.setattr(os, "sched_getscheduler", lambda _: 0, raising=False)  # SCHED_OTHER
    monkeypatch.setattr(_priority, "slice_of", lambda _: 750_000)  # and keeps its own
    assert _priority.short_slice() == "ordinary"
    assert len(asked) == 1


def test_learned_markets_are_written_off_the_loop_a_burst_in_one_write(
    tmp_path: Path,
) -> None:
    """Each market a stream shows is kept in guard-markets.json, but written on the
    thread pool, not the event loop (which may be firing), and a burst learned while
    a write is under way goes in the one write after it; the last ones are written
    at stop."""
    from cancelkit._cli._guard_markets import LearnedMarkets, _Keeper

    class Desk:
        def __init__(self) -> None:
            self.accounts = [type("A", (), {"name": "lm-main"})()]
            self.markets: list[str] = []

        def learned(self, name: str) -> tuple[str, ...]:
            return tuple(self.markets)

    class Upkeep:
        on_learned: Callable[[], None] | None = None

    writes: list[tuple[int, bool]] = []
    record = LearnedMarkets(tmp_path)
    real_write = record.write

    def write(learned: dict[str, tuple[str, ...]]) -> None:
        loop_thread = threading.current_thread() is threading.main_thread()
        writes.append((len(learned.get("lm-main", ())), loop_thread))
        real_write(learned)

    record.write = write  # type: ignore[method-assign]
    desk = Desk()
    upkeep = Upkeep()
    keeper = _Keeper(desk, record)  # type: ignore[arg-type]
    flush = keeper.install(upkeep)  # type: ignore[arg-type]

    async def burst() -> None:
        assert upkeep.on_learned is not None
        for n in range(50):
            desk.markets.append(f"m-{n}")
            upkeep.on_learned()  # as the stream's handler does, on the loop
        for _ in range(200):  # the writes finish (bounded)
            await asyncio.sleep(0.01)
            if writes and writes[-1][0] == 50:
                break

    asyncio.run(burst())
    assert all(not on_loop for _, on_loop in writes)
    assert len(writes) <= 2  # the first market's write, then the rest in one
    assert writes[-1][0] == 50
    flush()  # nothing left unwritten: no write
    assert len(writes) <= 2
    # A market learned as the guard stops, its write not yet begun: the stop writes it.
    desk.markets.append("m-last")
    keeper.dirty = True
    flush()
    assert writes[-1] == (51, True)  # at stop, on the stopping thread
    kept = json.loads((tmp_path / "guard-markets.json").read_text())
    assert kept["accounts"]["lm-main"][-1] == "m-last"

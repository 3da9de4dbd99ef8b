"""``cancelkit guard``: the kill switch, armed, as a running process.

In order: the state directory checked (this user's, open to nobody else) and
locked (one guard per directory); the accounts loaded and their desk opened; every
key proven (exit 2 naming each refused one); an unfinished firing (a guard killed
mid-firing) finished; then the control socket opened and the guard armed, or left
fired after finishing a firing. It fires on SIGUSR1, a ``trigger`` on the socket,
or a heartbeat lapse; SIGTERM/SIGINT (and SIGHUP, its terminal closed) disarm and
end it (exit 0) without cancelling, unless ``--cancel-on-exit``.

The firing path is the warm desk's ``run_everywhere`` and nothing else: every
module it needs is imported here at start, every client built and connected, so
that from the trigger to the first cancel on the wire only the run's own work
remains.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import logging
import os
import signal
import stat
import sys
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from .. import _guard_link as link
from ._cancel import EXIT_OK, EXIT_USAGE
from ._guard_markets import remember
from ._guard_server import ChannelError, Server, bind, check_directory, hold_lock
from ._guard_state import FiringRecord, Guard, Outcome, State
from ._ownership import directory_problem, file_problem

if TYPE_CHECKING:
    from .._account import Account
    from .._desk import AsyncDesk
    from ._guard_desk import Upkeep

logger = logging.getLogger("cancelkit")

FILE_POLL = 0.05  # seconds between looks at --heartbeat-file's time
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)  # SIGHUP: its terminal closed


@attrs.frozen
class Settings:
    """What ``cancelkit guard`` was asked to do."""

    config: str | None
    names: tuple[str, ...]
    heartbeat_timeout: float | None
    heartbeat_file: str | None
    cancel_on_exit: bool
    deadline: float
    prove_every: float = 60.0
    realtime: bool = False


def run(settings: Settings) -> int:
    """The guard, to its end; its exit status."""
    from ._priority import PriorityError, realtime, short_slice
    from ._registry import Registry, RegistryError

    try:  # first: every thread the guard starts has it
        scheduling = realtime() if settings.realtime else short_slice()
    except PriorityError as exc:
        _say(f"cancelkit guard: {exc}")
        return EXIT_USAGE
    try:
        directory = Registry.open().path
        check_directory(directory)
        lock = hold_lock(directory)
    except (RegistryError, ChannelError) as exc:
        _say(f"cancelkit guard: {exc}")
        return EXIT_USAGE
    with lock:
        accounts = _accounts(settings)
        if accounts is None:
            return EXIT_USAGE
        return asyncio.run(_main(settings, directory, accounts, scheduling))


def _accounts(settings: Settings) -> list[Account] | None:
    from .._accounts import AccountsError, load_accounts

    try:
        accounts = load_accounts(settings.config)
    except AccountsError as exc:
        _say(f"cancelkit guard: {exc.message}")
        return None
    known = [a.name for a in accounts]
    unknown = [n for n in settings.names if n not in known]
    if unknown:
        listed = ", ".join(known)
        _say(f"cancelkit guard: no account named {', '.join(unknown)} (accounts: {listed})")
        return None
    return [a for a in accounts if not settings.names or a.name in settings.names]


class _Tee(io.StringIO):
    """The firing's records: on the guard's stdout as they come, and kept for the
    ``trigger`` that asked (its report)."""

    def write(self, text: str) -> int:
        super().write(text)
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.write(text)
        return len(text)

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()


async def _main(
    settings: Settings, directory: Path, accounts: list[Account], scheduling: str
) -> int:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    pending: list[str] = []  # causes that came before the guard could fire
    holder: dict[str, Guard] = {}

    def on_usr1() -> None:
        guard = holder.get("guard")
        if stopping.is_set():  # a firing begun now would be cut off at exit, half-written
            _say("cancelkit guard: SIGUSR1 while stopping: ignored (nothing fires now)")
        elif guard is None:
            pending.append("signal SIGUSR1")
        else:  # the firing's task at once (no task of ours a loop pass before it)
            guard.begin("signal SIGUSR1")

    received: list[str] = []

    def on_stop(number: signal.Signals) -> None:
        if stopping.is_set():
            _say(f"cancelkit guard: {number.name} again: exiting at once")
            os._exit(130)
        received.append(number.name)
        stopping.set()

    loop.add_signal_handler(signal.SIGUSR1, on_usr1)
    for number in STOP_SIGNALS:
        loop.add_signal_handler(number, on_stop, number)

    desk, upkeep = await _open_desk(accounts, settings.prove_every)
    keep = remember(desk, upkeep, directory)  # the markets streams showed it before, kept
    fire: _Firing | None = None
    record = FiringRecord(directory)
    try:
        refused = {n: s for n, s in upkeep.keys.items() if s.startswith("REFUSED")}
        if refused:
            for name, why in refused.items():
                _say(f"cancelkit guard: {name}: key {why}")
            _say(f"cancelkit guard: refusing to start: key(s) refused: {', '.join(refused)}")
            return EXIT_USAGE
        fire = _Firing(desk, settings.deadline, [a.name for a in accounts], upkeep)
        guard = Guard(fire, record, heartbeat_timeout=settings.heartbeat_timeout)
        try:
            resumed = await guard.resume()
        except ValueError as exc:  # a record another user could have written
            _say(f"cancelkit guard: refusing to start: {exc}")
            return EXIT_USAGE
        server = Server(link.socket_path(directory), _handler(guard, upkeep, scheduling))
        try:
            await server.start(bind(server.path))
        except ChannelError as exc:
            _say(f"cancelkit guard: {exc}")
            return EXIT_USAGE
        holder["guard"] = guard
        # What the guard holds for its life (modules, clients, connections) set
        # aside from the cyclic GC: a full collection while armed scans only what
        # came since, not tens of milliseconds of it in a firing's way.
        gc.collect()
        gc.freeze()
        if resumed is None:
            guard.arm()
        else:
            _say("cancelkit guard: the unfinished firing is finished; `cancelkit arm` arms it")
        _say(_armed_line(guard, accounts, server.path, scheduling))
        for cause in pending:
            guard.begin(cause)
        try:
            return await _serve(guard, upkeep, settings, stopping, received)
        finally:
            await server.close()
    finally:
        if fire is not None:
            fire.close()
        record.discard()
        keep()  # the markets learned last, written before the guard is gone
        await desk.aclose()


async def _open_desk(accounts: list[Account], prove_every: float) -> tuple[AsyncDesk, Upkeep]:
    """The warm desk: every client built, connected and its key proven; every module
    the firing needs imported."""
    from .._desk import AsyncDesk
    from .._desk_hook import desk_hook
    from . import _everywhere, _registry  # noqa: F401  (the firing path's, loaded now)
    from ._guard_desk import ANSWER_WAIT, Upkeep

    for venue in {a.venue for a in accounts}:
        _preload(desk_hook(venue))
    desk = AsyncDesk(accounts)
    await desk.__aenter__()
    upkeep = Upkeep(desk, prove_every)
    await desk.warm(ANSWER_WAIT)  # a venue that does not answer is unreachable, not a wait
    await upkeep.prove()
    return desk, upkeep


def _preload(hook: Any) -> None:
    """Every module of a venue's package, imported now: what its kill switch would
    import when first used is not imported on the firing path."""
    import importlib
    import pkgutil

    from .._exports import load_every

    package = importlib.import_module(hook.__name__.rpartition(".")[0])
    for module in pkgutil.iter_modules(package.__path__, f"{package.__name__}."):
        importlib.import_module(module.name)
    # A generated models package loads each model on first use (a cold command's
    # first request needs few): every model of those the venue's modules use, now.
    generated = "cancelkit._generated."
    for name, models in list(sys.modules.items()):
        if name.startswith(generated) and name.endswith(".models"):
            load_every(models)


class _Firing:
    """The guard's firing: ``run_everywhere`` on the warm desk, each account's
    journal created beforehand (``_guard_journals``: at start, and again after each
    firing), so that the firing only renames it and writes its header."""

    def __init__(
        self, desk: AsyncDesk, deadline: float, names: Collection[str], upkeep: Upkeep
    ) -> None:
        from ._cancel import _registry
        from ._everywhere import run_everywhere
        from ._guard_journals import Spares, sweep

        self.desk, self.deadline, self.names, self.upkeep = desk, deadline, list(names), upkeep
        self._run = run_everywhere
        # The state directory opened and checked now, at arm time, not on the firing's
        # path (a firing that finds it None opens it again, and warns).
        self.registry = _registry()
        self.spares: Spares | None = None
        if self.registry is not None:
            sweep(self.registry.path)  # a killed guard's; this guard holds the lock
            self.spares = Spares(self.registry.path, self.names)
            self.spares.prepare()

    async def __call__(self, cause: str, beside: Callable[[], None]) -> Outcome:
        # No cyclic collection until the first requests have left: one in their way
        # took 0.3 ms of the firing (a young generation, while most are frozen).
        collecting = gc.isenabled()
        gc.disable()

        def then() -> None:  # the run's first requests have left (or it has ended)
            if collecting:
                gc.enable()
            beside()

        out = _Tee()
        spares = {} if self.spares is None else self.spares.take()
        try:
            status = await self._run(
                self.desk,
                deadline=self.deadline,
                as_json=True,
                cause=cause,
                out=out,
                accounts=self.names,
                registry=self.registry,
                spares=spares,
                beside=then,
            )
        finally:
            if collecting:
                gc.enable()
            for spare in spares.values():  # one not claimed (its file closed and gone)
                spare.discard()
            if self.spares is not None:
                self.spares.prepare()  # the next firing's, now that this one has ended
            self.upkeep.refresh()  # what is left, and who answered, in the status at once
        return Outcome(status, out.getvalue())

    def close(self) -> None:
        """The guard stops: the journals made for a next firing go."""
        if self.spares is not None:
            self.spares.discard()


def _handler(guard: Guard, upkeep: Upkeep, scheduling: str = "ordinary") -> Any:
    async def handle(request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "heartbeat":
            why = guard.heartbeat("cancelkit heartbeat")
            base = {"state": guard.state.value, "heartbeat_timeout": guard.heartbeat_timeout}
            return {"ok": why is None, "error": why, **base}
        if op == "trigger":
            if guard.state is State.DISARMED:  # stopping: a firing would be cut off at exit
                return {"ok": False, "error": "the guard is stopping: nothing fires now"}
            outcome = await guard.fire("trigger (cancelkit trigger)")
            return {"ok": True, "status": outcome.status, "report": outcome.report}
        if op == "arm":
            why = guard.arm()
            return {"ok": why is None, "error": why, "state": guard.state.value}
        if op == "status":
            return {
                "ok": True,
                **guard.status(),
                **upkeep.status(),
                "scheduling": scheduling,
                "last_report": guard.last_report,
            }
        return {"ok": False, "error": f"unknown request {str(op)[:40]!r}"}

    return handle


async def _serve(
    guard: Guard,
    upkeep: Upkeep,
    settings: Settings,
    stopping: asyncio.Event,
    received: list[str],
) -> int:
    tasks = [
        asyncio.ensure_future(guard.watch()),
        asyncio.ensure_future(upkeep.run()),
    ]
    if settings.heartbeat_file is not None:
        tasks.append(asyncio.ensure_future(_watch_file(guard, Path(settings.heartbeat_file))))
    try:
        await stopping.wait()
    finally:
        for task in tasks:
            task.cancel()
    name = received[0] if received else "stop"
    firing = guard.current is not None and not guard.current.done()
    guard.disarm()
    if firing:
        assert guard.current is not None
        _say(f"cancelkit guard: {name}: disarmed; the firing under way ends first")
        outcome = await asyncio.shield(guard.current)
        return outcome.status
    if settings.cancel_on_exit:
        _say(f"cancelkit guard: {name}: --cancel-on-exit: firing before exit")
        outcome = await guard.fire(f"exit ({name}, --cancel-on-exit)")
        return outcome.status
    _say(f"cancelkit guard: {name}: disarmed and stopped; nothing was cancelled")
    return EXIT_OK


async def _watch_file(guard: Guard, path: Path) -> None:
    """--heartbeat-file: each new modification time is a heartbeat, at that time."""
    warned: set[str] = set()
    seen: float | None = _mtime(path, warned)
    while True:
        await asyncio.sleep(FILE_POLL)
        now = _mtime(path, warned)
        if now is not None and now != seen:
            seen = now
            # When it was touched, on the guard's clock (never in its future).
            at = guard.clock() - max(0.0, time.time() - now)
            guard.heartbeat(f"touch of {path}", at)


def _mtime(path: Path, warned: set[str]) -> float | None:
    """The file's modification time, if a touch of it can be a heartbeat: a regular
    file (no link followed) this user owns and no one else may write, in directories
    no one else could swap it in; else None, the problem logged once. Another user
    touching the file (one they made before the bot did, in /tmp), or a link to a
    file that changes all the time (a log), would keep the switch from firing."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    regular = stat.S_ISREG(info.st_mode)
    problem = file_problem(info) if regular else "is not a regular file (no link is followed)"
    if problem is None:
        where = directory_problem(path.parent, sticky_ok=True)
        problem = None if where is None else f"is below a directory another user controls: {where}"
    if problem is None:
        return info.st_mtime
    if problem not in warned:
        warned.add(problem)
        logger.warning("--heartbeat-file %s %s: its touches are not heartbeats", path, problem)
    return None


def _armed_line(guard: Guard, accounts: list[Account], path: Path, scheduling: str) -> str:
    timeout = guard.heartbeat_timeout
    switch = (
        f"dead-man's switch {timeout:g} s after the first heartbeat"
        if timeout is not None
        else "no dead-man's switch"
    )
    names = ", ".join(f"{a.name} ({a.venue})" for a in accounts)
    return (
        f"cancelkit guard: {guard.state.value}: {names}; {switch}; fires on SIGUSR1 (pid"
        f" {os.getpid()}) or `cancelkit trigger`; control socket {path}; scheduling"
        f" {scheduling}"
    )


def _say(text: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        print(text, file=sys.stderr, flush=True)

"""The guard's state: armed, firing, fired or disarmed; heartbeats and their
lapse; the firing record that lets a guard killed mid-firing finish it.

The firing itself is given (an async callable of the cause, returning the run's
exit status and its report), so that this module knows nothing of accounts or
venues: the guard hands it the warm desk's ``run_everywhere``. It is also given the
work to do beside the run (the firing's log line and its record's fsync), to call
from a thread once its first requests have left: nothing before them waits on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs

from ._ownership import file_problem
from ._registry import _open_record

logger = logging.getLogger("cancelkit")

RECORD_NAME = "guard-firing.json"
SPARE_NAME = ".guard-firing.next"  # the next record's file, made while armed
MAX_RECORD = 64 * 2**10  # bytes of a firing record read back, at most
_LATEST = 2.0**35  # seconds since the epoch a record's start may name (year 3058)


class State(enum.Enum):
    """What the guard does next."""

    STARTING = "starting"  # proving keys, finishing an unfinished firing
    ARMED = "armed"  # fires on a signal, a trigger or a heartbeat lapse
    FIRING = "firing"
    FIRED = "fired"  # stays up, refuses heartbeats until `cancelkit arm`
    DISARMED = "disarmed"  # stopping (SIGTERM/SIGINT)


@attrs.frozen
class Outcome:
    """One firing's end: the run's exit status and its report."""

    status: int
    report: str


Fire = Callable[[str, Callable[[], None]], Awaitable[Outcome]]
"""The firing: cancel everything guarded, given the cause (journaled, logged) and
the work to do beside it (called once its first requests have left, from a thread;
the guard does it at the end if the firing never did)."""


@attrs.frozen
class Firing:
    """A firing as the record (and the status) tell it."""

    cause: str
    started: float  # time.time()
    ended: float | None = None
    status: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "cause": self.cause,
            "started": utc_iso(self.started),
            "ended": None if self.ended is None else utc_iso(self.ended),
            "status": self.status,
        }


def utc_iso(moment: float) -> str:
    """``moment`` (``time.time()``) as the guard's status shows it: 2026-12-06T16:00:00Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


class FiringRecord:
    """``guard-firing.json`` in the state directory: written before a firing sends
    anything, removed once its run has ended. A guard that finds it at start was
    killed mid-firing, and finishes that firing before it arms.

    While armed, the next record's file is made beforehand (:meth:`prepare`, a name
    no start reads): a firing writes it and renames it into place, which costs a
    fraction of creating a file on the firing's path. A spare gone by then is no
    matter: the record is created as it was without one."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / RECORD_NAME
        self.spare = directory / SPARE_NAME
        self._spare_fd: int | None = None

    def prepare(self) -> None:
        """Make the next record's file now (empty; a failure is no spare)."""
        if self._spare_fd is not None:
            return
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            self._spare_fd = os.open(self.spare, flags, 0o600)
        except OSError as exc:
            logger.debug("no spare firing record %s: %s", self.spare, exc)

    def discard(self) -> None:
        """The guard stops: the spare goes."""
        fd, self._spare_fd = self._spare_fd, None
        if fd is not None:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(self.spare)

    def write(self, cause: str, started: float) -> None:
        """The record, on disk before the firing sends (no fsync on this path: it
        must survive the guard's death, which the page cache does; :meth:`sync`
        makes it survive the machine's, off the firing's path). Written whole into
        the spare, then renamed into place: it appears complete or not at all."""
        data = json.dumps({"cause": cause, "started": started, "pid": os.getpid()}).encode()
        fd, self._spare_fd = self._spare_fd, None
        if fd is not None:
            try:
                os.write(fd, data + b"\n")
                os.rename(self.spare, self.path)
                return
            except OSError as exc:  # the spare removed meanwhile: the record made anew
                logger.debug("the spare firing record is gone (%s)", exc)
            finally:
                os.close(fd)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(self.path, flags, 0o600)
        try:
            os.write(fd, data + b"\n")
        finally:
            os.close(fd)

    def sync(self) -> None:
        """Flush the record to the disk (called beside the firing, in a thread)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return  # already removed: the firing is over
        try:
            os.fsync(fd)
        except OSError as exc:
            logger.debug("cannot sync %s: %s", self.path, exc)
        finally:
            os.close(fd)

    def clear(self) -> None:
        """The firing is over: its record goes."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def read(self) -> Firing | None:
        """An unfinished firing's record, or None. A record another user could have
        written is refused (ValueError naming why), as is one that is not ours."""
        try:
            record = _open_record(self.path)  # no link followed, no FIFO waited on
        except FileNotFoundError:
            return None
        except OSError as exc:
            why = str(exc) if exc.strerror is None else f"{self.path}: {exc.strerror}"
            raise ValueError(why) from None
        with record:
            problem = file_problem(os.fstat(record.fileno()))
            if problem is not None:
                raise ValueError(f"{self.path} {problem}")
            data = record.read(MAX_RECORD)
        try:
            found = json.loads(data)
            cause, started = found["cause"], found["started"]
        except (ValueError, KeyError, TypeError, RecursionError):
            # Half written when the guard died: a firing had begun, its cause unknown.
            return Firing("unknown (its record was cut off)", time.time())
        if (
            not isinstance(cause, str)
            or isinstance(started, bool)
            or not isinstance(started, int | float)
            or not 0 <= started < _LATEST  # NaN, Infinity, 1e300: no time to show
        ):
            return Firing("unknown (its record was unreadable)", time.time())
        # The cause is logged and shown: a damaged record's control characters are not.
        shown = "".join(c if c.isprintable() else "?" for c in cause[:200])
        return Firing(shown, float(started))


class Guard:
    """The state machine. Every method runs on the guard's event loop.

    Args:
        fire: the firing (see :data:`Fire`).
        record: where the firing record is kept.
        heartbeat_timeout: seconds without a heartbeat (after the first) that fire
            the guard; None: no dead-man's switch.
    """

    def __init__(
        self,
        fire: Fire,
        record: FiringRecord,
        *,
        heartbeat_timeout: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fire = fire
        self.record = record
        self.heartbeat_timeout = heartbeat_timeout
        self.clock = clock
        self.state = State.STARTING
        self.last_beat: float | None = None  # clock() of the last heartbeat taken
        self.last_beat_wall: float | None = None
        self.beats = 0
        self.last_run: Firing | None = None
        self.last_report = ""
        self.current: asyncio.Task[Outcome] | None = None
        self._beat = asyncio.Event()  # set on every beat, arm and state change

    # -- heartbeats --------------------------------------------------------------------

    def heartbeat(self, source: str, at: float | None = None) -> str | None:
        """Take one heartbeat (``at``: its clock() time, default now); None if taken,
        else why not (the guard has fired, or is firing, or is stopping)."""
        if self.state in (State.FIRING, State.FIRED):
            return (
                f"the guard {self.state.value} ({self._why()}); it takes heartbeats again"
                " after `cancelkit arm`"
            )
        if self.state is State.DISARMED:
            return "the guard is stopping"
        moment = self.clock() if at is None else at
        if self.last_beat is None or moment > self.last_beat:
            self.last_beat = moment
            self.last_beat_wall = time.time() - (self.clock() - moment)
        self.beats += 1
        logger.debug("heartbeat from %s", source)
        self._beat.set()
        return None

    def _why(self) -> str:
        run = self.last_run
        return "cause unknown" if run is None else f"cause: {run.cause}"

    def lapse_in(self) -> float | None:
        """Seconds until the dead-man's switch fires if no beat comes (<= 0: now);
        None while it cannot fire (no timeout, not armed, or no first beat yet)."""
        if self.heartbeat_timeout is None or self.state is not State.ARMED:
            return None
        if self.last_beat is None:
            return None
        return self.last_beat + self.heartbeat_timeout - self.clock()

    async def watch(self) -> None:
        """The dead-man's switch: fires when the heartbeats lapse (runs forever)."""
        while True:
            self._beat.clear()
            left = self.lapse_in()
            if left is not None and left <= 0:
                assert self.heartbeat_timeout is not None
                await self.fire(f"heartbeat lapse (none for {self.heartbeat_timeout:g} s)")
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._beat.wait(), left)

    # -- firing ------------------------------------------------------------------------

    def arm(self) -> str | None:
        """Arm (from starting, fired or disarmed); None if armed, else why not. The
        dead-man's switch waits for a first heartbeat again."""
        if self.state is State.FIRING:
            return "a firing is under way; arm once it has ended"
        if self.state is State.DISARMED:
            return "the guard is stopping"
        self.state = State.ARMED
        self.record.prepare()  # the next firing's record file, made now
        self.last_beat = self.last_beat_wall = None
        self._beat.set()
        logger.warning("armed")
        return None

    async def fire(self, cause: str) -> Outcome:
        """Fire (or join the firing under way), whatever the state but stopping:
        the record first, then the run; the guard is left fired."""
        return await asyncio.shield(self.begin(cause))

    def begin(self, cause: str) -> asyncio.Task[Outcome]:
        """:meth:`fire` without waiting (a signal handler's): the firing's task,
        started now or the one under way."""
        if self.current is None or self.current.done():
            self.current = asyncio.ensure_future(self._firing(cause))
        return self.current

    async def _firing(self, cause: str, *, resumed: bool = False) -> Outcome:
        started = time.time()
        if not resumed:
            self.record.write(cause, started)
        self.state = State.FIRING
        self.last_run = Firing(cause, started)
        self._beat.set()
        once = threading.Lock()

        def beside() -> None:
            # Once the run's first requests are on the wire (a thread, or at its end):
            # the log line and the record's fsync never come before them.
            if once.acquire(blocking=False):
                logger.warning("firing (cause: %s)", cause)
                self.record.sync()

        try:
            outcome = await self._fire(cause, beside)
        except Exception as exc:  # the run's own failure: said, and the guard stays up
            logger.exception("the firing failed")
            outcome = Outcome(1, f"the firing failed: {type(exc).__name__}: {exc}\n")
        beside()  # if the run never did (it had nothing to send, say)
        self.record.clear()
        self.record.prepare()  # the next firing's (it may fire again before an arm)
        self.last_run = Firing(cause, started, time.time(), outcome.status)
        self.last_report = outcome.report
        if self.state is State.FIRING:
            self.state = State.FIRED
        self._beat.set()
        logger.warning("fired (cause: %s): exit status %d", cause, outcome.status)
        return outcome

    async def resume(self) -> Outcome | None:
        """Finish the firing a killed guard left unfinished (its record), if any;
        the guard is then left fired, as after any firing."""
        found = self.record.read()
        if found is None:
            return None
        cause = (
            f"finishing an unfinished firing (cause: {found.cause}, at {utc_iso(found.started)})"
        )
        self.current = asyncio.ensure_future(self._firing(cause, resumed=True))
        return await asyncio.shield(self.current)

    def disarm(self) -> None:
        """Stopping: no heartbeat is taken and nothing fires on its own any more."""
        self.state = State.DISARMED
        self._beat.set()

    # -- what `cancelkit status` shows ---------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The guard's own part of what ``cancelkit status --json`` prints (the
        accounts' part is the upkeep's)."""
        beat = self.last_beat_wall
        return {
            "state": self.state.value,
            "pid": os.getpid(),
            "heartbeat_timeout": self.heartbeat_timeout,
            "last_heartbeat": None if beat is None else utc_iso(beat),
            "heartbeat_age": None if self.last_beat is None else self.clock() - self.last_beat,
            "heartbeats": self.beats,
            "last_run": None if self.last_run is None else self.last_run.as_dict(),
        }

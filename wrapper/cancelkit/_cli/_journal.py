"""The kill switch's write-ahead record: the plan, each request as it is sent, each outcome.

A journal is JSON lines, each written as it comes. Its first line names the run (run
id, venue, base URL without userinfo, key id) and how many orders it plans; then one
``planned`` line per order, before anything is sent; a ``sent`` line for each order
right before its request leaves (a cancel-all, which names none, gets one ``sent`` line
of its own, ``"cancel_all": true``, and another with ``"answered": true`` when its answer
comes); and one outcome line per order as it is known. The
plan and each ``sent`` line are fsynced before the request leaves (with every outcome
written before them), the last outcomes at the close. A resume from the journal
alone therefore covers every order, whatever killed the run, and a record made for
another venue, URL or key is refused unless the operator says so.

What the machine can do to it: a plan cut short (a kill, a full disk) is refused by
its reader, which counts it against its header (:class:`Plans`; such a run sent
nothing); a plan that cannot be written stops the run before it sends; a later
write that fails is one warning and a non-zero exit, never a lost outcome on stdout;
a record cut off mid-line is skipped where a run's writing stopped (the file's end,
or where the next run appended its header)."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from typing import IO, Any

import attrs

PLANNED, SENT = "planned", "sent"
RUN_KEY = "cancelkit_run"


class JournalError(Exception):
    """The journal cannot be opened safely (the message says why)."""


def open_journal(path: str) -> IO[bytes]:
    """Open ``path`` for appending, safely: a regular file only, never through a
    symbolic link, never blocking (a FIFO without a reader is refused at once)."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            why = "is a symbolic link; give the file it points to"
        elif exc.errno == errno.ENXIO:
            why = "is a FIFO with no reader; give a regular file"
        elif exc.errno == errno.EISDIR:
            why = "is a directory; give a file"
        else:
            why = f"cannot be opened: {exc.strerror}"
        raise JournalError(f"--journal {path} {why}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise JournalError(f"--journal {path} is not a regular file; give a regular file")
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    return os.fdopen(fd, "ab")


@attrs.frozen
class Origin:
    """Where a run's requests went: what a record is bound to."""

    venue: str
    base_url: str  # without userinfo
    key: str

    def as_dict(self) -> dict[str, str]:
        """The fields each record carries."""
        return {"venue": self.venue, "base_url": self.base_url, "key": self.key}

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> Origin | None:
        """The origin a record names, if it names all of it."""
        venue, base_url, key = (record.get(n) for n in ("venue", "base_url", "key"))
        if isinstance(venue, str) and isinstance(base_url, str) and isinstance(key, str):
            return cls(venue, base_url, key)
        return None


def new_run_id() -> str:
    """A fresh run id."""
    return uuid.uuid4().hex[:16]


def mismatch(recorded: Iterable[Origin], now: Origin) -> str | None:
    """What differs between a record's origins and this run's, or None."""
    for origin in recorded:
        for name in ("venue", "base_url", "key"):
            then, here = getattr(origin, name), getattr(now, name)
            if then != here:
                return f"the record was made for {name} {then!r}, this run uses {here!r}"
    return None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Journal:
    """Appends records to an open journal, fsyncing each group before returning.

    The plan must be written whole, or the run sends nothing (:meth:`plan` raises
    :class:`JournalError`). After it, a write that fails (a full disk) never stops
    the run: :attr:`failed` says why, ``warn`` is told once, and nothing more is
    written; what is in the file stays true, and the run's outcomes go on to stdout.
    """

    def __init__(
        self,
        sink: IO[bytes],
        run: str,
        origin: Origin,
        *,
        name: str = "the journal",
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.sink = sink
        self.run = run
        self.origin = origin
        self.name = name  # for messages: the path, or what it is
        self.warn = warn
        self.failed: str | None = None  # why a write failed; then nothing more is written
        self._unsynced = False  # outcome lines written since the last fsync
        self._closing = threading.Lock()  # a sync() in a thread never meets a closed fd

    def _write(self, data: bytes, sync: bool) -> None:
        # Straight to the file, not through a buffer: a failed write leaves nothing
        # behind to be written again (half a line more) when the file is closed.
        fd = self.sink.fileno()
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            if not written:  # no progress: as full as a disk gets
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            view = view[written:]
        if sync:
            os.fsync(fd)  # and every outcome written before it
            self._unsynced = False
        else:
            self._unsynced = True

    def _append(self, data: bytes, sync: bool) -> None:
        """Write, or after a failure stop writing, with one warning."""
        if self.failed is not None:
            return
        try:
            self._write(data, sync)
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        self.failed = exc.strerror or str(exc)
        if self.warn is not None:
            self.warn(
                f"cannot write to {self.name} ({self.failed}): it stops here, the"
                " outcomes go on to stdout, and the exit status will be non-zero"
            )

    def plan(
        self,
        orders: Sequence[tuple[str, str]],
        deadline: float,
        extra: Mapping[str, Any] | None = None,
        *,
        sync: bool = True,
    ) -> None:
        """The run's header and one ``planned`` line per (label, order), before sending;
        :class:`JournalError` if they cannot all be written and fsynced.

        ``sync=False`` (a plan of no orders: a cancel-all, which names none before it
        leaves): written, not fsynced; :meth:`sync` does it once the first request is
        on the wire, beside the run. A ``kill -9`` loses nothing (the write precedes
        the send); a power loss in between loses the header of a run whose plan named
        no order, as it would lose its unsynced outcomes. A plan that names orders
        may be written unsynced too when its first :meth:`sent` line follows before
        any cancel: that line's fsync, before its request leaves, covers the plan.

        The header says how many ``planned`` lines follow: a reader refuses a plan
        with fewer (a run killed while writing it, a full disk), which names only
        some of the orders that run was given; such a run sent nothing."""
        header = {
            RUN_KEY: self.run,
            **self.origin.as_dict(),
            "started": _now(),
            "orders": len(orders),
            "deadline": deadline,
            **(extra or {}),  # a desk's run: its account and what started it
        }
        records: list[Mapping[str, Any]] = [
            header,
            *({"run": self.run, "input": i, "order": o, "status": PLANNED} for i, o in orders),
        ]
        try:
            self._write(_lines(records), sync=sync)
        except OSError as exc:
            self.failed = exc.strerror or str(exc)
            raise JournalError(f"cannot write the plan to {self.name}: {self.failed}") from None

    def sync(self) -> None:
        """fsync what is written so far (from any thread; never raises: a failure is
        :attr:`failed`, and a warning). The close fsyncs again what comes after."""
        with self._closing:
            if self.failed is not None or self.sink.closed:
                return
            try:
                os.fsync(self.sink.fileno())
            except OSError as exc:
                self._fail(exc)

    def sent(self, orders: Sequence[tuple[str, str]]) -> None:
        """A request for these (label, order) pairs is about to leave."""
        at = _now()  # other runs on this key name it (the run registry)
        records = [
            {"run": self.run, "input": i, "order": o, "status": SENT, "at": at} for i, o in orders
        ]
        self._append(_lines(records), sync=True)

    def cancel_all_sent(self, *, sync: bool = True) -> None:
        """A cancel-all (it names no order before it leaves) is about to leave: its own
        ``sent`` line (``"order": ""``, ``"cancel_all": true``), so that a record shows
        it was sent even if its answer never comes or the run is killed.

        ``sync=False`` (a desk's run, whose header is not fsynced before its first
        request either): written, not fsynced; :meth:`sync` beside the run, or the
        close, does it. The write precedes the send, so a ``kill -9`` loses nothing."""
        self._append(_lines([self._cancel_all_line()]), sync=sync)

    def _cancel_all_line(self, **more: Any) -> dict[str, Any]:
        """A cancel-all's ``sent`` record (with ``more`` fields, such as ``answered``)."""
        record: dict[str, Any] = {
            "run": self.run,
            "input": "-",
            "order": "",
            "cancel_all": True,
            "status": SENT,
        }
        return {**record, **more, "at": _now()}

    def cancel_all_answered(self) -> None:
        """A cancel-all's answer came: a line saying so (``"answered": true`` on a
        cancel-all's ``sent`` record, a form every reader already takes), so that a
        resume warns only of a cancel-all whose answer never came. Written, fsynced
        with what follows."""
        record = self._cancel_all_line(answered=True)
        self._append(_lines([record]), sync=False)

    def outcome(self, line: str) -> None:
        """One outcome record (already JSON): in the file at once, on disk by the next
        ``sent`` line or the close.

        Written, a line survives the process however it dies (``kill -9`` included);
        only the operating system's crash could lose it before its fsync, and an
        order whose outcome is lost is asked about again on resume, never re-sent
        blind. One fsync per outcome cost 75 ms of a 300-order run, after its last
        request: a fsync is taken where the write-ahead order needs one."""
        self._append(line.encode("utf-8") + b"\n", sync=False)

    def close(self) -> None:
        """Close the file, its last outcomes fsynced first; never raises (a failure
        is :attr:`failed`, and a warning)."""
        with self._closing:
            try:
                if self._unsynced and self.failed is None and not self.sink.closed:
                    os.fsync(self.sink.fileno())
                    self._unsynced = False
            except OSError as exc:
                self._fail(exc)
            finally:
                with suppress(OSError):
                    self.sink.close()


def _lines(records: Sequence[Mapping[str, Any]]) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode("utf-8") + b"\n" for r in records)


# How Journal.plan starts a header (json.dumps, the run key first): a header glued
# to the end of a line cut off is found by it.
HEADER_START = b'{"' + RUN_KEY.encode() + b'": '


def run_header(raw: bytes) -> bool:
    """Whether the line ``raw`` is a run's header, whole."""
    if not raw.lstrip().startswith(b"{"):
        return False
    try:
        record = json.loads(raw)
    except (ValueError, RecursionError):
        return False
    return isinstance(record, dict) and RUN_KEY in record


def glued_header(raw: bytes) -> int | None:
    """Where a run's whole header starts inside ``raw``, after a line cut off: what
    a run appending to a journal whose last line was cut off wrote (it added no
    newline of its own). None if ``raw`` holds no such header."""
    at = raw.find(HEADER_START, 1)
    while at > 0:
        if run_header(raw[at:]):
            return at
        at = raw.find(HEADER_START, at + 1)
    return None


class Plans:
    """Each run's plan in a record, counted against its header's ``orders``.

    A run writes its whole plan before it sends anything, so a plan with fewer
    ``planned`` lines than its header says (a run killed while writing it, a full
    disk) belongs to a run that sent nothing, and the record does not name every
    order it was given: a resume from it would leave the rest open unasked."""

    def __init__(self) -> None:
        self._runs: dict[str, list[Any]] = {}  # run -> [header label, promised, planned]
        self._problems: list[str] = []

    def header(self, label: str, record: Mapping[str, Any]) -> None:
        """A run's header line."""
        run, count = record.get(RUN_KEY), record.get("orders")
        if not isinstance(run, str) or type(count) is not int or count < 0:
            self._problems.append(
                f"{label}: a run's header without its number of orders: its plan cannot be checked"
            )
            return
        seen = self._runs.setdefault(run, [label, 0, 0])
        seen[1] += count  # (a record given twice: twice the plan, and twice the count)

    def planned(self, label: str, record: Mapping[str, Any]) -> None:
        """A ``planned`` line."""
        run = record.get("run")
        seen = self._runs.get(run) if isinstance(run, str) else None
        if seen is None:
            self._problems.append(
                f"{label}: a planned order with no header of its run before it: its plan"
                " cannot be checked"
            )
        else:
            seen[2] += 1

    def cut_header(self, label: str) -> None:
        """A run's header, cut off: its plan is not there at all."""
        self._problems.append(f"{label}: a run's header cut off, {_CUT}")

    def problems(self) -> list[str]:
        """What makes the record incomplete, each naming where (first problems first)."""
        counts = [
            f"{label}: the plan of the run there has {planned:,} of {promised:,} orders, {_CUT}"
            for label, promised, planned in self._runs.values()
            if planned != promised
        ]
        return [*self._problems, *counts]


_CUT = (
    "so the record does not name every order that run was given (it stopped while"
    " writing its plan, and sent none of them): resume from that run's own list, or"
    " from the lines before this one alone"
)

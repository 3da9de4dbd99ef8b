"""The kill switch's write-ahead record: the plan, each request as it is sent, each outcome.

A journal is JSON lines, each written as it comes. Its first line names the run (run
id, venue, base URL without userinfo, key id); then one ``planned`` line per order,
before anything is sent; a ``sent`` line for each order right before its request
leaves; and one outcome line per order as it is known. The plan and each ``sent``
line are fsynced before the request leaves (with every outcome written before them),
the last outcomes at the close. A resume from the journal
alone therefore covers every order, whatever killed the run, and a record made for
another venue, URL or key is refused unless the operator says so.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
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
    """Appends records to an open journal, fsyncing each group before returning."""

    def __init__(self, sink: IO[bytes], run: str, origin: Origin) -> None:
        self.sink = sink
        self.run = run
        self.origin = origin
        self._unsynced = False  # outcome lines written since the last fsync

    def _write(self, records: Sequence[Mapping[str, Any]]) -> None:
        data = b"".join(json.dumps(r, ensure_ascii=False).encode("utf-8") + b"\n" for r in records)
        self.sink.write(data)
        self.sink.flush()
        os.fsync(self.sink.fileno())  # and every outcome written before it
        self._unsynced = False

    def plan(self, orders: Sequence[tuple[str, str]], deadline: float) -> None:
        """The run's header and one ``planned`` line per (label, order), before sending."""
        header = {
            RUN_KEY: self.run,
            **self.origin.as_dict(),
            "started": _now(),
            "orders": len(orders),
            "deadline": deadline,
        }
        self._write(
            [
                header,
                *({"run": self.run, "input": i, "order": o, "status": PLANNED} for i, o in orders),
            ]
        )

    def sent(self, orders: Sequence[tuple[str, str]]) -> None:
        """A request for these (label, order) pairs is about to leave."""
        at = _now()  # other runs on this key name it (the run registry)
        self._write(
            [{"run": self.run, "input": i, "order": o, "status": SENT, "at": at} for i, o in orders]
        )

    def outcome(self, line: str) -> None:
        """One outcome record (already JSON): in the file at once, on disk by the next
        ``sent`` line or the close.

        Written, a line survives the process however it dies (``kill -9`` included);
        only the operating system's crash could lose it before its fsync, and an
        order whose outcome is lost is asked about again on resume, never re-sent
        blind. One fsync per outcome cost 75 ms of a 300-order run, after its last
        request: a fsync is taken where the write-ahead order needs one."""
        self.sink.write(line.encode("utf-8") + b"\n")
        self.sink.flush()
        self._unsynced = True

    def close(self) -> None:
        """Close the file, its last outcomes fsynced first."""
        try:
            if self._unsynced and not self.sink.closed:
                os.fsync(self.sink.fileno())
                self._unsynced = False
        finally:
            self.sink.close()

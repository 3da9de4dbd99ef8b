"""The run registry: where each kill switch leaves its record for the others on this machine.

Two kill switches on one key (two operators, two terminals) see each other only in the
exchange's listing, and an order the other run cancelled is simply absent from it:
not open for this key, but perhaps not this key's at all, which only a rate-limited
lookup can tell. The other run's own write-ahead record can: it journals ``sent``
for an order right before its cancel leaves, and it sends a cancel only for an order
that this key's listing (or a lookup for this key) showed open. So an id absent from
our listing for which such a record exists is this key's and not open.

Every CLI run therefore keeps its journal in a per-user state directory (created
0700), or, with ``--journal FILE``, a small pointer to that file there. A run reads
only records made for its own venue, base URL and key, recent ones, a bounded number
and size; anything malformed is skipped. What it finds can only explain ids our own
listing shows not open: it never skips an order the listing shows open and never
makes one ``cancelled``. A ``sent`` line followed by ``failed``, ``unknown`` or
``not_sent`` for the same order is no evidence; and the kill switch asks only when
its listing covered every market, after its cancels have left.

The directory is trusted only as a whole (``_ownership``: every component up to /),
and pruned by one rule (:func:`keeps`): the last 24 hours, and the newest
:data:`KEEP_RUNS` runs of each venue, URL and key. A running run holds its record
with an exclusive ``flock``; a prune removes none it cannot lock.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import re
import stat
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import attrs

from .._bulk import OUTCOMES
from .._state_dir import state_dir
from ._journal import PLANNED, RUN_KEY, SENT, Origin
from ._ownership import directory_problem

logger = logging.getLogger("cancelkit")

RECENT = 24 * 3600.0  # seconds: older records are not read
MAX_RECORDS = 32  # the newest records read, at most
MAX_ENTRIES = 10_000  # directory entries looked at, at most
MAX_BYTES = 64 * 2**20  # bytes read from one record
MAX_TOTAL = 256 * 2**20  # bytes read from all records of one lookup
MAX_LINE = 64 * 2**10  # a longer line is no record of ours
POINTER_BYTES = 4096
POINTER_KEY = "cancelkit_pointer"
KEEP_RUNS = 5  # older than RECENT, the newest runs of each venue, URL and key kept
_NAME = re.compile(r"run-(\d{8}T\d{6}Z)-([0-9a-f]{16})\.(jsonl|ref)")
# Outcomes after which a run's ``sent`` line for an order is no evidence: that
# cancel did not take, or no one knows whether it did.
_NO_EVIDENCE = frozenset({"failed", "unknown", "not_sent"})
_STATUSES = frozenset({*OUTCOMES, PLANNED, SENT})
# A line naming none of these statuses is not parsed (the others say nothing here).
_MARK = re.compile(rb'"status"\s*:\s*"(?:sent|failed|unknown|not_sent)"')


class RegistryError(Exception):
    """The state directory cannot be used safely (the message says why)."""


def utc_stamp(moment: float) -> str:
    """``moment`` (``time.time()``) as the registry names it: 20261128T192001Z."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(moment))


@attrs.frozen
class Registry:
    """The state directory, checked: this user's, a directory, not writable by others."""

    path: Path

    @classmethod
    def open(cls) -> Registry:
        """The state directory, created 0700 if missing; :class:`RegistryError` if it
        is a symbolic link or not a directory, or if it or any directory above it is
        another user's (root aside) or writable by others (a parent with the sticky
        bit aside): whoever can write a parent can swap the directory, records and all."""
        path = state_dir()
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            info = os.lstat(path)
        except OSError as exc:
            raise RegistryError(f"state directory {path}: {exc.strerror}") from None
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
            raise RegistryError(f"state directory {path} is not a directory")
        problem = directory_problem(path)
        if problem is not None:
            raise RegistryError(f"state directory {path} is not safe: {problem}")
        return cls(path)

    def journal_path(self, run: str, started: float) -> Path:
        """Where a run without ``--journal`` keeps its journal."""
        return self.path / f"run-{utc_stamp(started)}-{run}.jsonl"

    def point(self, run: str, started: float, journal: str, origin: Origin) -> IO[bytes]:
        """Leave a pointer to a ``--journal`` file kept elsewhere; the pointer comes
        back open and held (:func:`hold`): the caller keeps it for the run's life, so
        that no prune removes it while the run goes on."""
        where = self.path / f"run-{utc_stamp(started)}-{run}.ref"
        data = json.dumps(
            {POINTER_KEY: run, "journal": os.path.abspath(journal), **origin.as_dict()}
        ).encode("utf-8")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(where, flags, 0o600)
        except OSError as exc:
            raise RegistryError(f"cannot write {where}: {exc.strerror}") from None
        sink = os.fdopen(fd, "wb")
        try:
            hold(sink)
        except OSError as exc:  # a filesystem without locks: a prune may not see it run
            logger.debug("cannot lock %s: %s", where, exc)
        sink.write(data + b"\n")
        sink.flush()
        return sink

    def sent_elsewhere(
        self, origin: Origin, own_run: str, orders: Iterable[str], now: float | None = None
    ) -> dict[str, str]:
        """For each of ``orders`` that another recent run on ``origin`` (same venue,
        base URL and key) journaled as sent, with no ``failed``, ``unknown`` or
        ``not_sent`` after it (that cancel is no evidence): a message naming that run
        and when. Never raises: an unreadable or malformed record is skipped."""
        wanted = set(orders)
        found: dict[str, str] = {}
        if not wanted:
            return found
        now = time.time() if now is None else now
        budget = [MAX_TOTAL]
        for run, path in self._recent(own_run, now):
            try:
                sent = self._read(run, path, origin, wanted, budget)
            except (OSError, ValueError, RecursionError) as exc:
                logger.debug("skipped the record %s: %s", path.name, exc)
                continue
            for order, at in sent.items():
                when = f" at {at}" if at else ""
                found[order] = (
                    f"not listed; cancel sent by run {run}{when}: cancelled or filled (not asked)"
                )
                wanted.discard(order)
            if budget[0] <= 0 or not wanted:
                break
        return found

    def _entries(self, own_run: str | None = None) -> list[tuple[float, str, Path]]:
        """(mtime, run id, path) of the records in the directory (regular files
        named as the registry names them), ``own_run``'s aside, newest first."""
        entries: list[tuple[float, str, Path]] = []
        try:
            with os.scandir(self.path) as scan:
                for count, entry in enumerate(scan):
                    if count >= MAX_ENTRIES:
                        break
                    match = _NAME.fullmatch(entry.name)
                    if match is None or match.group(2) == own_run:
                        continue
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if stat.S_ISREG(info.st_mode):
                        entries.append((info.st_mtime, match.group(2), Path(entry.path)))
        except OSError as exc:
            logger.debug("cannot read the state directory %s: %s", self.path, exc)
        entries.sort(reverse=True)
        return entries

    def _recent(self, own_run: str, now: float) -> list[tuple[str, Path]]:
        """The newest records (run id, path) of other runs, newest first."""
        recent = [(run, path) for when, run, path in self._entries(own_run) if now - RECENT <= when]
        return recent[:MAX_RECORDS]

    def _read(
        self, run: str, path: Path, origin: Origin, wanted: set[str], budget: list[int]
    ) -> dict[str, str]:
        """The orders of ``wanted`` that run's record shows sent with no failure after
        (order -> when, or ""), if the record is ``run``'s and made for ``origin``."""
        found = self._header(run, path)
        if found is None:
            return {}
        journal, named, header = found
        sent: dict[str, str] = {}
        with journal:
            if named != origin:
                return {}
            started = header.get("started")
            read = 0
            while read < MAX_BYTES and budget[0] > 0:
                line = journal.readline(MAX_LINE)
                if not line:
                    break
                read += len(line)
                budget[0] -= len(line)
                if _MARK.search(line) is not None:
                    _status_line(line, run, started, wanted, sent)
        return sent

    def _header(self, run: str, path: Path) -> tuple[IO[bytes], Origin, dict[str, Any]] | None:
        """``run``'s journal (through its pointer if ``path`` is one), open after its
        first line, with the origin and header that line names; None if the record
        is not ``run``'s or names no origin."""
        if path.suffix == ".ref":
            with _open_record(path) as pointer:
                record = json.loads(pointer.read(POINTER_BYTES))
            if not isinstance(record, dict) or record.get(POINTER_KEY) != run:
                return None
            if Origin.of(record) is None or not isinstance(record.get("journal"), str):
                return None
            path = Path(record["journal"])
        journal = _open_record(path)
        try:
            header = json.loads(journal.readline(MAX_LINE))
            named = Origin.of(header) if isinstance(header, dict) else None
            if named is None or header.get(RUN_KEY) != run:
                journal.close()
                return None
        except BaseException:
            journal.close()
            raise
        return journal, named, header

    # -- what is kept ---------------------------------------------------------------

    def runs(self) -> list[RunRecord]:
        """Every record in the directory, newest first: what it says of its run
        (unreadable ones too, with what could not be read left None)."""
        budget = [MAX_TOTAL]
        return [self._describe(run, path, when, budget) for when, run, path in self._entries()]

    def _describe(self, run: str, path: Path, when: float, budget: list[int]) -> RunRecord:
        record = RunRecord(run=run, path=path, modified=when, running=held(path))
        try:
            found = self._header(run, path)
        except (OSError, ValueError, RecursionError) as exc:
            logger.debug("cannot read the record %s: %s", path.name, exc)
            return record
        if found is None:
            return record
        journal, origin, header = found
        latest: dict[str, str] = {}
        complete = True
        with journal:
            read = 0
            while True:
                if read >= MAX_BYTES or budget[0] <= 0:
                    complete = False
                    break
                line = journal.readline(MAX_LINE)
                if not line:
                    break
                read += len(line)
                budget[0] -= len(line)
                _latest(line, run, latest)
        started = header.get("started")
        orders = header.get("orders")
        return attrs.evolve(
            record,
            origin=origin,
            started=started if isinstance(started, str) and started.isprintable() else None,
            orders=orders if isinstance(orders, int) and not isinstance(orders, bool) else None,
            counts=dict(Counter(latest.values())) if complete else None,
        )

    def prune(self, now: float | None = None) -> list[Path]:
        """Remove the records the retention rule no longer keeps (see
        :func:`keeps`), never one a running run holds; the paths removed. A
        pointer is removed, never the ``--journal`` file it names (the operator's)."""
        now = time.time() if now is None else now
        newest: dict[Origin, int] = {}
        removed: list[Path] = []
        for when, run, path in self._entries():
            origin = self._origin(run, path)
            # A record naming no origin is kept only while it is recent.
            rank = KEEP_RUNS if origin is None else newest.get(origin, 0)
            if origin is not None:
                newest[origin] = rank + 1
            if not keeps(now - when, rank) and _remove(path):
                removed.append(path)
        return removed

    def _origin(self, run: str, path: Path) -> Origin | None:
        try:
            found = self._header(run, path)
        except (OSError, ValueError, RecursionError):
            return None
        if found is None:
            return None
        found[0].close()
        return found[1]


def keeps(age: float, newer_runs: int) -> bool:
    """The retention rule: a record is kept while it is younger than 24 hours (what
    other runs on its key read), or while it is one of the newest :data:`KEEP_RUNS`
    runs of its venue, base URL and key (what a resume of a key's last runs needs,
    however long ago they were); ``newer_runs``: the records of that key newer than it."""
    return age <= RECENT or newer_runs < KEEP_RUNS


@attrs.frozen
class RunRecord:
    """One record of the state directory as ``cancelkit runs`` shows it."""

    run: str
    path: Path
    modified: float  # time.time() of its last write
    running: bool  # a run holds it now
    origin: Origin | None = None  # None: unreadable, or not a record of ours
    started: str | None = None
    orders: int | None = None  # the orders its plan names
    counts: dict[str, int] | None = None  # orders by their latest status; None: too large

    def as_dict(self) -> dict[str, Any]:
        """The record as ``cancelkit runs --json`` writes it."""
        return {
            "run": self.run,
            "path": str(self.path),
            "venue": None if self.origin is None else self.origin.venue,
            "base_url": None if self.origin is None else self.origin.base_url,
            "key": None if self.origin is None else self.origin.key,
            "started": self.started,
            "modified": utc_stamp(self.modified),
            "running": self.running,
            "orders": self.orders,
            "counts": self.counts,
        }


def hold(sink: IO[bytes]) -> None:
    """Mark a record as a running run's: an exclusive ``flock`` kept until the file
    is closed (or the process ends, however it ends); a prune leaves it alone."""
    fcntl.flock(sink.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def held(path: Path) -> bool:
    """Whether a running run holds the record at ``path``."""
    try:
        with _open_record(path) as record:
            return not _lock(record)
    except OSError:
        return False


def _lock(record: IO[bytes]) -> bool:
    try:
        fcntl.flock(record.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _remove(path: Path) -> bool:
    """Remove a record no run holds: locked first, so that a run holding it is seen."""
    try:
        with _open_record(path) as record:
            if not _lock(record):
                return False
            os.unlink(path)
    except OSError as exc:
        logger.debug("could not prune %s: %s", path.name, exc)
        return False
    return True


def _status_line(
    line: bytes, run: str, started: Any, wanted: set[str], sent: dict[str, str]
) -> None:
    """One ``sent`` line (the order was listed open for this key when it left), or an
    outcome that says the cancel did not take (that ``sent`` is no evidence)."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return
    if not isinstance(record, Mapping) or record.get("run") != run:
        return
    order, status = record.get("order"), record.get("status")
    if not isinstance(order, str) or order not in wanted:
        return
    if status in _NO_EVIDENCE:
        sent.pop(order, None)
    elif status == SENT:
        at = record.get("at", started)
        ok = isinstance(at, str) and len(at) <= 40 and at.isprintable()
        sent[order] = at if ok else ""


def _latest(line: bytes, run: str, latest: dict[str, str]) -> None:
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return
    if not isinstance(record, Mapping) or record.get("run") != run:
        return
    order, status = record.get("order"), record.get("status")
    if record.get("cancel_all") is True and status == SENT:
        return  # a cancel-all's own sent line: no order (its outcome, if written, counts)
    if isinstance(order, str) and isinstance(status, str) and status in _STATUSES:
        latest[order] = status


def _open_record(path: Path) -> IO[bytes]:
    """``path`` for reading, safely: a regular file only, never through a symbolic
    link, never blocking on a FIFO."""
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(f"{path} is a symbolic link") from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
    except OSError:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")

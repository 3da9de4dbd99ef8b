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
makes one ``cancelled``.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import stat
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import attrs

from ._journal import RUN_KEY, SENT, Origin

logger = logging.getLogger("cancelkit")

STATE_ENV = "CANCELKIT_STATE_DIR"
RECENT = 24 * 3600.0  # seconds: older records are not read
MAX_RECORDS = 32  # the newest records read, at most
MAX_ENTRIES = 10_000  # directory entries looked at, at most
MAX_BYTES = 64 * 2**20  # bytes read from one record
MAX_TOTAL = 256 * 2**20  # bytes read from all records of one lookup
MAX_LINE = 64 * 2**10  # a longer line is no record of ours
POINTER_BYTES = 4096
POINTER_KEY = "cancelkit_pointer"
_NAME = re.compile(r"run-(\d{8}T\d{6}Z)-([0-9a-f]{16})\.(jsonl|ref)")
# How Journal.sent writes the status (json.dumps' default separators): a line
# without it is not parsed (a record written otherwise is only missed, never misread).
_SENT_MARK = b'"status": "sent"'


class RegistryError(Exception):
    """The state directory cannot be used safely (the message says why)."""


def state_dir() -> Path:
    """``$CANCELKIT_STATE_DIR``, else ``$XDG_STATE_HOME/cancelkit``, else
    ``~/.local/state/cancelkit``."""
    given = os.environ.get(STATE_ENV)
    if given:
        return Path(given)
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "state"
    return base / "cancelkit"


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
        is a symbolic link, not a directory, another user's, or writable by others."""
        path = state_dir()
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            info = os.lstat(path)
        except OSError as exc:
            raise RegistryError(f"state directory {path}: {exc.strerror}") from None
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
            raise RegistryError(f"state directory {path} is not a directory")
        if info.st_uid != os.getuid():
            raise RegistryError(f"state directory {path} belongs to another user")
        if info.st_mode & 0o022:
            raise RegistryError(f"state directory {path} is writable by others")
        return cls(path)

    def journal_path(self, run: str, started: float) -> Path:
        """Where a run without ``--journal`` keeps its journal."""
        return self.path / f"run-{utc_stamp(started)}-{run}.jsonl"

    def point(self, run: str, started: float, journal: str, origin: Origin) -> None:
        """Leave a pointer to a ``--journal`` file kept elsewhere."""
        where = self.path / f"run-{utc_stamp(started)}-{run}.ref"
        data = json.dumps(
            {POINTER_KEY: run, "journal": os.path.abspath(journal), **origin.as_dict()}
        ).encode("utf-8")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(where, flags, 0o600)
        except OSError as exc:
            raise RegistryError(f"cannot write {where}: {exc.strerror}") from None
        with os.fdopen(fd, "wb") as sink:
            sink.write(data + b"\n")

    def sent_elsewhere(
        self, origin: Origin, own_run: str, orders: Iterable[str], now: float | None = None
    ) -> dict[str, str]:
        """For each of ``orders`` that another recent run on ``origin`` (same venue,
        base URL and key) journaled as sent: a message naming that run and when.
        Never raises: an unreadable or malformed record is skipped."""
        wanted = set(orders)
        found: dict[str, str] = {}
        if not wanted:
            return found
        now = time.time() if now is None else now
        budget = [MAX_TOTAL]
        for run, path in self._recent(own_run, now):
            try:
                self._read(run, path, origin, wanted, found, budget)
            except (OSError, ValueError, RecursionError) as exc:
                logger.debug("skipped the record %s: %s", path.name, exc)
            if budget[0] <= 0 or not wanted:
                break
        return found

    def _recent(self, own_run: str, now: float) -> list[tuple[str, Path]]:
        """The newest records (run id, path) of other runs, newest first."""
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
                    if stat.S_ISREG(info.st_mode) and now - RECENT <= info.st_mtime:
                        entries.append((info.st_mtime, match.group(2), Path(entry.path)))
        except OSError as exc:
            logger.debug("cannot read the state directory %s: %s", self.path, exc)
        entries.sort(reverse=True)
        return [(run, path) for _, run, path in entries[:MAX_RECORDS]]

    def _read(
        self,
        run: str,
        path: Path,
        origin: Origin,
        wanted: set[str],
        found: dict[str, str],
        budget: list[int],
    ) -> None:
        if path.suffix == ".ref":
            with _open_record(path) as pointer:
                record = json.loads(pointer.read(POINTER_BYTES))
            if not isinstance(record, dict) or record.get(POINTER_KEY) != run:
                return
            if Origin.of(record) != origin or not isinstance(record.get("journal"), str):
                return
            path = Path(record["journal"])
        with _open_record(path) as journal:
            header = json.loads(journal.readline(MAX_LINE))
            if not isinstance(header, dict) or header.get(RUN_KEY) != run:
                return
            if Origin.of(header) != origin:
                return
            started = header.get("started")
            read = 0
            while read < MAX_BYTES and budget[0] > 0:
                line = journal.readline(MAX_LINE)
                if not line:
                    break
                read += len(line)
                budget[0] -= len(line)
                if _SENT_MARK not in line:
                    continue
                _sent_line(line, run, started, wanted, found)


def _sent_line(
    line: bytes, run: str, started: Any, wanted: set[str], found: dict[str, str]
) -> None:
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return
    if not isinstance(record, Mapping) or record.get("run") != run:
        return
    order = record.get("order")
    if record.get("status") != SENT or not isinstance(order, str) or order not in wanted:
        return
    at = record.get("at", started)
    when = f" at {at}" if isinstance(at, str) and len(at) <= 40 and at.isprintable() else ""
    found[order] = f"not listed; cancel sent by run {run}{when}: cancelled or filled (not asked)"
    wanted.discard(order)


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

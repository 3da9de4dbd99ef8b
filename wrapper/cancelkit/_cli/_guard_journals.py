"""The armed guard's journals, made before it fires.

Creating a file in the state directory (open with ``O_CREAT``, the inode and the
directory entry) costs a few hundred microseconds; a firing that journals three
accounts paid that three times before its first request. So the guard creates each
account's next journal when it arms, empty, held (``flock``: no prune takes it) and
under a name no reader takes for a run's record (``.armed-<run>.jsonl``); a firing
renames it to the run's own name (``Registry.journal_path``, its start time in it)
and writes its header there, still before the first request (the write-ahead rule is
unchanged: only the file's creation moved). A spare that is gone when the guard fires
(removed by hand, its directory replaced) is simply not used: the run opens its
journal as any run does. Spares a killed guard left behind are removed when a guard
starts on the directory again (under its lock: no other guard uses them).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from pathlib import Path
from typing import IO

import attrs

from ._journal import JournalError, new_run_id, open_journal
from ._registry import hold

logger = logging.getLogger("cancelkit")

_SPARE = re.compile(r"\.armed-[0-9a-f]{16}\.jsonl")


@attrs.frozen
class Spare:
    """One account's next journal: its run id, where it waits, and the open file."""

    run: str
    path: Path
    sink: IO[bytes]

    def claim(self, path: Path) -> IO[bytes] | None:
        """The spare, renamed to ``path`` (the run's own name): the open, held file;
        None (and closed) if it is no longer where it was made."""
        try:
            os.rename(self.path, path)
        except OSError as exc:
            logger.debug("the spare journal %s is gone (%s): opening one", self.path.name, exc)
            self.discard()
            return None
        return self.sink

    def discard(self) -> None:
        """Close it and remove it (if it is still there)."""
        self.sink.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)


class Spares:
    """Each guarded account's spare journal in ``directory``."""

    def __init__(self, directory: Path, names: list[str]) -> None:
        self.directory = directory
        self.names = names
        self._spares: dict[str, Spare] = {}

    def prepare(self) -> None:
        """A spare for every account that has none (a failure is no spare: the
        firing then opens its journal itself)."""
        for name in self.names:
            if name in self._spares:
                continue
            run = new_run_id()
            path = self.directory / f".armed-{run}.jsonl"
            try:
                sink = open_journal(str(path))
            except JournalError as exc:
                logger.debug("no spare journal for %s: %s", name, exc)
                continue
            with contextlib.suppress(OSError):  # a filesystem without locks
                hold(sink)
            self._spares[name] = Spare(run, path, sink)

    def take(self) -> dict[str, Spare]:
        """Every spare, for one firing (the guard prepares new ones after it)."""
        taken, self._spares = self._spares, {}
        return taken

    def discard(self) -> None:
        """The guard stops: its spares go."""
        for spare in self.take().values():
            spare.discard()


def sweep(directory: Path) -> None:
    """Remove the spares a guard killed before it could remove them (called by a
    guard holding the directory's lock)."""
    try:
        names = [n for n in os.listdir(directory) if _SPARE.fullmatch(n)]
    except OSError:
        return
    for name in names:
        with contextlib.suppress(OSError):
            os.unlink(directory / name)

"""``guard-markets.json`` in the state directory: the markets each account's order
stream showed the guard, kept across its restarts.

Where a venue lists per market, what an account covers is the markets it names and
those its stream showed (``AsyncDesk.learn``). A stream has no replay: a guard
started again (after a stop, a crash, a ``kill -9`` in the middle of a firing)
would not know the markets it had seen until something happened in them again,
and the firing it finishes at start would not cover them. So each market learned
is written here (its own mode 0600 file, replaced whole), and read back at start,
before that firing. A file another user owns or could write is not read (the
guard says so); one that does not parse is ignored with a warning: it can only add
markets to what a kill covers, never take one away.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ._ownership import file_problem
from ._registry import _open_record

if TYPE_CHECKING:
    from .._desk import AsyncDesk
    from ._guard_desk import Upkeep

logger = logging.getLogger("cancelkit")

NAME = "guard-markets.json"
MAX_BYTES = 4 * 2**20  # bytes read back at most (1,000 markets per account fit)


class LearnedMarkets:
    """The file, for one state directory."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / NAME

    def read(self) -> dict[str, list[str]]:
        """Account name -> markets, as last written; {} when there is none, or it
        cannot be trusted or read (each said in the log)."""
        try:
            record = _open_record(self.path)  # no link followed, no FIFO waited on
        except FileNotFoundError:
            return {}
        except OSError as exc:
            logger.warning("%s not read: %s", self.path, exc.strerror or exc)
            return {}
        with record:
            problem = file_problem(os.fstat(record.fileno()))
            if problem is not None:
                logger.warning("%s not read: it %s", self.path, problem)
                return {}
            data = record.read(MAX_BYTES + 1)
        try:
            found = json.loads(data) if len(data) <= MAX_BYTES else None
        except (ValueError, RecursionError):
            found = None
        accounts = found.get("accounts") if isinstance(found, dict) else None
        if not isinstance(accounts, dict):
            logger.warning("%s not read: not a record of learned markets", self.path)
            return {}
        from .._desk import MAX_LEARNED  # the guard's desk has it loaded already

        kept: dict[str, list[str]] = {}
        for name, markets in accounts.items():
            if not isinstance(name, str) or not isinstance(markets, list):
                continue
            # No account learns more (AsyncDesk.learn): a file naming a million
            # markets costs no more at start than one naming the bound.
            kept[name] = [m for m in markets[:MAX_LEARNED] if isinstance(m, str)]
            if len(markets) > MAX_LEARNED:
                logger.warning(
                    "%s: account %r names %d markets; the first %d read",
                    self.path,
                    name[:80],
                    len(markets),
                    MAX_LEARNED,
                )
        return kept

    def write(self, learned: dict[str, tuple[str, ...]]) -> None:
        """Replace the file with ``learned`` (written beside it, then renamed: a
        guard killed meanwhile leaves the old file whole)."""
        data = json.dumps({"version": 1, "accounts": learned}).encode() + b"\n"
        temporary = self.path.with_name(f".{NAME}.{os.getpid()}")
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(temporary, flags, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            os.replace(temporary, self.path)
        except OSError as exc:  # the markets stay learned in memory; said once here
            logger.warning("%s not written: %s", self.path, exc.strerror or exc)


def remember(desk: AsyncDesk, upkeep: Upkeep, directory: Path) -> Callable[[], None]:
    """Learn again the markets the file keeps (each checked by its venue's hook, as a
    stream's), and have ``upkeep`` write the file whenever it learns another; the
    function to call as the guard stops (the last markets learned written)."""
    record = LearnedMarkets(directory)
    names = {a.name for a in desk.accounts}
    for name, markets in record.read().items():
        if name in names:
            for market in markets:
                desk.learn(name, market)
    return _Keeper(desk, record).install(upkeep)


class _Keeper:
    """Writes the file as markets are learned: off the event loop (a write and a
    rename, on the thread pool), one write at a time, and a burst of markets learned
    meanwhile in the one write after it (the loop may be firing)."""

    def __init__(self, desk: AsyncDesk, record: LearnedMarkets) -> None:
        self.desk, self.record = desk, record
        self.dirty = False
        self.writing: asyncio.Future[None] | None = None
        # One writer of the file at a time: the stop's write waits for one under way
        # on the pool (both go through the same temporary file).
        self._one_writer = threading.Lock()

    def install(self, upkeep: Upkeep) -> Callable[[], None]:
        upkeep.on_learned = self.learned
        return self.flush

    def _snapshot(self) -> dict[str, tuple[str, ...]]:
        learned = {a.name: self.desk.learned(a.name) for a in self.desk.accounts}
        return {name: markets for name, markets in learned.items() if markets}

    def learned(self) -> None:
        self.dirty = True
        if self.writing is None or self.writing.done():
            self.writing = asyncio.ensure_future(self._write())

    async def _write(self) -> None:
        while self.dirty:
            self.dirty = False
            await asyncio.to_thread(self._write_now, self._snapshot())

    def _write_now(self, learned: dict[str, tuple[str, ...]]) -> None:
        with self._one_writer:
            self.record.write(learned)

    def flush(self) -> None:
        """At stop: what was learned since the last write, written now (after a write
        under way on the pool, if there is one)."""
        if self.dirty:
            self.dirty = False
            self._write_now(self._snapshot())

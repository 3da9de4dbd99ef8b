"""``cancel --everywhere`` split across processes, so that the accounts' work runs
on every core.

One interpreter runs one account's work at a time: each order's stream event,
outcome line and journal line of every account took turns in it, and a desk's run
lasted about the sum of its accounts' (issue 33: 1.19 x the slowest account alone).
Here the command's process (the parent) loads the shared code, opens the state
directory and forks one process per venue; each loads its venue's code once
(``DeskHook.PRELOAD``) and forks one more per further part of that venue's accounts
(a part: one account, or several when a desk has more accounts than
:data:`MAX_PARTS`). Each part runs ``_everywhere``'s run on its accounts, as one
process would: its own desk, deadline (the command's, counted from its start),
journals and report lines.

- **Output.** A part's stdout and stderr are pipes; the parent alone writes the
  command's, relaying each line whole as it comes (one stream, lines never mixed).
  A part's exit status comes back on a third pipe; a part that ends without one
  (killed, crashed) is reported so, with its accounts named, and fails the run.
- **Signals.** The parts are in a process group of their own, out of the
  terminal's reach: the parent takes the run's signals. It says the first one's
  line once and passes it on as SIGUSR2 (its name in a shared page), which each
  part takes as its own first, quietly, and never as a second: a part that gets the
  same SIGTERM directly too (systemd stops a unit's whole control group) still
  finishes with every outcome written. A second signal to the parent ends every
  part at once, as a second signal ends a run in one process.
- **Bounds.** The parent waits for the parts until the deadline plus the grace and
  a margin at most; a part still running then is killed and reported unanswered.
  A parent that dies leaves its parts running to their end: a kill switch is not
  stopped by its reporter's death (the journals keep every outcome).

Used where ``fork`` is safe: Linux, one thread, more than one account. Elsewhere
the run stays in one process.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import logging
import mmap
import os
import selectors
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType
from typing import IO, TYPE_CHECKING

from ._first import Guard, say_from_handler

if TYPE_CHECKING:
    from .._accounts import Account

logger = logging.getLogger("cancelkit")

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
MAX_PARTS = 32
"""Processes a run is split into at most (a desk of more accounts runs several of
a venue's accounts in one part)."""
SLACK = 5.0
"""Seconds the parent waits for its parts past the deadline and the grace, at most."""
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_FORWARDED = signal.SIGUSR2
_HELD = {*_SIGNALS, _FORWARDED}
# The parent's relay reads at most this much of a pipe at a time.
_CHUNK = 1 << 16
# What a part tells on its status pipe: that it has said what each of its accounts'
# runs covers (or that one cannot be used), then its exit status (one byte after
# _STATUS). Or, from its venue's process, that it could not be forked (why follows).
_ANNOUNCED = b"A"
_STATUS = b"S"
_UNSTARTED = b"\xff\x00"

Run = Callable[["Sequence[Account]", Guard, Callable[[], str], bool, Callable[[], None]], int]
"""A part's run: its accounts, its early signals' keeper, the parent's signal's
name (for SIGUSR2), whether it is the part that prunes the state directory, and
what it calls once it has said what its accounts' runs cover; its exit status."""


class Unsplit(Exception):
    """The run could not be split, and nothing of it was started (no descriptors
    left for the parts' pipes: a low open-files limit): run it in one process."""


def usable(accounts: Sequence[Account]) -> bool:
    """Whether the run can be split: more than one account, on Linux (fork safe
    there: no framework that a fork breaks), with one thread (a fork copies the
    others' locks as they are), and with a stdout and a stderr: one closed
    (``>&-``: Python's None) has nothing for the parent to relay to, and the run in
    one process cancels all the same."""
    return (
        len(accounts) > 1
        and sys.stdout is not None
        and sys.stderr is not None
        and sys.platform == "linux"
        and hasattr(os, "fork")
        and threading.active_count() == 1
    )


def parts_of(accounts: Sequence[Account], limit: int = MAX_PARTS) -> list[list[Account]]:
    """The accounts in parts, venue by venue in the order first named: one account
    each, or, past ``limit`` accounts, each venue's shared round-robin among its
    share of ``limit`` parts (one at least)."""
    venues: dict[str, list[Account]] = {}
    for account in accounts:
        venues.setdefault(account.venue, []).append(account)
    total = len(accounts)
    counts = {
        venue: len(members) if total <= limit else max(1, limit * len(members) // total)
        for venue, members in venues.items()
    }
    # A small venue's one part is over its share: taken from the largest, so that
    # the run is ``limit`` parts at most.
    while sum(counts.values()) > limit and max(counts.values()) > 1:
        counts[max(counts, key=lambda venue: counts[venue])] -= 1
    parts: list[list[Account]] = []
    for venue, members in venues.items():
        count = counts[venue]
        shares: list[list[Account]] = [[] for _ in range(count)]
        for i, account in enumerate(members):
            shares[i % count].append(account)
        parts += shares
    return parts


class _Early(Guard):
    """A part's signals until its run's receiver takes them over: a direct one is
    kept (a second exits at once), as before any run's loop; the parent's passed on
    (SIGUSR2) is kept as :attr:`forwarded`, never a second."""

    def install(self) -> None:
        super().install()
        self._before[_FORWARDED] = signal.signal(_FORWARDED, self._on_forwarded)

    def _on_forwarded(self, number: int, frame: FrameType | None) -> None:
        self.forwarded = True


class _Pipe(io.FileIO):
    """A part's end of a pipe to the parent, written whole: a write to a full pipe
    that a signal interrupts (the parent's, passed on) comes back short, and the
    text layer above drops the rest of the line. A parent that died leaves it
    without a reader: what is written then is dropped, not raised (the run goes on
    to its end; its journals keep every outcome)."""

    def write(self, data: bytes) -> int:  # type: ignore[override]
        view = memoryview(data).cast("B")
        size = view.nbytes
        try:
            while view:
                view = view[super().write(view) or 0 :]
        except BrokenPipeError:
            pass
        return size


class _Part:
    """One part's accounts and its three pipes (read ends the parent's, write ends
    the part's)."""

    def __init__(self, accounts: list[Account]) -> None:
        self.accounts = accounts
        pipes: list[tuple[int, int]] = []
        try:
            for _ in range(3):
                pipes.append(os.pipe2(os.O_CLOEXEC))
        except OSError:
            for pipe in pipes:
                os.close(pipe[0])
                os.close(pipe[1])
            raise
        self.out, self.err, self.status = pipes
        self.code: int | None = None  # its exit status, once told
        self.told = b""  # its status pipe's bytes not read as a message yet
        self.announced = False  # it said what its accounts' runs cover (or it ended)
        self.unstarted: str | None = None  # why its process could not be started

    @property
    def names(self) -> str:
        return ", ".join(a.name for a in self.accounts)

    def readers(self) -> tuple[int, int, int]:
        return self.out[0], self.err[0], self.status[0]

    def writers(self) -> tuple[int, int, int]:
        return self.out[1], self.err[1], self.status[1]


def run_split(
    parts: Sequence[Sequence[Account]],
    run: Run,
    *,
    preload: Callable[[str], None],
    ends_at: float,
    grace: float,
    as_json: bool,
) -> int:
    """Run each of ``parts`` in a process of its own (see the module's text) and
    return the run's exit status over all of them: 130 if interrupted, else 0 only
    when every part said 0, else 1."""
    made: list[_Part] = []
    try:
        shared = mmap.mmap(-1, 1)  # the parent's signal's number, for its parts to name
        for accounts in parts:
            made.append(_Part(list(accounts)))
    except OSError as exc:  # nothing started yet: the run goes on in one process
        for part in made:
            for fd in (*part.readers(), *part.writers()):
                os.close(fd)
        raise Unsplit(exc.strerror or str(exc)) from None
    venues: dict[str, list[_Part]] = {}
    for part in made:
        venues.setdefault(part.accounts[0].venue, []).append(part)
    out_stream, err_stream = sys.stdout, sys.stderr
    out_stream.flush()  # nothing buffered is written again by a child
    err_stream.flush()
    parent = _Parent(shared, grace, err_stream)
    # What is loaded so far is every part's: out of the collector's sight, so that no
    # part's collection writes to (and so copies) the pages it shares with the others.
    gc.freeze()
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)  # until each side has its own
    children: list[int] = []
    try:
        for venue, members in venues.items():
            try:
                pid = os.fork()
            except OSError as exc:  # the venue's parts never start: said, and a failure
                for part in members:
                    part.unstarted = exc.strerror or str(exc)
                continue
            if pid == 0:  # pragma: no cover - a forked child; never returns
                _venue(venue, members, made, parent.group, run, preload, shared, held)
            parent.group = parent.group or pid
            with contextlib.suppress(OSError):  # the child sets it too: whichever is first
                os.setpgid(pid, parent.group)
            children.append(pid)
        for part in made:
            for fd in part.writers():
                os.close(fd)
        parent.install()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
    try:
        lost = _relay(made, out_stream, err_stream, ends_at + grace + SLACK, parent.group)
    finally:
        parent.restore()
        _reap(children, time.monotonic() + SLACK, parent.group)
    for part in made:
        if part.code is None:
            _orphaned(part, err_stream, out_stream if as_json and lost is None else None)
    if lost is not None:
        _say(
            err_stream,
            f"cancelkit: cannot write to stdout ({lost}): outcomes went to the journals only",
        )
    codes = [part.code for part in made]
    if parent.name is not None or EXIT_INTERRUPTED in codes:
        return EXIT_INTERRUPTED
    return 0 if lost is None and all(code == 0 for code in codes) else EXIT_FAILED


def _venue(
    venue: str,
    members: list[_Part],
    made: list[_Part],
    group: int,
    run: Run,
    preload: Callable[[str], None],
    shared: mmap.mmap,
    held: set[int | signal.Signals],
) -> None:  # pragma: no cover - runs in a forked child (tests run it through processes)
    """A venue's process: its code loaded once, a process forked for each part but
    its first, which it runs itself; ends when they all have."""
    code = EXIT_FAILED
    try:
        with contextlib.suppress(OSError):
            os.setpgid(0, group)
        for part in made:
            for fd in part.readers():
                os.close(fd)
            if part not in members:
                for fd in part.writers():
                    os.close(fd)
        early = _Early()
        early.install()
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        try:
            preload(venue)
        except Exception:  # the part's run meets the same problem, and reports it
            logger.debug("could not load %s's code beforehand", venue, exc_info=True)
        others: list[int] = []
        for i, part in enumerate(members[1:], 1):
            try:
                pid = os.fork()
            except OSError as exc:  # said on its own pipe; the parent reports it
                part.unstarted = exc.strerror or str(exc)
                _unstarted(part)
                continue
            if pid == 0:
                # Open here: the first part's writers and those not forked yet.
                rest = [members[0], *members[i + 1 :]]
                _part(
                    part,
                    [fd for other in rest for fd in other.writers()],
                    early,
                    run,
                    shared,
                    False,
                )
            others.append(pid)
            for fd in part.writers():
                os.close(fd)
        prunes = venue == made[0].accounts[0].venue  # one part prunes the state directory
        _part(members[0], [], early, run, shared, prunes, exit=False)
        for pid in others:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        code = 0
    finally:
        os._exit(code)


def _part(
    part: _Part,
    close: list[int],
    early: _Early,
    run: Run,
    shared: mmap.mmap,
    prunes: bool,
    *,
    exit: bool = True,
) -> None:  # pragma: no cover - runs in a forked child (tests run it through processes)
    """One part's run, its stdout and stderr on its pipes, its status on the third
    (``close``: the other parts' pipes still open here). A run that raised tells
    no status: the parent reports its accounts unconfirmed, as a part killed."""
    code = EXIT_FAILED
    told = False
    try:
        # The parent's signal passed on may have reached the venue's process as it
        # forked this one (pending there, its handler not run yet): a child starts
        # with no pending signal. The page is set before the signal is sent, so a
        # signal passed on is seen here or comes here.
        if shared[0]:
            early.forwarded = True
        for fd in close:
            os.close(fd)
        _name(part)
        encoding = (sys.stdout.encoding or "utf-8", sys.stderr.encoding or "utf-8")
        os.dup2(part.out[1], 1)
        os.dup2(part.err[1], 2)
        os.close(part.out[1])
        os.close(part.err[1])
        sys.stdout = _text(1, encoding[0], "strict")
        sys.stderr = _text(2, encoding[1], "backslashreplace")

        def forwarded() -> str:
            number = shared[0]
            return signal.Signals(number).name if number else "a signal"

        def announced() -> None:
            sys.stderr.flush()  # its lines before the word that they are said
            with contextlib.suppress(OSError):
                _write_all(part.status[1], _ANNOUNCED)

        code = run(part.accounts, early, forwarded, prunes, announced)
        told = True
    except BaseException:
        import traceback

        with contextlib.suppress(Exception):
            traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        with contextlib.suppress(OSError):
            if told:
                _write_all(part.status[1], _STATUS + bytes([code & 0xFF]))
            os.close(part.status[1])
        if exit:
            os._exit(code)


def _name(part: _Part) -> None:  # pragma: no cover - in a part's process
    """The process named after its (first) account, as ``ps`` and ``top`` show it."""
    with contextlib.suppress(OSError), open("/proc/self/comm", "w") as comm:
        comm.write(f"ck:{part.accounts[0].name}"[:15])


def _unstarted(part: _Part) -> None:  # pragma: no cover - in a venue's process
    """A part whose process could not be started: told on its status pipe (the
    parent reports it, as one it could not start itself)."""
    with contextlib.suppress(OSError):
        os.write(part.status[1], _UNSTARTED + (part.unstarted or "").encode())
    for fd in part.writers():
        with contextlib.suppress(OSError):
            os.close(fd)


def _text(fd: int, encoding: str, errors: str) -> IO[str]:
    return io.TextIOWrapper(
        _Pipe(fd, "w", closefd=False), encoding=encoding, errors=errors, line_buffering=True
    )


class _Parent:
    """The parent's signals: the first is said once and passed on (SIGUSR2, its
    number in the shared page); a second ends every part at once."""

    def __init__(self, shared: mmap.mmap, grace: float, err: IO[str]) -> None:
        self.group = 0  # the parts' process group: the first venue process's id
        self.shared, self.grace, self.err = shared, grace, err
        self.name: str | None = None
        self._before: dict[int, object] = {}

    def install(self) -> None:
        for number in _SIGNALS:
            self._before[number] = signal.signal(number, self._on_signal)

    def restore(self) -> None:
        for number, handler in self._before.items():
            if handler is not None:
                signal.signal(number, handler)  # type: ignore[arg-type]

    def _on_signal(self, number: int, frame: FrameType | None) -> None:
        if self.name is not None:
            _kill(self.group, signal.SIGKILL)
            self._tell("cancelkit: interrupted again: exiting at once")
            os._exit(EXIT_INTERRUPTED)
        self.name = signal.Signals(number).name
        self.shared[0] = number
        _kill(self.group, _FORWARDED)
        self._tell(
            f"cancelkit: {self.name}: sending nothing new; {self.grace:g} s for requests in"
            " flight and one listing to confirm what was sent"
        )

    def _tell(self, text: str) -> None:
        # On stderr's descriptor: the relay may be inside a write of that stream's
        # buffer (a stderr nobody reads for a while); a write through it would end it.
        say_from_handler(self.err, text)


def _relay(made: list[_Part], out: IO[str], err: IO[str], until: float, group: int) -> str | None:
    """Each part's lines to the command's stdout and stderr as they come, and its
    status, until every pipe is closed (or ``until``: the parts left are killed);
    why stdout could not be written, if it could not.

    As in one process, every account's line saying what its run covers (or that it
    cannot be used) comes before any report: a part's stderr lines after its own
    such lines wait until every part has said its own (or ended)."""
    lost: str | None = None
    pending: dict[int, bytes] = {}
    pieces: set[int] = set()  # a long line's first pieces passed on, not its end yet
    held: list[bytes] = []  # stderr lines of parts that have said theirs, waiting
    chosen = selectors.DefaultSelector()

    def release() -> None:
        if held and all(p.announced for p in made):
            _write(err, b"".join(held))
            held.clear()

    def closed(fd: int) -> None:
        chosen.unregister(fd)
        os.close(fd)

    def take(part: _Part, stream: IO[str], fd: int, data: bytes) -> None:
        nonlocal lost
        if not data:
            closed(fd)
            data, pending[fd] = pending.pop(fd, b""), b""
            if stream is out and (data or fd in pieces):
                # Its process ended mid-line: half a record is none (the pieces of
                # a long one passed on already are ended).
                _say(
                    err,
                    f"cancelkit: {part.names}: a line cut short by its process's end,"
                    " not passed on",
                )
                data = b"\n" if fd in pieces else b""
            elif data:
                data += b"\n"
            if not data:
                return
        else:
            data = pending.pop(fd, b"") + data
            cut = data.rfind(b"\n") + 1
            if cut or len(data) > _CHUNK:  # a line longer than that goes in pieces
                cut = cut or len(data)
            data, pending[fd] = data[:cut], data[cut:]
            if not data:
                return
            if data.endswith(b"\n"):
                pieces.discard(fd)
            else:
                pieces.add(fd)
        if stream is out:
            if lost is None:
                lost = _write(stream, data)
        elif part.announced and not all(p.announced for p in made):
            held.append(data)
        else:
            _write(stream, data)

    def drain(part: _Part) -> None:
        """What its stderr pipe holds now: its lines said before its word came."""
        fd = part.err[0]
        while fd in chosen.get_map():
            try:
                data = os.read(fd, _CHUNK)
            except BlockingIOError:
                return
            take(part, err, fd, data)
            if not data:
                return

    def told(part: _Part, fd: int, data: bytes) -> None:
        if not data:
            closed(fd)
            part.announced = True  # ended: nothing more of it to wait for
            release()
            return
        part.told += data
        while part.told:
            if part.told.startswith(_UNSTARTED):  # its venue's process could not fork it
                part.unstarted = part.told[len(_UNSTARTED) :].decode(errors="replace")
                part.told = b""
            elif part.told.startswith(_ANNOUNCED):
                part.told = part.told[1:]
                drain(part)
                part.announced = True
                release()
            elif part.told.startswith(_STATUS):
                if len(part.told) < 2:
                    return  # its byte is still on its way
                part.code, part.told = part.told[1], part.told[2:]
            else:
                part.told = part.told[1:]

    with chosen:
        for part in made:
            os.set_blocking(part.err[0], False)  # drained at its word (drain)
            chosen.register(part.out[0], selectors.EVENT_READ, (part, out))
            chosen.register(part.err[0], selectors.EVENT_READ, (part, err))
            chosen.register(part.status[0], selectors.EVENT_READ, (part, None))
        killed = False
        while chosen.get_map():
            left = until - time.monotonic()
            if left <= 0 and not killed:
                killed = True  # bounded: what is still running is reported unanswered
                _kill(group, signal.SIGKILL)
            for key, _ in chosen.select(max(left, 0.05) if not killed else 1.0):
                part, stream = key.data
                if key.fd not in chosen.get_map():
                    continue  # closed while an earlier event of this round was taken
                try:
                    data = os.read(key.fd, _CHUNK)
                except BlockingIOError:
                    continue
                if stream is None:
                    told(part, key.fd, data)
                else:
                    take(part, stream, key.fd, data)
        for part in made:
            part.announced = True
        release()
    return lost


def _write_all(fd: int, data: bytes) -> None:
    """``data`` on ``fd``, whole (a pipe may take part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _kill(group: int, number: int) -> None:
    """Signal the parts' process group (none yet, 0: nothing; never the command's own)."""
    if group > 0:
        with contextlib.suppress(OSError):
            os.killpg(group, number)


def _write(stream: IO[str], data: bytes) -> str | None:
    """``data`` (whole lines) on ``stream``, as bytes where it has a buffer; why not."""
    try:
        buffer = getattr(stream, "buffer", None)
        if buffer is not None:
            stream.flush()
            buffer.write(data)
            buffer.flush()
        else:
            stream.write(data.decode(getattr(stream, "encoding", None) or "utf-8", "replace"))
            stream.flush()
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _reap(children: list[int], until: float, group: int) -> None:
    """Wait for the venues' processes (each ends once its parts have), at most
    until ``until``; then they are killed."""
    for pid in children:
        while True:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                break
            if done:
                break
            if time.monotonic() >= until:
                _kill(group, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)
                break
            time.sleep(0.01)


def _orphaned(part: _Part, err: IO[str], out: IO[str] | None) -> None:
    """A part that ended without its status: said, and with --json one summary
    record per account saying so."""
    why = (
        f"not run: its process could not be started ({part.unstarted})"
        if part.unstarted is not None
        else "its process ended without a report (killed, or it crashed)"
    )
    for account in part.accounts:
        _say(
            err,
            f"cancelkit: {account.name}: {why}; left: unknown; what it did is in its"
            " journal (cancelkit runs) (not confirmed empty)",
        )
        if out is not None:
            record = {
                "account": account.name,
                "run": None,  # its own, in its journal's header, if it got that far
                "venue": account.venue,
                "key": account.key_id,
                "summary": True,
                "ok": False,
                "counts": {},
                "left": None,
                "covered": None,
                "error": {"type": "Lost", "message": why},
            }
            _write(out, (json.dumps(record) + "\n").encode())


def _say(err: IO[str], text: str) -> None:
    with contextlib.suppress(OSError):
        err.write(text + "\n")
        err.flush()

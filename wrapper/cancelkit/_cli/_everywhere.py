"""``cancelkit cancel --everywhere``: every open order of every account of the desk.

:func:`run_everywhere` is the run itself, on a desk already open (the command opens
one per process; a guard keeps one warm): each account's run is journaled in the
state directory as ``cancel <venue>`` journals its own (``cancelkit runs`` lists
them: its header is written before the first request and fsynced beside the run
once the first requests have left), every outcome is written as it is known with its
account, and one report per account ends it: counts by outcome, what is left, the
markets covered.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import suppress
from typing import IO, TYPE_CHECKING, Any, TextIO

import anyio
import click

from .._bulk import OUTCOMES, CancelResult, Control, StopReason
from ._cancel import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    _open_journal,
    _Pruning,
    _registry,
    _say,
    _warn,
    as_json,
    as_line,
)
from ._journal import Journal, JournalError, Origin, new_run_id
from ._terminal import json_safe, library_log, printable

logger = logging.getLogger("cancelkit")

if TYPE_CHECKING:
    from .._accounts import Account
    from .._desk import AccountRun, AsyncDesk
    from ._first import Guard
    from ._guard_journals import Spare
    from ._registry import Registry


class _Book:
    """One account's part of the run: its origin, run id, journal and counts."""

    def __init__(
        self,
        account: Account,
        origin: Origin,
        out: TextIO,
        as_json_lines: bool,
        spare: Spare | None = None,
    ) -> None:
        self.account = account
        self.spare = spare  # its journal, created beforehand (an armed guard's)
        self.run = new_run_id() if spare is None else spare.run
        self.settle(origin)
        self.out = out
        self.as_json_lines = as_json_lines
        self.journal: Journal | None = None
        self.held: IO[bytes] | None = None
        self.lost: str | None = None  # why stdout could not be written
        self.written: set[int] = set()  # the results announced (id()) as they were known

    def open_journal(self, registry: Registry, cause: str, deadline: float) -> None:
        """The account's journal in the state directory, its header written (or a warning)."""
        from ._registry import hold

        where = registry.journal_path(self.run, time.time())
        path = str(where)
        # A spare is renamed to the run's own name: created and held already.
        sink = None if self.spare is None else self.spare.claim(where)
        if sink is None:
            try:
                sink = _open_journal(path)
            except JournalError as exc:
                _warn(f"{self.account.name}: no journal: {exc}")
                return
            # No prune takes a running run's record (a filesystem without locks: it may).
            with suppress(OSError):
                hold(sink)
        journal = Journal(sink, self.run, self.origin, name=path, warn=_warn)
        try:
            # Written before any request (the write-ahead rule); fsynced beside the
            # run once the first requests have left (_Housekeeping): nothing slow
            # comes before them.
            extra = {"account": self.account.name, "cause": cause}
            journal.plan([], deadline, extra, sync=False)
        except JournalError as exc:
            _warn(f"{self.account.name}: {exc}: this run keeps no journal")
            journal.close()
            return
        self.journal = journal

    def settle(self, origin: Origin) -> None:
        """The account's origin (again once its client was opened, or refused: said
        and reported from then on; the journal's header keeps the one it was opened
        with), and where each of its records says it is from."""
        self.origin = origin
        self.where = {"account": self.account.name, "run": self.run, **origin.as_dict()}

    def cancel_all_sent(self) -> None:
        """A cancel-all of the account's is about to leave: its own ``sent`` line, as a
        venue command journals one. Written before it leaves, fsynced beside the run
        (``_Housekeeping``) or at the close: no disk flush before a cancel."""
        if self.journal is not None:
            self.journal.cancel_all_sent(sync=False)

    def cancel_all_answered(self) -> None:
        """The account's cancel-all was answered: a line saying so (a resume then
        warns of it no more)."""
        if self.journal is not None:
            self.journal.cancel_all_answered()

    def write(self, result: CancelResult[Any]) -> None:
        self.written.add(id(result))
        record = as_json("-", result, str, **self.where)
        self.echo(record if self.as_json_lines else f"{self.account.name}: {as_line('-', result)}")
        if self.journal is not None:
            self.journal.outcome(record)

    def echo(self, text: str) -> None:
        if self.lost is not None:
            return
        try:
            self.out.write(text + "\n")
            self.out.flush()
        except OSError as exc:
            self.lost = exc.strerror or str(exc)
            _warn(f"cannot write to stdout ({self.lost}): outcomes go on to the journals only")

    def close(self) -> bool:
        """Close the journal; whether every outcome was written where it was asked to be."""
        failed = self.lost is not None
        if self.journal is not None:
            self.journal.close()
            failed = failed or self.journal.failed is not None
        return not failed


class _Housekeeping:
    """What a run does beside its cancels, in one thread: each journal header's
    fsync, then the state directory's prune; and before that thread, on the run's
    own, the lines that say what each account's run covers (``announce``). Started
    once every account that can send has sent its first request (or the first
    outcome is known, or the run ends): a thread started earlier would hold the
    interpreter, and a line written to stderr earlier would cost its time, while
    the other accounts' first requests are still being sent."""

    def __init__(
        self,
        books: dict[str, _Book],
        registry: Registry | None,
        waiting: set[str],
        beside: Callable[[], None] | None = None,
        announce: Callable[[], None] | None = None,
        prune: bool = True,
    ):
        self.books = books
        self.waiting = waiting  # accounts whose first request has not left yet
        self.beside = beside
        self.announce = announce
        self.pruning = _Pruning(registry, self._sync, prune) if registry is not None else None

    def _sync(self) -> None:
        if self.beside is not None:
            self.beside()
        for book in self.books.values():
            if book.journal is not None:
                book.journal.sync()

    def sent(self, name: str) -> None:
        """``name``'s first request is about to leave, or it will send none (its
        client could not be built)."""
        # Called as the request is about to leave: the thread starts once the step
        # that writes it has ended (its start hands the interpreter to the thread).
        if self.waiting:
            self.waiting.discard(name)
            if not self.waiting:
                try:
                    asyncio.get_running_loop().call_soon(self.start)
                except RuntimeError:  # not on an event loop: nothing to wait for
                    self.start()

    def wrote(self, book: _Book, result: CancelResult[Any]) -> None:
        self._announce()  # before the first outcome
        book.write(result)
        self.waiting.clear()
        self.start()

    def _announce(self) -> None:
        announce, self.announce = self.announce, None  # said once
        if announce is not None:
            announce()

    def start(self) -> None:
        self._announce()
        if self.pruning is not None:
            self.pruning.start()

    def finish(self, left: float) -> None:
        self._announce()
        if self.pruning is not None:
            self.pruning.finish(left)


def _origin(desk: AsyncDesk, account: Account) -> Origin:
    """Where the account's run sends: known before its client is opened (a desk for
    one run opens it in the account's task), and the open client's once it is."""
    from .._base import redacted

    url = desk.base_url(account.name)
    if url is not None:
        url = redacted(url)
    else:  # its client could not be built: the run reports why
        url = redacted(account.base_url) if account.base_url else "-"
    return Origin(account.venue, url, account.key_id or "-")


async def run_everywhere(
    desk: AsyncDesk,
    *,
    deadline: float,
    as_json: bool,
    cause: str,
    out: TextIO,
    accounts: Collection[str] | None = None,
    control: Control | None = None,
    registry: Registry | None = None,
    spares: Mapping[str, Spare] | None = None,
    beside: Callable[[], None] | None = None,
    opened: bool = False,
    prune: bool = True,
    said: float | None = None,
    on_announced: Callable[[], None] | None = None,
) -> int:
    """Cancel every open order of the desk's accounts (or of ``accounts``, by name)
    and report; the exit status by the ``cancel`` command's rules over all of them:
    0 only when every account's listing confirms nothing of ours is open, 130 when
    interrupted (``control`` stopped with ``StopReason.INTERRUPTED`` or aborted), 1
    otherwise. ``cause`` (``command``, ``signal``, ``trigger``, ``heartbeat``...) is
    written in each journal's header. ``registry``: the state directory, opened and
    checked already (a guard's, at its start); else it is opened here. ``spares``:
    accounts' journals created beforehand in it (an armed guard's), by account name.
    ``beside``: work for the thread that fsyncs the journal headers, done there first,
    once every account's first request has left (an armed guard's firing record).
    ``opened``: ``registry`` is the state directory as opened already, None if it
    could not be (a part of a run split across processes: said once, by the parent).
    ``prune``: whether this run prunes the state directory (one part of such a run).
    ``said``: the deadline its lines say, when not ``deadline`` (such a part's: the
    command's, of which ``deadline`` is what is left). ``on_announced``: called once
    the lines saying what each account's run covers (and which cannot be used) are
    said (such a part tells its parent, which holds its later lines until every part
    has said its own)."""
    chosen = desk.select(accounts)
    control = control or Control(deadline)
    if registry is None and not opened:
        registry = _registry()
    spares = spares or {}
    books = {a.name: _Book(a, _origin(desk, a), out, as_json, spares.get(a.name)) for a in chosen}
    unusable_said: set[str] = set()
    announced = False

    def say_unusable(name: str, problem: BaseException) -> None:
        if name in books and name not in unusable_said:  # its run only reports it
            unusable_said.add(name)
            _say(f"cancelkit: {name}: cannot be used: {type(problem).__name__}: {problem}")

    def announce() -> None:
        # Said once the first requests have left (or the first outcome is known, or
        # the run ends), before any outcome and any report: a line on stderr costs
        # the firing's time, which belongs to the cancels.
        nonlocal announced
        announced = True
        for book in books.values():
            book.settle(_origin(desk, book.account))  # its client opened (or refused) by now
            o = book.origin
            _say(
                f"cancelkit: {book.account.name}: {o.venue} at {o.base_url}, key {o.key}: every"
                f" open order{_scope(desk.covering(book.account))}; deadline {said or deadline:g} s"
            )
        for name, problem in desk.unusable.items():
            say_unusable(name, problem)
        if on_announced is not None:
            on_announced()

    housekeeping = _Housekeeping(
        books, registry, set(books) - set(desk.unusable), beside, announce, prune
    )

    def unusable(account: Account, problem: BaseException) -> None:
        # A desk for one run opens each client in its account's task: an account
        # whose client cannot be built is learned then, and sends nothing.
        if announced:  # learned after the lines were said: said now, before its report
            say_unusable(account.name, problem)
        housekeeping.sent(account.name)

    if registry is not None:
        for book in books.values():
            book.open_journal(registry, cause, deadline)

    def make_control(account: Account) -> Control:
        # A cancel-all names no order before it leaves (its journal's plan is empty;
        # it gets a sent line of its own, and each outcome follows as it is known).
        # Housekeeping starts once the first cancel has left, never before it.
        child = Control(deadline)
        book = books[account.name]

        def sent(indices: Sequence[int]) -> None:
            if not indices:  # a cancel-all (a venue's kill sends nothing else)
                book.cancel_all_sent()
            housekeeping.sent(account.name)

        child.on_sent = sent
        child.on_answered = book.cancel_all_answered
        return child

    try:
        runs = await desk.cancel_everywhere(
            deadline=deadline,
            on_result=lambda account, result: housekeeping.wrote(books[account.name], result),
            control=control,
            accounts=[a.name for a in chosen],
            make_control=make_control,
            on_unusable=unusable,
        )
        for run in runs:
            book = books[run.account.name]
            for result in run.results:  # what the run's end added (a last listing's word)
                if id(result) not in book.written:
                    book.write(result)
    finally:
        written = all([book.close() for book in books.values()])
        housekeeping.finish(max(0.0, control.end() - time.monotonic()))
    for run in runs:
        _report(run, books[run.account.name])
    written = written and all(book.lost is None for book in books.values())
    if control.stop_reason in (StopReason.INTERRUPTED, StopReason.ABORTED):
        return EXIT_INTERRUPTED
    return EXIT_OK if written and all(run.ok for run in runs) else EXIT_FAILED


def _scope(account: Account) -> str:
    """Where the account's kill reaches, when not everywhere: its markets, and the one
    subaccount it acts in (a dry run and the banner say so: it bounds the cancel)."""
    scope = f" in market(s) {', '.join(account.markets)}" if account.markets else ""
    if account.subaccount is not None:
        scope += f"{',' if scope else ' in'} subaccount {account.subaccount}"
    return scope


def _report(run: AccountRun, book: _Book) -> None:
    """The account's report: a line on stderr, and with --json a record on stdout."""
    counts = Counter(r.status for r in run.results if r.duplicate_of is None)
    parts = [f"{counts[s]} {s.replace('_', ' ')}" for s in OUTCOMES if counts[s]]
    if run.covered is None:
        covered = "every market"
    elif run.covered:
        named = [f"{m} (seen on its order stream)" if m in run.learned else m for m in run.covered]
        covered = f"market(s) {', '.join(named)}; only markets named or seen are covered"
    else:
        covered = "NOT COVERED: no market known (name them: markets = [...] in its table)"
    if run.left is None:
        left = "left: unknown"
    else:
        left = f"left: {run.left} not confirmed gone" if run.left else "nothing left open"
    name = run.account.name
    line = f"cancelkit: {name}: {', '.join(parts) or 'no orders'}; {left}; {covered}"
    if run.error is not None:
        line += f"; FAILED: {type(run.error).__name__}: {run.error}"
    _say(printable(line) + ("" if run.ok else " (not confirmed empty)"))
    if book.as_json_lines:
        summary = {
            **book.where,
            "summary": True,
            "ok": run.ok,
            "counts": {s: counts[s] for s in OUTCOMES if counts[s]},
            "left": run.left,
            "covered": None if run.covered is None else list(run.covered),
            "covered_from": None
            if run.covered is None
            else {m: "order stream" if m in run.learned else "configured" for m in run.covered},
            "error": None
            if run.error is None
            else {"type": type(run.error).__name__, "message": str(run.error)},
        }
        book.echo(json_safe(json.dumps(summary, ensure_ascii=False)))


def command(
    config: str | None,
    names: tuple[str, ...],
    deadline: float,
    as_json_lines: bool,
    dry_run: bool,
    verbose: bool,
) -> int:
    """``cancelkit cancel --everywhere``: load the accounts, open a desk, run; the
    exit status (2: the accounts file or the names given are refused, nothing sent)."""
    from .._accounts import AccountsError, load_accounts

    try:
        accounts = load_accounts(config, secrets=not dry_run)  # a dry run needs no key
    except AccountsError as exc:
        _say(f"cancelkit: {exc.message}; nothing was sent")
        return EXIT_USAGE
    known = [a.name for a in accounts]
    unknown = [n for n in names if n not in known]
    if unknown:
        _say(
            f"cancelkit: no account named {', '.join(unknown)} (accounts: {', '.join(known)});"
            " nothing was sent"
        )
        return EXIT_USAGE
    chosen = [a for a in accounts if not names or a.name in names]
    if dry_run:
        for account in chosen:
            click.echo(
                f"would cancel every open order of {account.name} ({account.venue}, key"
                f" {account.key_id}){_scope(account) or ' in every market'}"
                + ("" if account.markets or not _per_market(account) else ": NOT COVERED")
            )
        _say("cancelkit: dry run, nothing sent")
        return EXIT_OK
    from . import _processes

    if _processes.usable(chosen):
        return _split(chosen, deadline, as_json_lines, verbose)
    with library_log(verbose):
        return anyio.run(_main, chosen, deadline, as_json_lines)


def _per_market(account: Account) -> bool:
    """Whether the account's venue cancels per market only (its hook takes ``markets``)."""
    from .._desk_hook import desk_hook

    return "markets" in desk_hook(account.venue).SETTINGS


def _split(accounts: list[Account], deadline: float, as_json_lines: bool, verbose: bool) -> int:
    """The run split across processes (``_processes``): the code every part runs and
    the state directory loaded and opened once, here, before the parts are forked;
    each part's deadline is the command's, counted from now. Where it cannot be
    split after all (``Unsplit``), the run goes on in this process, on the state
    directory opened here."""
    from .._bulk import GRACE
    from ._processes import Unsplit, parts_of, run_split

    ends_at = time.monotonic() + deadline
    registry = _registry()
    _load(_SHARED)

    def run(
        part: Sequence[Account],
        early: Guard,
        forwarded: Callable[[], str],
        prune: bool,
        announced: Callable[[], None],
    ) -> int:
        with library_log(verbose):
            return anyio.run(
                _main,
                list(part),
                deadline,
                as_json_lines,
                early,
                forwarded,
                registry,
                prune,
                ends_at,
                announced,
            )

    try:
        return run_split(
            parts_of(accounts),
            run,
            preload=_preload,
            ends_at=ends_at,
            grace=GRACE,
            as_json=as_json_lines,
        )
    except Unsplit as exc:
        _say(f"cancelkit: warning: not split across processes ({exc}): run in this one")
    with library_log(verbose):
        return anyio.run(
            _main, accounts, deadline, as_json_lines, None, None, registry, True, ends_at
        )


# The code every part's run uses, whatever its venue: loaded once, before the
# parts are forked (each would load its own copy of what is not).
_SHARED = (
    "cancelkit._desk",
    "cancelkit._base",
    "cancelkit._oneshot",
    "cancelkit._fastpath",
    "cancelkit._wire",
    "cancelkit._tls",
    "cancelkit._proxy",
    "httpcore",
    "anyio.lowlevel",
    "anyio.streams.memory",
    "anyio.to_thread",
    "anyio._backends._asyncio",  # the event loop's; found by name, so loaded by name
    "anyio._core._signals",
)


def _preload(venue: str) -> None:
    """The venue's code its run uses (its hook's ``PRELOAD``), loaded once in its
    venue's process before its parts are forked."""
    from .._desk_hook import desk_hook

    _load(desk_hook(venue).PRELOAD)


def _load(names: Sequence[str]) -> None:
    """Import ``names``; one that cannot be is left to the run, which says why."""
    import importlib

    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            logger.debug("could not load %s beforehand", name, exc_info=True)


async def _main(
    accounts: list[Account],
    deadline: float,
    as_json_lines: bool,
    guard: Guard | None = None,
    forwarded: Callable[[], str] | None = None,
    registry: Registry | None = None,
    prune: bool | None = None,
    ends_at: float | None = None,
    announced: Callable[[], None] | None = None,
) -> int:
    """The run on one desk in this process; ``prune`` given: one part of a run split
    across processes, ``registry`` the state directory the parent opened (None: it
    could not), ``guard`` the part's signals before its loop, ``forwarded`` the name
    of the parent's signal passed on, ``ends_at`` the command's deadline as a clock
    instant (``deadline`` is said and journaled), ``announced`` told once what each
    account's run covers is said."""
    from .._desk import one_shot_desk
    from ._cancel import _watch_signals

    left = deadline if ends_at is None else max(ends_at - time.monotonic(), 0.001)
    control = Control(left)
    # The desk's clients on httpx's own transport (no aiohttp import), closed at the end.
    async with one_shot_desk(accounts) as desk, anyio.create_task_group() as group:
        group.start_soon(_watch_signals, control, guard, forwarded)
        status = await run_everywhere(
            desk,
            deadline=left,
            as_json=as_json_lines,
            cause="command",
            out=sys.stdout,
            control=control,
            registry=registry,
            opened=prune is not None,
            prune=prune is not False,
            said=deadline,
            on_announced=announced,
        )
        group.cancel_scope.cancel()
    return status

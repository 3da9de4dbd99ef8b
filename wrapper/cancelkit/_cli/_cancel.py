"""``cancelkit cancel``: the operator's kill switch.

Everything is validated before anything is sent. Each order's outcome is written
as soon as it is known (stdout, then ``--journal``), so an interrupted
run still leaves a true record; SIGINT/SIGTERM stop new work, give requests in
flight a short grace, then report the rest (*unknown* if sent, else *not sent*).
"""

from __future__ import annotations

import codecs
import json
import logging
import os
import re
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence, Set
from contextlib import AbstractContextManager, suppress
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Generic, Protocol, Self, TypeVar

import anyio
import attrs

from .._bulk import FINAL, OUTCOMES, CancelAllTarget, CancelResult, Control, Presend, StopReason
from .._exceptions import InvalidRequest
from . import _inputs
from ._click import click
from ._journal import (
    HEADER_START,
    PLANNED,
    RUN_KEY,
    SENT,
    Journal,
    JournalError,
    Origin,
    Plans,
    glued_header,
    mismatch,
    new_run_id,
)

if TYPE_CHECKING:
    from ._first import First, Guard
    from ._registry import Registry
from ._terminal import json_safe, library_log, printable

T = TypeVar("T")
logger = logging.getLogger("cancelkit")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
GRACE = 3.0  # seconds requests in flight may finish after an interrupt
STATUS_EVERY = 5.0  # seconds between status lines when stderr is not a terminal
PRUNE_WAIT = 2.0  # seconds a run's end waits for the state directory's pruning, at most
_COMMENT = re.compile(r"(?:^|\s)#")


@attrs.frozen
class Line:
    """One input line: where it came from and its text (or a resumed run's record)."""

    label: str
    text: str
    done: str | None = None  # the final outcome a previous run recorded for it
    record: str | None = None  # a record's status (an outcome, planned or sent)
    origin: Origin | None = None  # the venue, URL and key a record names
    header: bool = False  # a journal's first line: the run and its origin, no order
    cancel_all: bool = False  # a record of a cancel-all request itself: no order either
    run: str | None = None  # a header's or a cancel-all record's run
    account: str | None = None  # a header's: the desk account of its run, if any
    answered: bool = False  # a cancel-all's record that its answer came


def read_lines(source: str, listed: _inputs.Listed = _inputs.LISTED) -> list[Line]:
    """The id lines of FILE or ``-`` (stdin); ``listed``: how the venue's listing
    shows an order, so that its ``--json`` lines are read by their id.

    The format: one id per line, UTF-8 with or without a BOM, LF or CRLF; blank
    lines and ``#`` comments (a whole line, or after whitespace) are skipped. A
    line that is a JSON object is a record of an earlier ``--json`` run: its
    ``order`` is read, and marked done if its ``status`` was final. Text that is
    not UTF-8 is a usage error naming the file and the line, and so is a journal
    whose plan is incomplete (:class:`~._journal.Plans`), naming the counts.
    """
    name = "stdin" if source == "-" else source
    problem = None
    try:
        if source == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(source, "rb") as given:
                problem = _untrusted(source, os.fstat(given.fileno()))
                data = given.read()
    except OSError as exc:
        raise click.UsageError(f"cannot read {source}: {exc.strerror}") from None
    lines: list[Line] = []
    plans = Plans()
    parts = data.removeprefix(codecs.BOM_UTF8).split(b"\n")
    for number, raw in enumerate(parts, start=1):
        label = f"{name} line {number}"
        cut = _cut_off(raw, number == len(parts))
        if cut is not None:
            where = "is" if cut == len(raw) else "starts with"
            click.echo(
                f"cancelkit: warning: {label} {where} a record cut off (the run that wrote"
                " it stopped mid-line?): skipped",
                err=True,
            )
            if HEADER_START in raw[:cut]:
                plans.cut_header(label)
            raw = raw[cut:]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise click.UsageError(
                f"{label}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at column"
                f" {exc.start + 1}); nothing was sent"
            ) from None
        if text.lstrip().startswith("{"):
            lines.append(_record(label, text, plans, listed))
            continue
        comment = _COMMENT.search(text)
        value = (text[: comment.start()] if comment else text).strip()
        if value:
            lines.append(Line(label, value))
    _warn_cancel_alls(lines)
    if problem is not None and any(line.record is not None or line.header for line in lines):
        raise click.UsageError(
            f"{name} {problem}: the records in it could have been rewritten (orders taken"
            " out, outcomes made up); nothing was sent. Resume from a file of your own."
        )
    incomplete = plans.problems()
    if incomplete:
        more = f" (and {len(incomplete) - 1} more)" if len(incomplete) > 1 else ""
        raise click.UsageError(f"{incomplete[0]}{more}; nothing was sent")
    return lines


def _untrusted(path: str, info: os.stat_result) -> str | None:
    """Why a file of records cannot be trusted (another user could have rewritten
    it: see ``_ownership``), or None."""
    from ._ownership import directory_problem, file_problem

    problem = file_problem(info)
    if problem is not None:
        return problem
    parent = Path(os.path.dirname(os.path.abspath(path)))
    where = directory_problem(parent, sticky_ok=True)
    return None if where is None else f"is in a directory that is not safe: {where}"


def _warn_cancel_alls(lines: Sequence[Line]) -> None:
    """Say which cancel-alls a record shows not settled (sent with no outcome, or an
    outcome that is not final): a resume cannot name the orders such a cancel-all
    took, and does not send it again; the operator must (``--all``)."""
    headers: dict[str | None, Line] = {}  # each run's header
    pending: dict[str | None, list[tuple[int, Line]]] = {}  # each run's sent lines unsettled
    unsettled: list[tuple[int, Line]] = []  # (where, line)
    for at, line in enumerate(lines):
        if line.header:
            headers[line.run] = line
        if not line.cancel_all:
            continue
        waiting = pending.setdefault(line.run, [])
        if line.record == SENT and not line.answered:
            waiting.append((at, line))
            continue
        # Its answer, or its outcome (a cancel-all not sent had no sent line): the
        # oldest sent line of its run is settled (a run sends its cancel-alls in turn).
        if waiting and (line.answered or line.record != "not_sent"):
            waiting.pop(0)
        if not line.answered and line.record not in FINAL:
            unsettled.append((at, line))
    unsettled += [found for waiting in pending.values() for found in waiting]
    for _, line in sorted(unsettled, key=lambda found: found[0]):
        if line.record == SENT:
            what = "was sent and no outcome is recorded (its run was killed?)"
        elif line.record == "not_sent":
            what = "was not sent"
        else:
            what = f"was sent and its outcome is {line.record}"
        header = headers.get(line.run)
        origin = line.origin or (header.origin if header is not None else None)  # a sent
        venue = origin.venue if origin is not None else "VENUE"  # line names none itself
        again = f"cancelkit cancel {venue} --all"
        if header is not None and header.account is not None:  # a desk's run (--everywhere)
            again = f"cancelkit cancel --everywhere --account {header.account}"
        click.echo(
            f"cancelkit: warning: {line.label}: a cancel-all {what}: which orders it"
            f" cancelled, if any, is unknown, and a resume does not send it again;"
            f" `{printable(again)}` does",
            err=True,
        )


def _cut_off(raw: bytes, last: bool) -> int | None:
    """Where what is left to read of a line starts, if it begins with a record cut off
    where its writer stopped mid-line (an OS crash can leave the tail of the last
    outcomes unwritten), else None.

    A record is cut off only at the end of a run's segment: the file's last line
    (no newline after it), or a line where the run that appended next wrote its
    header right after the cut (a run adds no newline of its own). The cut record's
    order falls back on its earlier lines (sent, planned) and is asked about again,
    never taken as settled. A line that fails anywhere else is damage, refused."""
    if not raw.lstrip().startswith(b"{"):
        return None
    if last:
        return len(raw) if _torn(raw) else None
    if raw.find(HEADER_START, 1) < 0 or not _torn(raw):
        return None
    return glued_header(raw)


def _torn(raw: bytes) -> bool:
    """Whether a line that starts as a JSON record is not one."""
    try:
        json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return True
    return False


def _record(label: str, text: str, plans: Plans, shape: _inputs.Listed) -> Line:
    record = _inputs.json_line(label, text)
    listed = _inputs.listed_order_id(record, shape)
    if listed is not None:  # a line of `cancelkit orders <venue> --json`
        return Line(label, listed)
    try:
        if isinstance(record, dict) and RUN_KEY in record:
            plans.header(label, record)
            run, account = record[RUN_KEY], record.get("account")
            named = account if isinstance(account, str) else None  # a desk's run
            return Line(
                label, "", origin=Origin.of(record), header=True, run=str(run), account=named
            )
        order, status = record["order"], record["status"]
    except (KeyError, TypeError):
        raise click.UsageError(f"{label}: a JSON line that is not a cancelkit record") from None
    if not isinstance(order, str) or status not in (*OUTCOMES, PLANNED, SENT):
        raise click.UsageError(f"{label}: a JSON line that is not a cancelkit record")
    if status == PLANNED:
        plans.planned(label, record)
    origin = Origin.of(record)
    if order == "" or record.get("cancel_all") is True:  # a cancel-all's own: no order
        run, answered = record.get("run"), record.get("answered") is True
        return Line(
            label, "", None, status, origin, cancel_all=True, run=str(run), answered=answered
        )
    # A line naming no venue, URL and key is no one's word: its order is asked again.
    done = status if status in FINAL and origin is not None else None
    return Line(label, order, done, status, origin)


def latest_records(lines: Sequence[Line]) -> list[Line]:
    """Lines with each recorded order once, as its latest record says (a journal
    holds a plan, sent lines and outcomes, and a resumed run appends more); plain
    id lines stay as they are (duplicates there are the operator's)."""
    latest: dict[str, Line] = {}
    for line in lines:
        if line.record is not None and not line.cancel_all:
            latest[line.text] = line
    kept: list[Line] = []
    seen: set[str] = set()
    for line in lines:
        if line.header or line.cancel_all:
            continue
        if line.record is None:
            kept.append(line)
        elif line.text not in seen:
            seen.add(line.text)
            last = latest[line.text]
            kept.append(attrs.evolve(last, label=line.label))
    return kept


def plausible(parse: Callable[[str], T]) -> Callable[[str], T]:
    """``parse``, refusing first any text with whitespace or control characters inside:
    in a file, that is a line that holds more than one id, not an id."""

    def check_text(text: str) -> T:
        odd = next((c for c in text if c.isspace() or not c.isprintable()), None)
        if odd is not None:
            raise InvalidRequest(f"{text[:80]!r} has {odd!r} inside; one id per line")
        return parse(text)

    return check_text


def validate(
    items: Iterable[tuple[str, Any]], parse: Callable[[Any], T]
) -> tuple[list[tuple[str, T]], list[str]]:
    """Parse every item; return the good ones and one message per bad one."""
    good, bad = validate_records(items, parse)
    return good, [f"{label}: {message}" for label, _, message in bad]


def validate_records(
    items: Iterable[tuple[str, Any]], parse: Callable[[Any], T]
) -> tuple[list[tuple[str, T]], list[tuple[str, str, str]]]:
    """Parse every item; return the good ones and (label, text, message) per bad one."""
    good: list[tuple[str, T]] = []
    bad: list[tuple[str, str, str]] = []
    for label, text in items:
        try:
            good.append((label, parse(text)))
        except InvalidRequest as exc:
            bad.append((label, str(text), exc.message))
    return good, bad


Describe = Callable[[Any], str]
"""The order as an operator would write it (and as a resumed run reads it): the
venue's (``Job.describe``); a venue whose targets are their id text keeps ``str``."""


def as_json(label: str, result: CancelResult[Any], describe: Describe = str, **where: str) -> str:
    """One JSON line for one result (also a line a resumed run can read); ``where``
    adds the run id and origin the record is bound to."""
    error = result.error
    target = result.target
    # A cancel-all's own outcome names no order: marked, so a resume never reads one.
    whole = {"cancel_all": True, "market": target or None} if _whole(target) else {}
    line = json.dumps(
        {
            **where,
            "input": label,
            "order": "" if whole else describe(target),
            **whole,
            "status": result.status,
            "ok": result.ok,
            "message": result.message,
            "attempts": result.attempts,
            "duplicate_of": result.duplicate_of,
            "error": None
            if error is None
            else {
                "type": type(error).__name__,
                "message": error.message,
                "status": error.status,
                "request_id": error.request_id,
                "correlation_id": error.correlation_id,  # in the --verbose log too
            },
        },
        ensure_ascii=False,
    )
    return json_safe(line)  # the server's message may hold C1 controls


def _whole(target: object) -> bool:
    """Whether a result's target is a cancel-all request itself, not an order."""
    return isinstance(target, CancelAllTarget) or target == ""


def as_line(label: str, result: CancelResult[Any], describe: Describe = str) -> str:
    """One human line for one result (server text in it made printable)."""
    return printable(_as_line(label, result, describe))


def _as_line(label: str, result: CancelResult[Any], describe: Describe) -> str:
    word = result.status.upper().replace("_", " ") if not result.ok else result.status
    target = result.target
    what = (f"cancel-all in {target}" if target else "cancel-all") if _whole(target) else None
    text = f"{word:<10} {what or describe(target)}"
    if result.duplicate_of is not None:
        return f"{text}  (same order as input {result.duplicate_of + 1})"
    if result.error is not None and not result.ok:
        return f"{text}  ({label}): {type(result.error).__name__}: {result.error}"
    return f"{text}  ({result.message})" if result.message else text


class _Report:
    """Writes each outcome the moment it is known: stdout, journal, progress."""

    def __init__(
        self,
        labels: list[str],
        targets: list[Any],
        as_json_lines: bool,
        journal: Journal | None,
        where: dict[str, str],
        describe: Describe = str,
    ) -> None:
        self.describe = describe
        self.labels = labels
        self.targets = targets
        self.total = len(targets)
        self.as_json_lines = as_json_lines
        self.journal = journal
        self.where = where
        self.counts: Counter[str] = Counter()
        self.started = time.monotonic()
        self.progress: Any = None
        self.shares_terminal = False  # the live display is on stdout's terminal
        self.control: Control | None = None
        self.orders_sent = 0
        self.stdout_lost: str | None = None  # why stdout could not be written
        # Called once, as the first outcome is written (the first cancel has left and
        # been answered): what may start only then. Not as the first cancel leaves: a
        # thread started then takes the GIL from the request on its way out (about
        # 10 ms of a cold cancel's first request, measured).
        self.after_first_outcome: Callable[[], None] | None = None
        # Each result written, by id() (held, so that no id is reused meanwhile).
        self.written: dict[int, CancelResult[Any]] = {}

    def label(self, result: CancelResult[Any]) -> str:
        return self.labels[result.index] if 0 <= result.index < len(self.labels) else "-"

    def echo(self, text: str) -> None:
        """One line on stdout; through the live display when it shares the terminal,
        so that the two never collide. Stdout gone (a closed terminal or pipe) is one
        warning, and the journal still gets every line."""
        if self.stdout_lost is not None:
            return
        try:
            # (Not `console.file is sys.stdout`: while the display is live, rich puts a
            # proxy in sys.stdout, and lines written past it landed glued to the bar.)
            if self.progress is not None and self.shares_terminal:
                self.progress.console.print(text, markup=False, highlight=False, soft_wrap=True)
            else:
                click.echo(text)
                sys.stdout.flush()
        except OSError as exc:
            self.stdout_lost = exc.strerror or str(exc)
            _say(
                f"cancelkit: warning: cannot write to stdout ({self.stdout_lost}): the"
                " outcomes go on to the journal only, and the exit status will be non-zero"
            )

    def __call__(self, result: CancelResult[Any]) -> None:
        # The library stops a run whose on_result raises; a journal or terminal that
        # fails here must not stop a kill switch, so the CLI goes on, as it always has.
        try:
            self._write(result)
        except Exception:
            logger.exception("writing an outcome failed; the run goes on")

    def unwritten(self, results: Iterable[CancelResult[Any]]) -> None:
        """Write what a run returned without announcing it (what its end added, such
        as an order a last listing still shows): every outcome is written."""
        for result in results:
            if id(result) not in self.written:
                self(result)

    def _write(self, result: CancelResult[Any]) -> None:
        self.written[id(result)] = result
        label = self.label(result)
        record = as_json(label, result, self.describe, **self.where)
        if result.duplicate_of is None:
            self.counts[result.status] += 1
        # Stdout first: a journal that cannot be written (a full disk) must not hide an
        # outcome from the operator. Neither raises: each failure is one warning.
        self.echo(record if self.as_json_lines else as_line(label, result, self.describe))
        if self.journal is not None:
            self.journal.outcome(record)
        self.refresh()
        first, self.after_first_outcome = self.after_first_outcome, None
        if first is not None:
            first()

    def answered(self) -> None:
        """A cancel-all's answer came: journaled (a resume then warns of it no more)."""
        if self.journal is not None:
            self.journal.cancel_all_answered()

    def sent(self, indices: Sequence[int]) -> None:
        """A request for these inputs is about to leave: journal it first."""
        self.orders_sent += len(indices)
        if self.journal is not None:
            if not indices:  # a cancel-all (it names no order): a line of its own
                self.journal.cancel_all_sent()
                return
            pairs = [(self.labels[i], self.describe(self.targets[i])) for i in indices]
            self.journal.sent(pairs)
        self.refresh()

    def invalid(self, label: str, text: str, message: str) -> None:
        """An input that was refused: a record too, so that nothing given is unaccounted."""
        error = InvalidRequest(message)
        result: CancelResult[Any] = CancelResult(text, "not_sent", f"invalid: {message}", error)
        record = as_json(label, result, self.describe, **self.where)
        if self.as_json_lines:
            self.echo(record)
        if self.journal is not None:
            self.journal.outcome(record)

    def refresh(self) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=self.done, status=self.summary())

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        parts = [f"{self.orders_sent} sent"] if self.orders_sent else []
        parts += [f"{n} {s.replace('_', ' ')}" for s, n in self.counts.items() if n]
        control = self.control
        if control is not None:
            open_left = self.total - self.done
            if open_left:
                parts.append(f"{open_left} to go")
            if control.throttled:
                parts.append(f"{control.throttled} x 429")
            pause = control.paused_until - time.monotonic()
            if pause > 0:
                parts.append(f"paused {min(pause, control.left()):.0f} s")
        return ", ".join(parts)

    def eta(self) -> str:
        """Time left, never past the deadline (plus the grace)."""
        control = self.control
        if control is None:
            return ""
        limit = max(0.0, control.end() - time.monotonic())
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 and self.done else 0.0
        guess = (self.total - self.done) / rate if rate else limit
        return f"at most {min(guess, limit):.0f} s left (deadline {control.seconds:g} s)"

    def status_line(self) -> str:
        elapsed = time.monotonic() - self.started
        return (
            f"cancelkit: {self.done}/{self.total} orders done ({self.summary() or 'none yet'})"
            f" after {elapsed:.0f} s; {self.eta()}"
        )

    def start_progress(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        # On the terminal stdout shares (if it does): outcome lines print through it.
        shared = sys.stdout.isatty()
        self.shares_terminal = shared
        self.progress = Progress(
            TextColumn("cancelling"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TextColumn("{task.fields[eta]}"),
            console=Console(file=sys.stdout if shared else sys.stderr),
            transient=True,
        )
        self.task = self.progress.add_task("cancel", total=self.total, status="", eta="")
        self.progress.start()

    async def tick(self) -> None:
        """Keep the ETA and pauses current between outcomes."""
        while True:
            await anyio.sleep(0.5)
            if self.progress is not None:
                self.progress.update(self.task, status=self.summary(), eta=self.eta())


class BulkClient(Protocol):
    """What the CLI asks of a venue's async client itself (the rest is the venue's
    ``work``): where it goes, with which key, and to be closed."""

    base_url: str

    @property
    def key_id(self) -> str:
        """The key id shown in the banner and bound into records."""
        ...

    async def __aenter__(self) -> Self:
        """The client, opened."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the client."""
        ...


C = TypeVar("C", bound=BulkClient)
Report = Callable[[CancelResult[Any]], None]
"""Called with each result as soon as it is known (the ``on_result`` of the library)."""


@attrs.frozen
class Job(Generic[C]):
    """What one ``cancelkit cancel`` invocation is to do, venue-specific parts given."""

    venue: str
    build_client: Callable[[], C]
    work: Callable[[C, list[Any], Report, Control], Awaitable[list[CancelResult[Any]]]]
    rate: str
    deadline: float
    as_json_lines: bool
    journal: str | None
    dry_run: bool
    describe_request: str
    verbose: bool
    what: str | None = None  # the banner's scope (cancel-all: which markets)
    estimate: Callable[[int], float | None] | None = None  # seconds N orders need
    foreign_record: bool = False  # accept a record made for another venue, URL or key
    source: str | None = None  # the --from-file given, for messages
    # The venue's words for what the CLI says of it, so that the CLI names no venue:
    describe: Describe = str  # a target as the operator writes it
    give: str = "give order ids or --from-file FILE"  # how to name orders, when none were
    too_slow_hint: str = ""  # what to do instead when the deadline is too short
    # The whole cancel as one request, sent before the event loop loads (_first).
    first: First | None = None


_started = False  # run() was called in this process (see started())


def started() -> bool:
    """Whether a run began in this process: after it, a usage error cannot be taken
    back as one made before anything was sent (``_quick``)."""
    return _started


def run(
    job: Job[Any],
    *,
    items: Sequence[tuple[str, Any]],
    invalid: Sequence[str],
    skip_invalid: bool,
    skipped: int = 0,
    all_orders: bool = False,
    invalid_records: Sequence[tuple[str, str, str]] = (),
    recorded: Mapping[int, Any] | None = None,
    origins: Sequence[Origin] = (),
    recorded_sent: Set[int] = frozenset(),
) -> int:
    """Send the batch (or refuse it) and report; return the exit status.

    ``recorded``: input index -> the final outcome a record of an earlier run gives
    (checked against the exchange again, never taken on trust); ``origins``: the
    venue, URL and key those records were made for."""
    global _started
    _started = True
    for message in invalid:
        click.echo(f"cancelkit: invalid: {message}", err=True)
    if invalid and not skip_invalid:
        click.echo(
            f"cancelkit: {len(invalid)} invalid input(s); nothing was sent"
            " (--skip-invalid sends the valid ones)",
            err=True,
        )
        return EXIT_USAGE
    if not items and not all_orders:
        click.echo(f"cancelkit: no orders to cancel: {_nothing(job, invalid)}", err=True)
        return EXIT_USAGE
    with _debug_log(job.verbose):
        return _run(
            job,
            items,
            all_orders,
            invalid,
            invalid_records,
            recorded,
            origins,
            recorded_sent,
        )


def _nothing(job: Job[Any], invalid: Sequence[str]) -> str:
    if invalid:
        return f"all {len(invalid)} input(s) were invalid"
    if job.source is not None:
        name = "stdin" if job.source == "-" else job.source
        return f"{name} has no order ids (only blank lines or # comments)"
    return job.give


def _debug_log(on: bool) -> AbstractContextManager[None]:
    """The library's log on stderr for one command: warnings always (``cancelkit:``
    lines), the debug log with ``--verbose``."""
    return library_log(on)


def _run(
    job: Job[Any],
    items: Sequence[tuple[str, Any]],
    all_orders: bool,
    invalid: Sequence[str],
    invalid_records: Sequence[tuple[str, str, str]],
    recorded: Mapping[int, Any] | None,
    origins: Sequence[Origin],
    recorded_sent: Set[int],
) -> int:
    from .._oneshot import one_shot  # (httpx: loaded once the input is known good)
    from ._loading import without_gc

    # The whole cancel in one request: sent first, on the venue's sync client, before
    # the event loop and the async client are loaded (see _first).
    first = None if job.dry_run else job.first
    client: Any
    try:
        # One run per process: httpx's own transport, no aiohttp import; what building
        # the client loads, loaded without the collector (see _loading).
        with one_shot(), without_gc():
            client = first.build() if first is not None else job.build_client()
    except InvalidRequest as exc:
        if job.dry_run and exc.message.startswith("environment variable"):
            # Nothing is sent, so no key is needed to show what would be (issue 31).
            click.echo(f"cancelkit: {job.venue}: {exc.message}; a dry run needs none", err=True)
            return _dry_run(job, items, all_orders)
        click.echo(f"cancelkit: {exc.message}", err=True)
        return EXIT_USAGE
    key = client.key_id
    origin = Origin(job.venue, _shown(client), key)
    differs = mismatch(origins, origin)
    if differs and not job.foreign_record:
        click.echo(
            f"cancelkit: {differs}; nothing was sent (--foreign-record uses it anyway)", err=True
        )
        return EXIT_USAGE
    what = job.what or ("every open order" if all_orders else f"{len(items)} order(s)")
    resumed = len(recorded or {})
    _before_click(
        f"cancelkit: {job.venue} at {origin.base_url}, key {key}: {what}; rate {job.rate},"
        f" deadline {job.deadline:g} s"
        + (f"; {resumed} final in the record given, checked again" if resumed else "")
    )
    if job.dry_run:
        return _dry_run(job, items, all_orders)
    _warn_if_too_slow(job, len(items), all_orders)
    sink = None
    if job.journal:
        try:
            sink = _open_given_journal(job.journal)
        except JournalError as exc:
            click.echo(f"cancelkit: {exc}; nothing was sent", err=True)
            return EXIT_USAGE
    run_id = new_run_id()
    registry = _registry()
    pointer: IO[bytes] | None = None
    if registry is not None:
        sink, pointer = _register(registry, run_id, origin, job.journal, sink)
    journal = None
    if sink is not None:
        name = job.journal or "the run's journal"
        journal = Journal(sink, run_id, origin, name=name, warn=_warn)
    labels = [label for label, _ in items]
    targets = [t for _, t in items]
    where = {"run": run_id, **origin.as_dict()}
    report = _Report(labels, targets, job.as_json_lines, journal, where, job.describe)
    control = Control(job.deadline)
    control.on_sent = report.sent
    control.on_answered = report.answered
    control.recorded = dict(recorded or {})
    if origins and not differs:  # "sent" speaks only for the venue, URL and key it names
        control.recorded_sent = set(recorded_sent)
    report.control = control
    pruning = None
    guard: Guard | None = None  # the signals' keeper while the first cancel is sent
    if registry is not None:
        control.sent_elsewhere = _Elsewhere(registry, origin, run_id, targets, job.describe)
        pruning = _Pruning(registry)
        report.after_first_outcome = pruning.start
    try:
        if journal is not None:
            try:
                # The state directory's journal: written now, fsynced with the first
                # request's `sent` line, before that request leaves (one fsync on the
                # first cancel's path, not two; a failure of either is a warning, as
                # below). `--journal`: fsynced now, so that one that cannot be kept
                # ends the run before it sends.
                plan = [(label, job.describe(t)) for label, t in items]
                journal.plan(plan, job.deadline, sync=bool(job.journal))
            except JournalError as exc:
                if job.journal:  # the write-ahead record asked for cannot be kept
                    _say(f"cancelkit: {exc}; nothing was sent")
                    return EXIT_FAILED
                _warn(f"{exc}: this run keeps no journal")  # as without a state directory
                journal.close()
                journal = report.journal = None
        for label, text, message in invalid_records:
            report.invalid(label, text, message)
        results: list[CancelResult[Any]] | None = None
        if first is not None:
            client, results, guard = _send_first(job, first, client, targets, control, report)
        if results is None:
            # The event loop's own modules load without the collector too: it resumes
            # as _main starts (see _loading).
            with without_gc() as loading:
                results = anyio.run(
                    _main, job, client, targets, report, control, loading.done, guard
                )
    finally:
        if guard is not None:
            guard.restore()
        if report.progress is not None:
            report.progress.stop()
        if journal is not None:
            journal.close()  # never raises: a failure is a warning and `failed`
        if pointer is not None:
            pointer.close()
        if pruning is not None:
            pruning.finish(max(0.0, control.end() - time.monotonic()))
    status = _finish(results, report, control, invalid, key, len(items))
    if status == EXIT_OK and (report.stdout_lost or (journal is not None and journal.failed)):
        return EXIT_FAILED  # every outcome was not written where it was asked to be
    return status


def _send_first(
    job: Job[Any],
    first: First,
    sync: Any,
    targets: list[Any],
    control: Control,
    report: _Report,
) -> tuple[Any, list[CancelResult[Any]] | None, Guard | None]:
    """The run's one cancel, sent on the sync client ``sync`` (see ``_first``); then
    the async client the run goes on with, and the results if the run ends here (a
    signal while the cancel was on its way or before it left, or no run to read its
    answer)."""
    from .._oneshot import one_shot
    from . import _first
    from ._loading import without_gc

    indices = list(range(len(targets)))
    guard = _first.Guard()
    outcome: Presend | str | None = None
    ready = None
    try:
        request: dict[str, Any] | None = None
        if first.listing is not None:
            # The listing the run would send first, sent now: the cancel is made
            # from its answer (``Listing.then``), or the run goes its own way.
            guard.install()
            looked = _first.look(sync, first.listing, control, guard)
            if isinstance(looked, str):  # a signal before or during it: none sent
                outcome = looked
            elif looked is not None:
                listed, request = looked
                control.listed_before = listed  # the run's first listing, either way
        elif first.request is not None:
            request = first.request()
        ready = None if request is None else _first.prepared(sync, request)
        if request is not None and ready is not None:
            if first.listing is None:
                guard.install()
            outcome = _first.send(sync, request, ready, indices, control, guard)
    except BaseException:
        guard.restore()  # (the run's end restores it otherwise)
        raise
    finally:
        sync.close()

    def end_here(why: str, status: str, kind: StopReason | None) -> list[CancelResult[Any]]:
        _say(f"cancelkit: {why}")
        if kind is not None:  # (None: the deadline, which is no stop)
            control.stop(f"interrupted ({guard.name})" if guard.name else why, kind)
        results = _first.unanswered(targets, indices, why, status)
        for result in results:
            report(result)
        return results

    if isinstance(outcome, str) and ready is None:  # a signal while listing: none sent
        return sync, end_here(outcome, "not_sent", StopReason.INTERRUPTED), guard
    if ready is None:
        # No lean route for it, or no one cancel after the listing: the run sends it,
        # as always (from that listing if it came). A signal kept meanwhile is the run's.
        with one_shot(), without_gc():
            return job.build_client(), None, (guard if first.listing is not None else None)
    if outcome is None:  # a signal before it left: nothing was sent
        why = f"{guard.name}: not sent: the run was interrupted first"
        return sync, end_here(why, "not_sent", StopReason.INTERRUPTED), guard
    if not isinstance(outcome, Presend):
        why = f"cancel sent; no answer before {outcome}"
        kind = None if outcome == _first.DEADLINE else StopReason.FAILED
        if guard.name is not None:
            kind = StopReason.INTERRUPTED
        return sync, end_here(why, "unknown", kind), guard
    control.presend = outcome
    try:
        with one_shot(), without_gc():
            client = job.build_client()
    except Exception as exc:  # the same settings built the sync client: not expected
        why = f"cancel sent; the run could not go on to read its answer: {exc}"
        return sync, end_here(why, "unknown", StopReason.FAILED), guard
    return client, None, guard


def _warn(text: str) -> None:
    _say(f"cancelkit: warning: {text}")


def _open_journal(path: str) -> IO[bytes]:
    from ._journal import open_journal

    return open_journal(path)


def _open_given_journal(path: str) -> IO[bytes]:
    """``--journal``, opened only if no other user could rewrite it (as ssh refuses a
    key): this user's or root's, writable by no one else, in a directory no one
    else can swap it in (a resume trusts what it says)."""
    from ._ownership import directory_problem, file_problem

    parent = os.path.dirname(os.path.abspath(path))
    # (A missing directory is open_journal's to report: "cannot be opened".)
    problem = directory_problem(Path(parent), sticky_ok=True) if os.path.isdir(parent) else None
    if problem is not None:
        raise JournalError(f"--journal {path}: its directory is not safe: {problem}")
    sink = _open_journal(path)
    problem = file_problem(os.fstat(sink.fileno()))
    if problem is not None:
        sink.close()
        raise JournalError(f"--journal {path} {problem}; give a file of your own")
    return sink


class _Pruning:
    """The state directory pruned (the retention rule, ``Registry.prune``) as the run
    starts, never in its way: in a daemon thread started as the first outcome is
    written (or at the end, if none was), waited for at the end at most
    :data:`PRUNE_WAIT` and never past the run's own end, so that a hung directory
    neither delays a cancel nor holds the process."""

    def __init__(
        self, registry: Registry, before: Callable[[], None] | None = None, prune: bool = True
    ) -> None:
        self.registry = registry
        self.before = before  # first, in the same thread (a desk's journal headers' fsync)
        self.prune = prune  # False: only ``before`` (another process of the run prunes)
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._prune, name="cancelkit-prune", daemon=True)
            self.thread.start()

    def _prune(self) -> None:
        try:
            if self.before is not None:
                self.before()
            if self.prune:
                self.registry.prune()
        except Exception:  # housekeeping: never a reason to fail the run
            logger.debug("pruning the state directory failed", exc_info=True)

    def finish(self, left: float) -> None:
        self.start()
        assert self.thread is not None
        self.thread.join(min(PRUNE_WAIT, left))


def _registry() -> Registry | None:
    """The state directory, or None with a warning: the run goes on without it."""
    from ._registry import Registry, RegistryError

    try:
        return Registry.open()
    except RegistryError as exc:
        click.echo(
            f"cancelkit: warning: {exc}: this run keeps no record there (other runs on"
            " this key will not see its cancels, nor it theirs)",
            err=True,
        )
        return None


def _register(
    registry: Registry, run: str, origin: Origin, given: str | None, sink: IO[bytes] | None
) -> tuple[IO[bytes] | None, IO[bytes] | None]:
    """Make this run's record findable by other runs: the journal itself in the
    state directory, or a pointer to ``--journal`` (the second item: kept open to
    the end). Either is held for the run's life, so that no prune takes it.
    Failing that, a warning."""
    from ._registry import RegistryError, hold

    started = time.time()
    if given is not None:
        try:
            return sink, registry.point(run, started, given, origin)
        except RegistryError as exc:
            click.echo(f"cancelkit: warning: {exc}", err=True)
        return sink, None
    path = str(registry.journal_path(run, started))
    try:
        opened = _open_journal(path)
    except JournalError as exc:
        click.echo(f"cancelkit: warning: no journal: {exc}", err=True)
        return None, None
    try:
        hold(opened)
    except OSError as exc:  # a filesystem without locks: a prune may not see it run
        logger.debug("cannot lock %s: %s", path, exc)
    _before_click(f"cancelkit: journal {path} (--from-file resumes it)")
    return opened, None


class _Elsewhere:
    """``Control.sent_elsewhere`` for the CLI: other runs' records in the registry."""

    def __init__(
        self,
        registry: Registry,
        origin: Origin,
        run: str,
        targets: list[Any],
        describe: Describe,
    ) -> None:
        self.registry, self.origin, self.run, self.targets = registry, origin, run, targets
        self.describe = describe  # as the journal writes the order (Journal.sent)

    def __call__(self, indices: Sequence[int]) -> dict[int, str]:
        by_order: dict[str, list[int]] = {}
        for index in indices:
            by_order.setdefault(self.describe(self.targets[index]), []).append(index)
        try:
            found = self.registry.sent_elsewhere(self.origin, self.run, by_order)
        except Exception:  # a help, never a reason to fail the run
            return {}
        return {i: message for order, message in found.items() for i in by_order[order]}


def _warn_if_too_slow(job: Job[Any], count: int, all_orders: bool) -> None:
    if all_orders or job.estimate is None:
        return
    need = job.estimate(count)
    if need is not None and need > job.deadline:
        hint = job.too_slow_hint
        click.echo(
            f"cancelkit: warning: {count} order(s) at rate {job.rate} need about {need:.0f} s,"
            f" more than the deadline ({job.deadline:g} s): those not sent by then will be"
            f" not_sent{hint}",
            err=True,
        )


def _dry_run(job: Job[Any], items: Sequence[tuple[str, Any]], all_orders: bool) -> int:
    """What a run would send, with nothing sent (and no key needed)."""
    _warn_if_too_slow(job, len(items), all_orders)
    click.echo(f"cancelkit: dry run, nothing sent. Would send: {job.describe_request}", err=True)
    for label, target in items:
        click.echo(f"would cancel {job.describe(target)}  ({label})")
    return EXIT_OK


def _shown(client: BulkClient) -> str:
    from .._base import redacted

    return redacted(client.base_url)


async def _main(
    job: Job[C],
    client: C,
    targets: list[Any],
    report: _Report,
    control: Control,
    started: Callable[[], None] = lambda: None,
    guard: Guard | None = None,
) -> list[CancelResult[Any]]:
    started()
    if sys.stderr.isatty():
        report.start_progress()
    async with client, anyio.create_task_group() as group:
        group.start_soon(_watch_signals, control, guard)
        if report.progress is not None:
            group.start_soon(report.tick)
        else:
            group.start_soon(_status_lines, report)
        try:
            results: list[CancelResult[Any]] = await job.work(client, targets, report, control)
            report.unwritten(results)
        finally:
            group.cancel_scope.cancel()
    return results


async def _status_lines(report: _Report) -> None:
    while True:
        await anyio.sleep(STATUS_EVERY)
        click.echo(report.status_line(), err=True)


_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # SIGHUP: a closed terminal


async def _watch_signals(
    control: Control, guard: Guard | None = None, forwarded: Callable[[], str] | None = None
) -> None:
    """The run's signals: the first stops it (nothing new is sent; the grace for what
    is in flight), a second exits at once. ``guard``: the one that held them while
    the first cancel was sent before the loop (``_first``), and the signal it kept,
    if any. ``forwarded``: in a part of a run split across processes
    (``_processes``), SIGUSR2 is the parent's signal passed on, and this its name:
    it stops the run as a first signal does, quietly (the parent said it), and is
    never a second one (systemd may send the parts the same SIGTERM directly)."""
    if sys.platform == "win32":  # pragma: no cover - no signal receiver there
        return
    numbers = (*_SIGNALS, signal.SIGUSR2) if forwarded is not None else _SIGNALS
    try:
        receiver = anyio.open_signal_receiver(*numbers)
    except (ValueError, RuntimeError):  # not the main thread (tests): no signals
        return
    try:
        await _receive(receiver, control, guard, forwarded)
    finally:
        if forwarded is not None and guard is not None:
            # A part's loop is over, its desk still to close and its status to tell:
            # its signals kept again as before its loop (the receiver left the
            # defaults, and SIGUSR2's ends a process, its status untold).
            guard.install()


async def _receive(
    receiver: Any, control: Control, guard: Guard | None, forwarded: Callable[[], str] | None
) -> None:
    with receiver as signals:
        kept = guard.name if guard is not None else None  # read once the receiver holds them
        pending = [signal.Signals[kept]] if kept is not None else []
        if forwarded is not None and guard is not None and guard.forwarded:
            pending.insert(0, signal.SIGUSR2)

        async def received_signals() -> Any:
            for number in pending:
                yield number
            async for number in signals:
                yield number

        async def abort_after_grace() -> None:
            # Answers in flight get the first half of the grace; then they are
            # cancelled, and the run's last confirmation has the rest: the run is
            # over, every outcome written, by the end of the grace.
            await anyio.sleep(max(0.0, control.cutoff() - time.monotonic()))
            control.abort()

        direct = False  # a signal of its own came (a second one exits at once)
        async with anyio.create_task_group() as group:
            async for received in received_signals():
                if forwarded is not None and received == signal.SIGUSR2:
                    name, said = forwarded(), True
                else:
                    stopped = control.stop_reason is StopReason.INTERRUPTED
                    if direct or (stopped and forwarded is None):
                        _say("cancelkit: interrupted again: exiting at once")
                        os._exit(EXIT_INTERRUPTED)
                    direct, name, said = True, signal.Signals(received).name, False
                if control.stop_reason is StopReason.INTERRUPTED:
                    continue  # stopped already: by the parent's signal, or this one's
                control.stop(f"interrupted ({name})", StopReason.INTERRUPTED)
                if not said:
                    _say(
                        f"cancelkit: {name}: sending nothing new; {control.grace:g} s for"
                        " requests in flight and one listing to confirm what was sent"
                    )
                group.start_soon(abort_after_grace)


def _before_click(text: str) -> None:
    """A line on stderr on a cancel's way to its first request, written as
    ``click.echo(err=True)`` writes a plain line, without loading click for it
    (``_click``: a cancel ``_quick`` runs loads it after that request)."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _say(text: str) -> None:
    """A line on stderr that must not kill the run when stderr is gone (SIGHUP)."""
    with suppress(OSError):
        click.echo(text, err=True)


def _finish(
    results: list[CancelResult[Any]],
    report: _Report,
    control: Control,
    invalid: Sequence[str],
    key: str,
    inputs: int,
) -> int:
    counts = Counter(r.status for r in results if r.duplicate_of is None)
    parts = [f"{counts[s]} {s.replace('_', ' ')}" for s in OUTCOMES if counts[s]]
    orders = sum(counts.values())
    duplicates = sum(1 for r in results if r.duplicate_of is not None)
    given = (
        f" ({inputs} inputs, {duplicates} duplicate(s) reported with their original)"
        if duplicates
        else ""
    )
    _say(
        f"cancelkit: {orders} order(s){given}: {', '.join(parts) or 'none'}"
        + (f"; {len(invalid)} invalid input(s) not sent" if invalid else "")
    )
    if control.reason and control.stop_reason is not StopReason.INTERRUPTED:
        _say(f"cancelkit: stopped early: {printable(control.reason)} (key {key})")
    if control.stop_reason in (StopReason.INTERRUPTED, StopReason.ABORTED):
        return EXIT_INTERRUPTED
    if invalid or not all(r.ok for r in results):
        return EXIT_FAILED
    return EXIT_OK

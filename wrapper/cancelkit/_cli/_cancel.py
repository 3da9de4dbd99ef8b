"""``cancelkit cancel``: the operator's kill switch.

Everything is validated before anything is sent. Each order's outcome is written
as soon as it is known (stdout, and ``--journal`` fsynced), so an interrupted
run still leaves a true record; SIGINT/SIGTERM stop new work, give requests in
flight a short grace, then report the rest (*unknown* if sent, else *not sent*).
"""

from __future__ import annotations

import codecs
import json
import os
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence, Set
from contextlib import AbstractContextManager, suppress
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Generic, Protocol, Self, TypeVar

import anyio
import attrs
import click

from .._bulk import FINAL, OUTCOMES, CancelResult, Control, StopReason
from .._exceptions import InvalidRequest
from . import _inputs
from ._journal import PLANNED, RUN_KEY, SENT, Journal, JournalError, Origin, mismatch, new_run_id

if TYPE_CHECKING:
    from ._registry import Registry
from ._terminal import json_safe, library_log, printable

T = TypeVar("T")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
GRACE = 3.0  # seconds requests in flight may finish after an interrupt
STATUS_EVERY = 5.0  # seconds between status lines when stderr is not a terminal
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


def read_lines(source: str) -> list[Line]:
    """The id lines of FILE or ``-`` (stdin).

    The format: one id per line, UTF-8 with or without a BOM, LF or CRLF; blank
    lines and ``#`` comments (a whole line, or after whitespace) are skipped. A
    line that is a JSON object is a record of an earlier ``--json`` run: its
    ``order`` is read, and marked done if its ``status`` was final. Text that is
    not UTF-8 is a usage error naming the file and the line.
    """
    name = "stdin" if source == "-" else source
    try:
        data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as exc:
        raise click.UsageError(f"cannot read {source}: {exc.strerror}") from None
    lines: list[Line] = []
    parts = data.removeprefix(codecs.BOM_UTF8).split(b"\n")
    if _torn(parts[-1]):
        # A record cut off where a journal's writer stopped: an OS crash can leave the
        # tail of the last outcomes unwritten. Its order falls back on its earlier
        # lines (sent, planned) and is asked about again, never taken as settled.
        click.echo(
            f"cancelkit: warning: {name} line {len(parts)} is a record cut off (the run"
            " that wrote it stopped mid-line?): skipped",
            err=True,
        )
        parts.pop()
    for number, raw in enumerate(parts, start=1):
        label = f"{name} line {number}"
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise click.UsageError(
                f"{label}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at column"
                f" {exc.start + 1}); nothing was sent"
            ) from None
        if text.lstrip().startswith("{"):
            lines.append(_record(label, text))
            continue
        comment = _COMMENT.search(text)
        value = (text[: comment.start()] if comment else text).strip()
        if value:
            lines.append(Line(label, value))
    return lines


def _torn(last: bytes) -> bool:
    """Whether the file's last line (after its last newline) is a JSON record cut off."""
    if not last.lstrip().startswith(b"{"):
        return False
    try:
        json.loads(last.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return True
    return False


def _record(label: str, text: str) -> Line:
    record = _inputs.json_line(label, text)
    listed = _inputs.listed_order_id(record)
    if listed is not None:  # a line of `cancelkit orders <venue> --json`
        return Line(label, listed)
    try:
        if isinstance(record, dict) and RUN_KEY in record:
            return Line(label, "", origin=Origin.of(record), header=True)
        order, status = record["order"], record["status"]
    except (KeyError, TypeError):
        raise click.UsageError(f"{label}: a JSON line that is not a cancelkit record") from None
    if not isinstance(order, str) or status not in (*OUTCOMES, PLANNED, SENT):
        raise click.UsageError(f"{label}: a JSON line that is not a cancelkit record")
    done = status if status in FINAL else None
    return Line(label, order, done, status, Origin.of(record))


def latest_records(lines: Sequence[Line]) -> list[Line]:
    """Lines with each recorded order once, as its latest record says (a journal
    holds a plan, sent lines and outcomes, and a resumed run appends more); plain
    id lines stay as they are (duplicates there are the operator's)."""
    latest: dict[str, Line] = {}
    for line in lines:
        if line.record is not None:
            latest[line.text] = line
    kept: list[Line] = []
    seen: set[str] = set()
    for line in lines:
        if line.header:
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
    line = json.dumps(
        {
            **where,
            "input": label,
            "order": describe(result.target),
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
            },
        },
        ensure_ascii=False,
    )
    return json_safe(line)  # the server's message may hold C1 controls


def as_line(label: str, result: CancelResult[Any], describe: Describe = str) -> str:
    """One human line for one result (server text in it made printable)."""
    return printable(_as_line(label, result, describe))


def _as_line(label: str, result: CancelResult[Any], describe: Describe) -> str:
    word = result.status.upper().replace("_", " ") if not result.ok else result.status
    text = f"{word:<10} {describe(result.target)}"
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

    def label(self, result: CancelResult[Any]) -> str:
        return self.labels[result.index] if 0 <= result.index < len(self.labels) else "-"

    def echo(self, text: str) -> None:
        """One line on stdout; through the live display when it shares the terminal,
        so that the two never collide."""
        # (Not `console.file is sys.stdout`: while the display is live, rich puts a
        # proxy in sys.stdout, and lines written past it landed glued to the bar.)
        if self.progress is not None and self.shares_terminal:
            self.progress.console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            click.echo(text)
            sys.stdout.flush()

    def __call__(self, result: CancelResult[Any]) -> None:
        label = self.label(result)
        record = as_json(label, result, self.describe, **self.where)
        if self.journal is not None:  # first: a closed terminal (SIGHUP) must not lose it
            self.journal.outcome(record)
        if result.duplicate_of is None:
            self.counts[result.status] += 1
        self.echo(record if self.as_json_lines else as_line(label, result, self.describe))
        self.refresh()

    def sent(self, indices: Sequence[int]) -> None:
        """A request for these inputs is about to leave: journal it first."""
        self.orders_sent += len(indices)
        if self.journal is not None:
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

    try:
        with one_shot():  # one run per process: httpx's own transport, no aiohttp import
            client = job.build_client()
    except InvalidRequest as exc:
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
    click.echo(
        f"cancelkit: {job.venue} at {origin.base_url}, key {key}: {what}; rate {job.rate},"
        f" deadline {job.deadline:g} s"
        + (f"; {resumed} final in the record given, checked again" if resumed else ""),
        err=True,
    )
    _warn_if_too_slow(job, len(items), all_orders)
    if job.dry_run:
        click.echo(
            f"cancelkit: dry run, nothing sent. Would send: {job.describe_request}", err=True
        )
        for label, target in items:
            click.echo(f"would cancel {job.describe(target)}  ({label})")
        return EXIT_OK
    sink = None
    if job.journal:
        try:
            sink = _open_journal(job.journal)
        except JournalError as exc:
            click.echo(f"cancelkit: {exc}; nothing was sent", err=True)
            return EXIT_USAGE
    run_id = new_run_id()
    registry = _registry()
    if registry is not None:
        sink = _register(registry, run_id, origin, job.journal, sink)
    journal = None if sink is None else Journal(sink, run_id, origin)
    labels = [label for label, _ in items]
    targets = [t for _, t in items]
    where = {"run": run_id, **origin.as_dict()}
    report = _Report(labels, targets, job.as_json_lines, journal, where, job.describe)
    control = Control(job.deadline)
    control.on_sent = report.sent
    control.recorded = dict(recorded or {})
    if origins and not differs:  # "sent" speaks only for the venue, URL and key it names
        control.recorded_sent = set(recorded_sent)
    report.control = control
    if registry is not None:
        control.sent_elsewhere = _Elsewhere(registry, origin, run_id, targets, job.describe)
    try:
        if journal is not None:
            journal.plan([(label, job.describe(t)) for label, t in items], job.deadline)
        for label, text, message in invalid_records:
            report.invalid(label, text, message)
        results = anyio.run(_main, job, client, targets, report, control)
    finally:
        if report.progress is not None:
            report.progress.stop()
        if journal is not None:
            journal.close()
    return _finish(results, report, control, invalid, key, len(items))


def _open_journal(path: str) -> IO[bytes]:
    from ._journal import open_journal

    return open_journal(path)


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
) -> IO[bytes] | None:
    """Make this run's record findable by other runs: the journal itself in the
    state directory, or a pointer to ``--journal``. Failing that, a warning."""
    from ._registry import RegistryError

    started = time.time()
    if given is not None:
        try:
            registry.point(run, started, given, origin)
        except RegistryError as exc:
            click.echo(f"cancelkit: warning: {exc}", err=True)
        return sink
    path = str(registry.journal_path(run, started))
    try:
        opened = _open_journal(path)
    except JournalError as exc:
        click.echo(f"cancelkit: warning: no journal: {exc}", err=True)
        return None
    click.echo(f"cancelkit: journal {path} (--from-file resumes it)", err=True)
    return opened


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


def _shown(client: BulkClient) -> str:
    from .._base import redacted

    return redacted(client.base_url)


async def _main(
    job: Job[C], client: C, targets: list[Any], report: _Report, control: Control
) -> list[CancelResult[Any]]:
    if sys.stderr.isatty():
        report.start_progress()
    async with client, anyio.create_task_group() as group:
        group.start_soon(_watch_signals, control)
        if report.progress is not None:
            group.start_soon(report.tick)
        else:
            group.start_soon(_status_lines, report)
        try:
            results: list[CancelResult[Any]] = await job.work(client, targets, report, control)
        finally:
            group.cancel_scope.cancel()
    return results


async def _status_lines(report: _Report) -> None:
    while True:
        await anyio.sleep(STATUS_EVERY)
        click.echo(report.status_line(), err=True)


_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # SIGHUP: a closed terminal


async def _watch_signals(control: Control) -> None:
    if sys.platform == "win32":  # pragma: no cover - no signal receiver there
        return
    try:
        receiver = anyio.open_signal_receiver(*_SIGNALS)
    except (ValueError, RuntimeError):  # not the main thread (tests): no signals
        return
    with receiver as signals:
        async for received in signals:
            if control.stop_reason is StopReason.INTERRUPTED:
                _say("cancelkit: interrupted again: exiting at once")
                os._exit(EXIT_INTERRUPTED)
            name = signal.Signals(received).name
            control.stop(f"interrupted ({name})", StopReason.INTERRUPTED)
            _say(
                f"cancelkit: {name}: sending nothing new; {control.grace:g} s for requests in"
                " flight and one listing to confirm what was sent"
            )

            async def abort_after_grace() -> None:
                # Answers in flight get the first half of the grace; then they are
                # cancelled, and the run's last confirmation has the rest: the run is
                # over, every outcome written, by the end of the grace.
                await anyio.sleep(max(0.0, control.cutoff() - time.monotonic()))
                control.abort()

            async with anyio.create_task_group() as group:
                group.start_soon(abort_after_grace)
                async for _ in signals:
                    _say("cancelkit: interrupted again: exiting at once")
                    os._exit(EXIT_INTERRUPTED)


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

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
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, Any, TypeVar

import anyio
import attrs
import click

from . import _inputs
from . import _validation as check
from ._batch import FINAL, OUTCOMES, CancelResult, Control
from ._exceptions import InvalidRequest
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
    for number, raw in enumerate(data.removeprefix(codecs.BOM_UTF8).split(b"\n"), start=1):
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


def _record(label: str, text: str) -> Line:
    record = _inputs.json_line(label, text)
    listed = _inputs.listed_order_id(record)
    if listed is not None:  # a line of `cancelkit orders polymarket --json`
        return Line(label, listed)
    try:
        order, status = record["order"], record["status"]
    except (KeyError, TypeError):
        raise click.UsageError(f"{label}: a JSON line that is not a cancelkit record") from None
    if not isinstance(order, str) or status not in OUTCOMES:
        raise click.UsageError(f"{label}: a JSON line that is not a cancelkit record")
    return Line(label, order, status if status in FINAL else None)


def plausible(parse: Callable[[str], T]) -> Callable[[str], T]:
    """``parse``, refusing first any text with whitespace or control characters inside:
    in a file, that is a line that holds more than one id, not an id."""

    def check_text(text: str) -> T:
        odd = next((c for c in text if c.isspace() or not c.isprintable()), None)
        if odd is not None:
            raise InvalidRequest(f"{text[:80]!r} has {odd!r} inside; one id per line")
        return parse(text)

    return check_text


def parse_limitless(text: str) -> Any:
    """``order:<uuid>``, ``client:<id>`` or a bare UUID (an order id) to a generated
    request variant."""
    from ._generated.limitless_api.models import CancelByClientOrderId, CancelByOrderId

    kind, sep, value = _inputs.limitless_target(text).partition(":")
    if not sep or kind not in ("order", "client"):
        raise InvalidRequest(f"{text[:80]!r} is not order:<uuid> or client:<id>")
    if kind == "order":
        return CancelByOrderId(order_id=check.limitless_order_id(value))
    return CancelByClientOrderId(client_order_id=check.client_order_id(value))


def validate(
    items: Iterable[tuple[str, Any]], parse: Callable[[Any], T]
) -> tuple[list[tuple[str, T]], list[str]]:
    """Parse every item; return the good ones and one message per bad one."""
    good: list[tuple[str, T]] = []
    bad: list[str] = []
    for label, text in items:
        try:
            good.append((label, parse(text)))
        except InvalidRequest as exc:
            bad.append(f"{label}: {exc.message}")
    return good, bad


def describe(target: Any) -> str:
    """The order as an operator would write it (and as a resumed run reads it)."""
    if isinstance(target, str):
        return target
    if hasattr(target, "order_id"):
        return f"order:{target.order_id}"
    return f"client:{target.client_order_id}"


def as_json(label: str, result: CancelResult[Any]) -> str:
    """One JSON line for one result (also a line a resumed run can read)."""
    error = result.error
    line = json.dumps(
        {
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


def as_line(label: str, result: CancelResult[Any]) -> str:
    """One human line for one result (server text in it made printable)."""
    return printable(_as_line(label, result))


def _as_line(label: str, result: CancelResult[Any]) -> str:
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
        self, labels: list[str], total: int, as_json_lines: bool, journal: IO[bytes] | None
    ) -> None:
        self.labels = labels
        self.total = total
        self.render = as_json if as_json_lines else as_line
        self.journal = journal
        self.counts: Counter[str] = Counter()
        self.started = time.monotonic()
        self.progress: Any = None

    def label(self, result: CancelResult[Any]) -> str:
        return self.labels[result.index] if 0 <= result.index < len(self.labels) else "-"

    def __call__(self, result: CancelResult[Any]) -> None:
        label = self.label(result)
        click.echo(self.render(label, result))
        sys.stdout.flush()
        if self.journal is not None:
            self.journal.write(as_json(label, result).encode("utf-8") + b"\n")
            self.journal.flush()
            os.fsync(self.journal.fileno())
        if result.duplicate_of is None:
            self.counts[result.status] += 1
        if self.progress is not None:
            self.progress.update(self.task, completed=self.done, status=self.summary())

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        return ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in self.counts.items() if n)

    def status_line(self) -> str:
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = f", about {(self.total - self.done) / rate:.0f} s left" if rate else ""
        return (
            f"cancelkit: {self.done}/{self.total} orders done ({self.summary() or 'none yet'})"
            f" after {elapsed:.0f} s{eta}"
        )

    def start_progress(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("cancelling"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.task = self.progress.add_task("cancel", total=self.total, status="")
        self.progress.start()


Work = Callable[[Any, list[Any], Callable[[CancelResult[Any]], None], Control], Awaitable[Any]]


@attrs.frozen
class Job:
    """What one ``cancelkit cancel`` invocation is to do, venue-specific parts given."""

    venue: str
    build_client: Callable[[], Any]
    work: Work
    rate: str
    deadline: float
    as_json_lines: bool
    journal: str | None
    dry_run: bool
    describe_request: str
    verbose: bool


def run(
    job: Job,
    *,
    items: Sequence[tuple[str, Any]],
    invalid: Sequence[str],
    skip_invalid: bool,
    skipped: int = 0,
    all_orders: bool = False,
) -> int:
    """Send the batch (or refuse it) and report; return the exit status."""
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
        note = f" ({skipped} already final in the record given)" if skipped else ""
        click.echo(f"cancelkit: no orders to cancel{note}", err=True)
        return EXIT_OK if skipped and not invalid else EXIT_USAGE
    with _debug_log(job.verbose):
        return _run(job, items, skipped, all_orders, invalid)


def _debug_log(on: bool) -> AbstractContextManager[None]:
    """The library's log on stderr for one command: warnings always (``cancelkit:``
    lines), the debug log with ``--verbose``."""
    return library_log(on)


def _run(
    job: Job,
    items: Sequence[tuple[str, Any]],
    skipped: int,
    all_orders: bool,
    invalid: Sequence[str],
) -> int:
    try:
        client = job.build_client()
    except InvalidRequest as exc:
        click.echo(f"cancelkit: {exc.message}", err=True)
        return EXIT_USAGE
    key = getattr(client._auth, client._id_label)
    what = "every open order" if all_orders else f"{len(items)} order(s)"
    click.echo(
        f"cancelkit: {job.venue} at {_shown(client)}, key {key}: {what}; rate {job.rate},"
        f" deadline {job.deadline:g} s"
        + (f"; {skipped} already final, skipped" if skipped else ""),
        err=True,
    )
    if job.dry_run:
        click.echo(
            f"cancelkit: dry run, nothing sent. Would send: {job.describe_request}", err=True
        )
        for label, target in items:
            click.echo(f"would cancel {describe(target)}  ({label})")
        return EXIT_OK
    labels = [label for label, _ in items]
    journal = open(job.journal, "ab") if job.journal else None  # noqa: SIM115 (closed below)
    report = _Report(labels, len(items), job.as_json_lines, journal)
    control = Control(job.deadline)
    try:
        results = anyio.run(_main, job, client, [t for _, t in items], report, control)
    finally:
        if report.progress is not None:
            report.progress.stop()
        if journal is not None:
            journal.close()
    return _finish(results, report, control, invalid, key)


def _shown(client: Any) -> str:
    from ._base import redacted

    return redacted(client.base_url)


async def _main(
    job: Job, client: Any, targets: list[Any], report: _Report, control: Control
) -> list[CancelResult[Any]]:
    if sys.stderr.isatty():
        report.start_progress()
    async with client, anyio.create_task_group() as group:
        group.start_soon(_watch_signals, control)
        if not sys.stderr.isatty():
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


async def _watch_signals(control: Control) -> None:
    if sys.platform == "win32":  # pragma: no cover - no signal receiver there
        return
    try:
        receiver = anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM)
    except (ValueError, RuntimeError):  # not the main thread (tests): no signals
        return
    with receiver as signals:
        async for received in signals:
            if control.stopped and control.reason and control.reason.startswith("interrupted"):
                click.echo("cancelkit: interrupted again: exiting at once", err=True)
                os._exit(EXIT_INTERRUPTED)
            name = signal.Signals(received).name
            control.stop(f"interrupted ({name})")
            click.echo(
                f"cancelkit: {name}: sending nothing new; {GRACE:g} s for requests in flight",
                err=True,
            )

            async def abort_after_grace() -> None:
                await anyio.sleep(GRACE)
                control.abort()

            async with anyio.create_task_group() as group:
                group.start_soon(abort_after_grace)
                async for _ in signals:
                    click.echo("cancelkit: interrupted again: exiting at once", err=True)
                    os._exit(EXIT_INTERRUPTED)


def _finish(
    results: list[CancelResult[Any]],
    report: _Report,
    control: Control,
    invalid: Sequence[str],
    key: str,
) -> int:
    counts = Counter(r.status for r in results if r.duplicate_of is None)
    parts = [f"{counts[s]} {s.replace('_', ' ')}" for s in OUTCOMES if counts[s]]
    orders = sum(counts.values())
    click.echo(
        f"cancelkit: {orders} order(s): {', '.join(parts) or 'none'}"
        + (f"; {len(invalid)} invalid input(s) not sent" if invalid else ""),
        err=True,
    )
    if control.reason and not control.reason.startswith("interrupted"):
        click.echo(f"cancelkit: stopped early: {printable(control.reason)} (key {key})", err=True)
    if control.reason and control.reason.startswith(("interrupted", "aborted")):
        return EXIT_INTERRUPTED
    if invalid or not all(r.ok for r in results):
        return EXIT_FAILED
    return EXIT_OK

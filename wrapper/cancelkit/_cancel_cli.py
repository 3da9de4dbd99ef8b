"""``cancelkit cancel``: the operator's kill switch. Everything is validated before
anything is sent; results come back one per order, in input order."""

from __future__ import annotations

import codecs
import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from . import _validation as check
from ._batch import CancelResult
from ._exceptions import CancelKitError, InvalidRequest

T = TypeVar("T")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


_COMMENT = re.compile(r"(?:^|\s)#")


def read_lines(source: str) -> list[tuple[str, str]]:
    """(label, text) for each id line of FILE or ``-`` (stdin).

    The format: one id per line, UTF-8 with or without a BOM, LF or CRLF; blank
    lines and ``#`` comments (a whole line, or after whitespace) are skipped.
    Text that is not UTF-8 is a usage error naming the file and the line.
    """
    name = "stdin" if source == "-" else source
    try:
        data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as exc:
        raise click.UsageError(f"cannot read {source}: {exc.strerror}") from None
    data = data.removeprefix(codecs.BOM_UTF8)
    lines: list[tuple[str, str]] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise click.UsageError(
                f"{name} line {number}: not UTF-8 text (byte 0x{raw[exc.start]:02x}"
                f" at column {exc.start + 1}); nothing was sent"
            ) from None
        comment = _COMMENT.search(text)
        value = (text[: comment.start()] if comment else text).strip()
        if value:
            lines.append((f"{name} line {number}", value))
    return lines


def plausible(parse: Callable[[str], T]) -> Callable[[str], T]:
    """``parse``, refusing first any text with whitespace or control characters inside:
    in a file, that is a line that holds more than one id, not an id."""

    def check(text: str) -> T:
        odd = next((c for c in text if c.isspace() or not c.isprintable()), None)
        if odd is not None:
            raise InvalidRequest(f"{text[:80]!r} has {odd!r} inside; one id per line")
        return parse(text)

    return check


def parse_limitless(text: str) -> Any:
    """``order:<uuid>`` or ``client:<id>`` to a generated request variant."""
    from limitless_api.models import CancelByClientOrderId, CancelByOrderId

    kind, sep, value = text.partition(":")
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
    """The order as an operator would write it."""
    if isinstance(target, str):
        return target
    if hasattr(target, "order_id"):
        return f"order:{target.order_id}"
    return f"client:{target.client_order_id}"


def as_json(label: str, result: CancelResult[Any]) -> str:
    """One JSON line for one result."""
    error = result.error
    return json.dumps(
        {
            "input": label,
            "order": describe(result.target),
            "status": result.status,
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


def as_line(label: str, result: CancelResult[Any]) -> str:
    """One human line for one result."""
    order = describe(result.target)
    if result.status == "failed":
        assert result.error is not None
        return f"FAILED     {order}  ({label}): {type(result.error).__name__}: {result.error}"
    word = "cancelled " if result.status == "cancelled" else "gone      "
    return f"{word} {order}" + (
        f"  (same as input {result.duplicate_of + 1})" if result.duplicate_of is not None else ""
    )


def run(
    *,
    build_client: Callable[[], Any],
    items: Sequence[tuple[str, Any]],
    invalid: Sequence[str],
    skip_invalid: bool,
    as_json_lines: bool,
    batch: Callable[
        [Any, list[Any], Callable[[CancelResult[Any]], None] | None], list[CancelResult[Any]]
    ],
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
    if not items and not invalid:
        click.echo("cancelkit: no orders given", err=True)
        return EXIT_USAGE
    try:
        client = build_client()
    except InvalidRequest as exc:
        click.echo(f"cancelkit: {exc.message}", err=True)
        return EXIT_USAGE
    labels = [label for label, _ in items]
    targets = [target for _, target in items]
    progress_bar = None
    on_result: Callable[[CancelResult[Any]], None] | None = None
    if len(targets) > 1 and not as_json_lines and sys.stdout.isatty():
        from rich.progress import Progress

        progress_bar = Progress(transient=True)
        task = progress_bar.add_task("cancelling", total=len(targets))

        def advance(result: CancelResult[Any]) -> None:
            progress_bar.advance(task)

        on_result = advance

        progress_bar.start()
    try:
        with client:
            results = batch(client, targets, on_result) if targets else []
    except CancelKitError as exc:  # settings refused before sending
        click.echo(f"cancelkit: {exc}", err=True)
        return EXIT_USAGE
    finally:
        if progress_bar is not None:
            progress_bar.stop()
    render = as_json if as_json_lines else as_line
    for label, result in zip(labels, results, strict=True):
        click.echo(render(label, result))
    failed = sum(not r.ok for r in results) + len(invalid)
    cancelled = sum(r.status == "cancelled" for r in results)
    gone = sum(r.status == "already_gone" for r in results)
    click.echo(f"cancelkit: {cancelled} cancelled, {gone} already gone, {failed} failed", err=True)
    return EXIT_FAILED if failed else EXIT_OK

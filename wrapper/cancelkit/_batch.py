"""Bulk cancel: validate everything first, then cancel under a rate limit, never abort."""

from __future__ import annotations

import json
import logging
import math
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Generic, Literal, TypeVar

import anyio
import attrs

from ._exceptions import CancelKitError, InvalidRequest, OrderNotFound

T = TypeVar("T")
logger = logging.getLogger("cancelkit")
Status = Literal["cancelled", "already_gone", "failed"]


@attrs.frozen
class CancelResult(Generic[T]):
    """What happened to one requested order.

    Attributes:
        target: the order as it was requested.
        status: ``cancelled``; ``already_gone`` (not found, with ``missing_ok``); ``failed``.
        message: the server's message, when it gave one.
        error: the error for ``failed`` (``InvalidRequest`` when refused before sending).
        attempts: requests sent for this order.
        duplicate_of: index of the earlier identical request this one shares its result with.
    """

    target: T
    status: Status
    message: str | None = None
    error: CancelKitError | None = None
    attempts: int = 0
    duplicate_of: int | None = None

    @property
    def ok(self) -> bool:
        """True when the order is no longer open."""
        return self.status != "failed"


class RateLimiter:
    """Admits at most ``rate`` attempts per second as the exchange counts them.

    An attempt reaches the exchange after it is started and before its outcome
    comes back, so the attempts the exchange may still count in its last-second
    window are those in flight plus those that finished less than a window ago.
    Admitting a new attempt only while that number is under the limit keeps
    every sliding window (and so every fixed window or token bucket of the same
    rate) within the limit whatever the network jitter: no 429 by construction,
    at the price of one round trip per window.
    """

    def __init__(self, rate: float) -> None:
        self.capacity = max(1, math.floor(rate))
        self.window = self.capacity / rate
        self._in_flight = 0
        self._finished: deque[float] = deque()
        self._changed = anyio.Event()

    def _load(self, now: float) -> int:
        while self._finished and self._finished[0] <= now - self.window:
            self._finished.popleft()
        return self._in_flight + len(self._finished)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one admission for the duration of one attempt."""
        while True:
            now = anyio.current_time()
            if self._load(now) < self.capacity:
                break
            wait = self._finished[0] + self.window - now if self._finished else math.inf
            changed = self._changed
            with anyio.move_on_after(wait):
                await changed.wait()
        self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1
            self._finished.append(anyio.current_time())
            self._changed.set()
            self._changed = anyio.Event()


Prepare = Callable[[T], dict[str, Any]]
Send = Callable[[dict[str, Any], RateLimiter | None], Awaitable[tuple[str | None, int]]]


def _key(request: dict[str, Any]) -> str:
    return json.dumps(
        [request["url"], request.get("json"), request.get("params")], sort_keys=True, default=str
    )


def check_batch_settings(concurrency: object, max_rate: object) -> None:
    """Refuse batch settings that make no sense, before anything is sent."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidRequest(f"concurrency must be a positive integer, got {concurrency!r}")
    if max_rate is not None and (
        isinstance(max_rate, bool) or not isinstance(max_rate, int | float) or max_rate <= 0
    ):
        raise InvalidRequest(f"max_rate must be a positive number or None, got {max_rate!r}")


async def run_batch(
    targets: Sequence[T],
    prepare: Prepare[T],
    send: Send,
    *,
    concurrency: int,
    max_rate: float | None,
    missing_ok: bool,
    on_result: Callable[[CancelResult[T]], None] | None = None,
) -> list[CancelResult[T]]:
    """Cancel every target once; one result per target, in input order."""
    check_batch_settings(concurrency, max_rate)
    results: list[CancelResult[T] | None] = [None] * len(targets)
    first_seen: dict[str, int] = {}
    todo: list[tuple[int, dict[str, Any]]] = []
    duplicates: list[tuple[int, int]] = []
    for index, target in enumerate(targets):
        try:
            request = prepare(target)
        except CancelKitError as exc:
            results[index] = CancelResult(target, "failed", error=exc)
            continue
        key = _key(request)
        if key in first_seen:
            duplicates.append((index, first_seen[key]))
        else:
            first_seen[key] = index
            todo.append((index, request))

    def notify(result: CancelResult[T]) -> None:
        if on_result is None:
            return
        try:
            on_result(result)
        except Exception:  # a broken progress display must not stop a kill switch
            logger.exception("on_result callback failed; the batch goes on")

    for result in results:
        if result is not None:
            notify(result)

    limiter = RateLimiter(max_rate) if max_rate else None
    pending = iter(todo)

    async def worker() -> None:
        for index, request in pending:  # a shared iterator: each item is taken once
            target = targets[index]
            try:
                message, attempts = await send(request, limiter)
                result = CancelResult(target, "cancelled", message=message, attempts=attempts)
            except OrderNotFound as exc:
                status: Status = "already_gone" if missing_ok else "failed"
                result = CancelResult(
                    target,
                    status,
                    message=exc.message,
                    error=None if missing_ok else exc,
                    attempts=exc.attempts,
                )
            except CancelKitError as exc:
                result = CancelResult(target, "failed", error=exc, attempts=exc.attempts)
            except Exception as exc:
                logger.exception("unexpected error cancelling one order of a batch")
                error = CancelKitError(f"unexpected {type(exc).__name__}: {exc}")
                result = CancelResult(target, "failed", error=error)
            results[index] = result
            notify(result)

    async with anyio.create_task_group() as group:
        for _ in range(min(concurrency, len(todo)) or 0):
            group.start_soon(worker)

    for index, original in duplicates:
        first = results[original]
        assert first is not None
        duplicate = attrs.evolve(first, target=targets[index], attempts=0, duplicate_of=original)
        results[index] = duplicate
        notify(duplicate)
    return [r for r in results if r is not None]

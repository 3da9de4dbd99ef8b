"""A coroutine's first step run at once, in its caller's step, as Python 3.12's
eager tasks run it (``asyncio.Task(..., eager_start=True)``).

aiohttp writes a request's body from a task of its own, created as the request is
sent; on Python 3.11 that task first runs one event-loop pass later, after every
other ready task (on a desk firing, every other account's kill up to its first
wait). Its bytes, the headers with them (aiohttp holds the headers back to send
them in one write with the body), leave only then. Given :func:`started`'s
coroutine instead, the task finds the body already written (or, if writing it had
to wait, takes over from that wait).
"""

from __future__ import annotations

import types
from collections.abc import Coroutine, Generator
from typing import Any, TypeVar

T = TypeVar("T")


def started(coro: Coroutine[Any, Any, T]) -> Coroutine[Any, Any, T]:
    """``coro`` run now up to its first wait; a coroutine that goes on from there
    (the task that runs it hands that wait on, as it would have). An exception the
    first step raises is raised by the returned coroutine, where the task sees it."""
    try:
        waiting = coro.send(None)
    except StopIteration as stop:
        return _finished(stop.value)
    except Exception as exc:  # the task's to raise, as it would have been
        return _raised(exc)
    return _resumed(coro, waiting)  # a generator-based coroutine


async def _finished(value: T) -> T:
    return value


async def _raised(exc: Exception) -> Any:
    raise exc


@types.coroutine
def _resumed(coro: Coroutine[Any, Any, T], waiting: Any) -> Generator[Any, Any, T]:
    """What is left of ``coro``, whose first step stopped at ``waiting``: that wait
    handed to the running task first (an asyncio task resumes a coroutine with
    ``send(None)`` once what it waits on is done, which ``yield from`` then does)."""
    try:
        yield waiting
    except BaseException as exc:  # cancelled (or thrown into) while waiting: coro's own
        try:
            waiting = coro.throw(exc)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        return (yield from _resumed(coro, waiting))
    return (yield from coro)  # type: ignore[no-any-return]

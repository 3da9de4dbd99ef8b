"""One event loop in one daemon thread, for the sync clients' bulk cancels.

A sync client runs its kill switch on an async twin. Starting a loop (and a pool)
per call would pay a cold connect each time and make ``warm()`` useless for it, so
the twin lives in this thread for the client's life. A daemon thread of our own,
not ``anyio.from_thread.start_blocking_portal``: the portal's worker thread is
joined at interpreter exit, so a client never closed would hang the program.

No caller waits on the thread unboundedly: a call whose thread is gone (after
``fork()`` a child has none of its parent's threads) or closed under it ends with
:class:`Closed`, and :meth:`LoopThread.close` ends the calls in flight first.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

_T = TypeVar("_T")

# How often a waiting caller checks that the loop thread is still there: a dead
# thread never completes its futures.
_POLL = 0.25
# How long close() lets the calls it cancelled (and the cleanup) take to end.
_END_WAIT = 5.0


class Closed(Exception):
    """The loop thread was closed, or is gone, while (or before) a call waited on it."""


def _quiet_unclosed(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The loop's exception handler: aiohttp's "Unclosed client session" and
    "Unclosed connector" (a pool that could not be closed: in a forked child, whose
    copy of the loop has no thread) stay what aiohttp also raises for them, a
    ResourceWarning, silent by default as an unclosed file's is; the rest as asyncio
    reports it."""
    message = str(context.get("message", ""))
    if message.startswith(("Unclosed client session", "Unclosed connector")):
        return
    loop.default_exception_handler(context)


class LoopThread:
    """An asyncio loop running in a daemon thread; :meth:`call` runs a coroutine
    function there and waits for its result (from any other thread, also from
    inside a running event loop: a notebook)."""

    def __init__(self, name: str = "cancelkit-bulk") -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(_quiet_unclosed)
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        # Re-entrant: close() from a signal handler may interrupt call() on the same
        # thread while it holds the lock.
        self._lock = threading.RLock()
        self._left = threading.Condition(self._lock)  # a caller left call()
        self._closing = False
        # Each call's future, and the thread waiting on it.
        self._waiting: dict[concurrent.futures.Future[Any], int] = {}
        self._running: set[asyncio.Task[Any]] = set()  # touched in the loop thread only
        self._thread.start()

    def call(self, function: Callable[[], Awaitable[_T]]) -> _T:
        """``await function()`` in the loop thread; its result, or its exception.
        Interrupted (Ctrl-C), the coroutine is cancelled, as ``asyncio.run`` does.
        :class:`Closed` if the loop is closed (by :meth:`close`, from any thread) or
        its thread is gone before the call ends."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("LoopThread.call from its own thread would wait forever")

        async def main() -> _T:
            task = asyncio.current_task()
            if task is not None:
                self._running.add(task)
            try:
                return await function()
            finally:
                if task is not None:
                    self._running.discard(task)

        with self._lock:
            if self._closing or not self._thread.is_alive():
                raise Closed("the loop thread is closed")
            try:
                future = asyncio.run_coroutine_threadsafe(main(), self._loop)
            except RuntimeError:  # closed by a signal handler on this thread just now
                raise Closed("the loop thread is closed") from None
            self._waiting[future] = threading.get_ident()
        try:
            while True:
                try:
                    return future.result(timeout=_POLL)
                except TimeoutError:
                    if future.done():  # the coroutine's own TimeoutError
                        raise
                    if not self._thread.is_alive():
                        raise Closed("the loop thread is gone") from None
                except concurrent.futures.CancelledError:
                    if self._closing:
                        raise Closed("the loop thread was closed during the call") from None
                    raise
        except Closed:
            raise  # nothing left to cancel: the loop is gone or cancelled it
        except BaseException:
            future.cancel()
            raise
        finally:
            with self._lock:
                self._waiting.pop(future, None)
                self._left.notify_all()

    def stop(self) -> None:
        """Stop the loop without waiting (a client dropped unclosed: from any thread,
        the loop's own too)."""
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._loop.stop)

    def close(self, cleanup: Callable[[], Awaitable[None]] | None = None) -> None:
        """End the calls in flight (cancelled: their callers get :class:`Closed`), run
        ``cleanup`` in the loop, stop the loop and join the thread, each wait bounded.
        From the loop's own thread (a callback closing its client) nothing is waited
        for: the loop is told to stop."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            waiting = list(self._waiting)
        if self._loop.is_closed():
            return
        if threading.current_thread() is self._thread:
            for task in list(self._running):
                task.cancel()
            self._loop.stop()
            return

        async def finish() -> None:
            tasks = [task for task in self._running if not task.done()]
            for task in tasks:
                task.cancel()
            try:
                if tasks:
                    await asyncio.wait(tasks, timeout=_END_WAIT)
                if cleanup is not None:
                    await asyncio.wait_for(cleanup(), _END_WAIT)
            finally:
                await asyncio.wait_for(self._loop.shutdown_asyncgens(), _END_WAIT)

        try:
            if self._thread.is_alive():
                asyncio.run_coroutine_threadsafe(finish(), self._loop).result(3 * _END_WAIT)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(_END_WAIT)
            # A call whose coroutine did not end in time still returns (Closed).
            for future in waiting:
                future.cancel()
            if not self._thread.is_alive():
                self._loop.close()
            # The callers have their answer (a result or Closed) before close() returns;
            # but not one waiting on this thread (close() from a signal handler that
            # interrupted its call()): it leaves only once close() has returned.
            me = threading.get_ident()
            with self._lock:
                self._left.wait_for(
                    lambda: all(ident == me for ident in self._waiting.values()), _END_WAIT
                )

    def finish(self, function: Callable[[], Awaitable[object]], seconds: float) -> None:
        """For a client left unclosed (dropped, or still open at exit): ``await
        function()`` in the loop thread for at most ``seconds``, any failure ignored,
        then stop the loop. Called from the loop thread itself, or where the thread is
        gone (a forked child), it only stops it: nothing would run the coroutine."""
        try:
            thread = self._thread
            if (
                thread.is_alive()
                and threading.current_thread() is not thread
                and not self._loop.is_closed()
            ):

                async def main() -> None:
                    await function()

                future = asyncio.run_coroutine_threadsafe(main(), self._loop)
                try:
                    future.result(timeout=seconds)
                except Exception:  # late or failed: nothing to report at exit
                    future.cancel()
        finally:
            self.stop()

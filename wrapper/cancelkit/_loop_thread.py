"""One event loop in one daemon thread, for the sync clients' bulk cancels.

A sync client runs its kill switch on an async twin. Starting a loop (and a pool)
per call would pay a cold connect each time and make ``warm()`` useless for it, so
the twin lives in this thread for the client's life. A daemon thread of our own,
not ``anyio.from_thread.start_blocking_portal``: the portal's worker thread is
joined at interpreter exit, so a client never closed would hang the program.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

_T = TypeVar("_T")


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
        self._thread.start()

    def call(self, function: Callable[[], Awaitable[_T]]) -> _T:
        """``await function()`` in the loop thread; its result, or its exception.
        Interrupted (Ctrl-C), the coroutine is cancelled, as ``asyncio.run`` does."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("LoopThread.call from its own thread would wait forever")

        async def main() -> _T:
            return await function()

        future = asyncio.run_coroutine_threadsafe(main(), self._loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def stop(self) -> None:
        """Stop the loop without waiting (a client dropped unclosed: from any thread,
        the loop's own too)."""
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._loop.stop)

    def close(self) -> None:
        """Stop the loop and join the thread (after finishing async generators)."""
        if self._loop.is_closed():
            return
        try:
            asyncio.run_coroutine_threadsafe(self._loop.shutdown_asyncgens(), self._loop).result()
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

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

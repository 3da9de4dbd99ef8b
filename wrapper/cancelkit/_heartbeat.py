"""``cancelkit.Heartbeat``: a bot's side of the guard's dead-man's switch."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Self

from . import _guard_link as link

logger = logging.getLogger("cancelkit")

DEFAULT_TIMEOUT = 4.0  # seconds assumed when neither the caller nor the guard says
REPLY_WAIT = 1.0  # seconds one beat waits for the guard's answer, at most


class Heartbeat:
    """Beats this user's running guard (``cancelkit guard --heartbeat-timeout S``)
    from a daemon thread, every ``timeout / 4`` seconds, while the ``with`` block runs.

    If the guard goes away, refuses a beat (it has fired: it refuses heartbeats until
    ``cancelkit arm``) or its channel cannot be trusted, :attr:`healthy` turns False
    and ``on_unhealthy`` is called once with the reason, from the beating thread;
    when the guard answers again it turns True. A bot that reads ``healthy`` False
    should stop trading: nothing guards its orders, or they were just cancelled.

    Args:
        timeout: the guard's heartbeat timeout; None: the one the guard states in
            its answer to the first beat (else 4 s).
        on_unhealthy: called with the reason when the guard stops answering or
            refuses a beat.
        socket: the guard's control socket (default: ``guard.sock`` in the state
            directory, ``$CANCELKIT_STATE_DIR`` or ``$XDG_STATE_HOME/cancelkit``).

    >>> with cancelkit.Heartbeat(on_unhealthy=stop_trading) as beat:  # doctest: +SKIP
    ...     while beat.healthy:
    ...         trade()
    """

    def __init__(
        self,
        timeout: float | None = None,
        *,
        on_unhealthy: Callable[[str], None] | None = None,
        socket: str | os.PathLike[str] | None = None,
    ) -> None:
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        self._timeout = timeout
        self._on_unhealthy = on_unhealthy
        self._path = link.socket_path() if socket is None else socket
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._healthy = False
        self._reason: str | None = "not started"
        self._told = False  # on_unhealthy called for the current bad spell

    @property
    def healthy(self) -> bool:
        """Whether the guard took the last beat (armed, listening, ours)."""
        return self._healthy

    @property
    def reason(self) -> str | None:
        """Why :attr:`healthy` is False (None while it is True)."""
        return self._reason

    @property
    def interval(self) -> float:
        """Seconds between beats: a quarter of the timeout."""
        return (self._timeout or DEFAULT_TIMEOUT) / 4

    def beat(self) -> bool:
        """One beat now; whether the guard took it (and :attr:`healthy` says so)."""
        try:
            answer = link.request("heartbeat", timeout=REPLY_WAIT, path=self._path)
        except (link.GuardUnreachable, link.GuardRefused) as exc:
            return self._unhealthy(str(exc))
        except OSError as exc:
            return self._unhealthy(f"cannot reach the guard: {exc}")
        if not answer.get("ok"):
            return self._unhealthy(f"the guard refused the heartbeat: {answer.get('error')}")
        stated = answer.get("heartbeat_timeout")
        if self._timeout is None and isinstance(stated, int | float) and stated > 0:
            self._timeout = float(stated)
        with self._lock:
            self._healthy, self._reason, self._told = True, None, False
        return True

    def _unhealthy(self, reason: str) -> bool:
        with self._lock:
            self._healthy, self._reason = False, reason
            tell, self._told = not self._told, True
        if tell:
            logger.warning("heartbeat: %s", reason)
            if self._on_unhealthy is not None:
                try:
                    self._on_unhealthy(reason)
                except Exception:  # the bot's callback must not end the beating
                    logger.exception("the heartbeat's on_unhealthy callback raised")
        return False

    def start(self) -> Self:
        """Beat once now, then every :attr:`interval` from a daemon thread."""
        if self._thread is None:
            self._stop.clear()
            self.beat()
            self._thread = threading.Thread(
                target=self._run, name="cancelkit-heartbeat", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop beating (the guard's timeout then runs out: stop only to be guarded
        no more, or for the guard to fire)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(REPLY_WAIT + 1.0)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "healthy" if self._healthy else f"unhealthy ({self._reason})"
        return f"Heartbeat({os.fspath(self._path)!r}, every {self.interval:g} s, {state})"

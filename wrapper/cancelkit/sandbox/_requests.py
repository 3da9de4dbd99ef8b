"""The sandbox's request log: what each exchange received, in order, as a test
asserts on it (as respx and pytest-httpx keep ``.calls``)."""

from __future__ import annotations

import itertools
import json
import threading
from collections import deque
from contextvars import ContextVar
from typing import Any

import attrs

MAX_LOGGED = 100_000
"""Requests the log keeps per venue (the oldest go first): a long-running sandbox
must not grow without bound."""
_MAX_BODY = 1 << 20  # bodies larger than this are kept as the start of their text

_arrival = itertools.count()
# Set by the signature check of the request being handled (one context per request).
verified: ContextVar[bool] = ContextVar("verified", default=False)


@attrs.frozen
class RecordedRequest:
    """One request an exchange of the sandbox received, and what it answered.

    Attributes:
        venue: ``polymarket``, ``limitless`` or ``kalshi``.
        method: the HTTP method.
        path: the path as sent on the wire (percent-encoding kept).
        query: the query's name and value pairs, in order.
        body: the JSON body parsed (None if empty); its text if it is not JSON.
        verified: whether its signature verified (an unsigned or badly signed
            request is logged too, with False).
        status: the HTTP status the sandbox answered.
        arrived: ``time.monotonic()`` when the sandbox began handling it (headers
            read, before the body). Linux's monotonic clock is system-wide, so another
            process on the machine can compare it with its own (the benchmarks time
            "Enter to first cancel" with it).
        wire: ``time.monotonic()`` when its bytes reached the sandbox's socket, by
            the kernel's receive stamp (Linux on x86-64 and arm64), which does not
            wait for the server's interpreter to be scheduled; elsewhere, or with no
            stamp, the same as ``arrived``. For the last of the bytes read with the
            request's head, so never earlier than its first byte.
    """

    venue: str
    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    body: Any
    verified: bool
    status: int
    seq: int = attrs.field(repr=False, eq=False)
    arrived: float = attrs.field(default=0.0, repr=False, eq=False)
    wire: float = attrs.field(default=0.0, repr=False, eq=False)


def parse_body(raw: bytes) -> Any:
    """A body as a test wants to compare it: parsed JSON, else its text."""
    if not raw:
        return None
    if len(raw) > _MAX_BODY:
        return raw[:_MAX_BODY].decode("utf-8", "replace")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return raw.decode("utf-8", "replace")


class RequestLog:
    """The requests one venue received, oldest first (thread-safe, bounded)."""

    def __init__(self, venue: str) -> None:
        self.venue = venue
        self._lock = threading.Lock()
        self._entries: deque[RecordedRequest] = deque(maxlen=MAX_LOGGED)

    def add(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        raw_body: bytes,
        *,
        is_verified: bool,
        status: int,
        arrived: float = 0.0,
        wire: float | None = None,
    ) -> None:
        """Log one answered request (``arrived``: its ``time.monotonic()`` arrival;
        ``wire``: its bytes' kernel stamp, if known)."""
        entry = RecordedRequest(
            self.venue,
            method,
            path,
            tuple(query),
            parse_body(raw_body),
            is_verified,
            status,
            next(_arrival),
            arrived,
            arrived if wire is None else min(wire, arrived),
        )
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[RecordedRequest]:
        """A copy of the log."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        """Forget every logged request."""
        with self._lock:
            self._entries.clear()

"""Server time as the exchanges see it, learned from responses' Date headers."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC
from email.utils import parsedate_to_datetime

# Date headers have one-second resolution; smaller offsets are noise.
_RESOLUTION = 1.0
# Seconds of newly learned skew that justify re-signing a request refused with 401
# (the REST retry and the streams' handshakes): less is not why it was refused.
RESIGN_SKEW = 5.0
# The years a server's Date may name to be learned from (a host clock stuck at 1970
# is still corrected: this bounds the server's word, not ours).
_YEARS = (2000, 2999)


class Clock:
    """The local clock corrected by the offset last seen in a ``Date`` header.

    Both exchanges refuse timestamps more than 30 s from their own time, so a
    host whose clock drifted signs with server time instead.

    Args:
        wall: the local clock, seconds since the epoch (tests pin or skew it).
    """

    __slots__ = ("_last", "offset", "wall")

    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self.offset = 0.0
        self._last: str | None = None
        self.wall = wall

    def now(self) -> float:
        """Seconds since the epoch, corrected."""
        return self.wall() + self.offset

    def observe(self, date_header: str | None) -> None:
        """Learn the offset from a response's ``Date`` header (ignored if absent or bad)."""
        # Date changes once a second: the same header teaches nothing new (and
        # parsing it is the priciest step of reading an answer).
        if not date_header or date_header == self._last:
            return
        self._last = date_header
        try:
            server = parsedate_to_datetime(date_header)
        except (TypeError, ValueError, OverflowError):  # "00:00:99999999999": overflow
            return
        if not _YEARS[0] <= server.year <= _YEARS[1]:
            return  # a broken gateway's, not an exchange's clock: nothing to sign with
        if server.tzinfo is None:
            server = server.replace(tzinfo=UTC)
        # +0.5 s: the header is truncated to the second.
        measured = server.timestamp() + 0.5 - self.wall()
        self.offset = measured if abs(measured) > _RESOLUTION else 0.0


# The last whole second formatted: requests in the same second share it (a tuple,
# replaced whole, so threads never see half of one).
_second: tuple[int, str] = (-1, "")


def iso_millis(seconds: float) -> str:
    """``2026-11-22T12:00:00.000Z`` for Limitless's ``lmts-timestamp``."""
    global _second
    whole = int(seconds)
    millis = int((seconds - whole) * 1000)
    last, prefix = _second
    if last != whole:
        # gmtime + strftime: a third of datetime's cost, once a second.
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        _second = (whole, prefix)
    return f"{prefix}.{millis:03d}Z"

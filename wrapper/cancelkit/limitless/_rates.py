"""Limitless's documented rate limit: one table, read by the clients' limiters and by
the sandbox that enforces it.

Limitless publishes two statements that disagree: its API reference allows at
most 2 concurrent requests and at least 300 ms between calls, per token; its
"API Academy" publishes no number (429 is the only signal, about 10/s "as a
starting point"). A client that must never draw a 429 by its own doing stays
inside the stricter one: a :meth:`Budget.paced` entry.
"""

from __future__ import annotations

from .._limiter import GLOBAL, Budget

LIMITLESS = {GLOBAL: Budget.paced(in_flight=2, spacing=0.3)}
"""The API reference: at most 2 concurrent requests, at least 300 ms between calls,
per token (all endpoints; the public maintenance status has no token)."""

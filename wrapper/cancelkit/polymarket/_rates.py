"""Polymarket US's documented rate limits: one table, read by the clients' limiters and
by the sandbox that enforces them.

Polymarket US publishes two versions that disagree, and which one is enforced is
not known: the older page allows 20 requests/s per key over all endpoints; the
live page allows, per key, each endpoint so many requests per 10 s (the batched
endpoints are not listed) and 2,000 per 10 s over all. A client must stay inside
both at once, so its budgets are every one of these windows together: the flat
20/s bounds the total, and the listing's 55 per 10 s (5.5/s) bounds confirmation
polling.
"""

from __future__ import annotations

from .._limiter import GLOBAL, Budget

# Operation names are the specs' operationIds without the service prefix.
CANCEL = "CancelOrder"
CANCEL_BATCH = "CancelOrderList"
CANCEL_ALL = "CancelOpenOrders"
LIST_OPEN = "GetOpenOrders"
GET_ORDER = "GetOrder"

POLYMARKET_FLAT = {GLOBAL: Budget(20, 1.0)}
"""The older Rate Limits page: 20 requests/s per API key across all endpoints."""

POLYMARKET_LIVE = {
    GLOBAL: Budget(2000, 10.0),
    CANCEL: Budget(440, 10.0),
    CANCEL_ALL: Budget(110, 10.0),
    LIST_OPEN: Budget(55, 10.0),
    GET_ORDER: Budget(55, 10.0),
}
"""The live Rate Limits page: per key and endpoint over 10-second windows."""

FEW = 10
"""Orders a kill cancels without the private order stream: their lookups fit the rate
limits at once, and a cancel of one order from the shell does not pay for aiohttp's
import (a fifth of a second in a cold process) nor for a connection it would hardly
use. Here, not in ``_heard``, so that the command deciding it loads no stream code."""

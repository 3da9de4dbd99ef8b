"""The exchanges' documented rate limits: one table, read by the clients' limiters and
by the sandbox that enforces them.

Polymarket US publishes two versions that disagree, and which one is enforced is
not known: the older page allows 20 requests/s per key over all endpoints; the
live page allows, per key, each endpoint so many requests per 10 s (the batched
endpoints are not listed) and 2,000 per 10 s over all. A client must stay inside
both at once, so its budgets are every one of these windows together: the flat
20/s bounds the total, and the listing's 55 per 10 s (5.5/s) bounds confirmation
polling.

Limitless publishes two statements that disagree: its API reference allows at
most 2 concurrent requests and at least 300 ms between calls, per token; its
"API Academy" publishes no number (429 is the only signal, about 10/s "as a
starting point"). A client that must never draw a 429 by its own doing stays
inside the stricter one: a :meth:`Budget.paced` entry.
"""

from __future__ import annotations

import math

import attrs


@attrs.frozen
class Budget:
    """At most ``limit`` requests in any ``window`` seconds, and, with ``spacing``,
    at least ``spacing`` seconds between one request and the next.

    A request counts in a window from its start until ``window`` seconds after its
    end, so ``window=0`` is a cap on requests in flight.
    """

    limit: int
    window: float
    spacing: float = 0.0

    @classmethod
    def paced(cls, in_flight: int, spacing: float) -> Budget:
        """At most ``in_flight`` requests at once, ``spacing`` seconds between starts."""
        return cls(in_flight, 0.0, spacing)

    @classmethod
    def per_second(cls, rate: float) -> Budget:
        """``rate`` requests per second as a whole-number limit over a window
        (2.5/s is 2 per 0.8 s): the limiter counts whole attempts."""
        limit = max(1, math.floor(rate))
        return cls(limit, limit / rate)


# Operation names are the specs' operationIds without the service prefix.
CANCEL = "CancelOrder"
CANCEL_BATCH = "CancelOrderList"
CANCEL_ALL = "CancelOpenOrders"
LIST_OPEN = "GetOpenOrders"
GET_ORDER = "GetOrder"
GLOBAL = "*"

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


LIMITLESS = {GLOBAL: Budget.paced(in_flight=2, spacing=0.3)}
"""The API reference: at most 2 concurrent requests, at least 300 ms between calls,
per token (all endpoints; the public maintenance status has no token)."""


def polymarket_budgets() -> dict[str, list[Budget]]:
    """Every window a Polymarket client must respect, per operation (and ``GLOBAL``)."""
    budgets: dict[str, list[Budget]] = {}
    for table in (POLYMARKET_FLAT, POLYMARKET_LIVE):
        for operation, budget in table.items():
            budgets.setdefault(operation, []).append(budget)
    return budgets

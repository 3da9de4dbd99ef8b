"""Kalshi's published rate limits: token buckets per tier, a cost per endpoint. One
table, read by the clients' limiters and by the sandbox that enforces it.

Kalshi's "Rate Limits and Tiers" page: two independent buckets per key, Read and
Write (cancels are Write), refilled continuously at the tier's budget in tokens
per second; REST and FIX drain the same buckets. A Write bucket holds 3 s of
budget above Basic and 1 s (100 tokens) at Basic. The page gives no Read bucket
capacity: the table assumes 1 s of the Read budget, the least any published
bucket holds. A 429 carries no ``Retry-After`` and no penalty.

Costs (each endpoint's page; the default, 10, where a page states none): a V2
cancel 2, a V2 batch cancel 2 per order ("batch endpoints don't save tokens"),
cancel-all 2, GetOrder 2, GetOrders and TriggerOrderGroup 10. A batch must fit
the bucket whole or the exchange refuses it, and the batch body has no
``maxItems``: a batch holds at most the Write capacity over 2 orders (Basic 50).
"""

from __future__ import annotations

from typing import Literal, get_args

import attrs

from .._exceptions import InvalidRequest
from .._limiter import Bucket, Spend

Tier = Literal["basic", "advanced", "expert", "premier", "paragon", "prime", "prestige"]
TIERS: tuple[Tier, ...] = get_args(Tier)
DEFAULT_TIER: Tier = "basic"

# Operation names are the specs' operationIds.
CANCEL = "CancelOrderV2"
CANCEL_BATCH = "BatchCancelOrdersV2"
CANCEL_ALL = "CancelAllOrders"
GET_ORDER = "GetOrder"
LIST = "GetOrders"
TRIGGER_GROUP = "TriggerOrderGroup"

READ = "read"
WRITE = "write"

COSTS: dict[str, tuple[str, int]] = {
    CANCEL: (WRITE, 2),
    CANCEL_BATCH: (WRITE, 2),  # per order in the batch
    CANCEL_ALL: (WRITE, 2),
    TRIGGER_GROUP: (WRITE, 10),
    GET_ORDER: (READ, 2),
    LIST: (READ, 10),
}
"""Each operation's bucket and its cost in tokens (a batch: per order)."""


@attrs.frozen
class Budgets:
    """One tier's published budgets (tokens per second) and bucket capacities."""

    read: float
    write: float
    write_seconds: float  # the Write bucket holds this many seconds of budget
    read_seconds: float = 1.0  # not published: the least any published bucket holds

    @property
    def write_capacity(self) -> float:
        """Tokens the Write bucket holds."""
        return self.write * self.write_seconds

    @property
    def read_capacity(self) -> float:
        """Tokens the Read bucket holds (assumed, see the module's docstring)."""
        return self.read * self.read_seconds


KALSHI_TIERS: dict[Tier, Budgets] = {
    "basic": Budgets(read=200, write=100, write_seconds=1.0),
    "advanced": Budgets(read=300, write=300, write_seconds=3.0),
    "expert": Budgets(read=600, write=600, write_seconds=3.0),
    # Premier and above: raised 20% on 2026-09-24.
    "premier": Budgets(read=1200, write=1200, write_seconds=3.0),
    "paragon": Budgets(read=2400, write=2400, write_seconds=3.0),
    "prime": Budgets(read=4800, write=4800, write_seconds=3.0),
    "prestige": Budgets(read=12000, write=9600, write_seconds=3.0),
}
"""The Rate Limits page, per tier (lastmod 2026-09-22)."""


def tier_budgets(tier: object) -> Budgets:
    """The published budgets of ``tier`` (a name of :data:`TIERS`), else InvalidRequest."""
    if not isinstance(tier, str) or tier not in KALSHI_TIERS:
        raise InvalidRequest(
            f"Kalshi tier must be one of {', '.join(TIERS)}, not {tier!r}"
            if isinstance(tier, str)
            else f"Kalshi tier must be a string, not {type(tier).__name__}"
        )
    return KALSHI_TIERS[tier]


def buckets(tier: object) -> dict[str, Bucket]:
    """The Read and Write buckets of ``tier``."""
    budgets = tier_budgets(tier)
    return {
        READ: Bucket(f"{tier} {READ}", budgets.read, budgets.read_capacity),
        WRITE: Bucket(f"{tier} {WRITE}", budgets.write, budgets.write_capacity),
    }


CLIENT_RATE_SHARE = 0.97
"""The share of each published refill rate the clients pace themselves at.

The exchange counts a request's tokens when it has it, the client when it sends
it. A batch as large as the Write bucket empties it, so the next one fits only a
whole refill later at the exchange; sent exactly then, a few milliseconds less in
transit than the batch before (which opened the connection, or waited on a busy
machine) bring it in early, and it is refused: benchmarks/_kalshi_kill.py saw
one 429 in most 300-order kills at Basic paced at the published rate, each
costing ~3 s of back-off. Pacing at 97% leaves 30 ms of every second of refill
for that, for a kill about 3% longer than the bucket's floor."""


def spends(tier: object, share: float = 1.0) -> dict[str, list[Spend]]:
    """Every operation's spend at ``tier``: the limiter's table (``Limiter(spends(t))``),
    each bucket refilled at ``share`` of its published rate (the clients pace
    themselves at :data:`CLIENT_RATE_SHARE`)."""
    found = {
        name: Bucket(bucket.name, bucket.rate * share, bucket.capacity)
        for name, bucket in buckets(tier).items()
    }
    return {op: [Spend(found[bucket], cost)] for op, (bucket, cost) in COSTS.items()}


def batch_size(tier: object) -> int:
    """The most orders one batch cancel may hold at ``tier``: all of them fit the
    Write bucket at once (Basic: 100 tokens at 2 per order, 50)."""
    return int(tier_budgets(tier).write_capacity // COSTS[CANCEL_BATCH][1])

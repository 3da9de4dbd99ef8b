"""The sandbox's memory: order books per account, knobs, and counters."""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from typing import Any

import attrs

OPEN, CANCELLED = "open", "cancelled"


@attrs.define
class Order:
    """One resting order as the sandbox knows it."""

    id: str
    owner: str
    client_order_id: str | None = None
    market_slug: str | None = None
    status: str = OPEN
    cancel_count: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the admin route."""
        return attrs.asdict(self)


@attrs.define
class Knobs:
    """Realism settings; all off by default.

    Attributes:
        rate_limit: requests per second per key before 429 (Polymarket documents 20); 0 = off.
        latency: seconds added to every API request.
        failure_rate: share of requests answered 500 before they take effect.
        drop_rate: share of cancels whose connection is dropped after they took effect.
        clock_offset: seconds added to the sandbox clock (and its Date header).
        spike_rate: share of requests delayed by ``spike_latency`` on top of ``latency``.
        spike_latency: seconds of such a spike.
        seed: seed of the fault dice, for reproducible runs.
        validate: check requests against the specs (on; benchmarks of client overhead
            turn it off so the server's cost does not hide the clients' differences).
    """

    rate_limit: float = 0.0
    latency: float = 0.0
    failure_rate: float = 0.0
    drop_rate: float = 0.0
    clock_offset: float = 0.0
    spike_rate: float = 0.0
    spike_latency: float = 0.0
    seed: int | None = None
    validate: bool = True

    def update(self, **changes: Any) -> None:
        """Set knobs by name; unknown names or bad values raise ValueError."""
        fields = attrs.fields_dict(Knobs)
        for name, value in changes.items():
            if name not in fields:
                raise ValueError(f"unknown knob {name!r}")
            if name == "seed":
                setattr(self, name, None if value is None else int(value))
                continue
            if name == "validate":
                if not isinstance(value, bool):
                    raise ValueError(f"knob validate takes true or false, not {value!r}")
                self.validate = value
                continue
            number = float(value)
            rate = name in ("failure_rate", "drop_rate", "spike_rate")
            if name != "clock_offset" and (number < 0 or (rate and number > 1)):
                raise ValueError(f"knob {name} out of range: {value!r}")
            setattr(self, name, number)


@attrs.define
class Stats:
    """What the sandbox saw, for tests and the demo table."""

    requests: int = 0
    rate_limited: int = 0
    failures_injected: int = 0
    drops_injected: int = 0
    spikes_injected: int = 0
    auth_failures: int = 0
    schema_failures: int = 0
    cancels: int = 0


class Book:
    """Orders of every account of one exchange, plus knobs and counters. Thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.orders: dict[str, Order] = {}
        self.knobs = Knobs()
        self.stats = Stats()
        self._windows: dict[str, deque[float]] = {}
        self._dice = random.Random()  # noqa: S311 (fault injection, not crypto)

    def seed(self, order: Order) -> Order:
        """Add an order, replacing one with the same id or the same client order id
        of the same owner (client order ids are unique per account)."""
        with self.lock:
            if order.client_order_id is not None:
                for other in list(self.orders.values()):
                    if (other.owner, other.client_order_id) == (order.owner, order.client_order_id):
                        del self.orders[other.id]
            self.orders[order.id] = order
        return order

    def set_knobs(self, **changes: Any) -> None:
        """Change knobs; re-seeds the dice when ``seed`` is given."""
        with self.lock:
            self.knobs.update(**changes)
            if "seed" in changes:
                self._dice.seed(self.knobs.seed)

    def reset(self) -> None:
        """Forget all orders, knobs and counters."""
        with self.lock:
            self.orders.clear()
            self.knobs = Knobs()
            self.stats = Stats()
            self._windows.clear()

    def now(self) -> float:
        """The sandbox clock."""
        return time.time() + self.knobs.clock_offset

    def over_rate(self, key: str) -> bool:
        """Count a request for ``key``; True if it exceeds the per-second limit."""
        limit = self.knobs.rate_limit
        if not limit:
            return False
        now = time.monotonic()
        with self.lock:
            window = self._windows.setdefault(key, deque())
            while window and now - window[0] >= 1.0:
                window.popleft()
            if len(window) >= limit:
                self.stats.rate_limited += 1
                return True
            window.append(now)
            return False

    def count(self, stat: str) -> None:
        """Add one to the counter ``stat`` of :class:`Stats`."""
        with self.lock:
            setattr(self.stats, stat, getattr(self.stats, stat) + 1)

    def roll(self, rate: float, stat: str) -> bool:
        """True with probability ``rate``, counted in ``stat`` when it comes up."""
        with self.lock:
            hit = rate > 0 and self._dice.random() < rate
            if hit:
                setattr(self.stats, stat, getattr(self.stats, stat) + 1)
            return hit

    def get(self, order_id: str) -> Order | None:
        """The order with this exchange id, whoever owns it."""
        with self.lock:
            return self.orders.get(order_id)

    def by_client_id(self, owner: str, client_order_id: str) -> Order | None:
        """The order of ``owner`` with this client order id."""
        with self.lock:
            for order in self.orders.values():
                if (order.owner, order.client_order_id) == (owner, client_order_id):
                    return order
            return None

    def cancel(self, order: Order) -> bool:
        """Move an open order to cancelled, exactly once; False if it was not open."""
        with self.lock:
            if order.status != OPEN:
                return False
            order.status = CANCELLED
            order.cancel_count += 1
            self.stats.cancels += 1
            return True

"""The sandbox's memory: order books per account, knobs, and counters."""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import attrs

from .._limiter import GLOBAL, Budget
from ..kalshi._rates import TIERS
from ..polymarket._rates import POLYMARKET_LIVE
from ._requests import RequestLog

MAINTENANCE_MODES = ("normal", "post_only", "cancel_only", "disabled")

OPEN, CANCELLED, FILLED = "open", "cancelled", "filled"
STATUSES = (OPEN, CANCELLED, FILLED)
MAX_TRACKED = 100_000  # requests whose arrivals are counted for the fault dice


@attrs.define
class Order:
    """One resting order as the sandbox knows it.

    ``status`` says what the exchange decided; a cancelled order stays on the book
    (listed as pending cancel) until ``leaves_book_at`` on the monotonic clock.
    """

    id: str
    owner: str
    client_order_id: str | None = None
    market_slug: str | None = None
    status: str = OPEN
    cancel_count: int = 0
    created_at: float = attrs.field(factory=time.time)
    leaves_book_at: float = 0.0
    filled: float = 0.0  # shares filled so far (a partial fill leaves it open)
    # Whether the order stream has sent its final execution (once per order).
    streamed: bool = attrs.field(default=False, repr=False)
    subaccount: int | None = None  # Kalshi: 0 (primary) to 63; None on other venues

    def on_book(self, now: float | None = None) -> bool:
        """True while the order rests on the book (open, or its cancel still pending)."""
        if self.status == OPEN:
            return True
        moment = time.monotonic() if now is None else now
        # A cancel pending (or a fill that came while it was pending) until it leaves.
        return self.status in (CANCELLED, FILLED) and moment < self.leaves_book_at

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the admin route."""
        return attrs.asdict(
            self,
            filter=lambda field, value: (
                field.name != "streamed" and not (field.name == "subaccount" and value is None)
            ),
        )


# Bounds that keep every knob meaningful: a value outside them (or NaN, or
# infinity) would switch a check off or make every request fail.
_RATES = (
    "failure_rate",
    "drop_rate",
    "throttle_rate",
    "spike_rate",
    "fill_pending",
    "wrong_answer_rate",
)
_BOUNDS: dict[str, tuple[float, float]] = {
    "rate_limit": (0.0, 1e6),
    "latency": (0.0, 60.0),
    "cancel_delay": (0.0, 60.0),
    "spike_latency": (0.0, 60.0),
    "clock_offset": (-1e7, 1e7),  # about four months either way
    "stream_delay": (0.0, 60.0),
    "stream_snapshot_delay": (0.0, 60.0),
    "stream_heartbeat": (0.01, 3600.0),
    "stream_ping_every": (0.0, 3600.0),  # 0: no Ping
    **dict.fromkeys(_RATES, (0.0, 1.0)),
}
_MAX_SEED = 2**63
_STREAM_COUNTS = (
    "stream_drop_every",
    "stream_duplicate_every",
    "stream_reorder_every",
    "stream_close_after",
)


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"knob {name} takes a number, not {value!r}")
    number = float(value)
    low, high = _BOUNDS[name]
    if not (math.isfinite(number) and low <= number <= high):
        raise ValueError(f"knob {name} must be a finite number from {low:g} to {high:g}")
    return number


def _whole(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"knob {name} takes a whole number from {low} to {high}, not {value!r}")
    return value


@attrs.frozen
class Knobs:
    """Realism settings; all off by default. Immutable: a change is checked whole
    and then replaces the knobs at once, so a bad value leaves nothing half-set.

    Faults are decided per request, not by shared dice: the n-th arrival of the
    same request (same method, path, query and body: one cancel and its retries)
    gets the same verdict in every run with the same ``seed``, however concurrent
    requests interleave. Requests refused with 429 are not counted as arrivals.

    Attributes:
        rate_limit: requests per second per key before 429 (Polymarket documents 20); 0 = off.
        latency: seconds added to every API request.
        failure_rate: share of requests answered 500 before they take effect.
        drop_rate: share of cancels whose connection is dropped after they took effect.
        throttle_rate: share of requests answered 429 as if over a rate limit (decided
            per request like the other faults, unlike ``rate_limit``'s real counting).
        clock_offset: seconds added to the sandbox clock (and its Date header).
        spike_rate: share of requests delayed by ``spike_latency`` on top of ``latency``.
        spike_latency: seconds of such a spike.
        cancel_delay: seconds an accepted cancel stays pending (listed as
            ``ORDER_STATE_PENDING_CANCEL``) before the order leaves the book.
        fill_pending: share of accepted cancels during whose pending time the order
            fills instead (decided per order id from the seed): it leaves the book as
            ``ORDER_STATE_FILLED``. Limitless, whose cancel answers at once, then says
            "cannot be cancelled: it is filled".
        endpoint_limits: also enforce Polymarket's live per-endpoint limits (10-second
            windows, see ``cancelkit.polymarket._rates``) on top of ``rate_limit``.
        seed: seed of the fault dice, for reproducible runs (None: a fresh one).
        max_fault_streak: at most this many injected faults (500s, drops, throttles) in
            a row for one request; then it gets through. None: no cap. With it, a client
            allowed more retries than the cap cannot lose to the dice.
        validate: check requests against the specs (on; benchmarks of client overhead
            turn it off so the server's cost does not hide the clients' differences).
        published_limits: enforce the exchange's published per-token pace where it
            has one (Limitless: at most 2 requests in flight, arrivals at least 300 ms
            apart; see ``cancelkit.limitless._rates``); answered 429 beyond it. On by default.
        maintenance: Limitless maintenance mode: ``normal``, ``post_only``,
            ``cancel_only`` or ``disabled`` (cancels answered 503).
        cancel_all_stuck: Limitless: this many orders of each cancel-all cannot be
            cancelled (stay open, answered in ``failed``: a 207).
        stream: serve Polymarket's private order stream (``/v1/ws/private``); off, its
            handshake is answered 404, as by a server without it.
        stream_heartbeat: seconds between the stream's ``{"heartbeat": {}}`` messages.
        stream_delay: seconds each execution message waits before it is sent (in order).
        stream_snapshot_delay: seconds a subscription takes to start: its snapshot is
            sent, and its executions are sent, only from then on.
        stream_drop_every: every n-th execution message of a connection is never sent
            (0: none). Deterministic, as are the next three.
        stream_duplicate_every: every n-th execution message is sent twice.
        stream_reorder_every: every n-th execution message is sent after the next one.
        stream_close_after: a connection is closed once it has sent this many execution
            messages (0: never); what happens until the client reconnects is lost.
        stream_ping_every: Kalshi: seconds between the WebSocket Ping frames (body
            ``heartbeat``) its stream sends each connection, as its keep-alive page
            says (10); 0: none. Its Pings are answered either way.
        stream_silent: Kalshi: the stream hangs: nothing is sent on any connection (no
            message, no Ping) and the client's Pings go unanswered, until it is off
            again (a client's own keep-alive timeout must catch it).
        wrong_answer_rate: Kalshi: share of V2 cancels whose answer describes another
            order (its ``order_id``, ``client_order_id`` and ``reduced_by``), as the
            changelog of 2026-05-21 records; the cancel itself takes effect.
        tier: Kalshi: the demo keys' rate-limit tier (``basic`` ... ``prestige``), whose
            Read and Write token buckets (``cancelkit.kalshi._rates``) are enforced
            while ``published_limits`` is on.
    """

    rate_limit: float = 0.0
    latency: float = 0.0
    failure_rate: float = 0.0
    drop_rate: float = 0.0
    throttle_rate: float = 0.0
    clock_offset: float = 0.0
    spike_rate: float = 0.0
    spike_latency: float = 0.0
    cancel_delay: float = 0.0
    fill_pending: float = 0.0
    endpoint_limits: bool = False
    seed: int | None = None
    max_fault_streak: int | None = None
    validate: bool = True
    published_limits: bool = True
    maintenance: str = "normal"
    cancel_all_stuck: int = 0
    stream: bool = True
    stream_heartbeat: float = 5.0
    stream_delay: float = 0.0
    stream_snapshot_delay: float = 0.0
    stream_drop_every: int = 0
    stream_duplicate_every: int = 0
    stream_reorder_every: int = 0
    stream_close_after: int = 0
    stream_ping_every: float = 10.0
    stream_silent: bool = False
    wrong_answer_rate: float = 0.0
    tier: str = "basic"

    def updated(self, **changes: Any) -> Knobs:
        """These knobs with ``changes`` applied; ValueError naming the first bad one."""
        fields = attrs.fields_dict(Knobs)
        checked: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in fields:
                raise ValueError(f"unknown knob {name!r}")
            if name == "seed":
                checked[name] = None if value is None else _whole(name, value, 0, _MAX_SEED)
            elif name == "max_fault_streak":
                checked[name] = None if value is None else _whole(name, value, 0, 1000)
            elif name == "cancel_all_stuck" or name in _STREAM_COUNTS:
                checked[name] = _whole(name, value, 0, 1_000_000)
            elif name == "tier":
                if value not in TIERS:
                    raise ValueError(f"knob tier takes one of {TIERS}, not {value!r}")
                checked[name] = value
            elif name == "maintenance":
                if value not in MAINTENANCE_MODES:
                    raise ValueError(f"knob maintenance takes one of {MAINTENANCE_MODES}")
                checked[name] = value
            elif name in (
                "validate",
                "endpoint_limits",
                "published_limits",
                "stream",
                "stream_silent",
            ):
                if not isinstance(value, bool):
                    raise ValueError(f"knob {name} takes true or false, not {value!r}")
                checked[name] = value
            else:
                checked[name] = _number(name, value)
        return attrs.evolve(self, **checked)


@attrs.define
class Stats:
    """What the sandbox saw, for tests and the demo table."""

    requests: int = 0
    bodies: int = 0  # requests whose body was read whole (a client killed mid-send: none)
    rate_limited: int = 0
    failures_injected: int = 0
    drops_injected: int = 0
    spikes_injected: int = 0
    auth_failures: int = 0
    schema_failures: int = 0
    cancels: int = 0
    stream_connections: int = 0  # private order stream connections accepted
    stream_executions: int = 0  # execution messages sent on them
    stream_dropped: int = 0  # execution messages dropped by the stream_drop_every knob
    wrong_answers: int = 0  # Kalshi cancels answered about another order (wrong_answer_rate)
    stream_pings: int = 0  # Kalshi: Ping frames sent on its stream (stream_ping_every)
    stream_pongs: int = 0  # Kalshi: Pongs received with the body of its Pings (heartbeat)


class Book:
    """Orders of every account of one exchange, plus knobs and counters. Thread-safe.

    ``venue``: the exchange, named in its request log. ``default_owner``: the account
    orders seeded without an owner belong to (the demo key's). ``pace``: the
    exchange's published per-key pace, if it has one (enforced while the
    ``published_limits`` knob is on).
    """

    def __init__(
        self, venue: str = "", default_owner: str | None = None, pace: Budget | None = None
    ) -> None:
        self.default_owner = default_owner
        self.pace = pace
        self._paced: dict[str, tuple[int, float]] = {}  # key -> (in flight, last arrival)
        self._tokens: dict[str, tuple[float, float]] = {}  # bucket -> (tokens, when)
        self.lock = threading.Lock()
        self.log = RequestLog(venue)  # every exchange request, for Sandbox.requests
        self.orders: dict[str, Order] = {}
        self.knobs = Knobs()
        self.stats = Stats()
        # (owner, client order id) -> order id: seeding and lookups stay O(1) (a scan
        # made seeding 20,000 orders with client ids quadratic, 39 s on the event loop).
        self._by_client: dict[tuple[str, str], str] = {}
        self._windows: dict[str, deque[float]] = {}
        self._arrivals: dict[bytes, int] = {}
        self._streaks: dict[bytes, int] = {}
        self._fresh_seed = secrets.randbits(63)  # used while the seed knob is None
        # Told (from any thread, outside the lock) of every order a cancel or a fill
        # changed, with what happened: "cancel" (it takes effect at leaves_book_at:
        # cancelled, or filled meanwhile), "fill" or "partial_fill", and the shares.
        self.on_execution: Callable[[Order, str, float], None] | None = None
        # Told (from any thread, outside the lock) of the orders each seed added: placed.
        self.on_seed: Callable[[list[Order]], None] | None = None

    def seed(self, order: Order) -> Order:
        """Add an order, replacing one with the same id or the same client order id
        of the same owner (client order ids are unique per account)."""
        with self.lock:
            self._seed(order)
        if self.on_seed is not None:
            self.on_seed([order])
        return order

    def seed_many(self, orders: list[Order]) -> list[Order]:
        """:meth:`seed` for each order, under one lock."""
        with self.lock:
            for order in orders:
                self._seed(order)
        if self.on_seed is not None:
            self.on_seed(orders)
        return orders

    def _seed(self, order: Order) -> None:
        replaced = self.orders.pop(order.id, None)
        if replaced is not None and replaced.client_order_id is not None:
            self._by_client.pop((replaced.owner, replaced.client_order_id), None)
        if order.client_order_id is not None:
            key = (order.owner, order.client_order_id)
            other = self._by_client.get(key)
            if other is not None:
                self.orders.pop(other, None)
            self._by_client[key] = order.id
        self.orders[order.id] = order

    def set_knobs(self, **changes: Any) -> None:
        """Change knobs, all or none (ValueError naming the bad one); a new ``seed``
        starts every request's dice afresh."""
        with self.lock:
            self.knobs = self.knobs.updated(**changes)
            if "seed" in changes:
                self._arrivals.clear()
                self._streaks.clear()

    def reset(self) -> None:
        """Forget all orders, knobs and counters."""
        with self.lock:
            self.orders.clear()
            self._by_client.clear()
            self.knobs = Knobs()
            self.stats = Stats()
            self._windows.clear()
            self._arrivals.clear()
            self._streaks.clear()
            self._paced.clear()
            self._tokens.clear()

    def admit(self, key: str) -> bool:
        """A request of ``key`` arrives: False (counted as rate limited) if the pace
        refuses it (too many in flight, or too soon after the last arrival), else it
        counts in flight until :meth:`leave`."""
        pace = self.pace
        if pace is None or not self.knobs.published_limits:
            return True
        now = time.monotonic()
        with self.lock:
            in_flight, last = self._paced.get(key, (0, -math.inf))
            if in_flight >= pace.limit or now - last < pace.spacing:
                self.stats.rate_limited += 1
                return False
            self._paced[key] = (in_flight + 1, now)
            return True

    def leave(self, key: str) -> None:
        """A request :meth:`admit` let in has been answered."""
        with self.lock:
            if key in self._paced:
                in_flight, last = self._paced[key]
                self._paced[key] = (max(0, in_flight - 1), last)

    def take_tokens(self, bucket: str, rate: float, capacity: float, need: float) -> bool:
        """Take ``need`` tokens from the token bucket named ``bucket`` (full at first,
        refilled continuously at ``rate`` per second up to ``capacity``): False, counted
        as rate limited and taking nothing, if it holds fewer (a request costing more
        than the capacity never fits: Kalshi refuses such a batch whole)."""
        now = time.monotonic()
        with self.lock:
            tokens, then = self._tokens.get(bucket, (capacity, now))
            tokens = min(capacity, tokens + (now - then) * rate)
            if need > tokens:
                self._tokens[bucket] = (tokens, now)
                self.stats.rate_limited += 1
                return False
            self._tokens[bucket] = (tokens - need, now)
            return True

    def now(self) -> float:
        """The sandbox clock."""
        return time.time() + self.knobs.clock_offset

    def _over(self, key: str, budget: Budget, now: float) -> bool:
        window = self._windows.setdefault(key, deque())
        while window and now - window[0] >= budget.window:
            window.popleft()
        return len(window) >= budget.limit

    def over_rate(self, key: str, operation: str | None = None) -> bool:
        """Count a request of ``key`` to ``operation``; True if a limit refuses it.

        ``rate_limit`` is a flat per-key limit per second; with ``endpoint_limits``,
        Polymarket's live per-endpoint and global 10-second windows apply too.
        """
        limits: list[tuple[str, Budget]] = []
        if self.knobs.rate_limit:
            limits.append((key, Budget(math.ceil(self.knobs.rate_limit), 1.0)))
        if self.knobs.endpoint_limits and operation is not None:
            for name in (GLOBAL, operation):
                if name in POLYMARKET_LIVE:
                    limits.append((f"{key}|{name}", POLYMARKET_LIVE[name]))
        if not limits:
            return False
        now = time.monotonic()
        with self.lock:
            if any(self._over(window, budget, now) for window, budget in limits):
                self.stats.rate_limited += 1
                return True
            for window, _ in limits:
                self._windows[window].append(now)
            return False

    def count(self, stat: str) -> None:
        """Add one to the counter ``stat`` of :class:`Stats`."""
        with self.lock:
            setattr(self.stats, stat, getattr(self.stats, stat) + 1)

    def arrive(self, request_key: bytes) -> Arrival:
        """Count one arrival of a request (a cancel and its retries share the key)."""
        with self.lock:
            number = self._arrivals.get(request_key, 0) + 1
            self._arrivals[request_key] = number
            if len(self._arrivals) > MAX_TRACKED:  # bounded: forget the oldest request
                self._arrivals.pop(next(iter(self._arrivals)))
            # Until a fault hits this arrival, the request's run of faults is broken.
            streak = self._streaks.pop(request_key, 0)
            seed = self._fresh_seed if self.knobs.seed is None else self.knobs.seed
        return Arrival(self, request_key, number, seed, streak)

    def _fault(self, arrival: Arrival, rate: float, stat: str, capped: bool) -> bool:
        if rate <= 0:
            return False
        digest = hashlib.blake2b(
            b"%d|%s|%d|" % (arrival.seed, stat.encode(), arrival.number) + arrival.key,
            digest_size=8,
        ).digest()
        hit = int.from_bytes(digest) / 2**64 < rate
        with self.lock:
            cap = self.knobs.max_fault_streak
            if capped and hit and cap is not None and arrival.streak >= cap:
                hit = False
            if hit:
                setattr(self.stats, stat, getattr(self.stats, stat) + 1)
                if capped:
                    self._streaks[arrival.key] = arrival.streak + 1
        return hit

    def get(self, order_id: str) -> Order | None:
        """The order with this exchange id, whoever owns it."""
        with self.lock:
            return self.orders.get(order_id)

    def by_client_id(self, owner: str, client_order_id: str) -> Order | None:
        """The order of ``owner`` with this client order id."""
        with self.lock:
            order_id = self._by_client.get((owner, client_order_id))
            return None if order_id is None else self.orders.get(order_id)

    def cancel(self, order: Order) -> bool:
        """Move an open order to cancelled, exactly once; False if it was not open.
        It leaves the book after the ``cancel_delay`` knob."""
        with self.lock:
            if order.status != OPEN:
                return False
            order.status = FILLED if self._fills(order) else CANCELLED
            order.leaves_book_at = time.monotonic() + self.knobs.cancel_delay
            order.cancel_count += 1
            self.stats.cancels += 1
        self._tell(order, "cancel", 0.0)
        return True

    def _tell(self, order: Order, what: str, shares: float) -> None:
        hook = self.on_execution
        if hook is not None:
            hook(order, what, shares)

    def owned(self, owner: str, slug: str) -> list[Order]:
        """Every order of ``owner`` in market ``slug``, whatever its state, oldest first."""
        with self.lock:
            return [o for o in self.orders.values() if (o.owner, o.market_slug) == (owner, slug)]

    def _fills(self, order: Order) -> bool:
        """Whether this order fills while its cancel is pending (``fill_pending``)."""
        rate = self.knobs.fill_pending
        if rate <= 0:
            return False
        seed = self._fresh_seed if self.knobs.seed is None else self.knobs.seed
        digest = hashlib.blake2b(b"%d|fill|" % seed + order.id.encode(), digest_size=8).digest()
        return int.from_bytes(digest) / 2**64 < rate

    def fill(self, order: Order, shares: float | None = None, total: float | None = None) -> bool:
        """Fill an order now (the admin route): it leaves the book as filled; or, with
        ``shares`` fewer than what is left of ``total``, fill that much and leave it
        open. False if it was no longer on the book."""
        with self.lock:
            if not order.on_book():
                return False
            left = None if total is None else max(0.0, total - order.filled)
            if shares is not None and left is not None and order.status == OPEN and shares < left:
                order.filled += shares
                what = "partial_fill"
            else:
                shares = left if left is not None else shares or 0.0
                order.filled = total if total is not None else order.filled
                order.status = FILLED
                order.leaves_book_at = 0.0
                what = "fill"
        self._tell(order, what, shares)
        return True

    def on_book(self, owner: str, slugs: frozenset[str] = frozenset()) -> list[Order]:
        """``owner``'s orders resting on the book (in ``slugs`` if any), oldest first."""
        now = time.monotonic()
        with self.lock:
            return [
                o
                for o in self.orders.values()
                if o.owner == owner and o.on_book(now) and (not slugs or o.market_slug in slugs)
            ]


@attrs.frozen
class Arrival:
    """The n-th arrival of one request: its fault verdicts depend on nothing else."""

    book: Book
    key: bytes
    number: int
    seed: int
    streak: int  # injected faults in a row just before this arrival

    def fault(self, rate: float, stat: str) -> bool:
        """Inject a 500 or a drop with probability ``rate`` (counted in ``stat``),
        unless this request has already met ``max_fault_streak`` faults in a row."""
        return self.book._fault(self, rate, stat, capped=True)

    def spike(self, rate: float) -> bool:
        """Delay this request with probability ``rate`` (not a fault: never capped)."""
        return self.book._fault(self, rate, "spikes_injected", capped=False)

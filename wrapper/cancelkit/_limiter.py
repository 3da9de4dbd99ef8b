"""Client-side rate limiting: stay inside every documented window, slow down on 429.

A window admits an attempt only while the attempts the exchange may still count in
it (those in flight plus those finished less than a window ago) are under its
limit, so no window at the exchange can exceed it whatever the network jitter:
no 429 by construction, at the price of one round trip per window.

On a 429 anyway (an undocumented limit, another process on the same key) every
window of that operation pauses (``Retry-After`` if given, else the documented
"wait at least 1 s") and halves its limit, once per burst of 429s (the attempts
already in flight answer together); each window that then passes without a 429
gives back a tenth of the documented limit, so a run is back to full speed in
about ten windows.

A spacing ("at least 300 ms between calls") is kept where the exchange measures
it, at arrival, which a client cannot see: it only knows that a request arrived
before its answer came back. So the next attempt starts ``spacing`` after the
previous one was answered (or failed), never while one is in flight; no jitter
can then bring two arrivals closer than ``spacing``, at the price of one round
trip per call. A 429 doubles the spacing (up to 8 times), and each attempt
answered without one takes back a tenth of the documented spacing.

A token bucket (Kalshi: "tokens refilled continuously", each endpoint its cost) is a
:class:`Bucket` shared by the operations that spend from it, each with its
:class:`Spend` (tokens per request, or per item of a batch: ``slot(units=n)``). An
attempt is admitted once the bucket holds its whole cost, which it takes at once:
a request that costs more than the bucket can ever hold is refused before it is
sent (the exchange would refuse it whole). The bucket is counted at send time;
arrival jitter can bring requests closer than they left, by at most one round
trip's refill. On a 429 the bucket empties, pauses at least 1 s and halves its
refill rate; each second without one gives back a tenth of the published rate.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager

import anyio
import attrs

# DeadlinePassed is public now (cancelkit.DeadlinePassed); other modules import it here too.
from ._exceptions import DeadlinePassed as DeadlinePassed
from ._exceptions import InvalidRequest

GLOBAL = "*"
"""The operation name of a budget over every endpoint."""


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

    @property
    def rate(self) -> float:
        """The sustained requests a second this budget allows (``inf``: no cap over
        time, only on requests in flight)."""
        over_window = self.limit / self.window if self.window > 0 else math.inf
        over_spacing = 1 / self.spacing if self.spacing > 0 else math.inf
        return min(over_window, over_spacing)

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


@attrs.frozen
class Bucket:
    """A token bucket: ``capacity`` tokens, refilled at ``rate`` tokens per second.
    ``name`` tells apart buckets of equal figures (a tier's read and write)."""

    name: str
    rate: float
    capacity: float


@attrs.frozen
class Spend:
    """An operation's cost in a :class:`Bucket`: ``cost`` tokens per request, or per
    item for a batch (the caller gives the items as ``units``)."""

    bucket: Bucket
    cost: float


MIN_PAUSE = 1.0  # Polymarket: "wait at least 1 s" after a 429
MAX_SPACING_FACTOR = 8.0


# The event loop's timers wake up to a millisecond late (epoll rounds its timeout up
# to whole milliseconds, and the wake-up takes a loop turn): at the published 300 ms
# that is a third of a percent of every call. A timed wait sleeps until this much
# before its moment, then yields to other tasks until the moment comes.
_EARLY = 0.0015


async def _sleep_until(moment: float) -> None:
    """Wait until ``moment`` (``anyio.current_time()``), to a tenth of a millisecond."""
    ahead = moment - anyio.current_time() - _EARLY
    if ahead > 0:
        await anyio.sleep(ahead)
    while anyio.current_time() < moment:
        await anyio.sleep(0)  # other tasks run meanwhile


class Window:
    """At most ``budget.limit`` attempts counted in any ``budget.window`` seconds."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.limit = budget.limit  # lowered after a 429, recovered over time
        self._in_flight = 0
        self._finished: deque[float] = deque()
        self._paused_until = 0.0
        self._recovered_at = 0.0
        self.spacing = budget.spacing  # raised after a 429, recovered over time
        self._answered_at = -math.inf
        # Made when a task first waits on it (an anyio.Event costs microseconds, and a
        # Limiter holds a window per documented operation: built on a firing's path).
        self._changed: anyio.Event | None = None

    def _load(self, now: float) -> int:
        while self._finished and self._finished[0] <= now - self.budget.window:
            self._finished.popleft()
        return self._in_flight + len(self._finished)

    def _wake(self) -> None:
        changed, self._changed = self._changed, None  # the next waiter makes a new one
        if changed is not None:
            changed.set()

    async def acquire(self, deadline: float | None = None) -> None:
        """Wait for room, then count one attempt in flight; no later than ``deadline``
        (``time.monotonic()``): then :class:`DeadlinePassed`, nothing counted."""
        await self.ready(deadline)
        self._in_flight += 1  # no await since ready() returned: the room is still there

    def _admits(self, now: float) -> bool:
        return (
            now >= self._paused_until
            and not (self.spacing and self._in_flight)
            and now >= self._answered_at + self.spacing
            and self._load(now) < self.limit
        )

    async def ready(self, deadline: float | None = None) -> None:
        """Wait until an attempt would be admitted now (without counting one); no later
        than ``deadline`` (``time.monotonic()``): then :class:`DeadlinePassed`."""
        while True:
            now = anyio.current_time()
            left = math.inf if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise DeadlinePassed("not sent: the deadline passed while it waited for a slot")
            spaced = self._answered_at + self.spacing
            # A pause, or a spacing with nothing in flight, only ever grows (a 429, a
            # carried-over answer) and is read again after the wait: a timer then.
            timer = True
            if now < self._paused_until:
                wait = self._paused_until - now
            elif self.spacing and self._in_flight:
                wait, timer = math.inf, False  # the previous call's arrival is not known yet
            elif now < spaced:
                wait = spaced - now
            elif self._load(now) < self.limit:
                break
            elif self._finished:
                # An answer may give back some of a lowered limit sooner.
                wait, timer = self._finished[0] + self.budget.window - now, False
            else:
                wait, timer = math.inf, False  # every admission is in flight: until one finishes
            if wait >= left:
                if wait != math.inf:  # a pause (even a Retry-After of an hour) ends the run
                    raise DeadlinePassed(
                        "not sent: the rate limit's next slot comes after the deadline"
                    )
                wait = left
            if timer:
                await _sleep_until(now + wait)
                continue
            changed = self._changed
            if changed is None:
                changed = self._changed = anyio.Event()
            with anyio.move_on_after(wait):
                await changed.wait()

    def release(self) -> None:
        """The attempt is over: it counts for one more window."""
        now = anyio.current_time()
        self._in_flight -= 1
        self._finished.append(now)
        self._answered_at = now
        if self.spacing > self.budget.spacing and now >= self._paused_until:
            self.spacing = max(self.budget.spacing, self.spacing - self.budget.spacing / 10)
        if self.limit < self.budget.limit and now - self._recovered_at >= self.budget.window:
            self.limit = min(self.budget.limit, self.limit + max(1, self.budget.limit // 10))
            self._recovered_at = now
        self._wake()

    def refused(self, retry_after: float | None) -> None:
        """A 429: pause, and halve the limit until windows pass without one."""
        now = anyio.current_time()
        if now >= self._paused_until:  # a new burst, not another answer of the last one
            self.limit = max(1, self.limit // 2)
            ceiling = self.budget.spacing * MAX_SPACING_FACTOR
            self.spacing = min(ceiling, self.spacing * 2)
        self._paused_until = max(self._paused_until, now + max(MIN_PAUSE, retry_after or 0.0))
        self._recovered_at = self._paused_until
        self._wake()


_RECOVERY = 1.0  # seconds without a 429 per tenth of a bucket's rate given back


class Tokens:
    """The state of one :class:`Bucket`: full at first, refilled as time passes."""

    def __init__(self, bucket: Bucket) -> None:
        self.bucket = bucket
        self.rate = bucket.rate  # lowered after a 429, recovered over time
        self.tokens = float(bucket.capacity)
        self._at: float | None = None  # the loop's clock is read once one runs
        self._paused_until = 0.0
        self._recovered_at = 0.0

    def _refill(self, now: float) -> None:
        if self._at is not None and now > self._at:
            self.tokens = min(self.bucket.capacity, self.tokens + (now - self._at) * self.rate)
        if self.rate < self.bucket.rate and now - self._recovered_at >= _RECOVERY:
            self.rate = min(self.bucket.rate, self.rate + self.bucket.rate / 10)
            self._recovered_at = now
        self._at = now

    def fits(self, cost: float) -> None:
        """Refuse a cost the bucket can never hold (the exchange refuses it whole)."""
        if cost > self.bucket.capacity:
            raise InvalidRequest(
                f"a request costing {cost:g} tokens never fits the {self.bucket.name} bucket"
                f" of {self.bucket.capacity:g} tokens: send fewer items at once"
            )

    def _admits(self, now: float, cost: float) -> bool:
        self._refill(now)
        return now >= self._paused_until and self.tokens >= cost

    async def ready(self, cost: float, deadline: float | None = None) -> None:
        """Wait until the bucket holds ``cost`` tokens (taking none); no later than
        ``deadline`` (``time.monotonic()``): then :class:`DeadlinePassed`."""
        self.fits(cost)
        while True:
            now = anyio.current_time()
            if self._admits(now, cost):
                return
            wait = max(self._paused_until - now, (cost - self.tokens) / self.rate)
            left = math.inf if deadline is None else deadline - time.monotonic()
            if wait >= left:
                raise DeadlinePassed(
                    "not sent: the rate limit's bucket holds its cost only after the deadline"
                )
            await _sleep_until(now + wait)

    async def acquire(self, cost: float, deadline: float | None = None) -> None:
        """Wait for ``cost`` tokens and take them (see :meth:`ready`)."""
        await self.ready(cost, deadline)
        self.tokens -= cost  # no await since ready() returned: the tokens are still there

    def refused(self, retry_after: float | None) -> None:
        """A 429: the exchange's bucket is empty; pause, and halve the refill rate."""
        now = anyio.current_time()
        self._refill(now)
        if now >= self._paused_until:  # a new burst, not another answer of the last one
            self.rate = max(self.bucket.rate / 8, self.rate / 2)
        self.tokens = 0.0
        self._paused_until = max(self._paused_until, now + max(MIN_PAUSE, retry_after or 0.0))
        self._recovered_at = self._paused_until


class Limiter:
    """The windows and buckets of one key: a global set and, per operation, its own."""

    def __init__(self, budgets: Mapping[str, Sequence[Budget | Spend]]) -> None:
        self._windows = {
            op: [Window(b) for b in found if isinstance(b, Budget)] for op, found in budgets.items()
        }
        # One state per bucket, whichever operations spend from it.
        self._buckets: dict[Bucket, Tokens] = {}
        self._spends: dict[str, list[tuple[Tokens, float]]] = {}
        for op, found in budgets.items():
            for spend in found:
                if isinstance(spend, Spend):
                    tokens = self._buckets.setdefault(spend.bucket, Tokens(spend.bucket))
                    self._spends.setdefault(op, []).append((tokens, spend.cost))
        self._max_wait: float | None = None

    def view(
        self, budgets: Mapping[str, Sequence[Budget]] | None = None, max_wait: float | None = None
    ) -> Limiter:
        """A limiter that shares this one's windows (what either admits, both count:
        one token's limit, whoever sends) with ``budgets``' own windows on top (a
        caller's extra cap), and, with ``max_wait``, waits no longer than that many
        seconds for a slot (a call that has a timeout but no run deadline)."""
        joined = Limiter(budgets or {})
        for operation, windows in self._windows.items():
            joined._windows[operation] = [*windows, *joined._windows.get(operation, [])]
        for operation, spends in self._spends.items():
            joined._spends[operation] = [*spends, *joined._spends.get(operation, [])]
        joined._max_wait = max_wait
        return joined

    @classmethod
    def per_second(cls, rate: float) -> Limiter:
        """One global limit of ``rate`` attempts per second (fractions allowed)."""
        return cls({GLOBAL: [Budget.per_second(rate)]})

    def _for(self, operation: str) -> list[Window]:
        # The operation's own windows first: the tightest (listings) are usually there.
        own = self._windows.get(operation, []) if operation != GLOBAL else []
        return [*own, *self._windows.get(GLOBAL, [])]

    def _costs(self, operation: str, units: int) -> list[tuple[Tokens, float]]:
        """Each bucket ``operation`` spends from, with the cost of ``units`` items."""
        own = self._spends.get(operation, []) if operation != GLOBAL else []
        return [(tokens, cost * units) for tokens, cost in (*own, *self._spends.get(GLOBAL, []))]

    @asynccontextmanager
    async def slot(
        self, operation: str = GLOBAL, deadline: float | None = None, units: int = 1
    ) -> AsyncIterator[None]:
        """Hold one admission in every window of ``operation`` for one attempt, and
        take its cost (``units`` items: a batch's orders) from every bucket it spends
        from (:class:`DeadlinePassed` if none comes before ``deadline``, or within
        the view's ``max_wait``; :class:`InvalidRequest` for a cost no bucket can
        ever hold, before any wait)."""
        costs = self._costs(operation, units)
        for tokens, cost in costs:
            tokens.fits(cost)
        bounded = False
        if self._max_wait is not None:
            limit = time.monotonic() + self._max_wait
            bounded = deadline is None or limit < deadline
            deadline = limit if bounded else deadline
        async with AsyncExitStack() as stack:
            try:
                for window in self._for(operation):
                    await window.acquire(deadline)
                    stack.callback(window.release)
                for tokens, cost in costs:  # spent when sent: never given back
                    await tokens.acquire(cost, deadline)
            except DeadlinePassed:
                if not bounded:
                    raise
                raise DeadlinePassed(
                    f"not sent: no slot within {self._max_wait:g} s at this key's rate limit"
                    " (other requests of this client hold it)"
                ) from None
            yield

    async def ready(
        self, operation: str = GLOBAL, deadline: float | None = None, units: int = 1
    ) -> None:
        """Wait until every window and bucket of ``operation`` would admit an attempt
        of ``units`` items now, taking nothing: a caller that may still decide not to
        send (a stopped run) waits here; no later than ``deadline`` (then
        :class:`DeadlinePassed`)."""
        while True:
            windows = self._for(operation)
            costs = self._costs(operation, units)
            for window in windows:
                await window.ready(deadline)
            for tokens, cost in costs:
                await tokens.ready(cost, deadline)
            now = anyio.current_time()
            # None changed while others waited.
            if all(w._admits(now) for w in windows) and all(
                t._admits(now, cost) for t, cost in costs
            ):
                return

    def admits(self, operation: str = GLOBAL, units: int = 1) -> bool:
        """Whether every window and bucket of ``operation`` would admit an attempt of
        ``units`` items now, without waiting (taking nothing): work that is worth
        doing only while it costs no wait asks this first."""
        now = anyio.current_time()
        return all(w._admits(now) for w in self._for(operation)) and all(
            t._admits(now, cost) for t, cost in self._costs(operation, units)
        )

    def last_answer(self) -> float:
        """When the last attempt through this limiter was answered (-inf: none yet)."""
        moments = [w._answered_at for found in self._windows.values() for w in found]
        return max(moments, default=-math.inf)

    def answered_at(self, moment: float) -> None:
        """Carry spacing over from an earlier limiter of the same key: the next attempt
        keeps its distance from an attempt answered at ``moment`` (monotonic clock)."""
        for found in self._windows.values():
            for window in found:
                window._answered_at = max(window._answered_at, moment)

    def refused(self, operation: str, retry_after: float | None) -> None:
        """Tell every window of ``operation`` that the exchange answered 429."""
        for window in self._for(operation):
            window.refused(retry_after)
        for tokens, _ in self._costs(operation, 1):
            tokens.refused(retry_after)

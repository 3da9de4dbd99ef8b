"""Polymarket US bulk cancels: cancel first, then confirm by the exchange's own word.

The batched cancel only echoes the ids it was given and ignores ids it does not
know, so its answer proves nothing. The run therefore:

1. lists the open orders once: the exchange's word on what is open, and each
   order's market (every batch entry needs its ``marketSlug``);
2. cancels every listed one at once, in batches of the spec's ``maxItems``:
   nothing is looked up before what is open is off the book;
3. then, together: lists again (within the rate limits and the deadline) until
   none of the sent orders is listed, and asks ``GET /v1/order/{id}`` about the
   ids the first listing lacked (not open, open after all, or not found for this
   key) and about orders that left the listing (cancelled, or filled while the
   cancel was pending: gone from a listing is not "cancelled");
4. at the deadline (or a stop), one last listing bounded by the grace settles
   what was sent; nothing is reported as listed unless a listing showed it.

Every request, the first listing and the cancel-all too, is one an abort cancels
and none is waited for past the deadline (or the stop) and the grace
(``_bulk.bounded``): an exchange that answers a byte a second holds nothing.

An id the listing lacks and no lookup settled in time is ``not_listed``: not open
for this key, but perhaps not this key's at all (a wrong account or file), so it
is done only with ``missing_ok``; then lookups get only the short lookup grace.

The private order stream, where the client has it, is opened before the first
cancel (``_heard``; or, where the client already reads a live account-wide stream,
a guard's, that one is heard and the first cancel waits for nothing): an order that
leaves the listing ends with its execution (cancelled, filled, partly filled then
cancelled) instead of a lookup; an order the stream said nothing about is looked
up as before, so a lost message costs time, never truth.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import anyio

from .._bulk import (
    CancelAllTarget,
    CancelResult,
    Control,
    Ledger,
    StopReason,
    Unanswered,
    beside,
    cut_short,
    each,
    flight,
    in_time,
    running,
    stop_if_fatal,
    told,
)
from .._exceptions import CancelKitError, InvalidRequest, OrderNotFound
from .._generated.polymarket_us_api.constraints import CANCEL_ORDER_LIST_REQUEST_ORDERS_MAX_ITEMS
from .._generated.polymarket_us_api.models import OrderState
from .._limiter import DeadlinePassed, Limiter
from . import _heard, _rates
from . import _validation as check

if TYPE_CHECKING:  # loaded with the first answer that holds an order (_client_base)
    from .._generated.polymarket_us_api.models import Order

logger = logging.getLogger("cancelkit")
T = TypeVar("T")
BATCH = CANCEL_ORDER_LIST_REQUEST_ORDERS_MAX_ITEMS
# States in which an order rests on the book (a cancel may be pending on it).
_OPEN_STATES = frozenset(
    {
        OrderState.ORDER_STATE_NEW,
        OrderState.ORDER_STATE_PARTIALLY_FILLED,
        OrderState.ORDER_STATE_PENDING_NEW,
        OrderState.ORDER_STATE_PENDING_REPLACE,
        OrderState.ORDER_STATE_PENDING_RISK,
        OrderState.ORDER_STATE_PENDING_CANCEL,
    }
)
_POLL_FIRST, _POLL_MAX = 0.05, 1.0  # seconds between confirmation listings
# Once nothing else is left to do, the run asks how orders that left the listing
# ended (cancelled or filled) only while the limiter has a slot free at once (the
# budgets allow bursts), and for no more than these seconds (what is already in
# flight then): a kill switch that has confirmed everything off the book does not
# sit waiting for the rate limit to tell cancelled from filled.
LOOKUP_GRACE = 1.0
# Lookups in flight at once after a cancel-all (its only concurrent requests): the
# free slots of the budget are asked in a few round trips, not one after another.
_CANCEL_ALL_LOOKUPS = 4
# Seconds that lookups of ids the first listing lacked wait for other runs' records
# (read beside the confirmation) before they ask the exchange anyway.
RECORDS_WAIT = 1.0
_GONE = "no longer listed after the cancel: cancelled or filled (not asked: {why})"
_UNLISTED = "not listed as open for this key (not open, or not this key's)"
_NO_SLOT = "the rate limit's next slot comes after the deadline"


def _slug(order: Order) -> str | None:
    """The order's market, from the listing (or its metadata)."""
    for slug in (order.market_slug, getattr(order.market_metadata, "slug", None)):
        if isinstance(slug, str) and slug:
            return slug
    return None


def _state(order: Order) -> OrderState | None:
    return order.state if isinstance(order.state, OrderState) else None


def _quantity(value: object) -> str:
    return f"{value:g}" if isinstance(value, int | float) else "?"


class Wire(Protocol):
    """What the kill switch asks of a client: this venue's requests, each inside the
    run's limits and deadline (``deadline``: a ``time.monotonic()`` instant)."""

    async def list_open(
        self, slugs: Iterable[str] | None, limiter: Limiter | None, deadline: float | None
    ) -> list[Order]:
        """``GET /v1/orders/open`` (in ``slugs``' markets, if given)."""
        ...

    async def get_one(
        self, order_id: str, limiter: Limiter | None, deadline: float | None
    ) -> Order:
        """``GET /v1/order/{orderId}``."""
        ...

    async def cancel_batch(
        self, entries: Sequence[tuple[str, str]], limiter: Limiter | None, deadline: float | None
    ) -> None:
        """``POST /v1/orders/batched/cancel`` of (order id, market slug) pairs."""
        ...

    async def cancel_open(
        self, slugs: Sequence[str], limiter: Limiter | None, deadline: float | None
    ) -> list[str]:
        """``POST /v1/orders/open/cancel``: the ids it names."""
        ...

    # Optional (a client without it runs without the stream): the private order
    # stream of ``slugs``' markets (None: every market), see ``_stream``.
    # async def order_stream(self, slugs) -> AsyncGenerator[OrderEvent, None]
    # Optional too: the account-wide streams its client reads now (``_heard.Taps``).
    # def taps(self) -> _heard.Taps | None


class _Run:
    """One bulk cancel: the ledger of its results, its limits, its control, and
    where each order stands (listed open, sent, waiting for the listing, asked)."""

    def __init__(
        self,
        wire: Wire,
        ids: Sequence[str],
        *,
        limiter: Limiter,
        control: Control,
        concurrency: int,
        missing_ok: bool,
        on_result: Callable[[CancelResult[str]], None] | None,
        market_slug: str | None = None,
    ) -> None:
        self.wire = wire
        self.limiter = limiter
        self.control = control
        self.concurrency = concurrency
        self.market_slug = market_slug
        self.ledger = Ledger(ids, missing_ok=missing_ok, on_result=on_result)
        self.index: dict[str, int] = {}  # order id -> index of its first request
        self.attempts: dict[str, int] = {}  # order id -> requests that carried it
        # Sent, answered, not yet gone from the listing (id -> market, None: unknown).
        self.waiting: dict[str, str | None] = {}
        self.cut: dict[str, str | None] = {}  # sent, no answer before an abort
        self.unlisted: deque[str] = deque()  # absent from the first listing: to ask
        # Sent with no listing before (the market was given) and not yet seen listed:
        # absent from the listing after the cancel, one waits in ``gone`` for the
        # stream's word as any other, then is asked about like an id the first listing
        # lacked (nobody saw it open: never "no longer listed").
        self.unseen: set[str] = set()
        self.gone: deque[str] = deque()  # left the listing after the cancel: to ask
        self.asking = 0  # lookups of ids the first listing lacked, in progress
        self.asking_after: set[anyio.CancelScope] = set()  # lookups after a cancel
        self.confirming = True
        self.lookups_until: float | None = None
        self.lookups_spent = False  # the grace's lookups met a wait: no more of them
        self.changed = anyio.Event()
        # Set by every change and by the stream's word on the head of ``gone``: what
        # the one worker holding for that word waits on (the others wait on
        # ``changed``: one worker woken per execution heard, not all of them).
        self.head_changed = anyio.Event()
        self.holding = False  # a worker holds for the word on the head of ``gone``
        self.last_listing: dict[str, Order] | None = None
        self.last_scope: list[str] | None = None  # its markets (None: every market)
        # Whether ids the listing lacks must be looked up before the run may end:
        # with missing_ok, "not listed as open for this key" is already done.
        self.patient = not missing_ok
        # Until when (time.monotonic()) lookups of ids the first listing lacked wait
        # for other runs' records (known_elsewhere) to settle some without a request.
        self.records_until: float | None = None
        # The order stream's word (see _heard), the markets cancels were sent for,
        # and when each order left the listing (it waits a moment for its word).
        self.heard = _heard.Heard(self.index)
        self.heard.on_final = self.heard_final
        self.markets: dict[str, str | None] = {}
        self.left_at: dict[str, float] = {}

    def wake(self) -> None:
        self.changed.set()
        self.changed = anyio.Event()
        self.wake_head()

    def wake_head(self) -> None:
        self.head_changed.set()
        self.head_changed = anyio.Event()

    async def wait_for_change(self, seconds: float, *, head: bool = False) -> None:
        changed = self.head_changed if head else self.changed
        with anyio.move_on_after(max(0.0, seconds)):
            await changed.wait()

    async def listing(
        self, slugs: Iterable[str] | None, *, final: bool = False
    ) -> dict[str, Order]:
        """The open orders (of ``slugs``' markets), by id; :class:`Unanswered` if no
        whole answer came in time (``final``: the run's last listing, in the grace)."""
        control = self.control
        when = control.end() if final else control.ends_at

        def request() -> Awaitable[list[Order]]:
            return self.wire.list_open(slugs, self.limiter, when)

        orders = await in_time(control, request, "GET /v1/orders/open", final=final)
        return by_id(orders)

    def record(self, order_id: str, status: Any, message: str, **kwargs: Any) -> None:
        self.ledger.record(
            self.index[order_id],
            status,
            message=message,
            attempts=self.attempts.get(order_id, 0),
            **kwargs,
        )

    def fail(self, ids: Iterable[str], error: CancelKitError, *, sent: bool) -> None:
        stop_if_fatal(error, self.control)
        for order_id in ids:
            index = self.index[order_id]
            if sent:
                self.ledger.record(
                    index,
                    "failed",
                    message=error.message,
                    error=error,
                    attempts=self.attempts.get(order_id, 0),
                )
            else:  # never reached the exchange: still open, as far as anyone knows
                self.ledger.record(index, "not_sent", message=error.message, error=error)

    # -- cancel -------------------------------------------------------------------

    async def send_batch(self, entries: list[tuple[str, str]]) -> None:
        ids = [order_id for order_id, _ in entries]
        indices = [self.index[i] for i in ids]
        if (self.control.stopped or self.control.expired) and not self.control.presents(indices):
            return  # never sent: the ledger reports these not_sent

        def counted() -> None:
            for order_id in ids:
                self.attempts[order_id] = self.attempts.get(order_id, 0) + 1

        with flight(self.control, indices, counted) as sent:
            try:
                await self.wire.cancel_batch(entries, self.limiter, self.control.ends_at)
            except DeadlinePassed as exc:
                self.fail(ids, exc, sent=False)
            except CancelKitError as exc:
                self.fail(ids, exc, sent=True)
            except Exception as exc:  # one batch's surprise must not abort the others
                logger.exception("unexpected error in a Polymarket batch")
                error = CancelKitError(f"unexpected {type(exc).__name__}: {exc}")
                self.fail(ids, error, sent=sent.sent)
            else:
                self.waiting.update(entries)
                self.markets.update(entries)
                self.wake()
        if sent.cut and sent.sent:
            self.cut.update(entries)  # the last listing may yet confirm them

    # -- confirm ------------------------------------------------------------------

    async def confirm(self) -> None:
        """List until none of the waiting orders is listed (while lookups may still
        send more); those that left are then asked about."""
        pause = _POLL_FIRST
        try:
            while not self.control.stopped and not self.control.expired:
                if not self.waiting:
                    if not self.patient or (not self.unlisted and not self.asking):
                        return
                    await self.wait_for_change(self.control.left())
                    continue
                slugs = set(self.waiting.values())
                scope = None if None in slugs else sorted(s for s in slugs if s is not None)
                try:
                    listed = await self.listing(scope)
                except DeadlinePassed:
                    return
                except CancelKitError as exc:
                    stop_if_fatal(exc, self.control)
                    return  # the last listing will try once more
                self.last_listing, self.last_scope = listed, scope
                self.unseen.difference_update(listed)
                left = [i for i in self.waiting if i not in listed]
                for order_id in left:
                    del self.waiting[order_id]
                    if not self.by_stream(order_id):  # (unseen ones too: see lookups)
                        self.gone.append(order_id)
                        self.left_at[order_id] = time.monotonic()
                if left:
                    self.wake()
                if self.waiting:
                    await anyio.sleep(min(pause, self.control.left()))
                    pause = min(pause * 2, _POLL_MAX)
        finally:
            self.confirming = False
            self.wake()

    # -- look up ------------------------------------------------------------------

    async def lookups(self) -> None:
        async def worker() -> None:
            while not self.control.stopped and not self.control.expired:
                now = time.monotonic()
                reading = self.records_until is not None and now < self.records_until
                held = bool(self.unlisted) and reading  # their records may settle them
                settled = not self.patient or not self.unlisted
                if not self.confirming and settled and self.lookups_until is None:
                    self.lookups_until = now + LOOKUP_GRACE
                    for scope in self.asking_after:
                        self.bound(scope)
                in_window = self.lookups_until is None or (
                    now < self.lookups_until and self._free_slot()
                )
                popped = False
                while self.gone and self.ledger.done(self.index[self.gone[0]]):
                    self.gone.popleft()  # the stream said how it ended
                    popped = True
                if popped and not self.gone:
                    self.wake()  # the workers not holding may be done now
                hold = self.stream_hold(now)
                if self.gone and hold <= 0 and self.gone[0] in self.unseen:
                    # Sent with no listing before, never listed, no word from the stream
                    # in its lag: asked about as an id the first listing lacked.
                    self.unlisted.append(self.gone.popleft())
                    continue
                if self.unlisted and not held and (self.patient or in_window):
                    await self.ask(self.unlisted.popleft(), after_cancel=False)
                elif self.gone and in_window and hold > 0:
                    if self.holding:  # another worker holds for the word
                        await self.wait_for_change(min(hold, self.control.left()))
                    else:
                        self.holding = True
                        try:
                            await self.wait_for_change(min(hold, self.control.left()), head=True)
                        finally:
                            self.holding = False
                elif self.gone and in_window:
                    await self.ask(self.gone.popleft(), after_cancel=True)
                elif not self.confirming and not self.asking and not self.asking_after and not held:
                    return
                else:
                    until = self.lookups_until or self.control.ends_at
                    if held and self.records_until is not None:
                        until = min(until, self.records_until)
                    await self.wait_for_change(min(self.control.left(), max(0.05, until - now)))

        async with anyio.create_task_group() as group:
            for _ in range(self.concurrency):
                group.start_soon(worker)

    def by_stream(self, order_id: str) -> bool:
        """Record the order stream's word on an order the listing no longer shows,
        if it said one; False if not (it is looked up)."""
        word = self.heard.word(order_id, self.markets.get(order_id))
        if word is None:
            return False
        self.record(order_id, *word)
        return True

    def heard_final(self, order_id: str) -> None:
        """The stream said how an order ended: it ends now if it has left the listing."""
        left = order_id in self.left_at and not self.ledger.done(self.index[order_id])
        if left and self.by_stream(order_id) and self._head_done():
            # The word the holding worker waits for: that worker alone is woken (all
            # of them, for each of 300 executions, cost more than the words did).
            self.wake_head()

    def _head_done(self) -> bool:
        """Whether the head of ``gone`` (the order the holder waits for) has an outcome."""
        return bool(self.gone) and self.ledger.done(self.index[self.gone[0]])

    def stream_hold(self, now: float) -> float:
        """Seconds the next order that left the listing still waits for its word
        from the stream before it is looked up (0: ask now; the stream is down)."""
        if not self.gone or not self.heard.live:
            return 0.0
        return self.left_at.get(self.gone[0], now) + _heard.LAG - now

    def _free_slot(self) -> bool:
        """Whether a lookup would be sent without waiting; the first time it would
        not, lookups bounded by the grace end for good (the run is confirmed: what
        is left is reported "not asked", not waited for)."""
        if not self.lookups_spent and not self.limiter.admits(_rates.GET_ORDER):
            self.lookups_spent = True
        return not self.lookups_spent

    async def ask(self, order_id: str, *, after_cancel: bool) -> None:
        """``GET /v1/order/{id}``: what an order the listing lacks is, or how an
        order that left the listing after our cancel ended."""
        if after_cancel or not self.patient:
            # Bounded by the lookup grace: what is off the book does not hold the run.
            with anyio.CancelScope() as scope:
                self.asking_after.add(scope)
                self.bound(scope)
                try:
                    await self._ask(order_id, after_cancel=after_cancel)
                finally:
                    self.asking_after.discard(scope)
                    self.wake()  # a worker waiting for the last lookup may end now
            if scope.cancelled_caught and not self.ledger.done(self.index[order_id]):
                (self.gone if after_cancel else self.unlisted).appendleft(order_id)
            return
        self.asking += 1  # until judged: a late cancel must keep confirmation going
        try:
            await self._ask(order_id, after_cancel=False)
        finally:
            self.asking -= 1
            self.wake()

    def bound(self, scope: anyio.CancelScope) -> None:
        if self.lookups_until is not None:
            scope.deadline = anyio.current_time() + self.lookups_until - time.monotonic()

    async def _ask(self, order_id: str, *, after_cancel: bool) -> None:
        def request() -> Awaitable[Order]:
            return self.wire.get_one(order_id, self.limiter, self.control.ends_at)

        try:
            order = await in_time(self.control, request, f"GET /v1/order/{order_id}")
        except DeadlinePassed:
            # Final now: put back, it would be asked again at once and refused again
            # without a yield, freezing the loop (a stop, the listing) to the deadline.
            if after_cancel:
                if not self.by_stream(order_id):
                    self.record(order_id, "not_open", _GONE.format(why=_NO_SLOT))
            else:
                self.record(order_id, "not_listed", f"{_UNLISTED}; not looked up ({_NO_SLOT})")
            return
        except Unanswered:
            # Cut off at the deadline (or the stop) plus the grace, or aborted: the
            # workers end, and the run's finish reports what is left.
            (self.gone if after_cancel else self.unlisted).appendleft(order_id)
            return
        except OrderNotFound as exc:
            if after_cancel:  # we saw it listed: it is not open, whatever became of it
                self.record(order_id, "not_open", f"no longer listed; GET: {exc.message}")
            else:
                self.ledger.record_error(self.index[order_id], exc, self.control)
            return
        except CancelKitError as exc:
            if after_cancel:
                self.record(order_id, "not_open", _GONE.format(why=f"GET failed: {exc.message}"))
            else:
                self.ledger.record_error(self.index[order_id], exc, self.control)
            return
        except Exception as exc:  # a bug below must not take the other orders with it
            logger.exception("unexpected error looking up one order")
            error = CancelKitError(f"unexpected {type(exc).__name__}: {exc}")
            status = "not_open" if after_cancel else "failed"
            self.record(order_id, status, error.message, error=error)
            return
        await self.judge(order_id, order, after_cancel=after_cancel)

    async def judge(self, order_id: str, order: Order, *, after_cancel: bool) -> None:
        state = _state(order)
        shown = state.value if state is not None else "no state given"
        slug = _slug(order)
        outside = self.market_slug is not None and slug is not None and slug != self.market_slug
        if outside and not self.attempts.get(order_id):
            self.record(
                order_id,
                "not_sent",
                f"in market {slug}, outside --market {self.market_slug}; left alone ({shown})",
            )
            return
        if outside and state in _OPEN_STATES:
            # Sent at once naming --market's market: the exchange left it open.
            self.record(
                order_id,
                "failed",
                f"{shown}: in market {slug}, not --market {self.market_slug}; the cancel named"
                f" {self.market_slug} and the exchange left it open",
            )
            return
        if state == OrderState.ORDER_STATE_FILLED and after_cancel:
            self.record(
                order_id,
                "filled",
                f"{shown}: filled {_quantity(order.cum_quantity)} of"
                f" {_quantity(order.quantity)} while the cancel was pending",
            )
        elif state == OrderState.ORDER_STATE_CANCELED and after_cancel:
            filled = order.cum_quantity
            partly = isinstance(filled, int | float) and filled > 0
            how = (
                f"partly filled ({_quantity(filled)} of {_quantity(order.quantity)}), then"
                f" cancelled ({shown})"
                if partly
                else shown
            )
            self.record(order_id, "cancelled", f"{how}; no longer listed")
        elif state in _OPEN_STATES:
            if after_cancel or slug is None:
                why = "still open after the cancel" if after_cancel else "no market given"
                self.record(order_id, "failed", f"{shown}: {why}")
                return
            # Open after all (placed since the listing): cancel it now.
            await self.send_batch([(order_id, slug)])
        elif self.attempts.get(order_id):  # sent at once (--market): never seen open
            self.record(
                order_id,
                "not_open",
                f"{shown}; not listed after the cancel, sent with no listing before it"
                " (--market): this run's cancel or an earlier one ended it",
            )
        else:
            self.record(order_id, "not_open", f"{shown}; not listed as open")

    def reads_records(self) -> bool:
        """Whether other runs' records may settle ids the first listing lacked."""
        has_some = self.control.sent_elsewhere is not None and bool(self.unlisted)
        return has_some and self.market_slug is None

    async def known_elsewhere(self) -> None:
        """Ids the listing lacks that another run on this key recorded a cancel for
        (it sends one only for what this key's listing, or a lookup for this key,
        showed open): this key's, and not open. Only when that listing covered every
        market: with ``--market`` an id it lacks may be open in another one.

        The records are read after the cancels are sent, beside the confirmation,
        in a thread nothing waits on: lookups of those ids wait for them at most
        :data:`RECORDS_WAIT` (the records save lookups, they never hold the run),
        and a hung state directory is left behind when the run ends."""
        ask = self.control.sent_elsewhere
        if ask is None or not self.reads_records():
            return
        indices = [self.index[i] for i in self.unlisted]
        found: Mapping[int, str] = {}
        # Not a request, but no less bounded: by the deadline (the caller's scope),
        # and by an abort.
        with self.control.in_flight():
            try:
                found = await beside(lambda: ask(indices), "cancelkit-records")
            except Exception:  # other runs' records are a help, never a reason to fail
                logger.exception("reading other runs' records failed; the run goes on")
            finally:
                self.records_until = None
                self.wake()
        kept: deque[str] = deque()
        for order_id in self.unlisted:  # those no lookup has taken meanwhile
            message = found.get(self.index[order_id])
            if isinstance(message, str) and not self.ledger.done(self.index[order_id]):
                self.record(order_id, "not_open", message)
            else:
                kept.append(order_id)
        self.unlisted = kept

    # -- the end ------------------------------------------------------------------

    async def last_listing_check(self) -> None:
        """One listing, bounded by the grace, for what was sent and is unconfirmed."""
        pending = {**self.waiting, **self.cut}
        if not pending or time.monotonic() >= self.control.end():
            return
        slugs = set(pending.values())
        scope = None if None in slugs else sorted(s for s in slugs if s is not None)
        listed: dict[str, Order] | None = None
        try:
            listed = await self.listing(scope, final=True)
        except CancelKitError as exc:
            logger.info("the last confirming listing failed: %s", exc)
        if listed is None:
            return
        self.last_listing, self.last_scope = listed, scope
        self.unseen.difference_update(listed)
        for order_id in pending:
            if order_id not in listed:
                self.waiting.pop(order_id, None)
                self.cut.pop(order_id, None)
                if self.by_stream(order_id):
                    pass
                elif order_id in self.unseen:  # never seen open: settled as not listed
                    self.unlisted.append(order_id)
                else:
                    self.record(order_id, "not_open", _GONE.format(why="the run was ending"))

    def settle(self) -> None:
        """Outcomes for what is left, saying what was seen and nothing more."""
        when = f"the run stopped ({self.control.reason})" if self.control.stopped else None
        when = when or "the deadline"
        listed = self.last_listing or {}
        for order_id in [*self.waiting, *self.cut]:
            order = listed.get(order_id)
            if order is not None:
                shown = _state(order)
                state = shown.value if shown is not None else "no state given"
                status = "unknown" if order_id in self.cut or self.control.stopped else "failed"
                self.record(order_id, status, f"cancel sent; still listed ({state}) at {when}")
            else:
                self.record(order_id, "unknown", f"cancel sent, not confirmed before {when}")
        ended = self.control.stopped or self.control.expired
        why = f"no time left before {when}" if ended else "the lookup budget was spent"
        for order_id in self.gone:
            if self.by_stream(order_id):
                pass
            elif order_id in self.unseen:  # never seen open: not this key's, perhaps
                self.record(order_id, "not_listed", f"{_UNLISTED}; not looked up ({why})")
            else:
                self.record(order_id, "not_open", _GONE.format(why=why))
        for order_id in self.unlisted:
            self.record(
                order_id,
                "not_listed",
                f"{_UNLISTED}; not looked up ({why})",
            )

    def give_up(self, error: Exception) -> None:
        """A bug below: every order still gets a true outcome."""
        text = f"the run stopped: unexpected {type(error).__name__}: {error}"
        self.control.stop(text, StopReason.FAILED)
        for order_id in [*self.waiting, *self.cut]:
            self.record(order_id, "unknown", f"cancel sent; {text}")
        self.waiting.clear()
        self.cut.clear()


async def cancel_listed(
    wire: Wire,
    order_ids: Sequence[str],
    *,
    market_slug: str | None,
    limiter: Limiter,
    control: Control,
    concurrency: int,
    missing_ok: bool,
    on_result: Callable[[CancelResult[str]], None] | None,
) -> list[CancelResult[str]]:
    """The kill switch for a list of ids (see the module docstring)."""
    if market_slug is not None:
        check.market_slug(market_slug)
    run = _Run(
        wire,
        order_ids,
        limiter=limiter,
        control=control,
        concurrency=concurrency,
        missing_ok=missing_ok,
        on_result=on_result,
        market_slug=market_slug,
    )
    for index, raw in enumerate(order_ids):
        try:
            order_id = check.polymarket_order_id(raw)
        except InvalidRequest as exc:
            run.ledger.record(index, "not_sent", message=exc.message, error=exc)
            continue
        if run.ledger.first_of(index, order_id):
            run.index[order_id] = index
    with running(control):
        try:
            # (Sent before the run began, a request is this run's even if it stopped.)
            if run.index and (not control.stopped or control.presend is not None):
                markets = [market_slug] if market_slug else None
                few = len(run.index) <= _rates.FEW  # their lookups fit the limits at once
                opener = None if few else _opener(wire)
                taps = None if markets else _taps(wire)
                async with _heard.hearing(opener, taps, markets, run.heard, control):
                    await _cancel_listed(run, market_slug)
        except Exception as exc:
            logger.exception("unexpected error in a bulk cancel")
            run.give_up(exc)
    return run.ledger.finish(control)


def _opener(wire: Wire) -> _heard.Opener | None:
    """The wire's private order stream, if its client has one."""
    opener: _heard.Opener | None = getattr(wire, "order_stream", None)
    return opener


def _taps(wire: Wire) -> _heard.Taps | None:
    """The account-wide streams the wire's client reads now, if it has any."""
    taps: Callable[[], _heard.Taps | None] | None = getattr(wire, "taps", None)
    return taps() if taps is not None else None


async def _cancel_listed(run: _Run, market_slug: str | None) -> None:
    if market_slug is not None:
        await _cancel_in_market(run, market_slug)
        return
    # The listing sent before the run began, if it was (_cli._first): the run's own
    # first listing, not sent again (a cancel made from it may have left too).
    listed: dict[str, Order] | None = run.control.listed_before
    run.control.listed_before = None  # taken once
    if listed is None:
        run.control.refusals_to(run.limiter)  # that listing's 429, if it had one
        try:
            listed = await run.listing(None)
        except DeadlinePassed as exc:
            run.fail(run.index, exc, sent=False)
            return
        except CancelKitError as exc:
            run.fail(run.index, exc, sent=False)
            return
    entries, rest = listed_entries(listed, run.index)
    for order_id in rest:
        index = run.index[order_id]
        if order_id in listed:
            error = CancelKitError("the exchange's listing gives no market for it")
            run.fail([order_id], error, sent=False)
        elif index in run.control.recorded:
            status = run.control.recorded[index]
            run.ledger.record(
                index, status, message=f"{status} in the record given; not listed as open now"
            )
        elif index in run.control.recorded_sent:
            run.ledger.record(
                index,
                "not_open",
                message="a cancel was sent for it in the record given (it was listed open for"
                " this key then); not listed now: cancelled or filled",
            )
        else:
            run.unlisted.append(order_id)
    batches = [entries[n : n + BATCH] for n in range(0, len(entries), BATCH)]
    if entries:  # the stream subscribed first: every cancel's execution is heard
        await _heard.ready(run.heard, run.control)
    # Cancel first: nothing is looked up, no record read, before.
    await each(batches, run.send_batch, run.concurrency)
    await _confirm_and_ask(run, records=True)


def by_id(orders: Iterable[Order]) -> dict[str, Order]:
    """A listing's orders by id (the run's view of a listing)."""
    return {o.id: o for o in orders if isinstance(o.id, str)}


def listed_entries(
    listed: Mapping[str, Order], ids: Iterable[str]
) -> tuple[list[tuple[str, str]], list[str]]:
    """What the run makes of its first listing: the batch entries (order id, market)
    of the ``ids`` it lists with their market, in order, and the other ids (not
    listed, or listed with no market). A cold command's first send builds its cancel
    with this too (``_cli._first``), so that its request is the run's."""
    entries: list[tuple[str, str]] = []
    rest: list[str] = []
    for order_id in ids:
        order = listed.get(order_id)
        slug = None if order is None else _slug(order)
        if slug is None:
            rest.append(order_id)
        else:
            entries.append((order_id, slug))
    return entries, rest


async def _cancel_in_market(run: _Run, market_slug: str) -> None:
    """The caller named every order's market: each batch entry has all it needs, so
    the cancels go at once, with no listing before them (the round trip the official
    SDK's cancel never makes either). The exchange routes each entry to the market it
    names (the page: the market "the order belongs to"), so an order in another market
    is not touched; the listings after the cancel, and a lookup of each id they never
    showed, say what became of every one (``unseen``)."""
    entries = [(order_id, market_slug) for order_id in run.index]
    run.unseen.update(run.index)
    await _heard.ready(run.heard, run.control)  # the stream subscribed first, if any
    batches = [entries[n : n + BATCH] for n in range(0, len(entries), BATCH)]
    await each(batches, run.send_batch, run.concurrency)
    await _confirm_and_ask(run)


async def _confirm_and_ask(run: _Run, *, records: bool = False) -> None:
    async with anyio.create_task_group() as beside:
        if records and run.reads_records():
            run.records_until = time.monotonic() + RECORDS_WAIT  # before lookups start
            beside.start_soon(run.known_elsewhere)
        async with anyio.create_task_group() as group:
            group.start_soon(run.confirm)
            group.start_soon(run.lookups)
        beside.cancel_scope.cancel()  # records still unread by now are not waited for
    await run.last_listing_check()
    run.settle()


async def cancel_all(
    wire: Wire,
    *,
    market_slugs: Sequence[str] | None,
    limiter: Limiter,
    control: Control,
    on_result: Callable[[CancelResult[str]], None] | None,
) -> list[CancelResult[str]]:
    """The exchange's cancel-all (in ``market_slugs``' markets, or everywhere), then
    listings until none of the orders it named, nor any other, is listed there."""
    slugs = [check.market_slug(s) for s in market_slugs or ()]
    heard = _heard.Heard(None)  # whose orders: the cancel-all's answer says
    with running(control):
        taps = None if slugs else _taps(wire)  # a live account-wide stream: no wait
        async with _heard.hearing(_opener(wire), taps, slugs or None, heard, control):
            await _heard.ready(heard, control)  # subscribed before the cancel
            return await _cancel_all(wire, slugs, limiter, control, on_result, heard)


async def _cancel_all(
    wire: Wire,
    slugs: list[str],
    limiter: Limiter,
    control: Control,
    on_result: Callable[[CancelResult[str]], None] | None,
    heard: _heard.Heard,
) -> list[CancelResult[str]]:
    answered: list[str] | None = None
    with flight(control, []) as sent:  # an abort cancels it; no wait past the grace
        answered = await wire.cancel_open(slugs, limiter, control.ends_at)
    if answered is None:
        cut = _cut_off(control, sent=sent.sent)
        if on_result is not None:  # an outcome like any other: written as it is known
            on_result(cut)
        return [cut]
    control.mark_answered()
    ids = answered
    run = _Run(
        wire,
        ids,
        limiter=limiter,
        control=control,
        concurrency=_CANCEL_ALL_LOOKUPS,
        missing_ok=False,
        on_result=on_result,
    )
    for index, order_id in enumerate(ids):
        if run.ledger.first_of(index, order_id):
            run.index[order_id] = index
            run.attempts[order_id] = 1
    run.heard = heard
    heard.keep(run.index)
    heard.on_final = run.heard_final
    scope = slugs or None
    run.waiting.update(dict.fromkeys(run.index, slugs[0] if len(slugs) == 1 else None))
    run.markets.update(run.waiting)
    try:
        await _confirm_and_ask(run)
    except Exception as exc:
        logger.exception("unexpected error in a cancel-all")
        run.give_up(exc)
    results = run.ledger.finish(control)
    if not control.stopped and control.left():
        # Anything still listed there was not cancelled: say so, it is still open.
        left = _listed_there(run, scope)
        try:
            left = await run.listing(scope, final=True) if left is None else left
        except CancelKitError as exc:
            unlisted = CancelResult[str](CancelAllTarget(""), "failed", exc.message, exc)
            return [*results, *told([unlisted], on_result)]
        results += told(
            (
                CancelResult(i, "failed", f"still open after cancel-all ({o.state})")
                for i, o in left.items()
                if i not in run.index
            ),
            on_result,
        )
    return results


def _cut_off(control: Control, *, sent: bool) -> CancelResult[str]:
    """The cancel-all's outcome when no answer came: it names the orders, so which
    ones it cancelled, if any, is unknown (every market's, or ``--market``'s)."""
    when, scope = cut_short(control), CancelAllTarget("")
    if sent:
        return CancelResult(scope, "unknown", f"cancel-all sent; no answer before {when}")
    return CancelResult(scope, "not_sent", f"cancel-all not sent: waiting to send at {when}")


def _listed_there(run: _Run, scope: Sequence[str] | None) -> dict[str, Order] | None:
    """The run's last confirming listing (taken after the cancel-all answered) narrowed
    to ``scope``'s markets, if it covered them; else None (list again). Listing again
    would wait for the rate limit's next slot, most of a second after a burst of
    lookups, to learn what this listing already says."""
    listed, covered = run.last_listing, run.last_scope
    if listed is None or (covered is not None and (scope is None or set(scope) - set(covered))):
        return None
    if scope is None:
        return listed
    others = {i: o for i, o in listed.items() if i not in run.index}
    if any(_slug(o) is None for o in others.values()):
        return None  # in which market? the exchange's own listing of scope says
    return {i: o for i, o in others.items() if _slug(o) in scope}

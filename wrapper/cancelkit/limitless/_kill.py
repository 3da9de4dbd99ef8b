"""Limitless bulk cancels: batches of the spec's limit, each order the exchange's word.

``POST /orders/batch-cancel`` takes one kind of identifier per request (the body
is a ``oneOf``), up to ``maxItems`` of them, and answers per order. The run:

1. validates every target (invalid ones are ``not_sent``; duplicates share one);
2. sends order ids and client order ids in separate batches of the spec's limit;
3. maps each order from the answer: in ``canceled`` → ``cancelled``; in ``failed``
   with a reason that names its state → that state, with an unknown reason →
   ``failed`` (the reason shown); absent from both lists, or a reason that may
   mean either "not found" or "already cancelled" (``ORDER_NOT_FOUND``: "Order not
   found or already canceled") → asked about through ``POST /orders/status/batch``,
   never guessed: ``not_found``, ``not_open`` (its state), or ``failed`` if still LIVE.

``cancel_all`` is ``DELETE /orders/all/{slug}`` (its 207 read order by order), then
the market's user-orders listing until nothing it cancelled is LIVE, and anything
else still LIVE there is reported ``failed``.

Every request is one an abort cancels, none waited for past the deadline (or the
stop) and the grace (``_bulk.bounded``): the last lookup or listing has the grace's
second half.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol
from uuid import UUID

import anyio

from .._bulk import (
    CancelAllTarget,
    CancelResult,
    Control,
    Ledger,
    StopReason,
    Unanswered,
    bounded,
    each,
    flight,
    in_time,
    running,
    stop_if_fatal,
    told,
)
from .._exceptions import AuthenticationError, CancelKitError, InvalidRequest
from .._generated.limitless_api.constraints import (
    BATCH_CANCEL_ORDERS_DTO_BY_ORDER_IDS_ORDER_IDS_MAX_ITEMS,
    ORDER_STATUS_BATCH_DTO_ITEMS_MAX_ITEMS,
)
from .._generated.limitless_api.models import (
    BatchCancelOrdersResponseDto,
    CancelAllOrdersResponseDto,
    CancelByClientOrderId,
    CancelByOrderId,
    OrderStatus,
    OrderStatusResultDto,
    StatusByClientOrderId,
    StatusByOrderId,
    UserOrderDto,
)
from .._generated.limitless_api.types import Unset
from .._limiter import DeadlinePassed, Limiter

logger = logging.getLogger("cancelkit")
BATCH = BATCH_CANCEL_ORDERS_DTO_BY_ORDER_IDS_ORDER_IDS_MAX_ITEMS
LOOKUP_BATCH = ORDER_STATUS_BATCH_DTO_ITEMS_MAX_ITEMS
# Reasons whose text does not say which of "not found" and "not open" it is.
ASK_WHY = frozenset({"ORDER_NOT_FOUND"})
LIVE = OrderStatus.LIVE
MATCHED = OrderStatus.MATCHED
_POLL_FIRST, _POLL_MAX = 0.05, 1.0  # seconds between confirmation listings

CancelTarget = CancelByOrderId | CancelByClientOrderId
"""The generated request body: one of its two variants."""
StatusTarget = StatusByOrderId | StatusByClientOrderId
"""One item of the generated status-lookup body."""


class Wire(Protocol):
    """What the kill switch asks of a client: this venue's requests, each inside the
    run's limits and deadline (``deadline``: a ``time.monotonic()`` instant)."""

    def validated(self, target: CancelTarget) -> CancelTarget:
        """``target`` checked as a single cancel checks it (InvalidRequest if not)."""
        ...

    async def batch_cancel(
        self, kind: str, values: list[str], limiter: Limiter, deadline: float | None
    ) -> BatchCancelOrdersResponseDto:
        """``POST /orders/batch-cancel`` of one kind of identifier."""
        ...

    async def status(
        self, items: list[StatusTarget], limiter: Limiter, deadline: float | None
    ) -> list[OrderStatusResultDto]:
        """``POST /orders/status/batch``: one result per item, in order."""
        ...

    async def cancel_all(
        self, market_slug: str, on_behalf_of: int | None, limiter: Limiter, deadline: float | None
    ) -> CancelAllOrdersResponseDto:
        """``DELETE /orders/all/{slug}``."""
        ...

    async def user_orders(
        self, market_slug: str, limiter: Limiter, deadline: float | None
    ) -> list[UserOrderDto]:
        """``GET /markets/{slug}/user-orders``."""
        ...


Key = tuple[str, str]  # ("order", canonical uuid) or ("client", client order id)


# Limitless documents a 401 "Not the order owner": about one order, not the key.
_NOT_OWNER = re.compile(r"not the order owner", re.IGNORECASE)


def not_the_owner(error: CancelKitError) -> bool:
    """Whether ``error`` is Limitless's 401 "Not the order owner": about one order,
    not the key (``Control.about_one_order`` for this venue's runs)."""
    return isinstance(error, AuthenticationError) and _NOT_OWNER.search(error.message) is not None


def key_of(target: CancelTarget) -> Key:
    """The identifier a target names, as the batch body and answers spell it."""
    if isinstance(target, CancelByOrderId):
        return ("order", str(target.order_id))
    return ("client", target.client_order_id)


def chunks(items: Sequence[Any], size: int) -> list[list[Any]]:
    """``items`` in lists of at most ``size``."""
    return [list(items[n : n + size]) for n in range(0, len(items), size)]


class _Run:
    """One batched cancel: its ledger, its limits, and what is left to ask about."""

    def __init__(
        self,
        wire: Wire,
        targets: Sequence[CancelTarget],
        *,
        limiter: Limiter,
        control: Control,
        missing_ok: bool,
        on_result: Callable[[CancelResult[CancelTarget]], None] | None,
    ) -> None:
        self.wire = wire
        self.limiter = limiter
        self.control = control
        self.ledger = Ledger(targets, missing_ok=missing_ok, on_result=on_result)
        self.index: dict[Key, int] = {}
        self.canceled: set[str] = set()  # every id a batch answer listed as canceled
        self.ask: dict[Key, str] = {}  # identifier -> what the batch answer said
        self.sent: set[Key] = set()  # carried by a request that left the process
        self.cut: list[Key] = []  # sent, no answer before an abort or the grace
        # One request at a time, sent only once the pace admits it: a run stopped while
        # waiting sends nothing more (those orders are not_sent, never unknown).
        self.gate = anyio.Lock()

    async def admitted(self) -> bool:
        """Wait for the pace (:class:`DeadlinePassed` if it admits nothing before the
        deadline); False if the run was stopped meanwhile."""
        if self.control.stopped or self.control.expired:
            return False
        await self.limiter.ready(deadline=self.control.ends_at)
        return not self.control.stopped

    def record(self, key: Key, status: Any, message: str, **kwargs: Any) -> None:
        self.ledger.record(
            self.index[key],
            status,
            message=message,
            attempts=1 if key in self.sent else 0,
            **kwargs,
        )

    def record_answer(self, kind: str, values: list[str], canceled: set[str], failed: Any) -> None:
        for value in values:
            key = (kind, value)
            if value in canceled:
                self.record(key, "cancelled", "canceled")
                continue
            entry = failed.get(value)
            if entry is None:
                self.ask[key] = "absent from canceled and failed"
                continue
            reason = entry.reason if isinstance(entry.reason, str) else "no reason given"
            text = entry.message if isinstance(entry.message, str) else ""
            said = f"{reason}: {text}" if text else reason
            if reason in ASK_WHY:
                self.ask[key] = said
            else:
                self.record(key, "failed", said)

    def fail(self, keys: list[Key], exc: Exception, prefix: str, *, sent: bool) -> None:
        """Every order of a request that failed as a whole: ``failed`` if it was sent (it
        may still be open), else ``not_sent``; the run stops if every request would meet
        the same (a 401 "Not the order owner" does not, once the key was accepted)."""
        if isinstance(exc, CancelKitError):
            error = exc
        else:
            logger.exception("unexpected error in a Limitless batch")
            error = CancelKitError(f"unexpected {type(exc).__name__}: {exc}")
        if sent:
            stop_if_fatal(error, self.control)
        for key in keys:
            said = self.ask.get(key)
            why = f"{said}; {prefix}{error.message}" if said else f"{prefix}{error.message}"
            if sent:
                self.ledger.record(
                    self.index[key], "failed", message=why, error=error, attempts=error.attempts
                )
            else:  # never reached the exchange: still open, as far as anyone knows
                self.ledger.record(self.index[key], "not_sent", message=why, error=error)

    async def send(self, batch: tuple[str, list[str]]) -> None:
        kind, values = batch
        keys = [(kind, v) for v in values]

        def counted() -> None:  # right before the first attempt: journaled "sent" first
            self.sent.update(keys)

        indices = [self.index[k] for k in keys]
        # Sent before the run began (``Control.presend``): its answer is taken as it
        # is, whatever the pace, a stop or the deadline say now.
        present = self.control.presents(indices)
        with flight(self.control, indices, counted) as sent:
            try:
                async with self.gate:
                    if not present and not await self.admitted():
                        return  # never sent: the ledger reports these not_sent
                    answer = await self.wire.batch_cancel(
                        kind, values, self.limiter, self.control.ends_at
                    )
            except DeadlinePassed as exc:
                self.fail(keys, exc, "", sent=sent.sent)
                return
            except Exception as exc:  # one batch's surprise must not abort the others
                self.fail(keys, exc, "", sent=sent.sent)
                return
            canceled = {c for c in answer.canceled or () if isinstance(c, str)}
            self.canceled |= {c.lower() for c in canceled}
            failed = {f.order_id: f for f in answer.failed or ()}
            if kind == "order":  # the exchange may spell a UUID in capitals
                canceled = {c.lower() for c in canceled}
                failed = {k.lower(): f for k, f in failed.items()}
            self.record_answer(kind, values, canceled, failed)
        if sent.cut and sent.sent:
            self.cut.extend(keys)  # the last lookup may yet settle them

    async def lookup(self, keys: list[Key]) -> None:
        """Ask the exchange about orders the batch answer did not settle; what the
        deadline or a stop leaves unasked waits for the last lookup."""
        with bounded(self.control):
            try:
                async with self.gate:
                    if not await self.admitted():
                        return
                    results = await self.wire.status(
                        [_item(k) for k in keys], self.limiter, self.control.ends_at
                    )
            except DeadlinePassed:
                return
            except Exception as exc:
                self.fail(keys, exc, "the status lookup failed: ", sent=True)
                return
            for key, result in zip(keys, results, strict=True):
                self.settle(key, result)

    def settle(self, key: Key, result: OrderStatusResultDto) -> None:
        said = self.ask.get(key, "batch sent; no answer")
        data = result.data if not isinstance(result.data, Unset) else None
        if result.status != "found" or data is None:
            error = result.error if isinstance(result.error, str) else result.status
            self.record(key, "not_found", f"{said}; status lookup: {error}")
            return
        if data.id.lower() in self.canceled:  # the exchange's canceled list named it by id
            self.record(key, "cancelled", "canceled")
        elif data.status == LIVE:
            self.record(key, "failed", f"{said}; still LIVE")
        elif data.status == MATCHED:  # a fill is its own outcome, never "not open"
            self.record(key, "filled", f"MATCHED; {said}")
        else:
            state = getattr(data.status, "value", data.status)
            self.record(key, "not_open", f"{state}; {said}")

    def unsettled(self) -> list[Key]:
        """Sent, and neither the batch answer nor a lookup settled them yet."""
        keys = [*self.cut, *self.ask]
        return [k for k in dict.fromkeys(keys) if not self.ledger.done(self.index[k])]

    async def last_lookup(self) -> None:
        """Once sending is over (the deadline, a stop, or the answers in): one lookup
        pass for what was sent and is not settled, the exchange's word rather than a
        guess. Bounded by the rest of the grace (requests in flight had its first
        half), and cancelled by an abort: a batch cut off is still asked about, once."""
        pending = self.unsettled()
        if not pending:
            return
        until = self.control.end()
        with bounded(self.control, final=True):
            for part in chunks(pending, LOOKUP_BATCH):
                try:
                    results = await self.wire.status([_item(k) for k in part], self.limiter, until)
                except CancelKitError as exc:
                    logger.info("the last confirming lookup failed: %s", exc)
                    return
                for key, result in zip(part, results, strict=True):
                    self.settle(key, result)

    def settle_rest(self) -> None:
        """Outcomes for what was sent and is still unsettled, saying what was seen."""
        if self.control.stopped:
            when = f"the run stopped ({self.control.reason})"
        elif self.control.expired:
            when = "the deadline"
        else:
            when = "the run ended"
        for key in self.unsettled():
            said = self.ask.get(key)
            if said is not None and said.partition(":")[0] in ASK_WHY:
                # "not found or already canceled": not open for this key, either way.
                self.record(key, "not_listed", f"{said}; not asked which before {when}")
            elif said is not None:
                self.record(key, "unknown", f"batch answered, {said}; not asked before {when}")
            else:
                self.record(key, "unknown", f"batch sent; no answer before {when}")

    def give_up(self, error: Exception) -> None:
        """A bug below: every order still gets a true outcome (the unsent: not_sent)."""
        while isinstance(error, ExceptionGroup) and error.exceptions:
            error = error.exceptions[0]  # the task group's wrapping says nothing
        text = f"the run stopped: unexpected {type(error).__name__}: {error}"
        self.control.stop(text, StopReason.FAILED)
        for key in self.sent:
            if not self.ledger.done(self.index[key]):
                self.record(key, "unknown", f"batch sent; {text}")


def _item(key: Key) -> StatusByOrderId | StatusByClientOrderId:
    kind, value = key
    if kind == "order":
        return StatusByOrderId(order_id=UUID(value))
    return StatusByClientOrderId(client_order_id=value)


async def cancel_batched(
    wire: Wire,
    targets: Sequence[CancelTarget],
    *,
    limiter: Limiter,
    control: Control,
    concurrency: int,
    missing_ok: bool,
    on_result: Callable[[CancelResult[CancelTarget]], None] | None,
) -> list[CancelResult[CancelTarget]]:
    """The kill switch for a list of targets (see the module docstring)."""
    run = _Run(
        wire,
        targets,
        limiter=limiter,
        control=control,
        missing_ok=missing_ok,
        on_result=on_result,
    )
    for index, target in enumerate(targets):
        try:
            key = key_of(wire.validated(target))  # validated as a single cancel would be
        except InvalidRequest as exc:
            run.ledger.record(index, "not_sent", message=exc.message, error=exc)
            continue
        if run.ledger.first_of(index, f"{key[0]}:{key[1]}"):
            run.index[key] = index
    by_kind = {kind: [v for k, v in run.index if k == kind] for kind in ("order", "client")}
    batches = [(kind, part) for kind, values in by_kind.items() for part in chunks(values, BATCH)]
    # The run's Control counts 429s, pauses and key acceptance (the per-order 401 rule).
    with running(control):
        try:
            # (Sent before the run began, a request is this run's even if it stopped.)
            if batches and (not control.stopped or control.presend is not None):
                await each(batches, run.send, concurrency)
                await each(chunks(list(run.ask), LOOKUP_BATCH), run.lookup, concurrency)
                await run.last_lookup()
                run.settle_rest()
        except Exception as exc:  # a bug below must not leave an order without an outcome
            logger.exception("unexpected error in a Limitless bulk cancel")
            run.give_up(exc)
    return run.ledger.finish(control)


async def cancel_market(
    wire: Wire,
    market_slug: str,
    *,
    on_behalf_of: int | None,
    limiter: Limiter,
    control: Control,
    on_result: Callable[[CancelResult[str]], None] | None,
) -> list[CancelResult[str]]:
    """Cancel-all in one market, then the listing until nothing it cancelled is LIVE.

    Whatever is raised inside, the market (and each order named) ends with an outcome."""
    with running(control):
        try:
            return await _cancel_market(
                wire, market_slug, on_behalf_of, limiter, control, on_result
            )
        except Exception as exc:  # a bug below: the market still gets a true outcome
            logger.exception("unexpected error in a Limitless cancel-all")
            text = f"the run stopped: unexpected {type(exc).__name__}: {exc}"
            control.stop(text, StopReason.FAILED)
            outcome = CancelResult[str](
                CancelAllTarget(market_slug), "unknown", f"cancel-all: {text}"
            )
            return told([outcome], on_result)


async def _cancel_market(
    wire: Wire,
    market_slug: str,
    on_behalf_of: int | None,
    limiter: Limiter,
    control: Control,
    on_result: Callable[[CancelResult[str]], None] | None,
) -> list[CancelResult[str]]:
    def whole(status: Any, message: str, error: CancelKitError | None = None) -> list[Any]:
        # The market's cancel-all itself (no order): announced as any outcome is; its
        # target's type keeps a record of it from being read as an order.
        result = CancelResult[str](CancelAllTarget(market_slug), status, message, error)
        if on_result is not None:
            on_result(result)
        return [result]

    if control.stopped or control.expired:
        why = f"the run stopped ({control.reason})" if control.stopped else "the deadline passed"
        return whole("not_sent", f"cancel-all not sent: {why} first")
    answer = None
    # No input order: counted for progress only.
    with flight(control, []) as sent:
        try:
            answer = await wire.cancel_all(market_slug, on_behalf_of, limiter, control.ends_at)
        except CancelKitError as exc:
            if not sent.sent or isinstance(exc, DeadlinePassed):
                return whole("not_sent", f"cancel-all {exc.message}", exc)
            stop_if_fatal(exc, control)
            return whole("failed", f"cancel-all: {exc.message}", exc)
    if answer is None:  # cut off by an abort, or by the grace
        if sent.sent:
            return whole("unknown", "cancel-all sent; no answer before the run ended")
        return whole("not_sent", "cancel-all not sent: the run ended while it waited")
    control.mark_answered()
    canceled = [c for c in answer.canceled or () if isinstance(c, str)]
    failed = list(answer.failed or ())
    ids = [*canceled, *(f.order_id for f in failed)]
    ledger = Ledger(ids, missing_ok=False, on_result=on_result)
    for index, entry in enumerate(failed, start=len(canceled)):
        reason = entry.reason if isinstance(entry.reason, str) else "no reason given"
        text = f"{reason}: {entry.message}" if isinstance(entry.message, str) else reason
        if ledger.first_of(index, entry.order_id):
            ledger.record(index, "failed", message=f"cancel-all: {text}", attempts=1)
    waiting = {c: i for i, c in enumerate(canceled) if ledger.first_of(i, c)}
    if on_behalf_of is not None:
        # The user-orders page documents no onBehalfOf: a sub-account's market cannot
        # be listed, so "nothing LIVE left" cannot be checked. Say so.
        for index in waiting.values():
            ledger.record(index, "cancelled", message="canceled", attempts=1)
        results = ledger.finish(control)
        note = "cancel-all for a sub-account: its market cannot be listed to confirm"
        return [*results, *whole("unknown", note)]
    pause = _POLL_FIRST
    live: dict[str, Any] | None = None  # the last listing's LIVE orders (None: none read)
    problem: str | None = None

    def seen(listed: list[Any]) -> None:
        nonlocal live
        live = {o.id: o for o in listed if o.status == LIVE}
        for order_id in [i for i in waiting if i not in live]:
            ledger.record(waiting.pop(order_id), "cancelled", message="canceled; not LIVE")

    what = f"GET /markets/{market_slug}/user-orders"
    while not control.stopped and not control.expired:
        try:
            seen(
                await in_time(
                    control, lambda: wire.user_orders(market_slug, limiter, control.ends_at), what
                )
            )
        except (DeadlinePassed, Unanswered):
            break
        except CancelKitError as exc:
            stop_if_fatal(exc, control)
            problem = exc.message
            break
        if not waiting or not control.left():
            break
        await anyio.sleep(min(pause, control.left()))
        pause = min(pause * 2, _POLL_MAX)
    if (waiting or live is None) and problem is None and time.monotonic() < control.end():
        # The deadline or a stop came first: one listing, bounded by the grace.
        try:
            seen(
                await in_time(
                    control,
                    lambda: wire.user_orders(market_slug, limiter, control.end()),
                    what,
                    final=True,
                )
            )
        except CancelKitError as exc:
            logger.info("the last confirming listing failed: %s", exc)
    when = f"the run stopped ({control.reason})" if control.stopped else "the deadline"
    for order_id, index in waiting.items():
        if problem is not None:
            ledger.record(index, "failed", message=f"canceled; not confirmed: {problem}")
        elif live is not None and order_id in live:
            ledger.record(
                index, "failed", message=f"canceled by cancel-all but still LIVE at {when}"
            )
        else:  # the exchange said canceled; no listing read since
            ledger.record(index, "unknown", message=f"canceled; not confirmed before {when}")
    results = ledger.finish(control)
    named = set(ids)
    return results + told(
        (
            CancelResult(order_id, "failed", "still LIVE after cancel-all")
            for order_id in live or {}
            if order_id not in named
        ),
        on_result,
    )

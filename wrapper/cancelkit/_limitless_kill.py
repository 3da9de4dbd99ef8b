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
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

import anyio

from ._batch import CancelResult, Control, Ledger, stops_the_run
from ._exceptions import CancelKitError, InvalidRequest
from ._generated.limitless_api.constraints import (
    BATCH_CANCEL_ORDERS_DTO_BY_ORDER_IDS_ORDER_IDS_MAX_ITEMS,
    ORDER_STATUS_BATCH_DTO_ITEMS_MAX_ITEMS,
)
from ._generated.limitless_api.models import (
    CancelByOrderId,
    OrderStatus,
    OrderStatusResultDto,
    StatusByClientOrderId,
    StatusByOrderId,
)
from ._generated.limitless_api.types import Unset
from ._limiter import Limiter

if TYPE_CHECKING:
    from ._limitless import AsyncLimitlessClient, CancelTarget

logger = logging.getLogger("cancelkit")
BATCH = BATCH_CANCEL_ORDERS_DTO_BY_ORDER_IDS_ORDER_IDS_MAX_ITEMS
LOOKUP_BATCH = ORDER_STATUS_BATCH_DTO_ITEMS_MAX_ITEMS
# Reasons whose text does not say which of "not found" and "not open" it is.
ASK_WHY = frozenset({"ORDER_NOT_FOUND"})
LIVE = OrderStatus.LIVE
_POLL_FIRST, _POLL_MAX = 0.05, 1.0  # seconds between confirmation listings

Key = tuple[str, str]  # ("order", canonical uuid) or ("client", client order id)


def key_of(target: CancelTarget) -> Key:
    """The identifier a target names, as the batch body and answers spell it."""
    if isinstance(target, CancelByOrderId):
        return ("order", str(target.order_id))
    return ("client", target.client_order_id)


def chunks(items: Sequence[Any], size: int) -> list[list[Any]]:
    """``items`` in lists of at most ``size``."""
    return [list(items[n : n + size]) for n in range(0, len(items), size)]


async def each(work: Callable[[Any], Any], items: Iterable[Any], concurrency: int) -> None:
    """Run ``work`` on every item, at most ``concurrency`` at a time."""
    pending = iter(items)

    async def worker() -> None:
        for item in pending:
            await work(item)

    async with anyio.create_task_group() as group:
        for _ in range(concurrency):
            group.start_soon(worker)


class _Run:
    """One batched cancel: its ledger, its limits, and what is left to ask about."""

    def __init__(
        self,
        client: AsyncLimitlessClient,
        targets: Sequence[CancelTarget],
        *,
        limiter: Limiter,
        control: Control,
        missing_ok: bool,
        on_result: Callable[[CancelResult[CancelTarget]], None] | None,
    ) -> None:
        self.client = client
        self.limiter = limiter
        self.control = control
        self.ledger = Ledger(targets, missing_ok=missing_ok, on_result=on_result)
        self.index: dict[Key, int] = {}
        self.canceled: set[str] = set()  # every id a batch answer listed as canceled
        self.ask: dict[Key, str] = {}  # identifier -> what the batch answer said
        # One request at a time, sent only once the pace admits it: a run stopped while
        # waiting sends nothing more (those orders are not_sent, never unknown).
        self.gate = anyio.Lock()

    async def admitted(self) -> bool:
        """Wait for the pace; False if the run was stopped meanwhile."""
        if self.control.stopped:
            return False
        await self.limiter.ready()
        return not self.control.stopped

    def record_answer(self, kind: str, values: list[str], canceled: set[str], failed: Any) -> None:
        for value in values:
            index = self.index[(kind, value)]
            if value in canceled:
                self.ledger.record(index, "cancelled", message="canceled", attempts=1)
                continue
            entry = failed.get(value)
            if entry is None:
                self.ask[(kind, value)] = "absent from canceled and failed"
                continue
            reason = entry.reason if isinstance(entry.reason, str) else "no reason given"
            text = entry.message if isinstance(entry.message, str) else ""
            said = f"{reason}: {text}" if text else reason
            if reason in ASK_WHY:
                self.ask[(kind, value)] = said
            else:
                self.ledger.record(index, "failed", message=said, attempts=1)

    def fail(self, keys: list[Key], exc: Exception, prefix: str) -> None:
        """Every order of a request that failed as a whole: ``failed`` (it may still be
        open), and the run stopped if every request would meet the same."""
        if isinstance(exc, CancelKitError):
            error = exc
        else:
            logger.exception("unexpected error in a Limitless batch")
            error = CancelKitError(f"unexpected {type(exc).__name__}: {exc}")
        if stops_the_run(error):
            self.control.stop(f"{type(error).__name__}: {error}")
        for key in keys:
            said = self.ask.get(key)
            why = f"{said}; {prefix}{error.message}" if said else f"{prefix}{error.message}"
            self.ledger.record(
                self.index[key], "failed", message=why, error=error, attempts=error.attempts
            )

    async def send(self, batch: tuple[str, list[str]]) -> None:
        kind, values = batch
        async with self.gate:
            if await self.admitted():  # else never sent: the ledger reports not_sent
                await self._send(kind, values)

    async def _send(self, kind: str, values: list[str]) -> None:
        with self.control.in_flight() as scope:
            try:
                answer = await self.client._batch_cancel(
                    kind, values, self.limiter, self.control.deadline
                )
            except Exception as exc:  # one batch's surprise must not abort the others
                self.fail([(kind, v) for v in values], exc, "")
                return
            canceled = {c for c in answer.canceled or () if isinstance(c, str)}
            self.canceled |= {c.lower() for c in canceled}
            failed = {f.order_id: f for f in answer.failed or ()}
            if kind == "order":  # the exchange may spell a UUID in capitals
                canceled = {c.lower() for c in canceled}
                failed = {k.lower(): f for k, f in failed.items()}
            self.record_answer(kind, values, canceled, failed)
        if scope.cancelled_caught:
            for value in values:
                index = self.index[(kind, value)]
                self.ledger.record(index, "unknown", message="batch sent; no answer")

    async def lookup(self, keys: list[Key]) -> None:
        """Ask the exchange about orders the batch answer did not settle."""
        async with self.gate:
            if await self.admitted():
                await self._lookup(keys)
                return
        for key in keys:  # sent in a batch, but the run stopped before asking
            why = f"{self.ask[key]}; not asked: the run stopped ({self.control.reason})"
            self.ledger.record(self.index[key], "unknown", message=why)

    async def _lookup(self, keys: list[Key]) -> None:
        if not self.control.left():
            for key in keys:
                self.ledger.record(
                    self.index[key],
                    "failed",
                    message=f"{self.ask[key]}; the deadline passed before asking why",
                )
            return
        try:
            results = await self.client._status(
                [
                    StatusByOrderId(order_id=UUID(v))
                    if k == "order"
                    else StatusByClientOrderId(client_order_id=v)
                    for k, v in keys
                ],
                self.limiter,
                self.control.deadline,
            )
        except Exception as exc:
            self.fail(keys, exc, "the status lookup failed: ")
            return
        for key, result in zip(keys, results, strict=True):
            self.settle(key, result)

    def settle(self, key: Key, result: OrderStatusResultDto) -> None:
        index, said = self.index[key], self.ask[key]
        data = result.data if not isinstance(result.data, Unset) else None
        if result.status != "found" or data is None:
            error = result.error if isinstance(result.error, str) else result.status
            why = f"{said}; status lookup: {error}"
            self.ledger.record(index, "not_found", message=why, attempts=1)
            return
        if data.id.lower() in self.canceled:  # the exchange's canceled list named it by id
            self.ledger.record(index, "cancelled", message="canceled", attempts=1)
        elif data.status == LIVE:
            self.ledger.record(index, "failed", message=f"{said}; still LIVE", attempts=1)
        else:
            state = getattr(data.status, "value", data.status)
            self.ledger.record(index, "not_open", message=f"{state}; {said}", attempts=1)


async def cancel_batched(
    client: AsyncLimitlessClient,
    targets: Sequence[CancelTarget],
    *,
    limiter: Limiter,
    control: Control,
    concurrency: int,
    missing_ok: bool,
    on_result: Callable[[CancelResult[CancelTarget]], None] | None,
) -> list[CancelResult[CancelTarget]]:
    """The kill switch for a list of targets (see the module docstring)."""
    from ._limitless import _body

    run = _Run(
        client,
        targets,
        limiter=limiter,
        control=control,
        missing_ok=missing_ok,
        on_result=on_result,
    )
    for index, target in enumerate(targets):
        try:
            key = key_of(_body(target, None, None))  # validated as a single cancel would be
        except InvalidRequest as exc:
            run.ledger.record(index, "not_sent", message=exc.message, error=exc)
            continue
        if run.ledger.first_of(index, f"{key[0]}:{key[1]}"):
            run.index[key] = index
    by_kind = {kind: [v for k, v in run.index if k == kind] for kind in ("order", "client")}
    batches = [(kind, part) for kind, values in by_kind.items() for part in chunks(values, BATCH)]
    await each(run.send, batches, concurrency)
    await each(run.lookup, chunks(list(run.ask), LOOKUP_BATCH), concurrency)
    return run.ledger.finish(control)


async def cancel_market(
    client: AsyncLimitlessClient,
    market_slug: str,
    *,
    on_behalf_of: int | None,
    limiter: Limiter,
    control: Control,
    on_result: Callable[[CancelResult[str]], None] | None,
) -> list[CancelResult[str]]:
    """Cancel-all in one market, then the listing until nothing it cancelled is LIVE."""
    answer = await client._cancel_all(market_slug, on_behalf_of, limiter, control.deadline)
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
        return [*results, CancelResult(market_slug, "unknown", note)]
    pause = _POLL_FIRST
    live: dict[str, Any] = {}
    while not control.stopped:
        try:
            listed = await client._user_orders(market_slug, limiter, control.deadline)
        except CancelKitError as exc:
            for index in waiting.values():
                ledger.record(index, "failed", message=f"canceled; not confirmed: {exc.message}")
            return [*ledger.finish(control)]
        live = {o.id: o for o in listed if o.status == LIVE}
        for order_id in [i for i in waiting if i not in live]:
            ledger.record(waiting.pop(order_id), "cancelled", message="canceled; not LIVE")
        if not waiting or not control.left():
            break
        await anyio.sleep(min(pause, control.left()))
        pause = min(pause * 2, _POLL_MAX)
    for index in waiting.values():
        if control.stopped:  # the exchange said canceled; the listing was not read
            why = f"canceled; not yet confirmed ({control.reason})"
            ledger.record(index, "unknown", message=why)
        else:
            ledger.record(index, "failed", message="canceled by cancel-all but still LIVE")
    results = ledger.finish(control)
    named = set(ids)
    return results + [
        CancelResult(order_id, "failed", "still LIVE after cancel-all")
        for order_id in live
        if order_id not in named
    ]

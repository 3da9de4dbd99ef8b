"""Polymarket US bulk cancels, confirmed by the exchange's own listing.

The batched cancel only echoes the ids it was given and ignores ids it does not
know, so its answer proves nothing. The run therefore:

1. lists the open orders once: the exchange's word on what is open, and each
   order's market (every batch entry needs its ``marketSlug``);
2. asks ``GET /v1/order/{id}`` about each requested id the listing lacks: not
   open (cancelled before, filled...), open after all (placed since), or not
   found for this key;
3. sends the open ones in batches of the spec's ``maxItems``;
4. lists again (and again, within the rate limits and the deadline) until none
   of them is listed: only then is an order reported cancelled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio

from . import _validation as check
from ._batch import CancelResult, Control, Ledger, stops_the_run
from ._exceptions import CancelKitError, InvalidRequest
from ._generated.polymarket_us_api.constraints import CANCEL_ORDER_LIST_REQUEST_ORDERS_MAX_ITEMS
from ._generated.polymarket_us_api.models import Order, OrderState
from ._limiter import Limiter

if TYPE_CHECKING:
    from ._polymarket import AsyncPolymarketUSClient

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


def _slug(order: Order) -> str | None:
    """The order's market, from the listing (or its metadata)."""
    for slug in (order.market_slug, getattr(order.market_metadata, "slug", None)):
        if isinstance(slug, str) and slug:
            return slug
    return None


class _Run:
    """One bulk cancel: the ledger of its results, its limits and its control."""

    def __init__(
        self,
        client: AsyncPolymarketUSClient,
        ids: Sequence[str],
        *,
        limiter: Limiter,
        control: Control,
        concurrency: int,
        missing_ok: bool,
        on_result: Callable[[CancelResult[str]], None] | None,
    ) -> None:
        self.client = client
        self.limiter = limiter
        self.control = control
        self.concurrency = concurrency
        self.ledger = Ledger(ids, missing_ok=missing_ok, on_result=on_result)
        self.index: dict[str, int] = {}  # order id -> index of its first request
        self.open: dict[str, str | None] = {}  # order id -> market: open, to be sent
        self.sent: dict[str, str] = {}  # order id -> market: in a batch the gateway took

    async def listing(self, slugs: Iterable[str] | None) -> dict[str, Order]:
        """The open orders (of ``slugs``' markets), by id."""
        orders = await self.client._list(slugs, self.limiter, self.control.deadline)
        return {o.id: o for o in orders if isinstance(o.id, str)}

    def fail(self, ids: Iterable[str], error: CancelKitError, *, sent: bool) -> None:
        if stops_the_run(error):
            self.control.stop(f"{type(error).__name__}: {error}")
        for order_id in ids:
            index = self.index[order_id]
            if sent:
                self.ledger.record(index, "failed", message=error.message, error=error)
            else:  # never reached the exchange: still open, as far as anyone knows
                self.ledger.record(index, "not_sent", message=error.message, error=error)

    async def classify(self, order_id: str) -> None:
        """What an id the listing lacks is: ask the exchange."""
        index = self.index[order_id]
        if self.control.stopped:
            return
        if not self.control.left():
            error = CancelKitError("not listed as open; the deadline passed before asking why")
            self.ledger.record(index, "failed", message=error.message, error=error)
            return
        try:
            order = await self.client._get_one(order_id, self.limiter, self.control.deadline)
        except CancelKitError as exc:
            self.ledger.record_error(index, exc, self.control)
            return
        state = order.state if isinstance(order.state, OrderState) else None
        if state in _OPEN_STATES:
            self.open[order_id] = _slug(order)  # open after all: placed since the listing
        else:
            shown = state.value if state is not None else "no state given"
            self.ledger.record(index, "not_open", message=f"{shown}; not listed as open")

    async def send_batch(self, entries: list[tuple[str, str]]) -> None:
        if self.control.stopped:
            return  # never sent: the ledger reports these not_sent
        with self.control.in_flight() as scope:
            try:
                await self.client._cancel_batch(entries, self.limiter, self.control.deadline)
            except CancelKitError as exc:
                self.fail([order_id for order_id, _ in entries], exc, sent=True)
            else:
                self.sent.update(entries)
        if scope.cancelled_caught:
            for order_id, _ in entries:
                self.ledger.record(self.index[order_id], "unknown", message="batch sent; no answer")

    async def confirm(self, waiting: Mapping[str, str | None]) -> None:
        # Only orders a cancel was sent for (or cancel-all named) are waited on.
        """List until none of ``waiting`` is listed; those are cancelled."""
        remaining = dict(waiting)
        pause = _POLL_FIRST
        listed: dict[str, Order] = {}
        while remaining and not self.control.stopped and self.control.left():
            slugs = {s for s in remaining.values() if s is not None}
            try:
                listed = await self.listing(
                    sorted(slugs) if None not in remaining.values() else None
                )
            except CancelKitError as exc:
                self.fail(remaining, exc, sent=True)
                return
            for order_id in [i for i in remaining if i not in listed]:
                del remaining[order_id]
                self.ledger.record(self.index[order_id], "cancelled", message="no longer listed")
            if remaining:
                await anyio.sleep(min(pause, self.control.left()))
                pause = min(pause * 2, _POLL_MAX)
        for order_id in remaining:
            index = self.index[order_id]
            if self.control.stopped:
                why = f"cancel sent; not yet confirmed ({self.control.reason})"
                self.ledger.record(index, "unknown", message=why)
            else:
                order = listed.get(order_id)
                state = order.state if order is not None else "listed"
                why = f"still listed ({state}) when the deadline passed"
                self.ledger.record(index, "failed", message=why)

    async def each(self, work: Callable[[Any], Any], items: Iterable[Any]) -> None:
        """Run ``work`` on every item, at most ``concurrency`` at a time."""
        pending = iter(items)

        async def worker() -> None:
            for item in pending:
                await work(item)

        async with anyio.create_task_group() as group:
            for _ in range(self.concurrency):
                group.start_soon(worker)


async def cancel_listed(
    client: AsyncPolymarketUSClient,
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
        client,
        order_ids,
        limiter=limiter,
        control=control,
        concurrency=concurrency,
        missing_ok=missing_ok,
        on_result=on_result,
    )
    for index, raw in enumerate(order_ids):
        try:
            order_id = check.polymarket_order_id(raw)
        except InvalidRequest as exc:
            run.ledger.record(index, "not_sent", message=exc.message, error=exc)
            continue
        if run.ledger.first_of(index, order_id):
            run.index[order_id] = index
    if run.index and not control.stopped:
        try:
            listed = await run.listing([market_slug] if market_slug else None)
        except CancelKitError as exc:
            run.fail(run.index, exc, sent=False)
        else:
            for order_id in run.index:
                if order_id in listed:
                    run.open[order_id] = _slug(listed[order_id])
            await run.each(run.classify, [i for i in run.index if i not in listed])
            for order_id in [i for i, s in run.open.items() if s is None]:
                error = CancelKitError("the exchange's listing gives no market for it")
                run.fail([order_id], error, sent=False)
            entries = [(i, s) for i, s in run.open.items() if s is not None]
            batches = [entries[n : n + BATCH] for n in range(0, len(entries), BATCH)]
            await run.each(run.send_batch, batches)
            await run.confirm(run.sent)
    return run.ledger.finish(control)


async def cancel_all(
    client: AsyncPolymarketUSClient,
    *,
    market_slugs: Sequence[str] | None,
    limiter: Limiter,
    control: Control,
    on_result: Callable[[CancelResult[str]], None] | None,
) -> list[CancelResult[str]]:
    """The exchange's cancel-all (in ``market_slugs``' markets, or everywhere), then
    listings until none of the orders it named, nor any other, is listed there."""
    slugs = [check.market_slug(s) for s in market_slugs or ()]
    ids = await client._cancel_open(slugs, limiter, control.deadline)
    run = _Run(
        client,
        ids,
        limiter=limiter,
        control=control,
        concurrency=1,
        missing_ok=False,
        on_result=on_result,
    )
    for index, order_id in enumerate(ids):
        if run.ledger.first_of(index, order_id):
            run.index[order_id] = index
    scope = slugs or None
    await run.confirm(dict.fromkeys(run.index))
    results = run.ledger.finish(control)
    if not control.stopped and control.left():
        # Anything still listed there was not cancelled: say so, it is still open.
        try:
            left = await run.listing(scope)
        except CancelKitError as exc:
            return [*results, CancelResult("", "failed", exc.message, exc)]
        results += [
            CancelResult(i, "failed", f"still open after cancel-all ({o.state})")
            for i, o in left.items()
            if i not in run.index
        ]
    return results

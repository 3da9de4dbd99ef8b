"""Kalshi's kill switch by ids: batch-cancel (V2), read each order's entry, confirm
against the resting listing, ask what the answer does not settle.

An order is ``cancelled`` only when its batch entry says so (no ``error``, a
fixed-point ``reduced_by``, a ``ts_ms``) **and** a listing of resting orders taken
after the answer no longer shows it: Kalshi's changelog (2026-05-21) records V2
cancel answers that did not describe the order cancelled. An entry with an
``error``, no entry, or two entries for one id is asked with one ``GetOrder``,
never guessed: ``canceled`` is ``not_open``, ``executed`` ``filled``, unknown
``not_found``, still ``resting`` ``failed``. A batch holds what the tier's Write
bucket holds at once (Basic: 50).

Every request, the listings and lookups too, is one an abort cancels and none is
waited for past the deadline (or the stop) and the grace (``_bulk.in_time``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import anyio

from .._bulk import (
    CancelAllTarget,
    CancelResult,
    Control,
    Ledger,
    Outcome,
    StopReason,
    each,
    flight,
    in_time,
    running,
    stops_the_run,
    told,
)
from .._exceptions import CancelKitError, InvalidRequest, OrderNotFound
from .._generated.kalshi_api.constraints import FIXED_POINT_COUNT_PATTERN
from .._generated.kalshi_api.models import (
    BatchCancelOrdersV2Response,
    BatchCancelOrdersV2ResponseOrdersItem,
    ErrorResponse,
    Order,
    OrderStatus,
)
from .._limiter import DeadlinePassed
from . import _validation as check

_COUNT = re.compile(FIXED_POINT_COUNT_PATTERN)
_RELIST = 0.2  # seconds between listings while a cancelled order is still listed
# How long the listing before a cancel-all may take (retries included) before the
# cancel-all goes without it: a quarter of the time left, at least 2 s, at most half
# (the rest is the cancel's). A read must not hold a kill switch's cancel until its
# deadline.
_FIRST_LISTING, _FIRST_LISTING_SHARE = 2.0, 0.25
_LOOKUPS = 4  # GetOrder lookups in flight at once


class Wire(Protocol):
    """The requests the kill switch needs (the async client gives them)."""

    async def cancel_batch(
        self, order_ids: Sequence[str], subaccount: int | None, deadline: float
    ) -> BatchCancelOrdersV2Response:
        """One ``BatchCancelOrdersV2`` of ``order_ids``, its tokens per order."""
        ...

    async def list_resting(
        self, subaccount: int | None, deadline: float, *, ticker: str | None = None
    ) -> list[Order]:
        """Every resting order (of ``subaccount``, or all; in ``ticker``'s market, or
        all), every page."""
        ...

    async def lookup(self, order_id: str, deadline: float) -> Order:
        """One ``GetOrder``; :class:`OrderNotFound` if unknown."""
        ...

    async def cancel_all(self, subaccount: int | None, deadline: float) -> None:
        """One ``CancelAllOrders``: returns on its documented 204, else raises."""
        ...

    def known(self, subaccount: int | None) -> list[str] | None:
        """The resting orders (of ``subaccount``, or all) a live private order stream
        knows now, or None when none is live (``_live``): then the kill lists first."""
        ...


def _claims_cancelled(entry: BatchCancelOrdersV2ResponseOrdersItem) -> bool:
    """The entry says this order was cancelled, in the documented shape."""
    return (
        not isinstance(entry.error, ErrorResponse)
        and isinstance(entry.reduced_by, str)
        and _COUNT.fullmatch(entry.reduced_by) is not None
        and isinstance(entry.ts_ms, int)
    )


def _entry_note(entries: list[BatchCancelOrdersV2ResponseOrdersItem]) -> str:
    if not entries:
        return "the batch answer has no entry for it"
    if len(entries) > 1:
        return f"the batch answer has {len(entries)} entries for it"
    error = entries[0].error
    if isinstance(error, ErrorResponse):
        return f"the batch answered error {error.code!s}: {error.message!s}"
    return "the batch entry is not in the documented shape"


async def cancel_orders(
    wire: Wire,
    targets: Sequence[str],
    *,
    subaccount: int | None,
    batch_size: int,
    concurrency: int,
    missing_ok: bool,
    on_result: Callable[[CancelResult[str]], None] | None,
    control: Control,
    tickers: Sequence[str] = (),
) -> list[CancelResult[str]]:
    """Cancel every order of ``targets`` (ids); one result per target, in input order.

    With ``tickers``, only the targets listed resting in those markets are sent; each
    other one is asked with one ``GetOrder``: resting elsewhere is ``not_sent`` (left
    alone), ``canceled`` ``not_open``, ``executed`` ``filled``, unknown ``not_found``.
    """
    ledger = Ledger(targets, missing_ok=missing_ok, on_result=on_result)
    todo: list[int] = []
    for index, target in enumerate(targets):
        try:
            order_id = check.kalshi_order_id(target)
        except InvalidRequest as exc:
            ledger.record(index, "not_sent", message=exc.message, error=exc)
            continue
        if ledger.first_of(index, order_id):
            todo.append(index)
    claimed: list[int] = []  # the answer says cancelled: the listing must agree
    to_ask: dict[int, str] = {}  # the answer does not settle it: why

    async def one_batch(batch: list[int]) -> None:
        answered = False
        with flight(control, batch) as sent:
            try:
                answer = await wire.cancel_batch(
                    [targets[i] for i in batch], subaccount, control.ends_at
                )
            except CancelKitError as exc:
                for index in batch:
                    ledger.record_error(index, exc, control)
                return
            by_id: dict[str, list[BatchCancelOrdersV2ResponseOrdersItem]] = {}
            for entry in answer.orders:
                by_id.setdefault(str(entry.order_id), []).append(entry)
            for index in batch:
                entries = by_id.get(targets[index], [])
                if len(entries) == 1 and _claims_cancelled(entries[0]):
                    claimed.append(index)
                else:
                    to_ask[index] = _entry_note(entries)
            answered = True  # every index is now claimed or to be asked
        if answered:
            return
        for index in batch:
            if not ledger.done(index):
                why = "the abort" if control.stopped else "the deadline"
                if sent.sent:
                    ledger.record(index, "unknown", message=f"sent; no answer before {why}")
                else:
                    ledger.record(index, "not_sent", message=f"not sent: waiting at {why}")

    with running(control):
        outside: list[int] = []
        if tickers:
            todo, outside = await _in_markets(
                wire, targets, todo, tickers, subaccount, ledger, control
            )
        batches = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
        await each(
            batches,
            one_batch,
            max(1, min(concurrency, len(batches))),
            until=lambda: control.stopped or control.expired,
        )
        await _confirm(wire, targets, claimed, subaccount, ledger, control)
        await _ask(wire, targets, to_ask, ledger, control, subaccount=subaccount)
        if outside:
            note = f"not resting in --market {', '.join(tickers)}"
            await _ask(
                wire, targets, dict.fromkeys(outside, note), ledger, control, left_alone=True
            )
    return ledger.finish(control)


async def _in_markets(
    wire: Wire,
    targets: Sequence[str],
    todo: list[int],
    tickers: Sequence[str],
    subaccount: int | None,
    ledger: Ledger[str],
    control: Control,
) -> tuple[list[int], list[int]]:
    """``todo`` split by one listing of each market: the targets resting there, and
    the others. A listing that fails sends nothing (which orders are in the markets
    is not known): every target is ``not_sent`` and the run stops."""
    listed: set[str] = set()
    for ticker in tickers:
        try:
            orders = await in_time(
                control,
                lambda market=ticker: wire.list_resting(  # type: ignore[misc]
                    subaccount, control.ends_at, ticker=market
                ),
                "GET /portfolio/orders",
            )
        except (CancelKitError, DeadlinePassed) as exc:
            control.stop(f"the listing of --market {ticker} failed: {exc}")
            for index in todo:
                ledger.record(
                    index,
                    "not_sent",
                    message=f"not sent: the listing of market {ticker} failed ({exc})",
                    error=exc if isinstance(exc, CancelKitError) else None,
                )
            return [], []
        listed |= {o.order_id for o in orders}
    inside = [index for index in todo if targets[index] in listed]
    return inside, [index for index in todo if targets[index] not in listed]


async def _confirm(
    wire: Wire,
    targets: Sequence[str],
    claimed: list[int],
    subaccount: int | None,
    ledger: Ledger[str],
    control: Control,
) -> None:
    """List resting orders until none of ``claimed`` is listed, or the deadline."""
    pending = list(claimed)
    while pending:
        try:
            listing = await in_time(
                control,
                lambda: wire.list_resting(subaccount, control.end()),
                "GET /portfolio/orders",
                final=True,
            )
            listed = {o.order_id for o in listing}
        except (CancelKitError, DeadlinePassed) as exc:
            for index in pending:
                ledger.record(
                    index,
                    "failed",
                    message=f"answered cancelled, but no listing confirmed it ({exc})",
                    attempts=1,
                )
            return
        still = []
        for index in pending:
            if targets[index] in listed:
                still.append(index)
            else:
                ledger.record(
                    index,
                    "cancelled",
                    message="cancelled: answered so, and no longer listed resting",
                    attempts=1,
                )
        pending = still
        if pending and time_left(control) <= _RELIST:
            for index in pending:
                ledger.record(
                    index,
                    "failed",
                    message="answered cancelled, but still listed resting at the deadline",
                    attempts=1,
                )
            return
        if pending:
            await anyio.sleep(_RELIST)


def time_left(control: Control) -> float:
    """Seconds until the deadline (or the stop)."""
    return 0.0 if control.stopped else control.left()


async def _ask(
    wire: Wire,
    targets: Sequence[str],
    to_ask: dict[int, str],
    ledger: Ledger[str],
    control: Control,
    *,
    left_alone: bool = False,
    subaccount: int | None = None,
) -> None:
    """One ``GetOrder`` for each order the batch answer does not settle (with
    ``left_alone``: each order that was not sent, being outside the markets asked
    for; still resting, it is ``not_sent``)."""

    async def ask(index: int) -> None:
        note = to_ask[index]
        if control.stop_reason is StopReason.ABORTED:  # nothing new after an abort
            ledger.record(index, "failed", message=f"{note}; not looked up: the run was aborted")
            return
        try:
            order = await in_time(
                control,
                lambda: wire.lookup(targets[index], control.end()),
                f"GET /portfolio/orders/{targets[index]}",
            )
        except OrderNotFound as exc:
            ledger.record(
                index, "not_found", message=f"{note}; {exc.message}", error=exc, attempts=1
            )
            return
        except (CancelKitError, DeadlinePassed) as exc:
            ledger.record(index, "failed", message=f"{note}; its lookup failed: {exc}", attempts=1)
            return
        status = order.status
        if status == OrderStatus.CANCELED:
            ledger.record(index, "not_open", message=f"{note}; it is canceled", attempts=1)
        elif status == OrderStatus.EXECUTED:
            ledger.record(index, "filled", message=f"{note}; it is executed", attempts=1)
        elif left_alone and status == OrderStatus.RESTING:
            ledger.record(
                index,
                "not_sent",
                message=f"{note}: resting in market {order.ticker}, left alone",
                attempts=1,
            )
        else:
            shown = getattr(status, "value", status)
            where = order.subaccount_number
            if isinstance(where, int) and where != (subaccount or 0):
                # A cancel without a subaccount is the primary's: say where it rests.
                shown += f" in subaccount {where} (the cancel was for subaccount {subaccount or 0})"
            ledger.record(
                index, "failed", message=f"{note}; it is {shown}: may still be open", attempts=1
            )

    await each(list(to_ask), ask, max(1, min(_LOOKUPS, len(to_ask))))


async def cancel_all(
    wire: Wire,
    *,
    subaccount: int | None,
    on_result: Callable[[CancelResult[str]], None] | None,
    control: Control,
) -> list[CancelResult[str]]:
    """List the resting orders, cancel them all in one request, then list until none
    is left (or the deadline): one result per order listed before, and a ``failed``
    one (index -1) for any other order still resting at the end.

    When ``wire.known`` gives the resting orders a live private order stream knows
    (``_live``: a guard's client), those are the orders named and the cancel-all is
    sent first, with no listing before it; the confirmation is the same.

    An order that leaves the listing after the 204 is ``not_open`` (the exchange
    said every matching resting order was cancelled; whether it was cancelled by
    this request or filled just before is not asked, one ``GetOrder`` per order
    being 2 Read tokens each); one still listed at the deadline is ``failed``.

    A first listing that fails (a 5xx or a network failure after its retries, the
    rate limit) does not hold the cancel-all back: a failed read must not keep a
    kill switch from cancelling. It is still sent and confirmed, and one ``unknown``
    result says which orders it cancelled cannot be named. A failure every request
    would meet (a refused key, a wrong endpoint, an undocumented answer) or the
    run's end (deadline, stop, abort) sends nothing.
    """
    with running(control):
        unlisted: CancelKitError | None = None
        # A live stream's resting orders: named without a listing, the DELETE first.
        streamed = wire.known(subaccount) if not control.stopped else None
        if streamed is not None:
            targets = streamed
        else:
            remaining = time_left(control)
            budget = min(remaining / 2, max(_FIRST_LISTING, _FIRST_LISTING_SHARE * remaining))
            try:
                before = await in_time(
                    control,
                    lambda: wire.list_resting(
                        subaccount, min(control.ends_at, time.monotonic() + budget)
                    ),
                    "GET /portfolio/orders",
                    seconds=budget,
                )
            except CancelKitError as exc:
                if stops_the_run(exc, control) or control.stopped:
                    return _unsent(exc, control, on_result)
                unlisted, before = exc, []
            except DeadlinePassed as exc:
                return _unsent(exc, control, on_result)
            targets = [o.order_id for o in before]
        ledger = Ledger(targets, missing_ok=False, on_result=on_result)
        ledger.first_of_each(targets)
        indices = list(range(len(targets)))
        # None named as it leaves (the orders come from a listing or the stream, not
        # the caller): a cancel-all's own sent line, as on the other venues.
        with flight(control, []) as sent:
            try:
                await wire.cancel_all(subaccount, control.ends_at)
            except CancelKitError as exc:
                if exc.status is not None:  # the exchange's answer: a refusal
                    control.mark_answered()
                for index in indices:
                    ledger.record_error(index, exc, control)
                if unlisted is not None:
                    return _unnamed(unlisted, "failed", f"cancel-all failed ({exc})", on_result)
                return ledger.finish(control)
        if unlisted is not None and not sent.sent:
            return _unsent(unlisted, control, on_result)
        if not sent.sent or sent.cut:
            status: Outcome = "unknown" if sent.sent else "not_sent"
            for index in indices:
                ledger.record(index, status, message="cancel-all: no answer before the run ended")
            if unlisted is not None:
                what = "cancel-all sent, no answer before the run ended"
                return _unnamed(unlisted, "unknown", what, on_result)
            if not indices and sent.sent:  # none listed: the cancel-all is the one outcome
                cut = CancelResult[str](
                    CancelAllTarget(""),
                    "unknown",
                    "cancel-all sent (none was listed resting before it); no answer before"
                    " the run ended",
                )
                if on_result is not None:
                    on_result(cut)
                return [cut]
            return ledger.finish(control)
        control.mark_answered()  # its 204
        left = await _until_empty(wire, subaccount, targets, ledger, control)
    results = ledger.finish(control)
    known = set(targets)
    results += told(
        (
            CancelResult(
                order.order_id,
                "failed",
                "cancel-all answered 204, yet this order is still listed resting",
            )
            for order in left
            if order.order_id not in known
        ),
        on_result,
    )
    if unlisted is not None:
        results += _unnamed(unlisted, "unknown", "cancel-all answered 204", on_result)
    return results


def _unnamed(
    unlisted: CancelKitError,
    status: Outcome,
    what: str,
    on_result: Callable[[CancelResult[str]], None] | None,
) -> list[CancelResult[str]]:
    """The result of a cancel-all sent without its first listing: which orders it
    reached cannot be named, so it is never ``ok``."""
    result = CancelResult[str](
        CancelAllTarget(""),
        status,
        f"{what}; which orders it cancelled is unknown: the listing before it failed ({unlisted})",
        unlisted,
    )
    if on_result is not None:
        on_result(result)
    return [result]


def _unsent(
    exc: CancelKitError | DeadlinePassed,
    control: Control,
    on_result: Callable[[CancelResult[str]], None] | None,
) -> list[CancelResult[str]]:
    """The run's one result when the cancel-all was never sent (not an empty list: a
    caller's ``all(r.ok ...)`` would read that as done)."""
    control.stop(f"the first listing failed: {exc}")
    failed = CancelResult[str](
        CancelAllTarget(""),
        "not_sent",
        f"cancel-all not sent: the first listing failed ({exc})",
        exc,
    )
    if on_result is not None:
        on_result(failed)
    return [failed]


async def _until_empty(
    wire: Wire,
    subaccount: int | None,
    targets: Sequence[str],
    ledger: Ledger[str],
    control: Control,
) -> list[Order]:
    """List until no order is resting, recording each target as it leaves; the
    orders still listed when the time is up."""
    while True:
        try:
            listed = await in_time(
                control,
                lambda: wire.list_resting(subaccount, control.end()),
                "GET /portfolio/orders",
                final=True,
            )
        except (CancelKitError, DeadlinePassed) as exc:
            for index in range(len(targets)):
                ledger.record(
                    index,
                    "failed",
                    message=f"cancel-all answered 204; no listing confirmed it ({exc})",
                )
            return []
        ids = {o.order_id for o in listed}
        for index, order_id in enumerate(targets):
            if order_id not in ids:
                ledger.record(
                    index,
                    "not_open",
                    message="left the resting listing after cancel-all's 204",
                    attempts=1,
                )
        if not listed:
            return []
        if time_left(control) <= _RELIST:
            for index, order_id in enumerate(targets):
                if order_id in ids:
                    ledger.record(
                        index,
                        "failed",
                        message="cancel-all answered 204, yet it is still listed resting",
                        attempts=1,
                    )
            return listed
        await anyio.sleep(_RELIST)

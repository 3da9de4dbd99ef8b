"""What the private order stream said about a bulk cancel's orders, and the outcome
it is worth once the listing agrees.

The kill switch opens the stream before its first cancel (:func:`streaming`), or,
where the client already reads an account-wide stream that is live (a guard's, a
desk's: :class:`Taps`), hears that one and sends its first cancel at once, with no
stream of its own to wait for (:func:`hearing`). Each
execution about one of its orders is kept here, and an order that has left the
listing ends with its stream's word (cancelled, filled, partly filled then
cancelled...) instead of a lookup. Nothing here is believed alone: only executions
of the run's own orders, in the market the listing gave them, one final word per
order (two that disagree are both set aside), and only once the listing no longer
shows the order. What the stream never said (a lost message, a stream that would
not open) is left to the lookups, as before.
"""

from __future__ import annotations

import logging
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterator,
)
from contextlib import aclosing, asynccontextmanager, contextmanager
from decimal import Decimal

import anyio
import anyio.lowlevel

from .._bulk import Control, Outcome
from ._events import KINDS, Execution, OrderEvent, OrderSnapshot, StreamInterrupted

logger = logging.getLogger("cancelkit")

READY_WAIT = 1.0
"""Seconds the first cancel waits, at most, for the stream's subscription to start."""
LAG = 0.5
"""Seconds an order that left the listing waits for its execution (while the stream
is up) before it is looked up instead."""
_KEPT = 1_000_000  # words kept before the run's ids are known (a cancel-all): a bound
# Partial fills kept per order (each execution id once): a stream sending more (a
# hostile or broken one, a fresh id each) is not believed about that order, which
# is then looked up, and costs no more memory.
_FILLS = 10_000
_NAMES = {kind: name for name, kind in KINDS.items()}  # the exchange's names, for messages
_FINAL = frozenset({"cancelled", "fill", "expired", "rejected", "done_for_day"})

Opener = Callable[[list[str] | None], Awaitable[AsyncGenerator[OrderEvent, None]]]


def _shares(value: Decimal | None) -> str:
    return "?" if value is None else f"{value.normalize():f}"


class Heard:
    """The stream's final word per order of the run (see the module docstring)."""

    def __init__(self, wanted: Collection[str] | None) -> None:
        self.wanted = wanted  # None: not known yet (a cancel-all before its answer)
        self.final: dict[str, Execution] = {}
        self.disputed: set[str] = set()
        self.fills: dict[str, dict[str, Decimal]] = {}  # order -> execution id -> shares
        self.live = False  # subscribed and connected now
        self.ready = anyio.Event()  # subscribed once, or given up
        self.on_final: Callable[[str], None] | None = None

    def keep(self, ids: Collection[str]) -> None:
        """From now on only ``ids`` matter (a cancel-all's answer)."""
        self.wanted = ids
        for table in (self.final, self.fills):
            for order_id in [i for i in table if i not in ids]:
                del table[order_id]
        self.disputed &= set(ids)

    def hear(self, event: OrderEvent) -> None:
        """Take one event of the stream."""
        if isinstance(event, OrderSnapshot):
            if event.eof:
                self.live = True
                self.ready.set()
            return
        if isinstance(event, StreamInterrupted):
            self.live = False
            return
        order_id = event.order.id
        if self.wanted is None:
            if order_id not in self.final and len(self.final) + len(self.fills) >= _KEPT:
                return
        elif order_id not in self.wanted:
            return  # not one of this run's orders: none of its business
        if event.kind == "partial_fill":
            seen = self.fills.setdefault(order_id, {})
            execution = event.execution_id or f"#{len(seen)}"
            if execution not in seen and len(seen) >= _FILLS:
                self.disputed.add(order_id)  # not believed: asked instead
                return
            seen[execution] = event.last_shares or Decimal(0)
            return
        if event.kind not in _FINAL:
            return  # a replace leaves the order open under its id: no end
        known = self.final.get(order_id)
        if known is not None:
            if (known.kind, known.order.market_slug) != (event.kind, event.order.market_slug):
                self.disputed.add(order_id)  # two different ends: neither is believed
                logger.warning("order stream: two different ends for one order; asking instead")
            return  # the same end again (a duplicate): nothing new
        self.final[order_id] = event
        if self.on_final is not None:
            self.on_final(order_id)

    def gave_up(self) -> None:
        self.live = False
        self.ready.set()

    def word(self, order_id: str, market: str | None) -> tuple[Outcome, str] | None:
        """The outcome the stream said for ``order_id`` (listed in ``market``, if
        known), or None if it said nothing believable."""
        said = self.final.get(order_id)
        if said is None or order_id in self.disputed:
            return None
        slug = said.order.market_slug
        if market is not None and slug is not None and slug != market:
            return None  # another market than the listing's: not this order
        order = said.order
        filled = order.filled_quantity
        partial = sum(self.fills.get(order_id, {}).values(), Decimal(0))
        of = f" of {_shares(order.quantity)}" if order.quantity is not None else ""
        state = f", {order.state}" if order.state else ""
        source = f"{_NAMES[said.kind]}{state} on the exchange's order stream; no longer listed"
        if said.kind == "cancelled":
            if filled is None and partial:
                return "cancelled", (
                    f"partly filled (at least {_shares(partial)}{of}), then cancelled: {source}"
                )
            if filled:
                return (
                    "cancelled",
                    f"partly filled ({_shares(filled)}{of}), then cancelled: {source}",
                )
            unknown = " (filled quantity not given)" if filled is None else ", nothing filled"
            return "cancelled", f"cancelled{unknown}: {source}"
        if said.kind == "fill":
            amount = filled if filled is not None else order.quantity
            return "filled", f"filled ({_shares(amount)}{of}): {source}"
        return "not_open", f"{said.kind.replace('_', ' ')}: {source}"


class Taps:
    """A client's account-wide order streams being read now, and the kills hearing
    them. A stream counts as live from its snapshot's end to an interruption (or its
    close): every execution of the key's orders since then has passed through it."""

    def __init__(self) -> None:
        self.live = 0  # streams live now
        self.listeners: set[Heard] = set()

    async def tapped(
        self, events: AsyncGenerator[OrderEvent, None]
    ) -> AsyncGenerator[OrderEvent, None]:
        """``events`` as they are, each one also heard by every kill listening."""
        live = False
        try:
            async with aclosing(events):
                async for event in events:
                    if isinstance(event, OrderSnapshot) and event.eof and not live:
                        live = True
                        self.live += 1
                    elif isinstance(event, StreamInterrupted) and live:
                        live = False
                        self.live -= 1
                    for heard in list(self.listeners):
                        try:
                            heard.hear(event)
                        except Exception:  # a kill's bug is never the reader's end
                            logger.exception("order stream: a kill could not take an event")
                            self.listeners.discard(heard)
                            heard.live = False  # what it missed is looked up
                    yield event
        finally:
            if live:
                self.live -= 1
            if not self.live:  # nothing more will be heard: lookups settle the rest
                for heard in list(self.listeners):
                    heard.live = False


@contextmanager
def _tap(taps: Taps, heard: Heard) -> Iterator[None]:
    heard.live = True
    heard.ready.set()
    taps.listeners.add(heard)
    try:
        yield
    finally:
        taps.listeners.discard(heard)


@asynccontextmanager
async def hearing(
    opener: Opener | None,
    taps: Taps | None,
    slugs: list[str] | None,
    heard: Heard,
    control: Control,
) -> AsyncIterator[None]:
    """``heard`` hears a live account-wide stream of the client already read (then
    :func:`ready` returns at once: the first cancel waits for nothing), else a stream
    of its own (:func:`streaming`)."""
    if taps is not None and taps.live and not control.stopped:
        with _tap(taps, heard):
            yield
        return
    async with streaming(opener, slugs, heard, control):
        yield


async def _watch(opener: Opener, slugs: list[str] | None, heard: Heard) -> None:
    try:
        events = await opener(slugs)
        async with aclosing(events):
            async for event in events:
                heard.hear(event)
                await anyio.lowlevel.checkpoint()  # a flood does not hold the run
    except Exception as exc:  # the stream is a help: lookups settle what it does not say
        logger.info("no order stream (%s: %s); lookups settle the run", type(exc).__name__, exc)
    finally:
        heard.gave_up()


@asynccontextmanager
async def streaming(
    opener: Opener | None, slugs: list[str] | None, heard: Heard, control: Control
) -> AsyncIterator[None]:
    """The stream's events go to ``heard`` while the block runs (none if ``opener``
    is None: a venue client without it)."""
    if opener is None or control.stopped:
        heard.gave_up()
        yield
        return
    failure: Exception | None = None
    async with anyio.create_task_group() as group:
        group.start_soon(_watch, opener, slugs, heard)
        try:
            yield
        except Exception as exc:  # raised as it is, not in a task group's ExceptionGroup
            failure = exc
        finally:
            group.cancel_scope.cancel()
    if failure is not None:
        raise failure


async def ready(heard: Heard, control: Control) -> None:
    """Wait (at most :data:`READY_WAIT`, and never past the deadline) for the stream
    to be subscribed: the first cancel then has its execution heard."""
    if heard.ready.is_set():
        return  # a live stream heard already: not even a pass through the loop
    with anyio.move_on_after(min(READY_WAIT, control.left())):
        await heard.ready.wait()

"""The resting orders a client's account-wide order stream knows now, for its kills.

While :meth:`AsyncKalshiClient.order_events` is read and live (from its
reconciling listing to an interruption or its close), every ``user_order`` of
the key has passed through it, so the set kept here is the key's resting orders
as of the last message its reader took (the guard's upkeep reads without pause;
a caller that stops reading keeps an older set, and should close the stream). A
cancel-all on that client (a guard's firing) then names its orders from this set
and sends its DELETE at once, instead of listing first (~17 ms on a warm desk
with 300 orders).

What "known" means, and why only a live stream's set counts:

- An order placed since the last message heard (its ``user_order`` still in
  flight) is not named; the DELETE cancels it anyway and the confirming listing
  catches it if it is still resting (then ``failed``). Listing first has the same
  window, between its listing and its DELETE, and a longer one.
- A listing kept from earlier (a guard's minute-old read) is not known: every
  order placed since would go unnamed. So an interrupted stream, a closed one, or
  one not yet reconciled gives nothing (:meth:`LiveBook.resting` returns None),
  and the kill lists first as before.
- An update with status ``unknown`` keeps its order (it may still rest): named,
  it ends ``not_open`` or ``failed`` by the listing, never by the stream's word.
- At most :data:`MAX_KNOWN` orders are kept: a stream naming more (a hostile or
  broken server inventing ids for days) gives nothing until its next snapshot, and
  the kill lists first, as without a stream.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing

from ._events import OrderEvent, OrderSnapshot, OrderUpdate, StreamInterrupted, StreamOrder

logger = logging.getLogger("cancelkit")

_ENDED = frozenset({"cancelled", "fill"})
MAX_KNOWN = 200_000  # resting orders kept at most (twice the largest kill tested)


class LiveBook:
    """A client's account-wide streams read now, and the resting orders they know."""

    def __init__(self) -> None:
        self.live = 0  # streams live now (reconciled, not interrupted since)
        self._orders: dict[str, StreamOrder] = {}
        self._overflowed = False  # more than MAX_KNOWN since the last snapshot
        # The same ids by subaccount (None: not given), kept as messages come, so
        # that a firing's kill reads its set without a pass over every order.
        self._by_sub: dict[int | None, dict[str, None]] = {}

    def resting(self, subaccount: int | None) -> list[str] | None:
        """The ids resting (in ``subaccount``, or every one), or None when no stream
        is live or an order's subaccount is not known while one is asked for."""
        if not self.live or self._overflowed:
            return None
        if subaccount is None:
            return list(self._orders)
        if self._by_sub.get(None):
            return None  # cannot tell whose: list instead
        return list(self._by_sub.get(subaccount, ()))

    def _take(self, event: OrderEvent) -> None:
        if isinstance(event, OrderSnapshot):
            self._orders, self._by_sub = {}, {}
            for order in event.orders[:MAX_KNOWN]:
                self._put(order)
            self._overflowed = len(event.orders) > MAX_KNOWN
        elif isinstance(event, OrderUpdate):
            if event.kind in _ENDED:
                self._drop(event.order.id)
            elif event.order.id in self._orders or len(self._orders) < MAX_KNOWN:
                self._put(event.order)
            else:  # not all known now: nothing is named until the next snapshot
                self._overflowed = True

    def _put(self, order: StreamOrder) -> None:
        known = self._orders.get(order.id)
        if known is not None and known.subaccount != order.subaccount:
            self._drop(order.id)
        self._orders[order.id] = order
        self._by_sub.setdefault(order.subaccount, {})[order.id] = None

    def _drop(self, order_id: str) -> None:
        known = self._orders.pop(order_id, None)
        if known is not None:
            ids = self._by_sub.get(known.subaccount)
            if ids is not None:
                ids.pop(order_id, None)

    async def tapped(
        self, events: AsyncGenerator[OrderEvent, None]
    ) -> AsyncGenerator[OrderEvent, None]:
        """``events`` as they are, each one also kept here. Live from a snapshot to an
        interruption (or the end)."""
        live = False
        try:
            async with aclosing(events):
                async for event in events:
                    if isinstance(event, OrderSnapshot) and not live:
                        live = True
                        self.live += 1
                    elif isinstance(event, StreamInterrupted) and live:
                        live = False
                        self.live -= 1
                    self._take(event)
                    yield event
        finally:
            if live:
                self.live -= 1

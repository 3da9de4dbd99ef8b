"""Polymarket US's private order stream: its typed events, and the strict reading of
its messages.

A message is read as an event only when it is a well-formed order message of one of
this stream's own subscriptions; anything else (not JSON, an unknown type, an
execution type the page does not list, a field of the wrong type, another request's
id) is dropped, never guessed at. The pages use camelCase and string enum names on
one page and snake_case and numbers on the other: both are read.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from decimal import Decimal, InvalidOperation
from typing import Literal

import attrs

from .._exceptions import CancelKitError, InvalidRequest
from . import _validation as check

ExecutionKind = Literal[
    "partial_fill", "fill", "cancelled", "replaced", "rejected", "expired", "done_for_day"
]
"""What an execution says happened to an order (the page's ``EXECUTION_TYPE_*``)."""

KINDS: dict[str, ExecutionKind] = {
    "EXECUTION_TYPE_PARTIAL_FILL": "partial_fill",
    "EXECUTION_TYPE_FILL": "fill",
    "EXECUTION_TYPE_CANCELED": "cancelled",
    "EXECUTION_TYPE_REPLACE": "replaced",
    "EXECUTION_TYPE_REJECTED": "rejected",
    "EXECUTION_TYPE_EXPIRED": "expired",
    "EXECUTION_TYPE_DONE_FOR_DAY": "done_for_day",
}
# The order subscription: its name on the private page, its number on the overview.
_ORDER_TYPES = ("SUBSCRIPTION_TYPE_ORDER", 1)
MAX_MESSAGE = 16 * 1024 * 1024
"""Bytes of one stream message at most (a snapshot of tens of thousands of orders fits)."""
SILENCE = 60.0
"""Seconds without any stream message (heartbeats included) before it reconnects."""
RECONNECTS = 5
"""Failed stream connects in a row before it gives up."""
_MAX_ERROR = 200  # characters of a server's error text kept (it is shown to people)
_MAX_QUANTITY = Decimal(10) ** 15


class OrderStreamError(CancelKitError):
    """The private order stream could not be opened or kept open (refused handshake,
    a subscription the exchange refused, no reconnect in the attempts allowed)."""


@attrs.frozen
class StreamOrder:
    """An order as the stream shows it (in a snapshot, or in an execution).

    Attributes:
        id: the exchange's order id.
        market_slug: its market, if given.
        state: its ``ORDER_STATE_*`` as sent, if given.
        quantity: shares ordered, if given.
        leaves_quantity: shares still open, if given.
        filled_quantity: shares filled so far (``cumQuantity``), if given.
    """

    id: str
    market_slug: str | None = None
    state: str | None = None
    quantity: Decimal | None = None
    leaves_quantity: Decimal | None = None
    filled_quantity: Decimal | None = None


@attrs.frozen
class OrderSnapshot:
    """The open orders when a subscription began (``eof``: the snapshot's last part)."""

    request_id: str
    orders: tuple[StreamOrder, ...]
    eof: bool


@attrs.frozen
class Execution:
    """An execution: what just happened to one order, in the exchange's words.

    Attributes:
        request_id: the subscription it came on.
        kind: ``partial_fill``, ``fill``, ``cancelled``, ``replaced``, ``rejected``,
            ``expired`` or ``done_for_day``.
        order: the order after it.
        execution_id: the execution's own id (not the order's), if given.
        last_shares: shares this execution filled, if given.
        last_price: its price, as sent, if given.
        trade_id: its trade, if given.
    """

    request_id: str
    kind: ExecutionKind
    order: StreamOrder
    execution_id: str | None = None
    last_shares: Decimal | None = None
    last_price: str | None = None
    trade_id: str | None = None


@attrs.frozen
class StreamInterrupted:
    """The connection dropped (or went silent) and is being opened again: messages
    sent meanwhile are lost (the exchange documents no replay), so reconcile with
    the listing and lookups. A new :class:`OrderSnapshot` follows the reconnect."""

    reason: str
    attempt: int


OrderEvent = OrderSnapshot | Execution | StreamInterrupted
"""Every event :meth:`AsyncPolymarketUSClient.order_events` yields."""


@attrs.frozen
class Heartbeat:
    """The server's keep-alive (not an event: it only proves the link is up)."""


@attrs.frozen
class Refused:
    """The exchange refused one of our subscriptions."""

    request_id: str
    error: str


Read = OrderSnapshot | Execution | Heartbeat | Refused


def _field(data: Mapping[str, object], camel: str, snake: str) -> object:
    return data[camel] if camel in data else data.get(snake)


def _text(value: object, limit: int = 256) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= limit and value.isprintable():
        return value
    return None


def _quantity(value: object) -> Decimal | None:
    """A share count: a number or a decimal string, finite, 0 or more; else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    if isinstance(value, str) and not 0 < len(value) <= 40:
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() and 0 <= number < _MAX_QUANTITY else None


def _price(value: object) -> str | None:
    if isinstance(value, Mapping):
        return _text(value.get("value"), 40)
    return None


def read_order(data: object) -> StreamOrder | None:
    """An order object of the stream, or None if it is not one."""
    if not isinstance(data, Mapping):
        return None
    try:
        order_id = check.polymarket_order_id(data.get("id"))
    except InvalidRequest:
        return None
    slug = _field(data, "marketSlug", "market_slug")
    if slug is not None and _text(slug) is None:
        return None
    state = data.get("state")
    return StreamOrder(
        order_id,
        _text(slug),
        state if isinstance(state, str) and state.startswith("ORDER_STATE_") else None,
        _quantity(data.get("quantity")),
        _quantity(_field(data, "leavesQuantity", "leaves_quantity")),
        _quantity(_field(data, "cumQuantity", "cum_quantity")),
    )


def _execution(request_id: str, data: object) -> Execution | None:
    if not isinstance(data, Mapping):
        return None
    body = data.get("execution")
    if not isinstance(body, Mapping):
        return None
    named = body.get("type")
    kind = KINDS.get(named) if isinstance(named, str) else None
    order = read_order(body.get("order"))
    if kind is None or order is None:
        return None
    shares = _field(body, "lastShares", "last_shares")
    return Execution(
        request_id,
        kind,
        order,
        _text(body.get("id")),
        _quantity(shares),
        _price(_field(body, "lastPx", "last_px")),
        _text(_field(body, "tradeId", "trade_id")),
    )


def _snapshot(request_id: str, data: object) -> OrderSnapshot | None:
    if not isinstance(data, Mapping) or not isinstance(data.get("orders"), list):
        return None
    orders = [read_order(o) for o in data["orders"]]
    return OrderSnapshot(
        request_id, tuple(o for o in orders if o is not None), data.get("eof") is True
    )


def read(raw: str | bytes, ours: Collection[str]) -> Read | None:
    """The message ``raw`` as what it says, if it is a well-formed order message of
    one of ``ours`` (our subscriptions' request ids), a heartbeat, or a refusal of
    one of ours; None otherwise (never raises)."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    if "heartbeat" in data and len(data) == 1:
        return Heartbeat()
    request_id = _field(data, "requestId", "request_id")
    if not isinstance(request_id, str) or request_id not in ours:
        return None  # not one of our subscriptions': never believed
    if "error" in data:
        return Refused(request_id, _text(str(data["error"])[:_MAX_ERROR], _MAX_ERROR) or "?")
    kind = _field(data, "subscriptionType", "subscription_type")
    if kind is not None and kind not in _ORDER_TYPES:
        return None
    update = _field(data, "orderSubscriptionUpdate", "order_subscription_update")
    if update is not None:
        return _execution(request_id, update)
    snapshot = _field(data, "orderSubscriptionSnapshot", "order_subscription_snapshot")
    if snapshot is not None:
        return _snapshot(request_id, snapshot)
    return None

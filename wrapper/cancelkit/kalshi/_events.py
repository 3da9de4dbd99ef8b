"""Kalshi's private order stream (the ``user_orders`` channel): its typed events, and
the strict reading of its messages.

Where each shape comes from (pages under https://docs.kalshi.com/, verbatim copies
in ``../shared/pages/kalshi/``):

- ``user_order`` messages: the AsyncAPI block of ``websockets/user-orders``
  (``ws-user-orders.md``, message ``userOrder``, payload ``userOrderPayload``). The
  envelope's and ``msg``'s required fields and the ``status`` values below are that
  block's, word for word; ``tests/test_kalshi_stream.py`` reads the block and fails
  if they differ.
- ``subscribed`` and ``error`` answers: the ``root`` channel of
  ``websockets/websocket-connection`` (``ws-connection.md``, payloads
  ``subscribedResponsePayload`` and ``errorResponsePayload``).
- The snapshot: neither the user-orders page nor the connection page documents
  one on subscribe (``send_initial_snapshot`` is the ticker channel's), and no
  replay exists, so the client lists the resting orders over REST
  (``GET /portfolio/orders``, ``get-orders.md``) once subscribed, at every
  (re)connect: :class:`OrderSnapshot` is that listing, not a stream message.

A message is read as an event only when it is a well-formed ``user_order`` of this
connection's own subscription (its ``sid``); anything else (not JSON, another
channel, a field missing or of the wrong type, a status the page does not list) is
dropped, never guessed at.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Literal

import attrs

from .._exceptions import CancelKitError
from .._generated.kalshi_api.models import Order

# ws-user-orders.md, userOrderPayload: the envelope's required fields, msg's.
ENVELOPE_REQUIRED = ("type", "sid", "msg")
ORDER_REQUIRED = (
    "order_id",
    "user_id",
    "ticker",
    "exchange_index",
    "status",
    "side",
    "is_yes",
    "outcome_side",
    "book_side",
    "yes_price_dollars",
    "fill_count_fp",
    "remaining_count_fp",
    "initial_count_fp",
    "taker_fill_cost_dollars",
    "maker_fill_cost_dollars",
    "taker_fees_dollars",
    "maker_fees_dollars",
    "client_order_id",
    "created_time",
    "created_ts_ms",
)
STATUSES = ("resting", "canceled", "executed", "unknown")
"""``msg.status``'s values on the page (no pending-cancel state)."""
MESSAGE_TYPE = "user_order"
CHANNEL = "user_orders"

UpdateKind = Literal["open", "cancelled", "fill", "unknown"]
"""What an update says of its order, in the words Polymarket's stream events use
(so that a consumer of both, the guard, reads one vocabulary): ``open`` (status
``resting``), ``cancelled`` (``canceled``), ``fill`` (``executed``), ``unknown``."""
KINDS: dict[str, UpdateKind] = {
    "resting": "open",
    "canceled": "cancelled",
    "executed": "fill",
    "unknown": "unknown",
}
MAX_MESSAGE = 4 * 1024 * 1024
"""Bytes of one stream message at most (a ``user_order`` is well under 2 KiB)."""
RECONNECTS = 5
"""Failed stream connects in a row before it gives up."""
SUBSCRIBE_WAIT = 10.0
"""Seconds a connection waits for its ``subscribed`` answer before it is dropped."""
_MAX_ERROR = 200  # characters of a server's error text kept (it is shown to people)
_MAX_COUNT = Decimal(10) ** 15
_MAX_SUBACCOUNT = 63


class OrderStreamError(CancelKitError):
    """The private order stream could not be opened or kept open (refused handshake,
    a subscription the exchange refused, no reconnect in the attempts allowed)."""


@attrs.frozen
class StreamOrder:
    """An order as the stream (or the reconciling listing) shows it.

    Attributes:
        id: the exchange's order id (``order_id``).
        ticker: its market.
        status: ``resting``, ``canceled``, ``executed`` or ``unknown``, as sent.
        remaining_count: contracts still resting (``remaining_count_fp``), if given.
        fill_count: contracts filled so far (``fill_count_fp``), if given.
        initial_count: contracts ordered (``initial_count_fp``), if given.
        client_order_id: the client's id, if given (an empty one is None).
        subaccount: its subaccount (``subaccount_number``: 0 the primary, 1-63), if given.
    """

    id: str
    ticker: str | None = None
    status: str | None = None
    remaining_count: Decimal | None = None
    fill_count: Decimal | None = None
    initial_count: Decimal | None = None
    client_order_id: str | None = None
    subaccount: int | None = None


@attrs.frozen
class OrderSnapshot:
    """The resting orders when the subscription began: the REST listing taken once
    ``subscribed`` was answered (Kalshi's stream sends no snapshot). ``eof`` is
    always True (one part); updates heard while it was taken follow it."""

    orders: tuple[StreamOrder, ...]
    eof: bool = True


@attrs.frozen
class OrderUpdate:
    """One ``user_order`` message: an order was created, filled, cancelled or
    otherwise updated.

    Attributes:
        kind: ``open``, ``cancelled``, ``fill`` or ``unknown`` (see :data:`UpdateKind`).
        order: the order after it.
        sid: the subscription it came on.
        sending_ts_ms: when Kalshi queued it (milliseconds), if given.
        last_update_reason: why it changed (``ExpiryCancel``, ``Trade`` ...), if given.
    """

    kind: UpdateKind
    order: StreamOrder
    sid: int
    sending_ts_ms: int | None = None
    last_update_reason: str | None = None


@attrs.frozen
class StreamInterrupted:
    """The connection dropped and is being opened again: messages sent meanwhile are
    lost (no replay), so a new :class:`OrderSnapshot` (a listing) follows the
    reconnect."""

    reason: str
    attempt: int


OrderEvent = OrderSnapshot | OrderUpdate | StreamInterrupted
"""Every event :meth:`AsyncKalshiClient.order_events` yields."""


@attrs.frozen
class Subscribed:
    """The ``subscribed`` answer to our command ``id``: the channel's ``sid``."""

    command_id: int
    channel: str
    sid: int


@attrs.frozen
class Refused:
    """An ``error`` answer to our command ``id`` (or to none: ``id`` absent)."""

    command_id: int | None
    code: int | None
    message: str


Read = OrderUpdate | Subscribed | Refused


def _text(value: object, limit: int = 256) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= limit and value.isprintable():
        return value
    return None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _count(value: object) -> Decimal | None:
    """A fixed-point count string (``"10.00"``), finite, 0 or more; else None."""
    if not isinstance(value, str) or not 0 < len(value) <= 40:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() and 0 <= number < _MAX_COUNT else None


def order_of(data: Mapping[str, object]) -> StreamOrder | None:
    """The order of a ``user_order``'s ``msg``, or None if it is not well formed."""
    if any(name not in data for name in ORDER_REQUIRED):
        return None
    order_id, status, ticker = _text(data["order_id"], 128), data["status"], data["ticker"]
    if order_id is None or status not in STATUSES or _text(ticker) is None:
        return None
    counts = [_count(data[name]) for name in ("remaining_count_fp", "fill_count_fp")]
    initial = _count(data["initial_count_fp"])
    if None in counts or initial is None:
        return None
    given = data.get("subaccount_number")
    sub = _int(given)
    if given is not None and (sub is None or not 0 <= sub <= _MAX_SUBACCOUNT):
        return None
    client_id = data["client_order_id"]
    if not isinstance(client_id, str):
        return None
    return StreamOrder(
        order_id,
        _text(ticker),
        str(status),
        counts[0],
        counts[1],
        initial,
        _text(client_id),
        sub,
    )


def listed(order: Order) -> StreamOrder:
    """A ``GET /portfolio/orders`` order (get-orders.md's ``Order``) as the stream's."""
    sub = order.subaccount_number
    client_id = order.client_order_id
    return StreamOrder(
        order.order_id,
        order.ticker,
        getattr(order.status, "value", str(order.status)),
        _count(order.remaining_count_fp),
        _count(order.fill_count_fp),
        _count(order.initial_count_fp),
        client_id if isinstance(client_id, str) and client_id else None,
        sub if isinstance(sub, int) and not isinstance(sub, bool) else None,
    )


def read(raw: str | bytes, sids: Mapping[int, str], commands: Mapping[int, str]) -> Read | None:
    """The message ``raw`` as what it says: a ``user_order`` on one of ``sids`` (our
    subscriptions), a ``subscribed`` or ``error`` answer to one of ``commands`` (our
    command ids); None otherwise (never raises)."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    kind = data.get("type")
    body = data.get("msg")
    if not isinstance(body, dict):
        return None
    if kind == MESSAGE_TYPE:
        if any(name not in data for name in ENVELOPE_REQUIRED):
            return None
        sid = _int(data["sid"])
        if sid is None or sid not in sids:
            return None  # not our subscription's: never believed
        order = order_of(body)
        if order is None:
            return None
        sent = _int(data.get("sending_ts_ms"))
        reason = _text(body.get("last_update_reason"), 64)
        return OrderUpdate(KINDS[str(order.status)], order, sid, sent, reason)
    command = _int(data.get("id"))
    if kind == "subscribed":
        sid, channel = _int(body.get("sid")), body.get("channel")
        if command is None or command not in commands or sid is None or sid < 1:
            return None
        return Subscribed(command, CHANNEL, sid) if channel == CHANNEL else None
    if kind == "error":
        if command is not None and command not in commands:
            return None  # another session's, or a forgery: not ours
        text = _text(str(body.get("msg", ""))[:_MAX_ERROR], _MAX_ERROR) or "?"
        return Refused(command, _int(body.get("code")), text)
    return None

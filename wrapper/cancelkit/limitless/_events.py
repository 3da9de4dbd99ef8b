"""Limitless's private order stream: its typed events (PROVISIONAL), and the strict
reading of an ``orderEvent``'s payload.

PROVISIONAL: no verbatim page of the stream could be had. The shape below is ours,
written from the facts gathered in ``shared/pages/limitless/README.md`` ("Private
stream"), whose sources are:

- [A] https://docs.limitless.exchange/developers/websocket-events (excerpts only);
- [B] its earlier draft, https://limitless-docs-ws-settlement-events.mintlify.app/developers/websocket-events;
- [C] the official Rust SDK, limitless-labs-group/limitless-exchange-rust-sdk v1.1.0
  (``src/websocket.rs``);
- [D] the official Python SDK, limitless-labs-group/limitless-sdk (no order events:
  nothing here relies on it).

Every frame is the Socket.IO event ``orderEvent``, told apart by ``source`` then
``type`` [A][C]. Only the pairs those sources name are read; any other frame is
dropped, never guessed at. The fields typed here are those [B] and [C] name
(``orderId``, ``marketSlug``, ``marketId``, ``status``, ``eventId``); each is
optional, since [C] models only ``EXECUTION`` and ``MATCHED`` and the other types'
fields are unknown. The payload as sent is kept (:attr:`LimitlessOrderEvent.data`) for the
rest, untyped.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

import attrs

from .._exceptions import CancelKitError, InvalidRequest
from . import _validation as check

# source -> the types it sends [A][C].
TYPES: dict[str, frozenset[str]] = {
    "OME": frozenset({"PLACEMENT", "UPDATE", "CANCELLATION", "EXECUTION"}),
    "SETTLEMENT": frozenset({"MATCHED", "MINED", "FAILED"}),
}
RECONNECTS = 5
"""Failed stream connects in a row before it gives up."""
MAX_MESSAGE = 1024 * 1024
"""Bytes of one stream frame at most (one order's event is well under a KiB)."""
_MAX_TEXT = 256  # characters of an id, slug or status kept


class LimitlessStreamError(CancelKitError):
    """Limitless's private order stream could not be opened or kept open (the
    namespace refused, no reconnect in the attempts allowed, no WebSocket route)."""


@attrs.frozen
class LimitlessOrderEvent:
    """One ``orderEvent`` of the account's orders (PROVISIONAL shape: see the module).

    Attributes:
        source: ``OME`` (the matching engine) or ``SETTLEMENT``.
        type: ``PLACEMENT``, ``UPDATE``, ``CANCELLATION`` or ``EXECUTION`` (OME);
            ``MATCHED``, ``MINED`` or ``FAILED`` (SETTLEMENT).
        order_id: ``orderId``, if sent.
        market_slug: ``marketSlug``, if sent ([C] types it on ``MATCHED``; [B] says
            events can be told apart by it or by ``marketId``).
        market_id: ``marketId`` as text, if sent ([C]: on ``EXECUTION``).
        status: ``status``, if sent ([C]: an ``EXECUTION``'s ``FILLED``,
            ``PARTIALLY_FILLED`` or ``KILLED``).
        event_id: ``eventId``, if sent.
        data: the payload as sent (read-only), for every field not typed here.
    """

    source: str
    type: str
    order_id: str | None = None
    market_slug: str | None = None
    market_id: str | None = None
    status: str | None = None
    event_id: str | None = None
    data: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen
class LimitlessStreamSubscribed:
    """The namespace accepted the connection and ``subscribe_order_events`` was sent
    (on every connect: the exchange keeps no subscription across one). No snapshot
    follows: the open orders are still the per-market listing's to tell."""

    attempt: int


@attrs.frozen
class LimitlessStreamInterrupted:
    """The connection dropped (or went silent) and is being opened again: events sent
    meanwhile are lost (the exchange documents no replay), so reconcile with the
    listing (``open_orders``) or ``order_status``."""

    reason: str
    attempt: int


LimitlessStreamEvent = LimitlessOrderEvent | LimitlessStreamSubscribed | LimitlessStreamInterrupted
"""Every event :meth:`AsyncLimitlessClient.order_events` yields."""


def _text(value: object) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= _MAX_TEXT and value.isprintable():
        return value
    return None


def _optional(data: Mapping[str, Any], name: str) -> tuple[bool, str | None]:
    """(well formed, value) of an optional text field: absent or null is fine; any
    other non-text value makes the whole frame malformed."""
    value = data.get(name)
    if value is None:
        return True, None
    text = _text(value)
    return text is not None, text


def read(payload: object) -> LimitlessOrderEvent | None:
    """The ``orderEvent`` payload as an event, or None when it is not one the
    sources describe, or a field it carries is malformed (never raises)."""
    if not isinstance(payload, dict):
        return None
    source, kind = payload.get("source"), payload.get("type")
    if not isinstance(source, str) or not isinstance(kind, str):
        return None
    if kind not in TYPES.get(source, ()):
        return None
    fields: dict[str, str | None] = {}
    for name in ("orderId", "marketSlug", "status", "eventId"):
        ok, fields[name] = _optional(payload, name)
        if not ok:
            return None
    slug = fields["marketSlug"]
    if slug is not None:
        try:
            check.market_slug(slug)
        except InvalidRequest:
            return None
    market_id = payload.get("marketId")
    if isinstance(market_id, bool):
        return None
    if isinstance(market_id, int):
        market_id = str(market_id)
    if market_id is not None and _text(market_id) is None:
        return None
    return LimitlessOrderEvent(
        source,
        kind,
        fields["orderId"],
        slug,
        market_id,
        fields["status"],
        fields["eventId"],
        types.MappingProxyType(payload),
    )

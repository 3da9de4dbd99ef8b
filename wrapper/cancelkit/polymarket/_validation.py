"""Polymarket US inputs refused before any I/O, each error naming the problem."""

from __future__ import annotations

from .._exceptions import InvalidRequest
from .._validation import text as _text


def polymarket_order_id(value: object) -> str:
    """An order id that percent-encodes to exactly one path segment."""
    order_id = _text(value, "Polymarket order_id")
    # Percent-encoding leaves "." and ".." as they are, and every HTTP stack
    # resolves them as dot-segments: they would address another path.
    if order_id in (".", ".."):
        raise InvalidRequest(f"Polymarket order_id {order_id!r} is a dot-segment, not an id")
    return order_id


def market_slug(value: object) -> str:
    """A Polymarket market slug for the request body."""
    return _text(value, "market_slug")

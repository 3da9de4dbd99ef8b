"""Limitless inputs refused before any I/O, each error naming the problem."""

from __future__ import annotations

from uuid import UUID

from .._exceptions import InvalidRequest
from .._generated.limitless_api.constraints import (
    CANCEL_ORDER_COMBINED_DTO_BY_CLIENT_ORDER_ID_CLIENT_ORDER_ID_MAX_LENGTH as CLIENT_ORDER_ID_MAX,
)
from .._validation import text as _text

_MAX_PROFILE_ID = 2**63 - 1


def limitless_order_id(value: object) -> UUID:
    """A Limitless internal order id: a UUID, given as UUID or string."""
    if isinstance(value, UUID):
        return value
    if not isinstance(value, str):
        raise InvalidRequest(f"Limitless order_id must be a UUID, not {type(value).__name__}")
    try:
        return UUID(value)
    except ValueError:
        raise InvalidRequest(f"Limitless order_id {value[:80]!r} is not a UUID") from None


def client_order_id(value: object) -> str:
    """A Limitless client order id: 1 to the spec's maxLength characters."""
    return _text(value, "client_order_id", max_length=CLIENT_ORDER_ID_MAX)


def on_behalf_of(value: object) -> int:
    """A Limitless sub-account profile id: a positive integer."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"on_behalf_of must be an integer, not {type(value).__name__}")
    if not 0 < value <= _MAX_PROFILE_ID:
        raise InvalidRequest(f"on_behalf_of must be a positive integer, got {value}")
    return value


def market_slug(value: object) -> str:
    """A Limitless market slug (a path segment or query value)."""
    slug = _text(value, "market_slug")
    # Percent-encoding leaves "." and ".." as they are, and every HTTP stack resolves
    # them as dot-segments: GET /markets/../user-orders is GET /user-orders, and
    # DELETE /orders/all/.. is DELETE /orders/ (a slug may come from a stream).
    if slug in (".", ".."):
        raise InvalidRequest(f"Limitless market_slug {slug!r} is a dot-segment, not a market")
    return slug

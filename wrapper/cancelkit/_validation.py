"""Refusals before any I/O: every input is checked here, each error names the problem."""

from __future__ import annotations

from uuid import UUID

from ._exceptions import InvalidRequest
from ._generated.limitless_api.constraints import (
    CANCEL_ORDER_COMBINED_DTO_BY_CLIENT_ORDER_ID_CLIENT_ORDER_ID_MAX_LENGTH as CLIENT_ORDER_ID_MAX,
)

_MAX_ID = 1024  # far above any exchange id; keeps request lines sane
_MAX_PROFILE_ID = 2**63 - 1


def _text(value: object, what: str, *, max_length: int = _MAX_ID) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"{what} must be a string, not {type(value).__name__}")
    if not value:
        raise InvalidRequest(f"{what} is empty")
    if len(value) > max_length:
        raise InvalidRequest(f"{what} is {len(value)} characters long; the limit is {max_length}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(f"{what} is not valid Unicode (lone surrogate)") from None
    return value


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

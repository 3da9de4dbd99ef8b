"""Refusals before any I/O, each error naming the problem: what every venue's checks share
(each venue's own live in its package's ``_validation``)."""

from __future__ import annotations

from ._exceptions import InvalidRequest

_MAX_ID = 1024  # far above any exchange id; keeps request lines sane


def text(value: object, what: str, *, max_length: int = _MAX_ID) -> str:
    """``value`` as a non-empty, encodable string of at most ``max_length`` characters."""
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

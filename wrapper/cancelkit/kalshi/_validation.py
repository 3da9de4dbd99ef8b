"""Kalshi inputs refused before any I/O, each error naming the problem.

Kalshi's order ids are UUIDs and its tickers plain ASCII words: anything that
would change which path or query a request reaches (``/``, ``?``, ``#``, ``%``,
a dot-segment), or that no id holds (whitespace, control characters, an
over-long string), is refused rather than encoded.
"""

from __future__ import annotations

from .._exceptions import InvalidRequest
from .._validation import text as _text

MAX_ID = 128  # a UUID is 36 characters; ids and tickers are far shorter than this
MAX_SUBACCOUNT = 63  # "0 for primary, 1-63 for subaccounts"
MAX_EVENT_TICKERS = 10  # GetOrders: "a comma-separated list (maximum 10)"
_PATH_CHARACTERS = "/?#%"


def _word(value: object, what: str, refused: str = _PATH_CHARACTERS) -> str:
    word = _text(value, what, max_length=MAX_ID)
    for character in word:
        if character.isspace():
            raise InvalidRequest(f"{what} {word!r} contains whitespace")
        if not character.isprintable():
            raise InvalidRequest(f"{what} {word!r} contains a control character")
        if character in refused:
            raise InvalidRequest(f"{what} {word!r} contains {character!r}, which no id holds")
    return word


def kalshi_order_id(value: object) -> str:
    """An order id that is exactly one path segment, as sent."""
    order_id = _word(value, "Kalshi order_id")
    if order_id in (".", ".."):
        raise InvalidRequest(f"Kalshi order_id {order_id!r} is a dot-segment, not an id")
    return order_id


def ticker(value: object, what: str = "Kalshi market ticker") -> str:
    """A market ticker (a query value): no whitespace, controls, or ``,``/``#``/``%``."""
    return _word(value, what, refused=",#%&?")


def event_tickers(value: object) -> str:
    """One event ticker, or up to 10 as a list: the comma-separated query value."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise InvalidRequest("Kalshi event_ticker must be a ticker or a non-empty list of them")
    if len(items) > MAX_EVENT_TICKERS:
        raise InvalidRequest(
            f"Kalshi event_ticker lists {len(items)} tickers; the most is {MAX_EVENT_TICKERS}"
        )
    return ",".join(ticker(item, "Kalshi event_ticker") for item in items)


def subaccount(value: object) -> int:
    """A subaccount number: 0 (primary) to 63."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"Kalshi subaccount must be an integer, not {type(value).__name__}")
    if not 0 <= value <= MAX_SUBACCOUNT:
        raise InvalidRequest(
            f"Kalshi subaccount {value} is out of range: 0 (primary) to {MAX_SUBACCOUNT}"
        )
    return value

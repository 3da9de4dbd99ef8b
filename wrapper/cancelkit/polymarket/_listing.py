"""A Polymarket US listing of open orders, read one order at a time.

``json.loads`` of a 100,000-order answer builds every order's dicts at once (about
four times the answer's size), and the generated models next to them: the listing
peaked at 450-700 MB. Here each order of the top-level ``orders`` array is decoded
by the standard library's own scanner, validated by the generated ``Order`` model
(the spec's contract, as before) and turned at once into what will be printed, so
only the answer and that output are held.

Anything but the plain shape (another top-level value, the key twice, a malformed
order, bad JSON) falls back to the client's own whole-answer parse, so every error
and every edge case is exactly the one :meth:`PolymarketUSClient.open_orders` has.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import httpx

from .._generated.polymarket_us_api.models import GetOpenOrdersResponse, Order
from ._client import PolymarketUSClient

T = TypeVar("T")

_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")  # JSON's whitespace, exactly
# The answer's key for the orders array, as the generated model writes it.
ORDERS_KEY = next(iter(GetOpenOrdersResponse(orders=[]).to_dict()))


def _skip(text: str, i: int) -> int:
    match = _SPACE.match(text, i)
    assert match is not None  # "*" matches the empty string
    return match.end()


class _Irregular(Exception):
    """Not the plain shape: the whole-answer parse decides."""


def open_orders(
    client: PolymarketUSClient, markets: Iterable[str] | None, each: Callable[[Order], T]
) -> list[T]:
    """``each(order)`` for every open order of this key: what
    ``[each(o) for o in client.open_orders(market_slugs=markets)]`` gives (same
    request, same validation, same errors), holding one order's model at a time."""
    return parse(client._open_orders_answer(markets), each)


def parse(response: httpx.Response, each: Callable[[Order], T]) -> list[T]:
    """``each`` of every order in a ``GET /v1/orders/open`` answer, validated by the
    generated models; an answer not of the spec's shape is ``UnexpectedResponse``."""
    try:
        return _streamed(response.content, each)
    except (_Irregular, ValueError, TypeError, KeyError, AttributeError, RecursionError):
        # The client's parse gives the same result, or the error it has always given.
        return [each(order) for order in PolymarketUSClient._parse_orders(response)]


def _streamed(content: bytes, each: Callable[[Order], T]) -> list[T]:
    # What json.loads does with bytes: detect the encoding, refuse a BOM.
    text = content.decode(json.detect_encoding(content), "surrogatepass")
    if text.startswith("\ufeff"):
        raise _Irregular
    i = _skip(text, 0)
    if text[i : i + 1] != "{":
        raise _Irregular
    rest: dict[str, Any] = {}
    out: list[T] | None = None
    i = _skip(text, i + 1)
    if text[i : i + 1] == "}":
        i += 1
    else:
        while True:
            key, i = _DECODER.raw_decode(text, i)
            if not isinstance(key, str) or key in rest or (key == ORDERS_KEY and out is not None):
                raise _Irregular  # a key twice: json.loads keeps the last; let it
            i = _skip(text, i)
            if text[i : i + 1] != ":":
                raise _Irregular
            i = _skip(text, i + 1)
            if key == ORDERS_KEY and text[i : i + 1] == "[":
                out, i = _array(text, i + 1, each)
            else:
                rest[key], i = _DECODER.raw_decode(text, i)
            i = _skip(text, i)
            if text[i : i + 1] == "}":
                i += 1
                break
            if text[i : i + 1] != ",":
                raise _Irregular
            i = _skip(text, i + 1)
    if _skip(text, i) != len(text):
        raise _Irregular  # trailing data: json.loads refuses it
    if out is None:
        raise _Irregular  # no orders array: whatever the model makes of that
    # Everything else in the answer still goes through the spec's model.
    GetOpenOrdersResponse.from_dict(rest)
    return out


def _array(text: str, i: int, each: Callable[[Order], T]) -> tuple[list[T], int]:
    out: list[T] = []
    i = _skip(text, i)
    if text[i : i + 1] == "]":
        return out, i + 1
    while True:
        item, i = _DECODER.raw_decode(text, i)
        out.append(each(Order.from_dict(item)))
        i = _skip(text, i)
        if text[i : i + 1] == "]":
            return out, i + 1
        if text[i : i + 1] != ",":
            raise _Irregular
        i = _skip(text, i + 1)

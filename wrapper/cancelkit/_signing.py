"""What every venue's signing shares: base64 secrets, header values, the wire path."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable

import httpx

from ._exceptions import InvalidRequest

# Called with every signature computed in this process, before it is used: the test
# suite's secret scan registers here (it must see them all); empty otherwise.
on_signature: list[Callable[[str], None]] = []


def signed(signature: str) -> str:
    """``signature``, once every :data:`on_signature` hook has seen it."""
    for hook in on_signature:
        hook(signature)
    return signature


def b64decode(value: object, what: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"{what} must be a non-empty base64 string")
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        # `from None`: the decoder's context is no business of a traceback reader.
        raise InvalidRequest(f"{what} is not valid base64") from None


def header_value(value: object, what: str) -> str:
    if not isinstance(value, str) or not value or not value.isascii() or not value.isprintable():
        raise InvalidRequest(f"{what} must be a non-empty printable ASCII string")
    if value != value.strip():
        raise InvalidRequest(f"{what} has leading or trailing whitespace")
    return value


def wire_path(request: httpx.Request) -> str:
    # raw_path is exactly what goes on the request line: percent-encoded, with query.
    return request.url.raw_path.decode("ascii")

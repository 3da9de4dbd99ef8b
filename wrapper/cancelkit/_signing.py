"""What every venue's signing shares: base64 secrets, header values, the wire path."""

from __future__ import annotations

import base64
import binascii

import httpx

from ._exceptions import InvalidRequest


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

"""Limitless signing as an httpx auth flow: what is signed is what goes on the wire."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Generator

import httpx

from .._clock import Clock, iso_millis
from .._exceptions import InvalidRequest
from .._signing import b64decode as _b64decode
from .._signing import header_value as _header_value
from .._signing import signed as _signed
from .._signing import wire_path as _wire_path

_MIN_HMAC_SECRET = 16

_HEX = re.compile(r"[0-9a-fA-F]+")


def _not_a_secret(token_id: object, secret: object) -> None:
    """Refuse a token id that is the secret, or looks like one: base64 (not plain hex,
    which ids often are) of at least 16 bytes of key material. Swapped variables
    would otherwise send the secret in the clear as ``lmts-api-key`` and print it as
    "the key". The message names neither value."""
    if not isinstance(token_id, str):
        return
    if token_id == secret:
        raise InvalidRequest(
            "Limitless token id equals the token secret: are the two variables swapped?"
        )
    text = token_id.strip()
    if _HEX.fullmatch(text):
        return
    try:
        material = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return
    if len(material) >= _MIN_HMAC_SECRET:
        raise InvalidRequest(
            f"Limitless token id looks like a secret (base64 of {len(material)} bytes):"
            " are the token id and secret swapped?"
        )


class LimitlessAuth(httpx.Auth):
    """Limitless HMAC-SHA256 signing: ``lmts-api-key``, ``lmts-timestamp``, ``lmts-signature``.

    Signs ``{timestamp}\\n{METHOD}\\n{path with query}\\n{body}`` over the exact
    body bytes. The secret is base64-decoded once and the keyed HMAC prepared once.
    """

    requires_request_body = True

    def __init__(self, token_id: str, secret: str, clock: Clock | None = None) -> None:
        _not_a_secret(token_id, secret)
        self.token_id = _header_value(token_id, "Limitless token id")
        raw = _b64decode(secret, "Limitless token secret")
        if len(raw) < _MIN_HMAC_SECRET:
            raise InvalidRequest(
                f"Limitless token secret decodes to {len(raw)} bytes; expected at least"
                f" {_MIN_HMAC_SECRET} (is it the token id?)"
            )
        self._mac = hmac.new(raw, digestmod=hashlib.sha256)
        self._clock = clock or Clock()

    def sign(self, timestamp: str, method: str, path: str, body: bytes) -> str:
        """Base64 HMAC-SHA256 of the canonical message."""
        mac = self._mac.copy()
        mac.update(f"{timestamp}\n{method.upper()}\n{path}\n".encode())
        mac.update(body)
        return _signed(base64.b64encode(mac.digest()).decode("ascii"))

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign the final request and body; learn the server's clock from the response."""
        timestamp = iso_millis(self._clock.now())
        request.headers["lmts-api-key"] = self.token_id
        request.headers["lmts-timestamp"] = timestamp
        request.headers["lmts-signature"] = self.sign(
            timestamp, request.method, _wire_path(request), request.content
        )
        response = yield request
        self._clock.observe(response.headers.get("date"))

    def __repr__(self) -> str:
        return f"LimitlessAuth(token_id={self.token_id!r})"

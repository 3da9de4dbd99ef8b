"""Polymarket US signing as an httpx auth flow: what is signed is what goes on the wire."""

from __future__ import annotations

import base64
from collections.abc import Generator

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .._clock import Clock
from .._exceptions import InvalidRequest
from .._signing import b64decode as _b64decode
from .._signing import header_value as _header_value
from .._signing import wire_path as _wire_path


class PolymarketAuth(httpx.Auth):
    """Polymarket US Ed25519 signing: ``X-PM-Access-Key``, ``X-PM-Timestamp``, ``X-PM-Signature``.

    Signs ``timestamp_ms + METHOD + path`` (path without the query string, as sent).
    The secret is decoded and the key loaded once, here.
    """

    requires_request_body = True

    def __init__(self, key_id: str, secret_key: str, clock: Clock | None = None) -> None:
        self.key_id = _header_value(key_id, "Polymarket key id")
        raw = _b64decode(secret_key, "Polymarket secret key")
        if len(raw) not in (32, 64):
            raise InvalidRequest(
                f"Polymarket secret key decodes to {len(raw)} bytes; expected 32 (seed)"
                " or 64 (seed + public key)"
            )
        self._key = Ed25519PrivateKey.from_private_bytes(raw[:32])
        self.public_key = self._key.public_key().public_bytes_raw()
        if len(raw) == 64 and raw[32:] != self.public_key:
            raise InvalidRequest(
                "Polymarket secret key: its last 32 bytes are not the public key of its seed"
            )
        self._clock = clock or Clock()

    def sign(self, timestamp: str, method: str, path: str) -> str:
        """Base64 Ed25519 signature of ``timestamp + method + path``."""
        message = (timestamp + method.upper() + path).encode("utf-8")
        return base64.b64encode(self._key.sign(message)).decode("ascii")

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign the final request; learn the server's clock from the response."""
        timestamp = str(int(self._clock.now() * 1000))
        path = _wire_path(request).partition("?")[0]
        request.headers["X-PM-Access-Key"] = self.key_id
        request.headers["X-PM-Timestamp"] = timestamp
        request.headers["X-PM-Signature"] = self.sign(timestamp, request.method, path)
        response = yield request
        self._clock.observe(response.headers.get("date"))

    def __repr__(self) -> str:
        return f"PolymarketAuth(key_id={self.key_id!r})"

"""Polymarket US signing as an httpx auth flow: what is signed is what goes on the wire."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .._clock import Clock
from .._exceptions import InvalidRequest
from .._signing import SigningAuth
from .._signing import b64decode as _b64decode
from .._signing import header_value as _header_value
from .._signing import reported as _reported


class PolymarketAuth(SigningAuth):
    """Polymarket US Ed25519 signing: ``X-PM-Access-Key``, ``X-PM-Timestamp``, ``X-PM-Signature``.

    Signs ``timestamp_ms + METHOD + path`` (path without the query string, as sent).
    The secret is decoded and the key loaded once, here.
    """

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
        return _reported(base64.b64encode(self._key.sign(message)).decode("ascii"))

    def signed(self, method: str, target: str, body: bytes) -> list[tuple[str, str]]:
        """The signature headers for a request line's ``method`` and ``target`` (path
        and query as sent, percent-encoded); the query is not signed."""
        timestamp = str(int(self._clock.now() * 1000))
        path = target.partition("?")[0]
        return [
            ("X-PM-Access-Key", self.key_id),
            ("X-PM-Timestamp", timestamp),
            ("X-PM-Signature", self.sign(timestamp, method, path)),
        ]

    def __repr__(self) -> str:
        return f"PolymarketAuth(key_id={self.key_id!r})"

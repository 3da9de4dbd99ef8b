"""Limitless signing as an httpx auth flow: what is signed is what goes on the wire."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re

from .._clock import Clock, iso_millis
from .._exceptions import InvalidRequest
from .._signing import SigningAuth
from .._signing import b64decode as _b64decode
from .._signing import header_value as _header_value
from .._signing import reported as _reported

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


class LimitlessAuth(SigningAuth):
    """Limitless HMAC-SHA256 signing: ``lmts-api-key``, ``lmts-timestamp``, ``lmts-signature``.

    Signs ``{timestamp}\\n{METHOD}\\n{path with query}\\n{body}`` over the exact
    body bytes. The secret is base64-decoded once and the keyed HMAC prepared once.
    """

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
        return _reported(base64.b64encode(mac.digest()).decode("ascii"))

    def signed(self, method: str, target: str, body: bytes) -> list[tuple[str, str]]:
        """The signature headers for a request line's ``method`` and ``target`` (path
        and query as sent, percent-encoded) and its exact ``body`` bytes."""
        timestamp = iso_millis(self._clock.now())
        return [
            ("lmts-api-key", self.token_id),
            ("lmts-timestamp", timestamp),
            ("lmts-signature", self.sign(timestamp, method, target, body)),
        ]

    def __repr__(self) -> str:
        return f"LimitlessAuth(token_id={self.token_id!r})"

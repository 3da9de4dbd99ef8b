"""Request signing as httpx auth flows: what is signed is what goes on the wire."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Generator

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ._clock import Clock, iso_millis
from ._exceptions import InvalidRequest

_MIN_HMAC_SECRET = 16


def _b64decode(value: object, what: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"{what} must be a non-empty base64 string")
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        # `from None`: the decoder's context is no business of a traceback reader.
        raise InvalidRequest(f"{what} is not valid base64") from None


def _header_value(value: object, what: str) -> str:
    if not isinstance(value, str) or not value or not value.isascii() or not value.isprintable():
        raise InvalidRequest(f"{what} must be a non-empty printable ASCII string")
    if value != value.strip():
        raise InvalidRequest(f"{what} has leading or trailing whitespace")
    return value


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


def _wire_path(request: httpx.Request) -> str:
    # raw_path is exactly what goes on the request line: percent-encoded, with query.
    return request.url.raw_path.decode("ascii")


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
        self.public_key = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        if len(raw) == 64 and raw[32:] != self.public_key:
            raise InvalidRequest(
                "Polymarket secret key: its last 32 bytes are not the public key of its seed"
            )
        self._clock = clock or Clock()

    def sign(self, timestamp: str, method: str, path: str) -> str:
        """Base64 Ed25519 signature of ``timestamp + method + path``."""
        message = (timestamp + method.upper() + path).encode("utf-8")
        return base64.b64encode(self._key.sign(message)).decode("ascii")

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

    def observe(self, date: str | None) -> None:
        """Learn the server's clock from an answer's ``Date`` header."""
        self._clock.observe(date)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign the final request; learn the server's clock from the response."""
        for name, value in self.signed(request.method, _wire_path(request), b""):
            request.headers[name] = value
        response = yield request
        self.observe(response.headers.get("date"))

    def __repr__(self) -> str:
        return f"PolymarketAuth(key_id={self.key_id!r})"


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
        return base64.b64encode(mac.digest()).decode("ascii")

    def signed(self, method: str, target: str, body: bytes) -> list[tuple[str, str]]:
        """The signature headers for a request line's ``method`` and ``target`` (path
        and query as sent, percent-encoded) and its exact ``body`` bytes."""
        timestamp = iso_millis(self._clock.now())
        return [
            ("lmts-api-key", self.token_id),
            ("lmts-timestamp", timestamp),
            ("lmts-signature", self.sign(timestamp, method, target, body)),
        ]

    def observe(self, date: str | None) -> None:
        """Learn the server's clock from an answer's ``Date`` header."""
        self._clock.observe(date)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign the final request and body; learn the server's clock from the response."""
        for name, value in self.signed(request.method, _wire_path(request), request.content):
            request.headers[name] = value
        response = yield request
        self.observe(response.headers.get("date"))

    def __repr__(self) -> str:
        return f"LimitlessAuth(token_id={self.token_id!r})"

"""Shared test helpers: known credentials, a scripted transport, server-side checks.

Imported by the tests that need them (``from helpers import ...``); conftest.py holds
only fixtures and hooks.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import inspect
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import httpx
from cancelkit import LimitlessAuth, PolymarketAuth, RetryPolicy
from cancelkit._clock import iso_millis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

if TYPE_CHECKING:
    from cancelkit.sandbox import Sandbox

# Known answers from the signing reference.
PM_KEY_ID = "5f0c7a1e-8d2b-4c3a-9e1f-2a3b4c5d6e7f"
PM_SECRET_32 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
PM_SECRET_64 = (
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8DoQe/884Qvh1w3RjnS8CZZ+TWMJulDV8d3IZkElUxuA=="
)
PM_PUBLIC = base64.b64decode("A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=")
LM_TOKEN_ID = "tok_test_0001"
LM_SECRET = "bGltaXRsZXNzLXNhbmRib3gtc2VjcmV0LTMyYnl0ZXM="

# Kalshi private keys the suite makes: the secret scan (conftest.py) looks for every
# line of each one's body, so a key shown whole, in a repr or one line at a time is a leak.
PEM_SECRETS: set[str] = set()


def pem_secrets(pem: str | bytes) -> set[str]:
    """What of a private key PEM must never be seen: each base64 line of its body,
    and the body on one line."""
    text = pem.decode("ascii", "replace") if isinstance(pem, bytes) else pem
    body = [line.strip() for line in text.splitlines() if line and not line.startswith("-----")]
    return {*body, "".join(body)} - {""}


def secret_pem(pem: str) -> str:
    """``pem``, registered with the secret scan (returned for use as it is)."""
    PEM_SECRETS.update(pem_secrets(pem))
    return pem


# A Kalshi key for the scan's own tests (tests/test_secret_scan.py).
KALSHI_PEM = secret_pem(
    Ed25519PrivateKey.generate()
    .private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    .decode("ascii")
)

Reply = httpx.Response | Exception


class Script:
    """A mock exchange: records every request and answers from a script."""

    def __init__(self, replies: Iterable[Reply] = ()) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        # By default, each exchange's documented success: Polymarket's empty object
        # (its paths hold /v1/), Limitless's confirmation message.
        pm = "/v1/" in request.url.path
        ok = httpx.Response(200, json={} if pm else {"message": "Order canceled successfully"})
        reply = self.replies.pop(0) if self.replies else ok
        if isinstance(reply, Exception):
            raise reply
        return reply

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def verify_polymarket(request: httpx.Request, public_key: bytes = PM_PUBLIC) -> None:
    """Check a request the way Polymarket does: Ed25519 over ts + METHOD + path."""
    path = request.url.raw_path.split(b"?")[0]
    message = request.headers["X-PM-Timestamp"].encode() + request.method.encode() + path
    signature = base64.b64decode(request.headers["X-PM-Signature"], validate=True)
    Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)  # raises if bad


def verify_limitless(request: httpx.Request, secret: str = LM_SECRET) -> None:
    """Check a request the way Limitless does: recompute the HMAC over path+query and body."""
    message = (
        request.headers["lmts-timestamp"].encode()
        + b"\n"
        + request.method.encode()
        + b"\n"
        + request.url.raw_path
        + b"\n"
        + request.content
    )
    expected = hmac.new(base64.b64decode(secret), message, hashlib.sha256).digest()
    given = base64.b64decode(request.headers["lmts-signature"], validate=True)
    assert hmac.compare_digest(expected, given), "HMAC mismatch"


def call(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a client method, sync or async, and return its result."""
    result = method(*args, **kwargs)
    if inspect.iscoroutine(result):
        return asyncio.run(result)
    return result


def fast_retry(max_retries: int = 3) -> RetryPolicy:
    """Backoff of milliseconds, so retry tests take milliseconds (behaviour, not timing)."""
    return RetryPolicy(max_retries=max_retries, base_delay=0.001, max_delay=0.002)


def pin_clock(client: Any, wall: Callable[[], float]) -> Any:
    """Give ``client``'s signing clock the local time ``wall`` says (no global patch)."""
    client._clock.wall = wall
    return client


def record_waits(client: Any) -> list[float]:
    """The waits between ``client``'s attempts, recorded instead of slept."""
    waits: list[float] = []

    async def async_sleep(seconds: float) -> None:
        waits.append(seconds)

    client._sleep = waits.append
    client._async_sleep = async_sleep
    return waits


def pm_headers(
    box: Sandbox, path: str, *, skew: float = 0.0, key: str | None = None
) -> dict[str, str]:
    c = box.credentials
    auth = PolymarketAuth(c.polymarket_key_id, key or c.polymarket_secret_key)
    stamp = str(int((time.time() + skew) * 1000))
    return {
        "X-PM-Access-Key": c.polymarket_key_id,
        "X-PM-Timestamp": stamp,
        "X-PM-Signature": auth.sign(stamp, "POST", path),
    }


def lm_headers(
    box: Sandbox,
    target: str,
    body: bytes,
    *,
    method: str = "POST",
    skew: float = 0.0,
    secret: str | None = None,
) -> dict[str, str]:
    c = box.credentials
    auth = LimitlessAuth(c.limitless_token_id, secret or c.limitless_secret)
    stamp = iso_millis(time.time() + skew)
    return {
        "lmts-api-key": c.limitless_token_id,
        "lmts-timestamp": stamp,
        "lmts-signature": auth.sign(stamp, method, target, body),
        "content-type": "application/json",
    }


def ks_headers(box: Sandbox, method: str, target: str, *, key: str = "rsa") -> dict[str, str]:
    """Kalshi headers signing ``method`` and ``target`` (under the sandbox's
    /trade-api/v2; its query is not signed) with a demo key, ``rsa`` or ``ed25519``."""
    from cancelkit.kalshi._auth import KalshiAuth

    key_id, pem = box.credentials.kalshi_key(key)  # type: ignore[arg-type]
    stamp = str(int(time.time() * 1000))
    path = "/trade-api/v2" + target.partition("?")[0]
    return {
        "KALSHI-ACCESS-KEY": key_id,
        "KALSHI-ACCESS-TIMESTAMP": stamp,
        "KALSHI-ACCESS-SIGNATURE": KalshiAuth(key_id, pem).sign(stamp, method, path),
    }

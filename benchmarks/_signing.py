"""Signing cost per request, in microseconds: cancelkit against the bare primitive and
against the official SDKs' own signing functions."""

from __future__ import annotations

import base64
import hashlib
import hmac
import statistics
import time
from collections.abc import Callable

import httpx
from cancelkit import LimitlessAuth, PolymarketAuth
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

PM_SECRET = base64.b64encode(bytes(range(32))).decode()
LM_SECRET = base64.b64encode(b"limitless-sandbox-secret-32bytes").decode()
PATH = "/v1/order/ord-123/cancel"
BODY = b'{"orderId":"6f52b6d2-6c9e-4a5c-8a4f-28ab4b7ff203"}'
STAMP_MS = "1700000000000"
STAMP_ISO = "2026-11-22T12:00:00.000Z"


def _flow(auth: httpx.Auth, request: httpx.Request) -> Callable[[], object]:
    def run() -> object:
        return next(auth.auth_flow(request))

    return run


def candidates() -> dict[str, dict[str, Callable[[], object]]]:
    """Per venue, name -> one signing of one request."""
    from limitless_sdk.api.hmac import compute_hmac_signature
    from polymarket_us.auth import create_auth_headers

    pm_auth = PolymarketAuth("key", PM_SECRET)
    lm_auth = LimitlessAuth("tok", LM_SECRET)
    pm_request = httpx.Request("POST", "https://x" + PATH, content=b"{}")
    lm_request = httpx.Request("POST", "https://x/orders/cancel", content=BODY)
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    secret = base64.b64decode(LM_SECRET)
    body_text = BODY.decode()
    return {
        "pm": {
            "bare primitive": lambda: base64.b64encode(
                key.sign((STAMP_MS + "POST" + PATH).encode())
            ),
            "cancelkit sign()": lambda: pm_auth.sign(STAMP_MS, "POST", PATH),
            "cancelkit auth flow": _flow(pm_auth, pm_request),
            "polymarket-us create_auth_headers": lambda: create_auth_headers(
                "key", PM_SECRET, "POST", PATH
            ),
        },
        "lm": {
            "bare primitive": lambda: base64.b64encode(
                hmac.new(
                    secret, f"{STAMP_ISO}\nPOST\n/orders/cancel\n".encode() + BODY, hashlib.sha256
                ).digest()
            ),
            "cancelkit sign()": lambda: lm_auth.sign(STAMP_ISO, "POST", "/orders/cancel", BODY),
            "cancelkit auth flow": _flow(lm_auth, lm_request),
            "limitless-sdk compute_hmac_signature": lambda: compute_hmac_signature(
                LM_SECRET, STAMP_ISO, "POST", "/orders/cancel", body_text
            ),
        },
    }


def measure(calls: int, rounds: int) -> dict[str, dict[str, float]]:
    """Median over ``rounds`` of the mean µs per call, rounds interleaved across candidates."""
    table = candidates()
    samples: dict[str, dict[str, list[float]]] = {v: {n: [] for n in c} for v, c in table.items()}
    for _ in range(rounds):
        for venue, named in table.items():
            for name, sign in named.items():
                started = time.perf_counter()
                for _ in range(calls):
                    sign()
                samples[venue][name].append((time.perf_counter() - started) / calls * 1e6)
    return {v: {n: statistics.median(s) for n, s in named.items()} for v, named in samples.items()}

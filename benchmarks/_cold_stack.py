"""The "stack alone" of the cold command: a fresh process that imports only the
libraries a cancel needs, signs the request ``cancelkit cancel`` sends first, sends
it, reads the answer and exits; no cancelkit.

``python benchmarks/_cold_stack.py STACK VENUE ORDER_ID [MARKET]``

STACK ``mandated``: the stack cancelkit's clients are built on (httpx's async client
under asyncio, an attrs model for the body as the generated code has, the venue's
signer); ``minimal``: httpx's sync client and the signer, nothing else.
VENUE ``pm``: Ed25519 (cryptography), ``POST /v1/orders/batched/cancel`` with the
order and its market; ``pm-listing``: the same after a signed ``GET /v1/orders/open``
that finds the order's market (cancelkit's order of requests); ``lm``: HMAC-SHA256
(the standard library), ``POST /orders/batch-cancel``. Credentials and API roots come
from the environment variables cancelkit reads.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any

import httpx

Signed = tuple[str, str, bytes, dict[str, str]]  # method, path, body, headers


def _pm(method: str, path: str, body: bytes) -> Signed:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    seed = base64.b64decode(os.environ["POLYMARKET_SECRET_KEY"])[:32]
    stamp = str(int(time.time() * 1000))
    signature = Ed25519PrivateKey.from_private_bytes(seed).sign(
        (stamp + method + path.partition("?")[0]).encode()
    )
    headers = {
        "X-PM-Access-Key": os.environ["POLYMARKET_KEY_ID"],
        "X-PM-Timestamp": stamp,
        "X-PM-Signature": base64.b64encode(signature).decode(),
        "Content-Type": "application/json",
    }
    return method, path, body, headers


def _lm(method: str, path: str, body: bytes) -> Signed:
    now = datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    secret = base64.b64decode(os.environ["LIMITLESS_TOKEN_SECRET"])
    message = f"{stamp}\n{method}\n{path}\n".encode() + body
    headers = {
        "lmts-api-key": os.environ["LIMITLESS_TOKEN_ID"],
        "lmts-timestamp": stamp,
        "lmts-signature": base64.b64encode(
            hmac.new(secret, message, hashlib.sha256).digest()
        ).decode(),
        "Content-Type": "application/json",
    }
    return method, path, body, headers


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _cancel_body(venue: str, order_id: str, market: str | None, stack: str) -> bytes:
    if stack == "mandated":  # the body through an attrs model, as generated clients do
        import attrs

        @attrs.define
        class Entry:
            order_id: str
            market_slug: str | None = None

            def to_dict(self) -> dict[str, str]:
                out = {"orderId": self.order_id}
                if self.market_slug is not None:
                    out["marketSlug"] = self.market_slug
                return out

        entry = Entry(order_id, market).to_dict()
    else:
        entry = {"orderId": order_id, **({"marketSlug": market} if market else {})}
    if venue == "lm":
        return _dumps({"orderIds": [entry["orderId"]]})
    return _dumps({"orders": [entry]})


def _market_of(listing: bytes, order_id: str) -> str:
    for order in json.loads(listing)["orders"]:
        if order["id"] == order_id:
            return str(order["marketSlug"])
    raise SystemExit(f"{order_id} is not listed")


def main() -> None:
    """Send the one cancel (after the listing for ``pm-listing``) and exit 0 on a 2xx."""
    stack, venue, order_id = sys.argv[1:4]
    market = sys.argv[4] if len(sys.argv) > 4 else None
    sign = _lm if venue == "lm" else _pm
    root = os.environ["LIMITLESS_API_URL" if venue == "lm" else "POLYMARKET_API_URL"]
    path = "/orders/batch-cancel" if venue == "lm" else "/v1/orders/batched/cancel"

    def requests(listing: bytes | None) -> Signed:
        found = _market_of(listing, order_id) if listing is not None else market
        return sign("POST", path, _cancel_body(venue, order_id, found, stack))

    if stack == "minimal":
        with httpx.Client(base_url=root) as http:
            listing = None
            if venue == "pm-listing":
                _, url, body, headers = sign("GET", "/v1/orders/open", b"")
                listing = http.get(url, headers=headers).raise_for_status().content
            _, url, body, headers = requests(listing)
            http.post(url, content=body, headers=headers).raise_for_status()
        return

    import asyncio

    async def run() -> None:
        async with httpx.AsyncClient(base_url=root) as http:
            listing = None
            if venue == "pm-listing":
                _, url, body, headers = sign("GET", "/v1/orders/open", b"")
                listing = (await http.get(url, headers=headers)).raise_for_status().content
            _, url, body, headers = requests(listing)
            (await http.post(url, content=body, headers=headers)).raise_for_status()

    asyncio.run(run())


if __name__ == "__main__":
    main()

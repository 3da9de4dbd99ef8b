"""Single-cancel contenders: each cancels the given orders one at a time and returns
the latency of every cancel, in seconds."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ._sandbox import SandboxProcess

SLUG = "bench-market"
Measure = Callable[[SandboxProcess, list[str]], list[float]]
# The SDK on the endpoint the others send: the row the goals compare against.
LM_SDK_SAME_ENDPOINT = "limitless-sdk 1.3.0 (POST /orders/cancel)"


def _timed_sync(call: Callable[[str], Any], ids: list[str]) -> list[float]:
    out = []
    for order_id in ids:
        started = time.perf_counter()
        call(order_id)
        out.append(time.perf_counter() - started)
    return out


def _timed_async(
    make: Callable[[], Any], call: Callable[[Any, str], Any], ids: list[str]
) -> list[float]:
    async def main() -> list[float]:
        client = make()
        out = []
        try:
            for order_id in ids:
                started = time.perf_counter()
                await call(client, order_id)
                out.append(time.perf_counter() - started)
        finally:
            await client.close()
        return out

    return asyncio.run(main())


# ---- Polymarket US ---------------------------------------------------------------


def pm_cancelkit_sync(box: SandboxProcess, ids: list[str]) -> list[float]:
    from cancelkit import PolymarketUSClient

    e = box.env
    with PolymarketUSClient(
        e["POLYMARKET_KEY_ID"], e["POLYMARKET_SECRET_KEY"], base_url=box.pm_url
    ) as pm:
        return _timed_sync(lambda i: pm.cancel_order(i, market_slug=SLUG), ids)


def pm_cancelkit_async(box: SandboxProcess, ids: list[str]) -> list[float]:
    from cancelkit import AsyncPolymarketUSClient

    e = box.env
    return _timed_async(
        lambda: AsyncPolymarketUSClient(
            e["POLYMARKET_KEY_ID"], e["POLYMARKET_SECRET_KEY"], base_url=box.pm_url
        ),
        lambda pm, i: pm.cancel_order(i, market_slug=SLUG),
        ids,
    )


def _pm_prepared(box: SandboxProcess, ids: list[str]) -> list[tuple[str, bytes, dict[str, str]]]:
    """Signed Polymarket cancels, (path, body, headers), ready before any clock starts."""
    e = box.env
    key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(e["POLYMARKET_SECRET_KEY"])[:32])
    body = json.dumps({"marketSlug": SLUG}, separators=(",", ":")).encode()
    stamp = str(int(time.time() * 1000))
    prepared = []
    for order_id in ids:
        path = f"/v1/order/{order_id}/cancel"
        signature = base64.b64encode(key.sign((stamp + "POST" + path).encode())).decode()
        headers = {
            "X-PM-Access-Key": e["POLYMARKET_KEY_ID"],
            "X-PM-Timestamp": stamp,
            "X-PM-Signature": signature,
            "Content-Type": "application/json",
        }
        prepared.append((path, body, headers))
    return prepared


def _bare_httpx(url: str, prepared: list[tuple[str, bytes, dict[str, str]]]) -> list[float]:
    """The sync floor: requests prepared (and signed) before the clock starts, one connection."""
    with httpx.Client(base_url=url) as http:
        out = []
        for path, body, headers in prepared:
            started = time.perf_counter()
            http.post(path, content=body, headers=headers).raise_for_status()
            out.append(time.perf_counter() - started)
    return out


def pm_bare_httpx(box: SandboxProcess, ids: list[str]) -> list[float]:
    """The sync floor for Polymarket."""
    return _bare_httpx(box.pm_url, _pm_prepared(box, ids))


def _bare_aiohttp(url: str, prepared: list[tuple[str, bytes, dict[str, str]]]) -> list[float]:
    """The async floor: requests prepared (and signed) before the clock starts, one session."""
    import aiohttp

    async def main() -> list[float]:
        out = []
        async with aiohttp.ClientSession(url) as session:
            for path, body, headers in prepared:
                started = time.perf_counter()
                async with session.post(path, data=body, headers=headers) as response:
                    await response.read()
                    response.raise_for_status()
                out.append(time.perf_counter() - started)
        return out

    return asyncio.run(main())


def pm_bare_aiohttp(box: SandboxProcess, ids: list[str]) -> list[float]:
    """The async floor for Polymarket."""
    return _bare_aiohttp(box.pm_url, _pm_prepared(box, ids))


def pm_official_sdk_async(box: SandboxProcess, ids: list[str]) -> list[float]:
    from polymarket_us import AsyncPolymarketUS

    e = box.env

    def make() -> Any:
        return AsyncPolymarketUS(
            key_id=e["POLYMARKET_KEY_ID"],
            secret_key=e["POLYMARKET_SECRET_KEY"],
            api_base_url=box.pm_url,
        )

    return _timed_async(make, lambda c, i: c.orders.cancel(i, {"marketSlug": SLUG}), ids)


def pm_official_sdk(box: SandboxProcess, ids: list[str]) -> list[float]:
    from polymarket_us import PolymarketUS

    e = box.env
    client = PolymarketUS(
        key_id=e["POLYMARKET_KEY_ID"],
        secret_key=e["POLYMARKET_SECRET_KEY"],
        api_base_url=box.pm_url,
    )
    return _timed_sync(lambda i: client.orders.cancel(i, {"marketSlug": SLUG}), ids)


# ---- Limitless ---------------------------------------------------------------------


def lm_cancelkit_sync(box: SandboxProcess, ids: list[str]) -> list[float]:
    from cancelkit import LimitlessClient

    e = box.env
    # paced=False: the sandbox's limits are off here, and the SDK and the floors do
    # not pace; this measures a cancel's cost, not the published 300 ms spacing.
    with LimitlessClient(
        e["LIMITLESS_TOKEN_ID"], e["LIMITLESS_TOKEN_SECRET"], base_url=box.lm_url, paced=False
    ) as lm:
        return _timed_sync(lambda i: lm.cancel_order(order_id=i), ids)


def lm_cancelkit_async(box: SandboxProcess, ids: list[str]) -> list[float]:
    from cancelkit import AsyncLimitlessClient

    e = box.env
    return _timed_async(
        lambda: AsyncLimitlessClient(
            e["LIMITLESS_TOKEN_ID"], e["LIMITLESS_TOKEN_SECRET"], base_url=box.lm_url, paced=False
        ),
        lambda lm, i: lm.cancel_order(order_id=i),
        ids,
    )


def _lm_prepared(box: SandboxProcess, ids: list[str]) -> list[tuple[str, bytes, dict[str, str]]]:
    """Signed Limitless cancels, (path, body, headers), ready before any clock starts."""
    from cancelkit._clock import iso_millis

    e = box.env
    secret = base64.b64decode(e["LIMITLESS_TOKEN_SECRET"])
    stamp = iso_millis(time.time())
    prepared = []
    for order_id in ids:
        body = json.dumps({"orderId": order_id}, separators=(",", ":")).encode()
        message = f"{stamp}\nPOST\n/orders/cancel\n".encode() + body
        signature = base64.b64encode(hmac.new(secret, message, hashlib.sha256).digest()).decode()
        headers = {
            "lmts-api-key": e["LIMITLESS_TOKEN_ID"],
            "lmts-timestamp": stamp,
            "lmts-signature": signature,
            "Content-Type": "application/json",
        }
        prepared.append(("/orders/cancel", body, headers))
    return prepared


def lm_bare_httpx(box: SandboxProcess, ids: list[str]) -> list[float]:
    """The sync floor for Limitless."""
    return _bare_httpx(box.lm_url, _lm_prepared(box, ids))


def lm_bare_aiohttp(box: SandboxProcess, ids: list[str]) -> list[float]:
    """The async floor for Limitless."""
    return _bare_aiohttp(box.lm_url, _lm_prepared(box, ids))


def _lm_sdk_http(box: SandboxProcess) -> Any:
    """limitless-sdk's HMAC HttpClient (its signing, aiohttp session and parsing)."""
    from limitless_sdk.api import HttpClient

    e = box.env
    return HttpClient(
        base_url=box.lm_url,
        hmac_credentials={
            "tokenId": e["LIMITLESS_TOKEN_ID"],
            "secret": e["LIMITLESS_TOKEN_SECRET"],
        },
    )


def lm_official_sdk(box: SandboxProcess, ids: list[str]) -> list[float]:
    """limitless-sdk's OrderClient.cancel: the legacy DELETE /orders/{id}, over aiohttp."""
    from eth_account import Account
    from limitless_sdk.orders import OrderClient

    def make() -> Any:
        http = _lm_sdk_http(box)
        orders = OrderClient(http_client=http, wallet=Account.create())
        orders.close = http.close  # type: ignore[attr-defined]
        return orders

    return _timed_async(make, lambda client, i: client.cancel(i), ids)


def lm_official_sdk_post(box: SandboxProcess, ids: list[str]) -> list[float]:
    """limitless-sdk sending the endpoint cancelkit and the floors send (POST
    /orders/cancel with a JSON body): its OrderClient has no method for it, so through
    its own HttpClient, which raises on any status >= 400."""
    return _timed_async(
        lambda: _lm_sdk_http(box),
        lambda http, i: http.post("/orders/cancel", {"orderId": i}),
        ids,
    )


CONTENDERS: dict[str, dict[str, Measure]] = {
    "pm": {
        "cancelkit sync": pm_cancelkit_sync,
        "cancelkit async": pm_cancelkit_async,
        "bare httpx (floor)": pm_bare_httpx,
        "bare aiohttp (async floor)": pm_bare_aiohttp,
        "polymarket-us 2.4.1": pm_official_sdk,
        "polymarket-us 2.4.1 async": pm_official_sdk_async,
    },
    "lm": {
        "cancelkit sync": lm_cancelkit_sync,
        "cancelkit async": lm_cancelkit_async,
        "bare httpx (floor)": lm_bare_httpx,
        "bare aiohttp (async floor)": lm_bare_aiohttp,
        "limitless-sdk 1.3.0": lm_official_sdk,
        LM_SDK_SAME_ENDPOINT: lm_official_sdk_post,
    },
}

"""Kalshi single-cancel latency, per key type (RSA-PSS, Ed25519): cancelkit's clients
against bare httpx / aiohttp floors that sign each request inside the clock (the
signature is part of a Kalshi request's cost: an RSA private operation is as long as a
loopback round trip), and against kalshi-python-async's own signer and aiohttp client
on the same V2 endpoint. Contenders interleaved round by round, rotating order."""

from __future__ import annotations

import asyncio
import base64
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ._contenders import _timed_async, _timed_sync
from ._kalshi_signing import KEY_TYPES
from ._sandbox import SandboxProcess

# A tier whose buckets a run of single cancels never empties: what is measured is a
# cancel's cost (the limiter's bookkeeping included), not the Basic tier's pace.
LATENCY_TIER = "prestige"
SYNC = "cancelkit sync"
ASYNC = "cancelkit async"
FLOOR = "bare httpx + signature (floor)"
ASYNC_FLOOR = "bare aiohttp + signature (async floor)"
SDK = "kalshi-python-async 3.2.0 (its KalshiAuth and aiohttp client, V2 cancel)"
GOALS = [(ASYNC, SDK, 1.0), (SYNC, FLOOR, 1.0)]  # issue 32: (contender, reference, limit)

Measure = Callable[[SandboxProcess, str, list[str]], list[float]]


def _cancel_path(box: SandboxProcess, order_id: str) -> str:
    """The V2 cancel's whole path from the host (what Kalshi signs)."""
    return httpx.URL(box.kalshi_url).raw_path.decode().rstrip("/") + (
        f"/portfolio/events/orders/{order_id}"
    )


def _signer(pem: str) -> Callable[[bytes], bytes]:
    """cryptography's sign with the key in ``pem``, as Kalshi verifies it."""
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if isinstance(key, Ed25519PrivateKey):
        return key.sign
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    sha = hashes.SHA256()
    return lambda message: key.sign(message, pss, sha)  # type: ignore[union-attr, call-arg]


def _headers(key_id: str, sign: Callable[[bytes], bytes], path: str) -> dict[str, str]:
    """One request's signature headers, timestamped now."""
    stamp = str(int(time.time() * 1000))
    signature = base64.b64encode(sign((stamp + "DELETE" + path).encode())).decode()
    return {
        "KALSHI-ACCESS-KEY": key_id,
        "KALSHI-ACCESS-TIMESTAMP": stamp,
        "KALSHI-ACCESS-SIGNATURE": signature,
    }


def cancelkit_sync(box: SandboxProcess, kind: str, ids: list[str]) -> list[float]:
    from cancelkit.kalshi._client import KalshiClient

    key_id, pem = box.kalshi_keys[kind]
    with KalshiClient(key_id, pem, base_url=box.kalshi_url, tier=LATENCY_TIER) as client:
        return _timed_sync(client.cancel_order, ids)


def cancelkit_async(box: SandboxProcess, kind: str, ids: list[str]) -> list[float]:
    from cancelkit.kalshi._client import AsyncKalshiClient

    key_id, pem = box.kalshi_keys[kind]
    return _timed_async(
        lambda: AsyncKalshiClient(key_id, pem, base_url=box.kalshi_url, tier=LATENCY_TIER),
        lambda client, i: client.cancel_order(i),
        ids,
    )


def bare_httpx(box: SandboxProcess, kind: str, ids: list[str]) -> list[float]:
    """The sync floor: one httpx connection, each request signed inside the clock."""
    key_id, pem = box.kalshi_keys[kind]
    sign = _signer(pem)
    paths = [_cancel_path(box, i) for i in ids]
    origin = str(httpx.URL(box.kalshi_url).copy_with(path="/"))
    out = []
    with httpx.Client(base_url=origin) as http:
        for path in paths:
            started = time.perf_counter()
            http.delete(path, headers=_headers(key_id, sign, path)).raise_for_status()
            out.append(time.perf_counter() - started)
    return out


def bare_aiohttp(box: SandboxProcess, kind: str, ids: list[str]) -> list[float]:
    """The async floor: one aiohttp session, each request signed inside the clock."""
    import aiohttp

    key_id, pem = box.kalshi_keys[kind]
    sign = _signer(pem)
    paths = [_cancel_path(box, i) for i in ids]
    origin = str(httpx.URL(box.kalshi_url).copy_with(path="/")).rstrip("/")

    async def main() -> list[float]:
        out = []
        async with aiohttp.ClientSession(origin) as session:
            for path in paths:
                started = time.perf_counter()
                headers = _headers(key_id, sign, path)
                async with session.delete(path, headers=headers) as response:
                    await response.read()
                    response.raise_for_status()
                out.append(time.perf_counter() - started)
        return out

    return asyncio.run(main())


class _Ed25519Auth:
    """kalshi-python-async's ``create_auth_headers`` for an Ed25519 key (its own
    ``KalshiAuth`` refuses one: 'Private key must be an RSA key'): the same steps,
    the path taken from the URL as it does, the text signed Ed25519."""

    def __init__(self, key_id: str, pem: str) -> None:
        self.key_id = key_id
        self._sign = _signer(pem)

    def create_auth_headers(self, method: str, url: str) -> dict[str, str]:
        from urllib.parse import urlparse

        return _headers(self.key_id, self._sign, urlparse(url).path)


def _sdk_client(box: SandboxProcess, kind: str) -> Any:
    """kalshi-python-async's ApiClient (its aiohttp REST client) signing with its own
    KalshiAuth (RSA), or, for Ed25519, the same headers from an Ed25519 signature."""
    from kalshi_python_async import ApiClient, Configuration
    from kalshi_python_async.auth import KalshiAuth

    key_id, pem = box.kalshi_keys[kind]
    api = ApiClient(Configuration(host=box.kalshi_url))
    api.kalshi_auth = KalshiAuth(key_id, pem) if kind == "rsa" else _Ed25519Auth(key_id, pem)
    return api


def official_sdk(box: SandboxProcess, kind: str, ids: list[str]) -> list[float]:
    """The V2 cancel through kalshi-python-async's ``ApiClient.call_api`` (its signing
    and aiohttp client); 3.2.0's ``OrdersApi.cancel_order`` sends the legacy
    ``DELETE /portfolio/orders/{id}``, which the exchange refuses since June 2026."""

    async def cancel(api: Any, order_id: str) -> None:
        response = await api.call_api(
            "DELETE", f"{box.kalshi_url}/portfolio/events/orders/{order_id}"
        )
        await response.read()
        if not 200 <= response.status < 300:
            raise RuntimeError(f"the SDK's cancel answered {response.status}")

    return _timed_async(lambda: _sdk_client(box, kind), cancel, ids)


CONTENDERS: dict[str, Measure] = {
    SYNC: cancelkit_sync,
    ASYNC: cancelkit_async,
    FLOOR: bare_httpx,
    ASYNC_FLOOR: bare_aiohttp,
    SDK: official_sdk,
}


def _ids(count: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(count)]


def latency(
    box: SandboxProcess, per_round: int, rounds: int, warmup: int
) -> dict[str, dict[str, list[float]]]:
    """Per key type, each contender's single-cancel latencies (seconds): round 0 warms
    every contender up; then ``rounds`` of ``per_round`` cancels each, interleaved."""
    samples = {kind: {name: [] for name in CONTENDERS} for kind in KEY_TYPES}  # type: ignore[var-annotated]
    box.kalshi_knobs(validate=False, published_limits=False)
    try:
        for round_no in range(rounds + 1):
            for kind in KEY_TYPES:
                names = list(CONTENDERS)
                shift = round_no % len(names)
                for name in names[shift:] + names[:shift]:
                    ids = _ids(warmup if round_no == 0 else per_round)
                    box.kalshi_seed(ids)
                    measured = CONTENDERS[name](box, kind, ids)
                    if round_no > 0:
                        samples[kind][name].extend(measured)
    finally:
        box.kalshi_knobs(validate=True, published_limits=True)
    return samples


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def table(samples: dict[str, dict[str, list[float]]], rounds: int, per_round: int) -> list[str]:
    """The results section: one table per key type, and the goals."""
    lines = [
        f"## Kalshi: single cancel latency ({rounds} rounds x {per_round} cancels per contender"
        " and key type, rate limits and schema validation off)",
        "",
        "`DELETE /trade-api/v2/portfolio/events/orders/{id}` (CancelOrderV2) on one",
        "connection. The floors sign each request inside the clock with cryptography",
        "directly: a Kalshi request's signature is part of its cost (see the signing",
        f"table). cancelkit's clients run at tier `{LATENCY_TIER}`, whose buckets these runs",
        "never empty (the limiter's bookkeeping is in their figures, its waits are not).",
        f"`{SDK}` sends the same endpoint through the SDK's `ApiClient.call_api` (its",
        "`KalshiAuth` headers, its aiohttp REST client); its `OrdersApi.cancel_order`",
        "sends the legacy `DELETE /portfolio/orders/{id}`, refused by the exchange since",
        "June 2026. Its `KalshiAuth` refuses an Ed25519 key, so in the Ed25519 table its",
        "row has the same headers signed Ed25519 put into its `call_api`.",
        "",
    ]
    for kind, named in samples.items():
        floor = statistics.median(named[FLOOR])
        async_floor = statistics.median(named[ASYNC_FLOOR])
        lines += [
            f"### {KEY_TYPES[kind]}",
            "",
            "| contender | n | median ms | p99 ms | x httpx floor | x aiohttp floor |",
            "|---|---|---|---|---|---|",
        ]
        for name, values in named.items():
            median = statistics.median(values)
            lines.append(
                f"| {name} | {len(values)} | {median * 1e3:.3f} | {_pct(values, 0.99) * 1e3:.3f}"
                f" | {median / floor:.2f} | {median / async_floor:.2f} |"
            )
        lines += ["", "| goal | ratio of medians | met |", "|---|---|---|"]
        for contender, reference, limit in GOALS:
            ratio = statistics.median(named[contender]) / statistics.median(named[reference])
            lines.append(
                f"| {contender} <= {limit} x {reference} | {ratio:.2f}"
                f" | {'yes' if ratio <= limit else 'no'} |"
            )
        lines.append("")
    return lines

"""Kill switch on Limitless under the sandbox's published limit (2 in flight, 300 ms apart
per token): cancelkit's paths against limitless-sdk's, in one run, interleaved by size."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from ._contenders import SLUG, _lm_sdk_http
from ._sandbox import SandboxProcess

OWNER = "1001"
BATCH = 50  # the batch pages' limit
SETTLE = 0.5  # seconds between contenders, so that none starts inside another's spacing
SPACING = 0.3  # the published limit's seconds between calls, per token
SDK_BATCH = "limitless-sdk batch (legacy cancel-batch, 50 per request)"
SDK_PACED = "limitless-sdk batch, paced (1 in flight, 300 ms after each answer)"
OURS = "cancelkit cancel_orders (batched, per-order answers)"

Run = Callable[[list[str], str], Awaitable[int]]  # (ids, market) -> reported cancelled


def _sdk(box: SandboxProcess) -> tuple[Any, Any]:
    """limitless-sdk's HMAC HttpClient and its OrderClient (the current, scoped-token API)."""
    from eth_account import Account
    from limitless_sdk.orders import OrderClient

    http = _lm_sdk_http(box)
    return http, OrderClient(http_client=http, wallet=Account.create())


def contenders(box: SandboxProcess) -> dict[str, Run]:
    """Every path, by the name the results table gives it."""
    from cancelkit import AsyncLimitlessClient
    from cancelkit._generated.limitless_api.models import CancelByOrderId

    e = box.env

    def ours() -> AsyncLimitlessClient:
        return AsyncLimitlessClient(
            e["LIMITLESS_TOKEN_ID"], e["LIMITLESS_TOKEN_SECRET"], base_url=box.lm_url
        )

    async def cancelkit_orders(ids: list[str], market: str) -> int:
        async with ours() as lm:
            results = await lm.cancel_orders([CancelByOrderId(order_id=UUID(i)) for i in ids])
        return sum(r.status == "cancelled" for r in results)

    async def cancelkit_all(ids: list[str], market: str) -> int:
        async with ours() as lm:
            results = await lm.cancel_all(market)
        return sum(r.status == "cancelled" for r in results)

    async def sdk_cancel_all(ids: list[str], market: str) -> int:
        http, orders = _sdk(box)
        try:
            answer = await orders.cancel_all(market)
        except Exception:  # the SDK raises on 429: count what is left open instead
            return 0
        finally:
            await http.close()
        return len(answer.get("canceled") or [])

    async def sdk_batch(ids: list[str], market: str) -> int:
        # The SDK's batch cancel is the legacy POST /orders/cancel-batch (orderIds only);
        # sent through its HMAC HttpClient, as its own legacy client does with older auth.
        http, _ = _sdk(box)
        said = 0
        try:
            for n in range(0, len(ids), BATCH):
                try:
                    answer = await http.post(
                        "/orders/cancel-batch", {"orderIds": ids[n : n + BATCH]}
                    )
                except Exception:  # noqa: S112 (count what is left open instead)
                    continue
                said += len(answer.get("canceled") or [])
        finally:
            await http.close()
        return said

    async def sdk_batch_paced(ids: list[str], market: str) -> int:
        # The same calls, paced as the published limit requires and as a user of the SDK
        # would have to write it: one request at a time, 300 ms from each answer to the
        # next call (so arrivals are more than 300 ms apart, and never 2 in flight).
        http, _ = _sdk(box)
        said = 0
        try:
            for n in range(0, len(ids), BATCH):
                if n:
                    await asyncio.sleep(SPACING)
                try:
                    answer = await http.post(
                        "/orders/cancel-batch", {"orderIds": ids[n : n + BATCH]}
                    )
                except Exception:  # noqa: S112 (count what is left open instead)
                    continue
                said += len(answer.get("canceled") or [])
        finally:
            await http.close()
        return said

    async def sdk_one_by_one(ids: list[str], market: str) -> int:
        http, orders = _sdk(box)
        said = 0
        try:
            for order_id in ids:
                try:
                    await orders.cancel(order_id)
                except Exception:  # noqa: S112 (count what is left open instead)
                    continue
                said += 1
        finally:
            await http.close()
        return said

    return {
        OURS: cancelkit_orders,
        "cancelkit cancel_all (confirmed by listing)": cancelkit_all,
        "limitless-sdk cancel_all per market": sdk_cancel_all,
        SDK_BATCH: sdk_batch,
        SDK_PACED: sdk_batch_paced,
        "limitless-sdk one by one (DELETE /orders/{id})": sdk_one_by_one,
    }


def measure(box: SandboxProcess, count: int, rounds: int = 1) -> dict[str, dict[str, float]]:
    """``count`` open orders in one market, killed by each contender in turn, ``rounds``
    times in rotating order; each contender's row is its run of median wall time.

    Schema validation is off in the sandbox here, as in the latency tables: it costs
    the sandbox milliseconds per request, more for a per-order answer than for the
    legacy one, and what is compared is the clients under the same published limit."""
    box.knobs("lm", published_limits=True, validate=False)
    paths = contenders(box)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in paths}
    names = list(paths)
    for round_no in range(rounds):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            # Its own market and ids: nothing left by another contender or round.
            serial = round_no * len(names) + names.index(name)
            ids = [str(UUID(int=(count << 32) + n + (serial << 24))) for n in range(count)]
            market = f"{SLUG}-{count}-{serial}"
            box.seed("lm", ids, OWNER, market)
            time.sleep(SETTLE)
            before = box.stats("lm")
            started = time.perf_counter()
            said = asyncio.run(paths[name](ids, market))
            wall = time.perf_counter() - started
            after = box.stats("lm")
            runs[name].append(
                {
                    "wall": wall,
                    "requests": after["requests"] - before["requests"],
                    "429s": after["rate_limited"] - before["rate_limited"],
                    "open": box.open_count("lm", ids),
                    "said": said,
                }
            )
    box.knobs("lm", validate=True)
    return {
        name: sorted(done, key=lambda r: r["wall"])[len(done) // 2] for name, done in runs.items()
    }


def table(count: int, rows: dict[str, dict[str, float]]) -> list[str]:
    """The results section for one size."""
    reference = rows[SDK_BATCH]["wall"]
    lines = [
        f"## Kill switch: {count} open Limitless orders, sandbox at the published limit"
        " (2 in flight, 300 ms apart, per token)",
        "",
        "cancelkit's cancel_orders reports an order cancelled only when the exchange's",
        "`canceled` list names it (and asks `POST /orders/status/batch` about the rest);",
        "its cancel_all also lists the market until nothing it cancelled is LIVE. The SDK's",
        "calls return what the gateway answered and confirm nothing. 'reported cancelled'",
        "counts what each says it cancelled; 'left open' is the sandbox's book.",
        "",
        "Each row is the contender's run of median wall time, of the rounds run (rotating",
        "order). The sandbox's schema validation is off, as in the latency tables.",
        "",
        "| contender | wall s | x SDK batch | requests | 429s | reported cancelled | left open |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        lines.append(
            f"| {name} | {row['wall']:.2f} | {row['wall'] / reference:.2f}"
            f" | {int(row['requests'])} | {int(row['429s'])} | {int(row['said'])}"
            f" | {int(row['open'])} |"
        )
    ratio = rows[OURS]["wall"] / rows[SDK_PACED]["wall"]
    lines += [
        "",
        "The unpaced SDK batch sends its calls back to back, outside the published limit",
        "(see its 429s and what it left open); the paced row sends the same calls as the",
        "limit requires: one at a time, 300 ms from each answer to the next call. That is",
        "also the schedule the limit leaves cancelkit (a call's arrival is known only to",
        "precede its answer), so the two walls differ only by each client's own time.",
        "",
        "| goal | ratio of walls | met |",
        "|---|---|---|",
        f"| cancelkit cancel_orders no slower than the SDK's batch path (paced) | {ratio:.3f}"
        f" | {'yes' if ratio <= 1.0 else 'no'} |",
        "",
    ]
    return lines

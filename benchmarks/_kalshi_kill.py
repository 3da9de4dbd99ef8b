"""Kill switch on Kalshi at the Basic tier (the sandbox enforcing its token buckets):
cancelkit's cancel by ids (batches as large as the Write bucket holds, confirmed by the
resting listing) and its cancel-all (confirmed by listing), against the bucket's floor."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from typing import Any

from ._sandbox import SandboxProcess

TIER = "basic"
WRITE_RATE = 100.0  # Basic: tokens per second into the Write bucket
WRITE_CAPACITY = 100.0  # Basic: tokens the Write bucket holds (1 s of budget)
COST = 2  # tokens per order cancelled, single or batch
KEY = "rsa"  # the key type of the kill runs (the signature is not what limits them)
BY_IDS = "cancelkit cancel_orders (by ids, batches of 50)"
BY_ALL = "cancelkit cancel_all (cancel-all, confirmed by listing)"
IDS_GOAL = 1.1  # issue 32: by ids at most 1.1 x the bucket's floor
ALL_GOAL = 1.0  # issue 32: --all under 1 s at any count up to 10,000
SETTLE = 1.2  # seconds between runs: the Write bucket full again (1 s at Basic)


def floor(count: int) -> float:
    """Seconds the Basic Write bucket needs for ``count`` cancels, starting full."""
    return max(0.0, (count * COST - WRITE_CAPACITY) / WRITE_RATE)


def _outcomes(results: list[Any]) -> str:
    said = Counter(r.status for r in results)
    return ", ".join(f"{n} {status}" for status, n in sorted(said.items()))


def measure(box: SandboxProcess, by: str, count: int, rounds: int) -> dict[str, Any]:
    """``count`` resting orders killed ``rounds`` times by ids (``by="ids"``) or by
    cancel-all (``by="all"``), through the library's async client at the Basic tier;
    the run of median wall time, with the sandbox's counts for it."""
    from cancelkit.kalshi._client import AsyncKalshiClient

    key_id, pem = box.kalshi_keys[KEY]
    box.kalshi_knobs(validate=True, limits=True)
    runs = []
    for _ in range(rounds):
        ids = [str(uuid.uuid4()) for _ in range(count)]
        box.kalshi_seed(ids, KEY)
        time.sleep(SETTLE)
        box.clear_requests()

        async def run(ids: list[str] = ids) -> list[Any]:
            async with AsyncKalshiClient(key_id, pem, base_url=box.kalshi_url, tier=TIER) as k:
                if by == "ids":
                    return await k.cancel_orders(ids)
                return await k.cancel_all()

        started = time.perf_counter()
        results = asyncio.run(run())
        wall = time.perf_counter() - started
        arrivals = [a for a in box.arrivals() if a.venue == "kalshi"]
        runs.append(
            {
                "wall": wall,
                "requests": len(arrivals),
                "429s": sum(a.status == 429 for a in arrivals),
                "outcomes": _outcomes(results),
                "cancelled": sum(r.status in ("cancelled", "not_open") for r in results),
                "resting": box.kalshi_resting(ids),
            }
        )
    return sorted(runs, key=lambda r: r["wall"])[len(runs) // 2]


def table(rows: dict[tuple[str, int], dict[str, Any]], rounds: int) -> list[str]:
    """The results section: every (way, count) row, and the goals."""
    lines = [
        "## Kalshi: kill switch at the Basic tier (sandbox enforcing the token buckets)",
        "",
        "The sandbox enforces Basic's buckets (Write: 100 tokens/s, 100 held; Read: 200/s)",
        "and answers 429 beyond them. By ids: `cancel_orders`, `BatchCancelOrdersV2` of",
        "50 (what the Write bucket holds at 2 tokens per order), each order `cancelled`",
        "only when its entry says so and the resting listing no longer shows it. By",
        "`--all`: `cancel_all`, one `CancelAllOrders` (2 tokens) between listings of",
        "resting orders (Read bucket). The floor is the Write bucket's: 2 tokens per",
        "order at 100/s beyond the full 100 held at the start (300 orders: 5.0 s).",
        f"Through the library's async client, {KEY.upper()} key; each row is the run of",
        f"median wall time of {rounds}; requests and 429s are the sandbox's log for that run.",
        "",
        "| way | orders | wall s | floor s | x floor | requests | 429s | outcomes | left resting |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (by, count), row in rows.items():
        name = BY_IDS if by == "ids" else BY_ALL
        bucket = floor(count) if by == "ids" else 0.0
        ratio = f"{row['wall'] / bucket:.3f}" if bucket else "n/a"
        lines.append(
            f"| {name} | {count} | {row['wall']:.3f} | {bucket:.1f} | {ratio}"
            f" | {row['requests']} | {row['429s']} | {row['outcomes']} | {row['resting']} |"
        )
    lines += ["", "| goal | figure | met |", "|---|---|---|"]
    for (by, count), row in rows.items():
        clean = row["429s"] == 0 and row["resting"] == 0
        if by == "ids":
            ratio = row["wall"] / floor(count)
            lines.append(
                f"| {count} by ids: <= {IDS_GOAL} x floor, 0 x 429, 0 left resting"
                f" | {ratio:.3f} x, {row['429s']} x 429, {row['resting']} resting"
                f" | {'yes' if ratio <= IDS_GOAL and clean else 'no'} |"
            )
        else:
            lines.append(
                f"| {count} by --all: < {ALL_GOAL:.0f} s, 0 x 429, 0 left resting"
                f" | {row['wall']:.3f} s, {row['429s']} x 429, {row['resting']} resting"
                f" | {'yes' if row['wall'] < ALL_GOAL and clean else 'no'} |"
            )
    lines.append("")
    return lines

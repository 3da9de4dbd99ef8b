"""Fault soak: 1,000 cancels through the async clients while the sandbox misbehaves.

Bounded (well under 60 s, loopback only) and self-stopping.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from uuid import UUID

import pytest
from cancelkit import CancelResult
from cancelkit._generated.limitless_api.models import CancelByOrderId
from cancelkit.sandbox import Sandbox

# Bound: every fault is decided per (order, attempt) from the seed, so a run cannot
# differ from the last by chance, and no order meets more than MAX_STREAK faults in
# a row. The clients run at exactly the sandbox's real limit, which their limiter
# never exceeds (0 real 429s by construction); the 429s met are injected ones.
# Bulk cancels retry until their deadline (60 s), far beyond MAX_STREAK capped backoffs:
# no order can run out of attempts.
MAX_STREAK = 3
RATE = 50
FAULTS = {
    "failure_rate": 0.2,  # 500 before the cancel takes effect
    "drop_rate": 0.05,  # connection dropped after it took effect
    # 429 as from a rate limit: each one pauses the client's limiter >= 1 s and halves
    # it (as a real 429 should), so a few are enough to exercise that.
    "throttle_rate": 0.03,
    "spike_rate": 0.1,
    "spike_latency": 0.3,
    "rate_limit": RATE,
    "max_fault_streak": MAX_STREAK,
    "seed": 20261122,
}


pytestmark = pytest.mark.faults


def test_a_thousand_cancels_under_faults_leave_nothing_open(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    box.set_knobs(**FAULTS)
    pm_ids = [box.seed_polymarket(f"soak-{i:04d}").id for i in range(500)]
    # Fixed ids: the dice are keyed by request content, so every run meets the same faults.
    lm_targets = [
        CancelByOrderId(order_id=UUID(box.seed_limitless(str(UUID(int=i))).id)) for i in range(500)
    ]

    async def main() -> tuple[list[CancelResult[Any]], list[CancelResult[Any]]]:
        async with (
            box.async_polymarket_client() as pm,
            box.async_limitless_client() as lm,
        ):
            return await asyncio.wait_for(
                asyncio.gather(
                    pm.cancel_orders(pm_ids, concurrency=16, max_rate=RATE),
                    lm.cancel_orders(lm_targets, concurrency=16, max_rate=RATE),
                ),
                timeout=90,
            )

    started = time.perf_counter()
    pm_results, lm_results = asyncio.run(main())  # no exception may escape
    elapsed = time.perf_counter() - started

    assert [r.target for r in pm_results] == pm_ids  # each reported exactly once, in order
    assert [r.target for r in lm_results] == lm_targets
    results = pm_results + lm_results
    assert [r for r in results if not r.ok] == []
    assert box.open_orders() == []
    assert all(
        o.cancel_count == 1 for b in (box.polymarket, box.limitless) for o in b.orders.values()
    )

    pm_stats, lm_stats = box.polymarket.stats, box.limitless.stats
    requests = pm_stats.requests + lm_stats.requests
    gone = sum(r.status == "not_open" for r in results)
    faults = {
        "500": pm_stats.failures_injected + lm_stats.failures_injected,
        "drop": pm_stats.drops_injected + lm_stats.drops_injected,
        "429": pm_stats.rate_limited + lm_stats.rate_limited,
        "spike": pm_stats.spikes_injected + lm_stats.spikes_injected,
    }
    assert all(faults.values()), faults
    print(
        f"\nsoak: 1000 cancels in {elapsed:.1f} s, {requests} requests,"
        f" faults met {faults}, {gone} not open after a drop (their cancel had landed), 0 open"
    )

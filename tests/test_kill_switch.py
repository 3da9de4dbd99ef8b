"""Bulk cancel: rate-limited, fault-tolerant, one result per order in input order."""

from __future__ import annotations

import asyncio
import time
from uuid import UUID, uuid4

import httpx
import pytest
from cancelkit import (
    AsyncPolymarketUSClient,
    InvalidRequest,
    OrderNotFound,
    PolymarketUSClient,
)
from cancelkit.sandbox import Sandbox
from conftest import PM_KEY_ID, PM_SECRET_32, Script
from limitless_api.models import CancelByClientOrderId, CancelByOrderId

pytestmark = pytest.mark.faults


@pytest.mark.cancelkit_sandbox(rate_limit=20)
def test_300_orders_under_the_documented_limit_draw_no_429(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    ids = [box.seed_polymarket(f"kill-{i:03d}").id for i in range(300)]
    started = time.perf_counter()
    with box.polymarket_client() as pm:
        results = pm.cancel_orders(ids)
    elapsed = time.perf_counter() - started
    assert [r.target for r in results] == ids
    assert {r.status for r in results} == {"cancelled"}
    assert box.polymarket.stats.rate_limited == 0
    assert box.open_orders() == []
    print(f"\n300 cancels at 20/s: {elapsed:.2f} s, 0 x 429, 0 open")


# Bound: the clients run at the sandbox's limit (0 x 429 by construction), every
# fault is decided per (order, attempt) from the seed, and no order meets more than
# 3 faults in a row; 6 retries (7 attempts) therefore cannot run out.
@pytest.mark.cancelkit_sandbox(
    rate_limit=20, failure_rate=0.2, drop_rate=0.1, seed=7, max_fault_streak=3
)
def test_the_batch_survives_500s_and_dropped_connections(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    ids = [box.seed_polymarket(f"fault-{i:03d}").id for i in range(300)]

    async def main() -> list[object]:
        async with box.async_polymarket_client(max_retries=6) as pm:
            return await pm.cancel_orders(ids)  # type: ignore[no-any-return]

    results = asyncio.run(main())
    assert [r.target for r in results] == ids  # type: ignore[attr-defined]
    assert all(r.ok for r in results), [r for r in results if not r.ok]  # type: ignore[attr-defined]
    assert box.open_orders() == []
    stats = box.polymarket.stats
    assert stats.failures_injected > 0
    assert stats.drops_injected > 0
    assert all(o.cancel_count == 1 for o in box.polymarket.orders.values())
    gone = sum(r.status == "already_gone" for r in results)  # type: ignore[attr-defined]
    print(
        f"\nfaults: {stats.failures_injected} x 500, {stats.drops_injected} drops,"
        f" {stats.rate_limited} x 429; {gone} reported already gone after a drop"
    )


def test_invalid_targets_and_duplicates() -> None:
    script = Script([httpx.Response(200), httpx.Response(404, json={"message": "gone"})])
    with PolymarketUSClient(PM_KEY_ID, PM_SECRET_32, transport=script.transport) as pm:
        results = pm.cancel_orders(["a", "..", "b", "a", ""], concurrency=1, max_rate=None)
    assert len(script.requests) == 2
    assert [r.status for r in results] == [
        "cancelled",
        "failed",
        "already_gone",
        "cancelled",
        "failed",
    ]
    assert isinstance(results[1].error, InvalidRequest)
    assert results[1].attempts == 0
    assert results[3].duplicate_of == 0
    assert results[2].message == "gone"


def test_missing_ok_false_reports_not_found_as_failed() -> None:
    script = Script([httpx.Response(404, json={"message": "gone"})])
    with PolymarketUSClient(PM_KEY_ID, PM_SECRET_32, transport=script.transport) as pm:
        (result,) = pm.cancel_orders(["a"], missing_ok=False)
    assert result.status == "failed"
    assert isinstance(result.error, OrderNotFound)


def test_limitless_targets_say_which_identifier_they_are(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    sub = box.credentials.limitless_sub_account
    a = box.seed_limitless(owner=sub)
    b = box.seed_limitless(client_order_id="cli-9", owner=sub)
    targets = [
        CancelByOrderId(order_id=UUID(a.id)),
        CancelByClientOrderId(client_order_id="cli-9"),
        CancelByClientOrderId(client_order_id="x" * 200),
        CancelByOrderId(order_id=uuid4()),
    ]
    with box.limitless_client() as lm:
        results = lm.cancel_orders(targets, on_behalf_of=sub)
    assert [r.status for r in results] == ["cancelled", "cancelled", "failed", "already_gone"]
    assert results[0].message == "Order canceled successfully"
    assert isinstance(results[2].error, InvalidRequest)
    assert a.status == b.status == "cancelled"


@pytest.mark.parametrize(("concurrency", "max_rate"), [(0, 20.0), (8, 0), (8, -1.0)])
def test_bad_batch_settings_are_refused_before_sending(concurrency: int, max_rate: float) -> None:
    script = Script()
    client = AsyncPolymarketUSClient(PM_KEY_ID, PM_SECRET_32, transport=script.transport)
    with pytest.raises(InvalidRequest):
        asyncio.run(client.cancel_orders(["a"], concurrency=concurrency, max_rate=max_rate))
    assert script.requests == []


def test_a_sync_only_transport_is_refused_for_bulk_cancels() -> None:
    transport = httpx.HTTPTransport()
    with (
        PolymarketUSClient(PM_KEY_ID, PM_SECRET_32, transport=transport) as pm,
        pytest.raises(InvalidRequest, match="AsyncBaseTransport"),
    ):
        pm.cancel_orders(["a"])


def test_one_surprise_or_a_broken_progress_callback_does_not_abort_the_batch() -> None:
    script = Script([httpx.Response(200), httpx.Response(200)])

    def flaky(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/order/boom/cancel":
            raise RuntimeError("a bug somewhere below")
        return script(request)

    seen: list[str] = []

    def progress(result: object) -> None:
        seen.append(result.target)  # type: ignore[attr-defined]
        raise ValueError("progress bar crashed")

    transport = httpx.MockTransport(flaky)
    with PolymarketUSClient(PM_KEY_ID, PM_SECRET_32, transport=transport) as pm:
        results = pm.cancel_orders(["a", "boom", "b"], concurrency=1, on_result=progress)
    assert [r.status for r in results] == ["cancelled", "failed", "cancelled"]
    assert "RuntimeError: a bug somewhere below" in str(results[1].error)
    assert sorted(seen) == ["a", "b", "boom"]

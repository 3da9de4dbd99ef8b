"""One limiter per client (issue 20). Limitless: the published pace (2 in flight, 300 ms
apart, per token) holds for everything a client sends at once, a single cancel or a
lookup during a bulk call included, sync and async; a single call waits for its slot
no longer than its timeout. Polymarket: single calls made while a bulk call's windows
count take their slots from them."""

from __future__ import annotations

import asyncio
import threading
import time
from uuid import UUID

import anyio
import pytest
from cancelkit import CancelByOrderId, CancelResult
from cancelkit._limiter import GLOBAL, DeadlinePassed
from cancelkit.sandbox import Sandbox

MARKET = "btc-100k"


@pytest.mark.cancelkit_sandbox(published_limits=True)
def test_single_cancels_during_a_bulk_call_keep_the_pace_sync(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    bulk = [box.seed_limitless(market_slug=MARKET).id for _ in range(150)]  # 3 batches
    single = [box.seed_limitless(market_slug=MARKET).id for _ in range(4)]
    first_answer = threading.Event()
    results: list[CancelResult[CancelByOrderId]] = []

    def on_result(_: object) -> None:
        first_answer.set()

    with box.limitless_client() as lm:

        def run_bulk() -> None:
            targets = [CancelByOrderId(order_id=UUID(i)) for i in bulk]
            results.extend(lm.cancel_orders(targets, on_result=on_result, deadline=30))

        worker = threading.Thread(target=run_bulk)
        worker.start()
        # The bulk call has sent its first batch and is about to send the next:
        # without one limiter, these would arrive within 300 ms of it (429).
        assert first_answer.wait(30)
        messages = [lm.cancel_order(order_id=i) for i in single]
        assert lm.order_status([CancelByOrderId(order_id=UUID(single[0]))])
        worker.join(60)
    assert [r.status for r in results] == ["cancelled"] * len(bulk)
    assert len(messages) == len(single)
    assert box.open_orders() == []
    assert box.limitless.stats.rate_limited == 0


@pytest.mark.cancelkit_sandbox(published_limits=True)
def test_single_cancels_during_a_bulk_call_keep_the_pace_async(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    bulk = [box.seed_limitless(market_slug=MARKET).id for _ in range(150)]
    single = [box.seed_limitless(market_slug=MARKET).id for _ in range(4)]

    async def main() -> list[str]:
        async with box.async_limitless_client() as lm:
            targets = [CancelByOrderId(order_id=UUID(i)) for i in bulk]
            run = asyncio.ensure_future(lm.cancel_orders(targets, deadline=30))
            singles = await asyncio.gather(*(lm.cancel_order(order_id=i) for i in single))
            assert [r.status for r in await run] == ["cancelled"] * len(bulk)
            return list(singles)

    assert len(asyncio.run(main())) == len(single)
    assert box.open_orders() == []
    assert box.limitless.stats.rate_limited == 0


def test_a_single_call_waits_for_a_slot_no_longer_than_its_timeout(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    order = box.seed_limitless(market_slug=MARKET).id

    async def main() -> None:
        async with box.async_limitless_client(timeout=0.2) as lm:
            token = lm._token_pace()
            async with token.slot(GLOBAL):  # another request of this client holds it
                with anyio.fail_after(5), pytest.raises(DeadlinePassed, match="no slot within"):
                    await lm.cancel_order(order_id=order)
            await anyio.sleep(0.35)  # the published 300 ms after the slot's release
            await lm.cancel_order(order_id=order)  # free again: sent

    asyncio.run(main())
    assert box.open_orders() == []


@pytest.mark.cancelkit_sandbox(rate_limit=20)
def test_polymarket_single_cancels_during_a_bulk_call_share_its_windows(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    bulk = [box.seed_polymarket(f"b-{i}").id for i in range(400)]
    single = [box.seed_polymarket(f"s-{i}").id for i in range(10)]
    first_answer = threading.Event()
    results: list[CancelResult[str]] = []
    with box.polymarket_client() as pm:

        def run_bulk() -> None:
            results.extend(pm.cancel_orders(bulk, on_result=lambda _: first_answer.set()))

        worker = threading.Thread(target=run_bulk)
        worker.start()
        assert first_answer.wait(30)
        for order_id in single:  # during the bulk call, and right after it
            pm.cancel_order(order_id)
        worker.join(60)
    assert len(results) == len(bulk)
    assert all(r.ok for r in results)  # cancelled, or not open (not asked in time)
    assert box.open_orders() == []
    assert box.polymarket.stats.rate_limited == 0  # 4-5 x 429 without the shared windows


def test_an_unpaced_client_sends_single_calls_as_they_come(cancelkit_sandbox: Sandbox) -> None:
    """``paced=False`` (raised limits, a sandbox without them): single cancels go out
    directly, the sync client's without its loop thread; the default keeps 300 ms
    between calls, so three calls take at least 0.6 s."""
    box = cancelkit_sandbox
    ids = [box.seed_limitless(market_slug=MARKET).id for _ in range(9)]
    before = set(threading.enumerate())
    with box.limitless_client(paced=False) as lm:
        assert all(lm.cancel_order(order_id=i) for i in ids[:3])
        assert set(threading.enumerate()) <= before  # no new loop thread: the direct path

    async def unpaced() -> list[str]:
        async with box.async_limitless_client(paced=False) as lm:
            return [await lm.cancel_order(order_id=i) for i in ids[3:6]]

    assert len(asyncio.run(unpaced())) == 3
    started = time.monotonic()
    with box.limitless_client() as lm:
        assert all(lm.cancel_order(order_id=i) for i in ids[6:])
    assert time.monotonic() - started >= 0.6  # two spacings: the pace is a lower bound
    assert box.open_orders() == []

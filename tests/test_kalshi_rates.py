"""Kalshi's token buckets: the published table per tier, and the limiter's bucket
(a cost per request, a batch whole or not at all, a 429 that empties and slows it)."""

from __future__ import annotations

import time

import anyio
import pytest
from cancelkit import InvalidRequest
from cancelkit._limiter import Bucket, DeadlinePassed, Limiter, Spend
from cancelkit.kalshi import _rates as rates
from cancelkit.kalshi._client import AsyncKalshiClient
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from helpers import secret_pem


def test_the_published_tiers_and_costs() -> None:
    expected = {
        # tier: (read/s, write/s, write bucket, batch size)
        "basic": (200, 100, 100, 50),
        "advanced": (300, 300, 900, 450),
        "expert": (600, 600, 1800, 900),
        "premier": (1200, 1200, 3600, 1800),
        "paragon": (2400, 2400, 7200, 3600),
        "prime": (4800, 4800, 14400, 7200),
        "prestige": (12000, 9600, 28800, 14400),
    }
    assert set(rates.TIERS) == set(expected)
    for tier, (read, write, capacity, batch) in expected.items():
        budgets = rates.tier_budgets(tier)
        assert (budgets.read, budgets.write, budgets.write_capacity) == (read, write, capacity)
        assert rates.batch_size(tier) == batch
        spends = rates.spends(tier)
        for operation in (rates.CANCEL, rates.CANCEL_BATCH, rates.CANCEL_ALL):
            (spend,) = spends[operation]
            assert (spend.bucket.rate, spend.bucket.capacity, spend.cost) == (write, capacity, 2)
        assert spends[rates.GET_ORDER][0].cost == 2
        assert spends[rates.LIST][0].cost == 10
        assert spends[rates.LIST][0].bucket.rate == read


@pytest.mark.parametrize("tier", ["", "Basic", "gold", 1, None])
def test_an_unknown_tier_is_refused_naming_the_tiers(tier: object) -> None:
    with pytest.raises(InvalidRequest, match="Kalshi tier must be"):
        rates.spends(tier)


def test_each_cost_is_taken_from_its_own_bucket_shared_by_its_operations() -> None:
    async def main() -> None:
        limiter = Limiter(rates.spends("basic"))
        # 100 Write tokens at 2 each: 50 requests, whichever Write endpoint sends them.
        for _ in range(25):
            async with limiter.slot(rates.CANCEL):
                pass
        async with limiter.slot(rates.CANCEL_BATCH, units=24):
            pass
        assert limiter.admits(rates.CANCEL_ALL)
        async with limiter.slot(rates.CANCEL_ALL):
            pass
        # 50 requests' worth taken in microseconds: no whole cancel is left (refill is
        # 100/s, so this holds for the next 10 ms at least).
        assert not limiter.admits(rates.CANCEL)
        # The Read bucket is another one.
        assert limiter.admits(rates.GET_ORDER)
        assert limiter.admits(rates.LIST, units=20)  # 200 tokens: a second of Read
        # A view (a single call beside a bulk one) shares the same buckets.
        assert not limiter.view().admits(rates.CANCEL_ALL)

    anyio.run(main)


def test_a_batch_the_bucket_can_never_hold_is_refused_before_any_wait() -> None:
    async def main() -> None:
        limiter = Limiter(rates.spends("basic"))
        with pytest.raises(InvalidRequest, match="never fits the basic write bucket of 100"):
            async with limiter.slot(rates.CANCEL_BATCH, units=51):
                raise AssertionError("admitted")  # pragma: no cover
        # The largest that fits goes at once, on a full bucket.
        async with limiter.slot(rates.CANCEL_BATCH, units=rates.batch_size("basic")):
            pass
        assert not limiter.admits(rates.CANCEL)

    anyio.run(main)


def test_a_wait_past_the_deadline_is_refused_at_once() -> None:
    slow = Bucket("slow", rate=0.001, capacity=2)  # a new token every 1,000 s

    async def main() -> None:
        limiter = Limiter({"op": [Spend(slow, 2)]})
        async with limiter.slot("op"):
            pass
        with anyio.fail_after(10), pytest.raises(DeadlinePassed, match="after the deadline"):
            # refused without waiting for the deadline (30 s away)
            async with limiter.slot("op", deadline=time.monotonic() + 30):
                raise AssertionError("admitted")  # pragma: no cover

    anyio.run(main)


def test_admissions_never_exceed_the_bucket_over_any_interval() -> None:
    # A small fast bucket so the run is short; the property is the bucket's own:
    # tokens taken in [t_i, t_j] <= capacity + rate * (t_j - t_i).
    bucket = Bucket("w", rate=2000.0, capacity=20.0)
    taken: list[tuple[float, float]] = []

    async def main() -> None:
        limiter = Limiter({"one": [Spend(bucket, 2)], "batch": [Spend(bucket, 2)]})

        (tokens,) = limiter._buckets.values()

        async def worker(operation: str, units: int) -> None:
            for _ in range(15):
                async with limiter.slot(operation, units=units):
                    # The instant the bucket admitted it (the loop's clock, read once
                    # by the bucket): a clock read here could come a task switch later.
                    taken.append((tokens._at or 0.0, 2.0 * units))

        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                group.start_soon(worker, "one", 1)
                group.start_soon(worker, "batch", 7)
                group.start_soon(worker, "one", 1)

    anyio.run(main)
    assert len(taken) == 45
    for i, (start, _) in enumerate(taken):
        spent = 0.0
        for moment, cost in taken[i:]:
            spent += cost
            assert spent <= bucket.capacity + bucket.rate * (moment - start) + 1e-6


def test_a_429_empties_the_bucket_pauses_and_halves_its_rate() -> None:
    bucket = Bucket("w", rate=100.0, capacity=100.0)

    async def main() -> None:
        limiter = Limiter({"op": [Spend(bucket, 2)]})
        (tokens,) = limiter._buckets.values()
        assert limiter.admits("op")
        limiter.refused("op", None)  # Kalshi sends no Retry-After
        assert tokens.rate == 50.0
        assert tokens.tokens == 0.0
        assert not limiter.admits("op")
        # The other answers of the same burst do not halve it again.
        limiter.refused("op", None)
        assert tokens.rate == 50.0
        # Paused at least 1 s: a deadline inside the pause is refused at once.
        with pytest.raises(DeadlinePassed):
            await limiter.ready("op", deadline=time.monotonic() + 0.5)

    anyio.run(main)


def test_a_wait_for_tokens_lasts_as_long_as_the_refill_needs() -> None:
    bucket = Bucket("w", rate=200.0, capacity=10.0)

    async def main() -> float:
        limiter = Limiter({"op": [Spend(bucket, 10)]})
        # The refill starts when the bucket is emptied, so the clock starts before that:
        # timed from after it, a wait can end a few hundred microseconds short of 50 ms.
        started = anyio.current_time()
        async with limiter.slot("op"):
            pass
        with anyio.fail_after(30):
            async with limiter.slot("op"):
                pass
        return anyio.current_time() - started

    waited = anyio.run(main)
    # Never early: 10 tokens at 200/s is 50 ms (an upper bound would be a speed test).
    assert waited >= 10 / 200 - 1e-9  # float rounding only


def test_a_client_paces_under_the_published_refill_so_an_early_arrival_is_no_429() -> None:
    # A batch as large as the Write bucket empties it; the exchange has it whole
    # again one second later, counted at arrival. A next batch sent at exactly one
    # second and arriving 5 ms earlier than its predecessor did (which opened the
    # connection) would be refused: the client waits 3% longer than a whole refill.
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    published = rates.buckets("basic")[rates.WRITE]
    full = published.capacity  # one batch of rates.batch_size("basic") orders

    async def main() -> None:
        client = AsyncKalshiClient("key", secret_pem(pem.decode()), base_url="http://127.0.0.1:9")
        try:
            (write,) = [
                t for b, t in client._buckets()._buckets.items() if b.name == published.name
            ]
            write.tokens, write._at = 0.0, 0.0  # a whole batch taken at t = 0
            refilled = full / published.rate  # when the exchange's bucket is full again
            assert not write._admits(refilled + 0.005, full)
            assert write._admits(refilled / rates.CLIENT_RATE_SHARE + 1e-9, full)
        finally:
            await client.close()

    anyio.run(main)

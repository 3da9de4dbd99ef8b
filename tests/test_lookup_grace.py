"""A Polymarket kill switch that the listing has confirmed does not sit waiting for the
rate limit only to tell cancelled from filled: it asks while a slot is free at once,
and reports the rest as the listing left them (not open, not asked); a cancel-all's
check for what it left open reads the listing that confirmed it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import anyio
import pytest
from cancelkit import Control
from cancelkit._generated.polymarket_us_api.models import Order, OrderState
from cancelkit._limiter import GLOBAL, Budget, Limiter
from cancelkit.polymarket import _kill


class Book:
    """An exchange in memory: a cancel takes effect at once; every request counts. A
    cancel-all leaves the ``stuck`` orders open, unnamed."""

    def __init__(self, ids: Iterable[str], stuck: Iterable[str] = ()) -> None:
        self.open = {i: "m-1" for i in ids}
        self.stuck = set(stuck)
        self.cancelled: set[str] = set()
        self.asked: list[str] = []
        self.listings = 0

    async def list_open(
        self, slugs: Iterable[str] | None, limiter: Limiter | None, deadline: float | None
    ) -> list[Order]:
        assert limiter is not None
        async with limiter.slot(GLOBAL, deadline):
            self.listings += 1
            return [
                Order(id=i, market_slug=m, state=OrderState.ORDER_STATE_NEW)
                for i, m in self.open.items()
                if slugs is None or m in slugs
            ]

    async def get_one(
        self, order_id: str, limiter: Limiter | None, deadline: float | None
    ) -> Order:
        assert limiter is not None
        async with limiter.slot(GLOBAL, deadline):
            self.asked.append(order_id)
            await anyio.sleep(0.01)  # in flight a while: the other workers run meanwhile
            return Order(id=order_id, market_slug="m-1", state=OrderState.ORDER_STATE_CANCELED)

    async def cancel_batch(
        self, entries: Sequence[tuple[str, str]], limiter: Limiter | None, deadline: float | None
    ) -> None:
        assert limiter is not None
        async with limiter.slot(GLOBAL, deadline):
            for order_id, _ in entries:
                self.open.pop(order_id, None)
                self.cancelled.add(order_id)

    async def cancel_open(
        self, slugs: Sequence[str], limiter: Limiter | None, deadline: float | None
    ) -> list[str]:
        assert limiter is not None
        async with limiter.slot(GLOBAL, deadline):
            named = [
                i for i, m in self.open.items() if (not slugs or m in slugs) and i not in self.stuck
            ]
            for order_id in named:
                del self.open[order_id]
                self.cancelled.add(order_id)
            return named


def test_a_confirmed_run_asks_only_while_a_slot_is_free(monkeypatch: pytest.MonkeyPatch) -> None:
    # Four requests per 30 s: the listing, the batch and the confirming listing leave
    # one slot, so one lookup goes at once; the next slot is 30 s away. However long
    # the grace, the run does not wait for it (the old rule waited out the grace).
    monkeypatch.setattr(_kill, "LOOKUP_GRACE", 3600.0)
    ids = [f"ord-{n}" for n in range(5)]
    book = Book(ids)
    limiter = Limiter({GLOBAL: [Budget(4, 30.0)]})

    async def run() -> list[_kill.CancelResult[str]]:
        with anyio.fail_after(20):  # well inside the 30 s the next slot would take
            return await _kill.cancel_listed(
                book,
                ids,
                market_slug=None,
                limiter=limiter,
                control=Control(60),
                concurrency=4,
                missing_ok=False,
                on_result=None,
            )

    results = anyio.run(run)
    assert book.cancelled == set(ids)
    assert len(book.asked) == 1
    by_id = {r.target: r for r in results}
    # The one asked is cancelled on the exchange's word; the rest only left the
    # listing: not open, never guessed to be cancelled.
    assert by_id[book.asked[0]].status == "cancelled"
    rest = [by_id[i] for i in ids if i != book.asked[0]]
    assert {r.status for r in rest} == {"not_open"}
    assert all("not asked" in r.message for r in rest)
    assert all(r.ok for r in results)


@pytest.mark.parametrize("markets", [None, ["m-1"]])
def test_what_a_cancel_all_left_listed_is_reported_from_the_confirming_listing(
    markets: list[str] | None,
) -> None:
    # A cancel-all that leaves an order of its markets open, unnamed, is told by the
    # listing that confirmed the others gone; an order of another market is not its
    # business. One listing: the run does not list again (and wait for a slot) to
    # learn what that listing said.
    book = Book([f"ord-{n}" for n in range(5)], stuck=["ord-4"])
    book.open["elsewhere"] = "m-2"
    book.stuck.add("elsewhere")
    limiter = Limiter({GLOBAL: [Budget(20, 1.0)]})
    seen: list[_kill.CancelResult[str]] = []

    async def run() -> list[_kill.CancelResult[str]]:
        with anyio.fail_after(20):
            return await _kill.cancel_all(
                book,
                market_slugs=markets,
                limiter=limiter,
                control=Control(60),
                on_result=seen.append,
            )

    results = anyio.run(run)
    # Every result returned reached on_result, once: the orders the listing found still
    # open too (they were returned only, so a caller's callback never heard of them).
    assert sorted(map(id, seen)) == sorted(map(id, results))
    by_id = {r.target: r for r in results}
    assert {by_id[f"ord-{n}"].status for n in range(4)} <= {"cancelled", "not_open"}
    assert by_id["ord-4"].status == "failed"
    assert "still open after cancel-all" in by_id["ord-4"].message
    assert ("elsewhere" in by_id) == (markets is None)
    assert book.listings == 1

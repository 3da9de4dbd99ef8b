"""A bulk call's ``on_result`` that raises (issue 31): the run stops as an interrupt
would, every outcome is still recorded, and the call raises ``OnResultFailed`` at
its end with the callback's exception as its cause. Judged by the sandbox's book."""

from __future__ import annotations

import threading
from typing import Any
from uuid import UUID

import anyio
import pytest
from cancelkit import (
    OUTCOMES,
    CancelByOrderId,
    CancelResult,
    Control,
    OnResultFailed,
    StopReason,
)
from cancelkit.sandbox import Sandbox


class Broken(Exception):
    """The caller's own failure (its ledger, its risk system)."""


class Callback:
    """Raises on the ``fail_on``-th call; remembers every call and its thread."""

    def __init__(self, fail_on: int = 1) -> None:
        self.fail_on = fail_on
        self.seen: list[CancelResult[Any]] = []
        self.threads: set[str] = set()

    def __call__(self, result: CancelResult[Any]) -> None:
        self.seen.append(result)
        self.threads.add(threading.current_thread().name)
        if len(self.seen) == self.fail_on:
            raise Broken(f"cannot record {result.target}")


def _run(flavour: str, box: Sandbox, venue: str, targets: list[Any], **kwargs: Any) -> Any:
    if flavour == "sync":
        client: Any = box.polymarket_client() if venue == "pm" else box.limitless_client()
        with client:
            return client.cancel_orders(targets, **kwargs)

    async def main() -> Any:
        client: Any = (
            box.async_polymarket_client() if venue == "pm" else box.async_limitless_client()
        )
        async with client:
            return await client.cancel_orders(targets, **kwargs)

    return anyio.run(main)


def _targets(box: Sandbox, venue: str, count: int, start: int) -> tuple[list[Any], list[str]]:
    """An invalid target first (its not_sent outcome comes before anything is sent),
    then ``count`` open orders; also their ids on the book."""
    if venue == "pm":
        ids = [box.seed_polymarket(f"cb-{start + i}").id for i in range(count)]
        return ["..", *ids], ids  # a dot-segment: refused before sending
    ids = [box.seed_limitless(str(UUID(int=start + i))).id for i in range(count)]
    return [
        CancelByOrderId(order_id="not-a-uuid"),  # type: ignore[arg-type]
        *(CancelByOrderId(order_id=UUID(i)) for i in ids),
    ], ids


@pytest.mark.parametrize("venue", ["pm", "lm"])
@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_raising_on_result_stops_the_run_and_is_raised_with_every_outcome(
    cancelkit_sandbox: Sandbox, flavour: str, venue: str
) -> None:
    box = cancelkit_sandbox
    start = 1000 * (("sync", "async").index(flavour) + 1)
    targets, ids = _targets(box, venue, 5, start)
    callback = Callback(fail_on=1)
    control = Control(30)
    with pytest.raises(OnResultFailed) as caught:
        _run(flavour, box, venue, targets, on_result=callback, control=control)
    error = caught.value
    assert isinstance(error.__cause__, Broken)  # the caller's exception, chained
    assert "Broken" in str(error)
    assert control.stop_reason is StopReason.CALLBACK
    # Every requested order has its outcome, in input order, though the run stopped.
    assert [r.index for r in error.results] == list(range(len(targets)))
    assert all(r.status in OUTCOMES for r in error.results)
    assert error.results[0].status == "not_sent"  # the invalid one, announced first
    # Nothing new was sent after the callback failed: the orders are all still open.
    assert [r.status for r in error.results[1:]] == ["not_sent"] * len(ids)
    assert {o.id for o in box.open_orders()} >= set(ids)
    assert len(callback.seen) == 1  # not called again once it raised
    if flavour == "sync":  # documented: a sync client calls it on its bulk thread
        assert callback.threads == {"cancelkit-bulk"}


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_callback_failing_mid_run_leaves_no_order_misreported(
    cancelkit_sandbox: Sandbox, flavour: str
) -> None:
    """Failing on a later outcome: what was sent is answered and confirmed, what
    was not is ``not_sent`` (and still open), and ``cancelled`` means off the book."""
    box = cancelkit_sandbox
    start = 5000 if flavour == "sync" else 6000
    ids = [box.seed_polymarket(f"mid-{start + i}").id for i in range(45)]
    callback = Callback(fail_on=3)
    with pytest.raises(OnResultFailed) as caught:
        _run(flavour, box, "pm", ids, on_result=callback, concurrency=1)
    results = caught.value.results
    assert [r.target for r in results] == ids
    assert len(callback.seen) == 3
    for result in results:
        order = box.polymarket.get(result.target)
        assert order is not None
        if result.status == "cancelled":
            assert not order.on_book()
        if result.status == "not_sent":
            assert order.on_book()


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_callback_that_does_not_raise_changes_nothing(
    cancelkit_sandbox: Sandbox, flavour: str
) -> None:
    box = cancelkit_sandbox
    ids = [box.seed_polymarket(f"ok-{flavour}-{i}").id for i in range(3)]
    callback = Callback(fail_on=0)
    results = _run(flavour, box, "pm", ids, on_result=callback)
    assert [r.status for r in results] == ["cancelled"] * 3
    assert sorted(r.index for r in callback.seen) == [0, 1, 2]

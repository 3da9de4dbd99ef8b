"""``close()`` from another thread while a sync client's bulk call runs: the call ends
before ``close()`` returns, with its results or an error saying the client was closed,
and nothing new starts on the closed client (#29, item 6)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cancelkit import CancelByOrderId, InvalidRequest
from cancelkit.sandbox import Sandbox

# Processes, sockets and deadlines: `make stress` repeats these.
pytestmark = pytest.mark.faults


@pytest.fixture
def slow_box() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        # Every answer takes 2 s: a bulk call is still running when close() comes.
        sandbox.set_knobs(latency=2.0)
        yield sandbox


def _client_and_targets(box: Sandbox, venue: str) -> tuple[Any, list[Any]]:
    if venue == "polymarket":
        return box.polymarket_client(), [box.seed_polymarket(f"close-{i}").id for i in range(3)]
    targets = [CancelByOrderId(order_id=box.seed_limitless().id) for _ in range(3)]  # type: ignore[arg-type]
    return box.limitless_client(paced=False), targets


def _running(client: Any) -> bool:
    """Whether a call is waiting on the client's loop thread (a bulk call runs)."""
    loop = client._loop_thread
    waiting = getattr(loop, "_waiting", None)  # (the old LoopThread had no record)
    return loop is not None and (waiting is None or bool(waiting))


@pytest.mark.parametrize("venue", ["polymarket", "limitless"])
def test_close_from_another_thread_ends_the_running_bulk_call(
    slow_box: Sandbox, venue: str
) -> None:
    client, targets = _client_and_targets(slow_box, venue)
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["results"] = client.cancel_orders(targets, deadline=60)
        except Exception as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    ends = time.monotonic() + 20
    while not _running(client) and time.monotonic() < ends:
        time.sleep(0.01)
    time.sleep(0.3)  # its first request is on its way (answers take 2 s)
    assert _running(client)
    assert worker.is_alive()

    started = time.monotonic()
    client.close()
    took = time.monotonic() - started
    # close() returns once the call has its answer; the worker then only returns it.
    worker.join(5)  # bounded: the old code never returned
    assert not worker.is_alive(), "the bulk call was still running after close() returned"
    assert took < 20  # a generous bound: close() itself never waits out the deadline
    error = outcome.get("error")
    if "results" not in outcome:
        assert isinstance(error, InvalidRequest), outcome
        assert "closed" in str(error)
    with pytest.raises(InvalidRequest, match="closed"):
        client.cancel_orders(targets, deadline=5)

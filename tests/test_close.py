"""``close()`` from another thread while a sync client's bulk call runs: the call ends
before ``close()`` returns, with its results or an error saying the client was closed,
and nothing new starts on the closed client (#29, item 6)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cancelkit import CancelByOrderId, InvalidRequest, _loop_thread
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
    if venue == "kalshi":
        return box.kalshi_client(), [box.seed_kalshi().id for _ in range(3)]
    targets = [CancelByOrderId(order_id=box.seed_limitless().id) for _ in range(3)]  # type: ignore[arg-type]
    return box.limitless_client(paced=False), targets


def _running(client: Any) -> bool:
    """Whether a call is waiting on the client's loop thread (a bulk call runs)."""
    loop = client._loop_thread
    waiting = getattr(loop, "_waiting", None)  # (the old LoopThread had no record)
    return loop is not None and (waiting is None or bool(waiting))


@pytest.mark.parametrize("venue", ["polymarket", "limitless", "kalshi"])
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


@pytest.mark.parametrize("venue", ["polymarket", "limitless", "kalshi"])
def test_close_from_a_signal_handler_during_the_bulk_call_returns_at_once(
    slow_box: Sandbox, venue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bot's `signal.signal(SIGTERM, lambda *_: client.close())` while its main
    # thread waits in a sync bulk call: close() runs on that very thread, whose call
    # can end only once close() returns. The old close() waited for it anyway, for
    # _END_WAIT (made long here so that a wait shows whatever the machine's speed).
    monkeypatch.setattr(_loop_thread, "_END_WAIT", 30.0)
    client, targets = _client_and_targets(slow_box, venue)
    closing: dict[str, float] = {}

    def handler(signum: int, frame: object) -> None:
        started = time.monotonic()
        client.close()
        closing["took"] = time.monotonic() - started

    previous = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 1.0)  # its first request is on its way
        started = time.monotonic()
        with pytest.raises(InvalidRequest, match="closed"):
            client.cancel_orders(targets, deadline=60)
        call_took = time.monotonic() - started
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert closing["took"] < 15  # generous: the old code waited the whole 30 s
    assert call_took < 20


def test_close_re_entered_while_a_call_holds_the_locks_does_not_deadlock(
    slow_box: Sandbox,
) -> None:
    # A signal can land while call() (or the client's start of a bulk call) holds its
    # lock; the handler's close() then takes that lock again on the same thread. With
    # plain locks that waited forever. Shown without a signal's luck: close() inside
    # both locks, in a thread of its own so that a hang is bounded.
    client, targets = _client_and_targets(slow_box, "polymarket")
    client.cancel_orders(targets[:1], deadline=30)  # the loop thread is up
    loop = client._loop_thread
    done = threading.Event()

    def re_enter() -> None:
        with client._bulk_lock, loop._lock:
            client.close()
        done.set()

    threading.Thread(target=re_enter, daemon=True).start()
    assert done.wait(20), "close() re-entered under the call's locks never returned"
    with pytest.raises(InvalidRequest, match="closed"):
        client.cancel_orders(targets, deadline=5)

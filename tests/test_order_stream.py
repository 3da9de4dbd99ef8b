"""Polymarket US's private order stream, on a real WebSocket connection to the
sandbox: the events a bot reads (``order_events``), and a kill switch whose every
order ends in the exchange's words, whatever the stream's faults (the sandbox's
``stream_*`` knobs: each deterministic) and whatever a hostile server sends."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
import warnings
from collections import Counter
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cancelkit import (
    AsyncPolymarketUSClient,
    AuthenticationError,
    CancelResult,
    Execution,
)
from cancelkit.polymarket import OrderSnapshot, OrderStreamError, StreamInterrupted, _heard, _stream
from cancelkit.sandbox import DEFAULT_MARKET, Sandbox

pytestmark = pytest.mark.faults
Event = OrderSnapshot | Execution | StreamInterrupted


async def _until(
    events: AsyncGenerator[Event, None], done: Callable[[list[Event]], bool]
) -> list[Event]:
    """The events until ``done`` says enough (bounded: never a hang)."""
    seen: list[Event] = []
    with_timeout = asyncio.timeout(20)
    async with with_timeout:
        async for event in events:
            seen.append(event)
            if done(seen):
                break
    return seen


def _subscribed(seen: list[Event]) -> bool:
    return isinstance(seen[-1], OrderSnapshot) and seen[-1].eof


def _stream_of(box: Sandbox, **options: Any) -> tuple[AsyncPolymarketUSClient, Any]:
    pm = box.async_polymarket_client()
    return pm, pm.order_events(**options)


# -- the events a bot reads ------------------------------------------------------------


def test_snapshot_then_an_execution_for_each_fill_and_cancel(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    for name in ("a", "b", "c"):
        box.seed_polymarket(f"ord-{name}")
    box.seed_polymarket("not-mine", owner="someone-else")

    async def run() -> list[Event]:
        async with box.async_polymarket_client() as pm:
            events = pm.order_events()
            async with aclosing(events):
                seen = await _until(events, _subscribed)
                await asyncio.to_thread(box.fill_polymarket, "ord-a", 2)
                await asyncio.to_thread(box.fill_polymarket, "ord-b")
                await pm.cancel_order("ord-a")
                seen += await _until(events, lambda s: len(s) == 3)
        return seen

    snapshot, partial, filled, cancelled = asyncio.run(run())
    assert isinstance(snapshot, OrderSnapshot)
    assert snapshot.eof
    assert sorted(o.id for o in snapshot.orders) == ["ord-a", "ord-b", "ord-c"]  # not theirs
    assert all(o.market_slug == DEFAULT_MARKET for o in snapshot.orders)
    assert isinstance(partial, Execution)
    assert partial.kind == "partial_fill"
    assert (partial.order.id, partial.last_shares) == ("ord-a", Decimal(2))
    assert partial.order.state == "ORDER_STATE_PARTIALLY_FILLED"
    assert isinstance(filled, Execution)
    assert (filled.kind, filled.order.id) == ("fill", "ord-b")
    assert filled.order.filled_quantity == filled.order.quantity
    assert isinstance(cancelled, Execution)
    assert (cancelled.kind, cancelled.order.id) == ("cancelled", "ord-a")
    assert cancelled.order.filled_quantity == Decimal(2)
    assert cancelled.order.state == "ORDER_STATE_CANCELED"


def test_more_than_100_markets_are_split_into_subscriptions(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    markets = [f"m-{n:03d}" for n in range(250)]
    box.seed_polymarket("in-249", market_slug="m-249")
    box.seed_polymarket("elsewhere", market_slug="other")

    async def run() -> list[Event]:
        async with box.async_polymarket_client() as pm:
            events = pm.order_events(markets)
            async with aclosing(events):
                return await _until(events, _subscribed)

    seen = asyncio.run(run())
    assert len(seen) == 3  # 100 + 100 + 50: the sandbox refuses more than 100 in one
    assert all(isinstance(e, OrderSnapshot) for e in seen)
    listed = [o.id for e in seen if isinstance(e, OrderSnapshot) for o in e.orders]
    assert listed == ["in-249"]


def test_the_sandbox_refuses_a_subscription_of_101_markets(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox

    async def run() -> dict[str, Any]:
        async with box.async_polymarket_client() as pm:
            headers = pm._auth.signed("GET", "/v1/ws/private", b"")
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(box.polymarket_url + "/v1/ws/private", headers=headers) as ws,
        ):
            slugs = [f"m-{n}" for n in range(101)]
            body = {"requestId": "r1", "subscriptionType": "SUBSCRIPTION_TYPE_ORDER"}
            await ws.send_json({"subscribe": body | {"marketSlugs": slugs}})
            answer: dict[str, Any] = await ws.receive_json(timeout=10)
            return answer

    answer = asyncio.run(run())
    assert answer["requestId"] == "r1"
    assert "at most 100 markets" in answer["error"]


def _stream_with_a_wrong_key(box: Sandbox) -> AuthenticationError:
    """What opening the stream with the right key id and a wrong key raises."""
    other = base64.b64encode(os.urandom(32)).decode()

    async def run() -> None:
        async with AsyncPolymarketUSClient(
            box.credentials.polymarket_key_id, other, base_url=box.polymarket_url
        ) as pm:
            events = pm.order_events()
            async with aclosing(events):
                await _until(events, _subscribed)

    with pytest.raises(AuthenticationError) as caught:
        asyncio.run(run())
    return caught.value


def test_a_handshake_with_a_bad_signature_is_refused(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    assert _stream_with_a_wrong_key(box).status == 401
    assert box.polymarket.stats.auth_failures == 1
    assert box.polymarket.stats.stream_connections == 0

    async def unsigned() -> int:
        async with aiohttp.ClientSession() as session:
            try:
                await session.ws_connect(box.polymarket_url + "/v1/ws/private")
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status
        return 101

    assert asyncio.run(unsigned()) == 401


@pytest.mark.parametrize("offset", [-300.0, 120.0])
def test_a_handshake_refused_for_our_clock_is_signed_again_once(
    cancelkit_sandbox: Sandbox, offset: float
) -> None:
    box = cancelkit_sandbox
    box.set_knobs(clock_offset=offset)  # the exchange's clock (and its Date) moved
    box.seed_polymarket("skew-1")

    async def run() -> list[Event]:
        pm, events = _stream_of(box)
        async with pm, aclosing(events):
            return await _until(events, _subscribed)

    seen = asyncio.run(run())
    # The 401's Date corrected the clock; the re-signed handshake was let in, and the
    # consumer saw no interruption (nothing was lost: nothing had been subscribed).
    assert [type(e) for e in seen] == [OrderSnapshot]
    assert [o.id for o in seen[0].orders] == ["skew-1"]
    assert box.polymarket.stats.auth_failures == 1
    assert box.polymarket.stats.stream_connections == 1


def test_a_second_401_after_the_clock_correction_is_final(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    box.set_knobs(clock_offset=120.0)
    assert _stream_with_a_wrong_key(box).status == 401
    assert box.polymarket.stats.auth_failures == 2  # the skewed one, then the key's
    assert box.polymarket.stats.stream_connections == 0


def test_a_dropped_connection_is_announced_and_reopened(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    box.set_knobs(stream_close_after=1)
    for name in ("a", "b"):
        box.seed_polymarket(f"ord-{name}")

    async def run() -> list[Event]:
        async with box.async_polymarket_client() as pm:
            events = pm.order_events()
            async with aclosing(events):
                seen = await _until(events, _subscribed)
                await pm.cancel_order("ord-a")
                seen += await _until(events, lambda s: _subscribed(s) and len(s) > 2)
                await pm.cancel_order("ord-b")
                seen += await _until(events, lambda s: isinstance(s[-1], Execution))
        return seen

    seen = asyncio.run(run())
    kinds = [type(e).__name__ for e in seen]
    assert kinds == [
        "OrderSnapshot",
        "Execution",
        "StreamInterrupted",
        "OrderSnapshot",
        "Execution",
    ]
    assert [o.id for o in seen[3].orders] == ["ord-b"]  # type: ignore[union-attr]
    assert box.polymarket.stats.stream_connections == 2


def test_hostile_messages_are_dropped_and_never_crash_the_stream(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    box.seed_polymarket("ord-1")
    box.seed_polymarket("theirs", owner="someone-else")
    lie = {
        "subscriptionType": "SUBSCRIPTION_TYPE_ORDER",
        "orderSubscriptionUpdate": {
            "execution": {"type": "EXECUTION_TYPE_FILL", "order": {"id": "ord-1"}}
        },
    }
    hostile: list[Any] = [
        "{not json",
        "[]",
        '{"heartbeat": {}, "extra": 1}',
        json.dumps({**lie, "requestId": "someone-elses-subscription"}),
        {"subscriptionType": "SUBSCRIPTION_TYPE_POSITION", "positionSubscription": {}},
        {"orderSubscriptionUpdate": {"execution": {"type": "EXECUTION_TYPE_NEW_KIND"}}},
        {"orderSubscriptionUpdate": {"execution": {"type": "EXECUTION_TYPE_FILL", "order": 7}}},
        {"orderSubscriptionUpdate": {"execution": {"type": "EXECUTION_TYPE_FILL", "order": {}}}},
        {
            "orderSubscriptionUpdate": {
                "execution": {
                    "type": "EXECUTION_TYPE_FILL",
                    "order": {"id": "x", "quantity": "NaN"},
                }
            }
        },
        "[" * 100_000,
    ]
    flood = ['{"unknownType": {}}'] * 5_000

    async def run() -> list[Event]:
        async with box.async_polymarket_client() as pm:
            events = pm.order_events()
            async with aclosing(events):
                seen = await _until(events, _subscribed)
                for message in [*hostile, *flood]:
                    await asyncio.to_thread(box.push_polymarket_stream, message)
                await pm.cancel_order("ord-1")
                seen += await _until(events, lambda s: _is(s[-1], "ord-1"))
        return seen

    seen = asyncio.run(run())
    # Every lie, flood and malformed message dropped: only the well-formed one (whose
    # NaN quantity is read as none given) and the real execution remain.
    executions = [(e.order.id, e.kind, e.order.quantity) for e in seen if isinstance(e, Execution)]
    assert executions == [("x", "fill", None), ("ord-1", "cancelled", executions[-1][2])]
    assert executions[-1][2] is not None
    assert not any(isinstance(e, StreamInterrupted) for e in seen)


def _is(event: Event, order_id: str) -> bool:
    return isinstance(event, Execution) and event.order.id == order_id


def test_an_oversize_message_drops_the_connection_not_the_stream(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    box.seed_polymarket("ord-1")

    async def run() -> list[Event]:
        async with box.async_polymarket_client() as pm:
            events = pm.order_events(max_message_bytes=4096)
            async with aclosing(events):
                seen = await _until(events, _subscribed)
                await asyncio.to_thread(box.push_polymarket_stream, "x" * 5000)
                seen += await _until(events, _subscribed)
        return seen

    seen = asyncio.run(run())
    assert [type(e).__name__ for e in seen] == [
        "OrderSnapshot",
        "StreamInterrupted",
        "OrderSnapshot",
    ]
    assert "connection error" in seen[1].reason  # type: ignore[union-attr]


def test_closing_the_client_ends_its_stream(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox

    async def run() -> list[Event]:
        pm = box.async_polymarket_client()
        seen: list[Event] = []
        events = pm.order_events()
        async with asyncio.timeout(20):
            async for event in events:
                seen.append(event)
                await pm.aclose()
        return seen

    assert [type(e).__name__ for e in asyncio.run(run())] == ["OrderSnapshot"]


def test_no_stream_on_the_server_gives_up_at_once(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    box.set_knobs(stream=False)

    async def run() -> None:
        async with box.async_polymarket_client() as pm:
            events = pm.order_events()
            async with aclosing(events):
                await _until(events, _subscribed)

    with pytest.raises(OrderStreamError, match="404"):
        asyncio.run(run())


def test_stream_arguments_are_checked_before_connecting(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox

    async def first(**options: Any) -> None:
        async with box.async_polymarket_client() as pm:
            await anext(pm.order_events(**options))

    for options in (
        {"market_slugs": "one-string"},
        {"market_slugs": []},
        {"max_message_bytes": 10},
        {"silence": 0},
        {"reconnects": -1},
    ):
        with pytest.raises(ValueError, match=r"market_slugs|max_message|silence|reconnects"):
            asyncio.run(first(**options))
    assert box.polymarket.stats.stream_connections == 0


def test_a_silent_connection_is_dropped_and_reopened(
    cancelkit_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = cancelkit_sandbox
    box.set_knobs(stream_heartbeat=3600)  # the server says nothing after the snapshot

    async def run() -> list[Event]:
        async with box.async_polymarket_client() as pm:
            events = pm.order_events(silence=0.3)
            async with aclosing(events):
                return await _until(events, lambda s: len(s) == 3)

    seen = asyncio.run(run())
    assert [type(e).__name__ for e in seen] == [
        "OrderSnapshot",
        "StreamInterrupted",
        "OrderSnapshot",
    ]
    assert "no message" in seen[1].reason  # type: ignore[union-attr]


# -- the kill switch: every order's end in the exchange's words ------------------------


def _kill(
    box: Sandbox, ids: list[str], **options: Any
) -> tuple[list[CancelResult[str]], list[str]]:
    """A bulk cancel on the async client; the results and the lookups it sent."""
    box.clear_requests()

    async def run() -> list[CancelResult[str]]:
        async with box.async_polymarket_client() as pm:
            return await pm.cancel_orders(ids, **options)

    results = asyncio.run(run())
    lookups = [
        r.path for r in box.requests if r.method == "GET" and r.path.startswith("/v1/order/")
    ]
    return results, lookups


def _truth(box: Sandbox, results: list[CancelResult[str]]) -> None:
    """No result contradicts the book: cancelled only if cancelled, filled only if
    filled; an order partly filled then cancelled says how much filled."""
    for result in results:
        order = box.polymarket.get(result.target)
        assert order is not None
        if result.status == "cancelled":
            assert order.status == "cancelled", result
            if order.filled:
                assert f"partly filled ({order.filled:g}" in (result.message or ""), result
        elif result.status == "filled":
            assert order.status == "filled", result
        else:
            assert result.status == "not_open", result
            assert "not asked" in (result.message or ""), result


def _seed(box: Sandbox, count: int, prefix: str = "ord") -> list[str]:
    return [box.seed_polymarket(f"{prefix}-{n:05d}").id for n in range(count)]


def test_a_300_order_kill_hears_every_end_from_the_stream(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    ids = _seed(box, 300)
    box.set_knobs(fill_pending=0.2, seed=7)  # some fill while their cancel is pending
    for order_id in ids[:10]:
        box.fill_polymarket(order_id, 1)  # partly filled before the kill
    results, lookups = _kill(box, ids)
    assert lookups == []
    statuses = Counter(r.status for r in results)
    assert set(statuses) == {"cancelled", "filled"}
    assert statuses["filled"] == sum(o.status == "filled" for o in box.polymarket.orders.values())
    assert all("order stream" in (r.message or "") for r in results)
    _truth(box, results)
    assert not box.open_orders()


@pytest.mark.parametrize(
    "knobs",
    [
        {"stream_drop_every": 7},
        {"stream_duplicate_every": 2},
        {"stream_reorder_every": 2},
        {"stream_delay": 0.002},
        {"stream_close_after": 60},
    ],
    ids=["drop", "duplicate", "reorder", "delay", "close"],
)
def test_stream_faults_cost_lookups_never_a_wrong_word(
    cancelkit_sandbox: Sandbox,
    knobs: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    box = cancelkit_sandbox
    caplog.set_level(logging.INFO, logger="cancelkit")
    if not {"stream_drop_every", "stream_close_after", "stream_delay"} & set(knobs):
        # Every word comes (late by at most the 50 ms a reorder holds one back): the
        # wait for it is made ten times the usual, so a loaded machine (CI's four
        # workers on two cores) cannot turn a late word into a lookup.
        monkeypatch.setattr(_heard, "LAG", 10 * _heard.LAG)
    ids = _seed(box, 200)
    for order_id in ids[:20]:
        box.fill_polymarket(order_id, 1)
    box.set_knobs(fill_pending=0.2, seed=11, **knobs)
    results, lookups = _kill(box, ids)
    _truth(box, results)
    assert not box.open_orders()
    heard = sum("order stream" in (r.message or "") for r in results)
    if "stream_drop_every" in knobs:
        # The dropped executions' orders (every 7th message) were looked up instead.
        assert box.polymarket.stats.stream_dropped == 200 // 7
        assert 1 <= len(lookups) <= 200 // 7
        assert heard >= 200 - 200 // 7
    elif "stream_close_after" in knobs:
        # The close was heard and a reconnect begun; whether it lands before the run
        # is confirmed (by lookups meanwhile) depends on the machine's load.
        assert any("reconnecting" in r.getMessage() for r in caplog.records), caplog.text
    elif "stream_delay" in knobs:
        pass  # late words may come after their lookups: either way, the truth
    else:
        assert lookups == []
        assert heard == 200


def test_a_lost_execution_is_settled_by_a_lookup_not_guessed(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    ids = _seed(box, 12)
    box.set_knobs(stream_drop_every=1, fill_pending=1.0)  # every execution lost; all fill
    results, lookups = _kill(box, ids, max_rate=None)  # room for every lookup
    assert box.polymarket.stats.stream_dropped == 12
    assert sorted(lookups) == sorted(f"/v1/order/{i}" for i in ids)
    assert [r.status for r in results] == ["filled"] * 12
    assert all("ORDER_STATE_FILLED" in (r.message or "") for r in results)


def test_without_a_stream_the_kill_runs_as_before(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    ids = _seed(box, 30)
    box.set_knobs(stream=False)
    results, lookups = _kill(box, ids)
    assert lookups  # the lookups settle it, as they did before the stream
    assert box.polymarket.stats.stream_connections == 0
    assert not any("order stream" in (r.message or "") for r in results)
    _truth(box, results)
    assert not box.open_orders()


def test_executions_about_other_orders_or_markets_are_not_believed(
    cancelkit_sandbox: Sandbox,
) -> None:
    # The stream names an order of another account (in the ids given) as filled, and
    # one of ours as filled in another market than the listing's, before either is
    # cancelled: neither word is believed (the lookups settle them).
    box = cancelkit_sandbox
    ours = _seed(box, 12)
    box.seed_polymarket("theirs", owner="someone-else")
    box.set_knobs(cancel_delay=0.5)  # their cancels pending while the lies arrive

    def lie(order_id: str, market: str) -> dict[str, Any]:
        order = {"id": order_id, "marketSlug": market, "state": "ORDER_STATE_FILLED"}
        return {
            "subscriptionType": "SUBSCRIPTION_TYPE_ORDER",
            "orderSubscriptionUpdate": {
                "execution": {"id": "x", "type": "EXECUTION_TYPE_FILL", "order": order}
            },
        }

    def liar() -> None:
        until = time.monotonic() + 20
        while time.monotonic() < until:
            if box.push_polymarket_stream(lie("theirs", DEFAULT_MARKET)):
                box.push_polymarket_stream(lie(ours[0], "another-market"))
                return
            time.sleep(0.001)

    thread = threading.Thread(target=liar)
    thread.start()
    results, lookups = _kill(box, [*ours, "theirs"])
    thread.join()
    outcome = {r.target: r for r in results}
    assert outcome["theirs"].status == "not_found"
    assert outcome[ours[0]].status == "cancelled"
    assert "order stream" not in (outcome[ours[0]].message or "")
    assert f"/v1/order/{ours[0]}" in lookups
    assert all(outcome[i].status == "cancelled" for i in ours)
    assert box.polymarket.stats.stream_connections == 1  # the lies came on the stream


def test_a_kill_of_a_few_orders_does_without_the_stream(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    ids = _seed(box, 10)
    results, lookups = _kill(box, ids)
    assert box.polymarket.stats.stream_connections == 0
    assert sorted(lookups) == sorted(f"/v1/order/{i}" for i in ids)  # all asked at once
    assert [r.status for r in results] == ["cancelled"] * 10


def test_cancel_all_hears_its_orders_ends_from_the_stream(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    ids = _seed(box, 50)
    box.set_knobs(fill_pending=0.3, seed=3)
    box.clear_requests()

    async def run() -> list[CancelResult[str]]:
        async with box.async_polymarket_client() as pm:
            return await pm.cancel_all()

    results = asyncio.run(run())
    assert sorted(r.target for r in results) == ids
    assert not [r for r in box.requests if r.path.startswith("/v1/order/")]
    assert {r.status for r in results} == {"cancelled", "filled"}
    _truth(box, results)


async def _guarded_cancel_all(
    box: Sandbox, **knobs: Any
) -> tuple[list[CancelResult[str]], list[Event]]:
    """A cancel-all on a client that already reads its account-wide stream (as the
    guard's desk does), with ``knobs`` set once that stream is live; the results and
    every event that stream read."""
    seen: list[Event] = []
    live = asyncio.Event()
    async with box.async_polymarket_client() as pm:

        async def read() -> None:
            events = pm.order_events()
            async with aclosing(events):
                async for event in events:
                    seen.append(event)
                    if isinstance(event, OrderSnapshot) and event.eof:
                        live.set()

        reader = asyncio.ensure_future(read())
        try:
            async with asyncio.timeout(20):
                await live.wait()
            box.set_knobs(**knobs)
            box.clear_requests()
            results = await pm.cancel_all()
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
    return results, seen


def test_cancel_all_on_a_live_stream_sends_its_cancel_before_any_new_snapshot(
    cancelkit_sandbox: Sandbox,
) -> None:
    """The guard's path: its desk reads each Polymarket key's stream; a firing's
    cancel-all hears that stream and goes on the wire at once, instead of opening a
    stream of its own and waiting for its snapshot (held back here: a slow gateway)."""
    box = cancelkit_sandbox
    ids = _seed(box, 60)
    box.set_knobs(fill_pending=0.3, seed=5)
    before = len(box.stream_snapshots)
    results, seen = asyncio.run(_guarded_cancel_all(box, stream_snapshot_delay=0.8))
    cancel = [r for r in box.requests if r.path == "/v1/orders/open/cancel"]
    assert len(cancel) == 1
    later = box.stream_snapshots[before + 1 :]  # after the guard's own: the kill's
    assert all(cancel[0].arrived < at for at in later), "the cancel waited for a snapshot"
    assert box.polymarket.stats.stream_connections == 1  # the kill opened none
    # Every end heard on the guard's stream: nothing looked up, nothing guessed.
    assert sorted(r.target for r in results) == ids
    assert not [r for r in box.requests if r.path.startswith("/v1/order/")]
    assert {r.status for r in results} <= {"cancelled", "filled"}
    assert all("order stream" in (r.message or "") for r in results)
    _truth(box, results)
    assert not box.open_orders()
    assert sum(isinstance(e, Execution) for e in seen) >= len(ids)  # the guard heard them too


def test_cancel_all_after_the_shared_stream_dropped_opens_its_own(
    cancelkit_sandbox: Sandbox,
) -> None:
    """A stream that is not live (closed, reconnecting) is not leaned on: the kill
    opens its own and waits for it as before, so no cancel's end goes unheard."""
    box = cancelkit_sandbox
    ids = _seed(box, 30)

    async def run() -> list[CancelResult[str]]:
        async with box.async_polymarket_client() as pm:
            events = pm.order_events()
            async with aclosing(events):
                await _until(events, _subscribed)
            # Closed: no longer read, no longer live.
            box.clear_requests()
            return await pm.cancel_all()

    results = asyncio.run(run())
    assert box.polymarket.stats.stream_connections == 2
    assert sorted(r.target for r in results) == ids
    assert all("order stream" in (r.message or "") for r in results)
    _truth(box, results)


def test_the_sync_client_kill_hears_the_stream_too(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    ids = _seed(box, 40)
    with box.polymarket_client() as pm:
        results = pm.cancel_orders(ids)
    assert [r.status for r in results] == ["cancelled"] * 40
    assert all("order stream" in (r.message or "") for r in results)


def test_a_cli_kill_of_300_orders_reports_no_order_not_asked(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    ids = _seed(box, 300)
    box.set_knobs(fill_pending=0.1, seed=5)
    kill = tmp_path / "kill.txt"
    kill.write_text("\n".join(ids) + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "cancelkit", "cancel", "polymarket", "--from-file", str(kill)],
        env={**os.environ, **box.env()},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "not asked" not in result.stdout + result.stderr
    filled = sum(o.status == "filled" for o in box.polymarket.orders.values())
    assert f"300 order(s): {300 - filled} cancelled, {filled} filled" in result.stderr
    assert not box.open_orders()


def test_the_route_a_caller_gave_carries_no_stream() -> None:
    import httpx

    async def run() -> None:
        transport = httpx.MockTransport(lambda request: httpx.Response(500))
        key = base64.b64encode(bytes(32)).decode()
        async with AsyncPolymarketUSClient("k", key, transport=transport) as pm:
            await anext(pm.order_events())

    with pytest.raises(OrderStreamError, match="transport"):
        asyncio.run(run())
    assert _stream.PATH == "/v1/ws/private"


def test_the_stream_takes_the_clients_proxy_route(cancelkit_sandbox: Sandbox) -> None:
    from test_proxy import RecordingProxy  # a forward proxy that knows no WebSocket

    box = cancelkit_sandbox
    proxy = RecordingProxy()
    thread = threading.Thread(target=proxy.server.serve_forever, daemon=True)
    thread.start()

    async def run() -> None:
        async with box.async_polymarket_client(proxy=proxy.url) as pm:
            await anext(pm.order_events())

    try:
        with pytest.raises(OrderStreamError, match="404"):
            asyncio.run(run())
    finally:
        proxy.server.shutdown()
        proxy.server.server_close()
    assert proxy.seen == ["GET /v1/ws/private"]  # through the proxy, never around it
    assert box.polymarket.stats.stream_connections == 0


def test_the_stream_gives_a_proxy_its_credentials(cancelkit_sandbox: Sandbox) -> None:
    from test_proxy import PROXY_PASSWORD, PROXY_USER, credentials_asked, deprecated_proxy_auth

    box = cancelkit_sandbox

    async def run(url: str) -> None:
        async with box.async_polymarket_client(proxy=url) as pm:
            await anext(pm.order_events())

    with credentials_asked() as asking, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        url = asking.url.replace("://", f"://{PROXY_USER}:{PROXY_PASSWORD}@")
        with pytest.raises(OrderStreamError, match="404"):  # a proxy that knows no WebSocket
            asyncio.run(run(url))
    assert asking.seen == ["GET /v1/ws/private"]  # let through: it had the credential
    assert asking.refused == []
    assert deprecated_proxy_auth(caught) == []  # before: aiohttp's proxy_auth deprecation


@pytest.mark.parametrize(
    ("environment", "proxied"),
    [
        ({"ALL_PROXY": "{proxy}"}, True),  # aiohttp alone ignores ALL_PROXY
        ({"HTTP_PROXY": "{proxy}"}, True),
        ({"ALL_PROXY": "{proxy}", "NO_PROXY": "127.0.0.1"}, False),
    ],
    ids=["all_proxy", "http_proxy", "no_proxy"],
)
def test_the_stream_takes_the_environments_proxy_as_rest_does(
    cancelkit_sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    environment: dict[str, str],
    proxied: bool,
) -> None:
    from test_proxy import RecordingProxy  # a forward proxy that knows no WebSocket

    box = cancelkit_sandbox
    proxy = RecordingProxy()
    thread = threading.Thread(target=proxy.server.serve_forever, daemon=True)
    thread.start()
    for name in ("ALL_PROXY", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"):
        for variable in (name, name.lower()):
            monkeypatch.delenv(variable, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value.format(proxy=proxy.url))
    before = box.polymarket.stats.stream_connections

    async def run() -> list[Event]:
        async with box.async_polymarket_client() as pm:
            await pm.open_orders()  # REST: through the proxy unless NO_PROXY names the host
            return await _until(pm.order_events(), _subscribed)

    try:
        if proxied:
            with pytest.raises(OrderStreamError, match="404"):
                asyncio.run(run())
        else:
            assert _subscribed(asyncio.run(run()))
    finally:
        proxy.server.shutdown()
        proxy.server.server_close()
    if proxied:  # the stream went where REST went, never around the proxy
        assert proxy.seen == ["GET /v1/orders/open", "GET /v1/ws/private"]
        assert box.polymarket.stats.stream_connections == before
    else:
        assert proxy.seen == []
        assert box.polymarket.stats.stream_connections == before + 1


def test_the_stream_takes_an_https_proxy_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from yarl import URL

    for name in ("ALL_PROXY", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"):
        for variable in (name, name.lower()):
            monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "https://proxy.invalid:8443")  # aiohttp ignores it
    key = base64.b64encode(bytes(32)).decode()

    links: list[_stream.Link] = []
    monkeypatch.setattr(_stream, "order_events", lambda link, *a, **k: links.append(link))

    async def run() -> tuple[object, object]:
        async with AsyncPolymarketUSClient("k", key, base_url="https://api.example.com") as pm:
            pm.order_events()  # the Link the client hands its stream
            transport = _stream._route(links[0])
            try:
                return transport.route(URL("https://api.example.com" + _stream.PATH)), pm._route
            finally:
                await transport.aclose()

    (proxy, _auth), route = asyncio.run(run())
    assert route == "https://proxy.invalid:8443"
    assert str(proxy) == route  # nothing is sent: the route is compared, not used


def test_a_reseeded_order_gets_its_own_execution(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    box.seed_polymarket("ord-1")

    async def run() -> list[Event]:
        async with box.async_polymarket_client() as pm:
            events = pm.order_events()
            async with aclosing(events):
                seen = await _until(events, _subscribed)
                await pm.cancel_order("ord-1")
                seen += await _until(events, lambda s: _is(s[-1], "ord-1"))
                await asyncio.to_thread(box.seed_polymarket, "ord-1")  # the same id again
                await pm.cancel_order("ord-1")
                seen += await _until(events, lambda s: _is(s[-1], "ord-1"))
        return seen

    kinds = [e.kind for e in asyncio.run(run()) if isinstance(e, Execution)]
    assert kinds == ["cancelled", "cancelled"]


def test_the_sandbox_stream_answers_hostile_clients_without_crashing(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox

    async def run() -> tuple[int, list[dict[str, Any]]]:
        async with box.async_polymarket_client() as pm:
            headers = pm._auth.signed("GET", "/v1/ws/private", b"")
            other = pm._auth.signed("GET", "/v1/ws/markets", b"")
        async with aiohttp.ClientSession() as session:
            try:
                await session.ws_connect(box.polymarket_url + "/v1/ws/markets", headers=other)
                status = 101
            except aiohttp.WSServerHandshakeError as exc:
                status = exc.status
            async with session.ws_connect(
                box.polymarket_url + "/v1/ws/private", headers=headers
            ) as ws:
                for junk in ("{", "[]", '{"subscribe": 1}', '{"subscribe": {"requestId": 5}}'):
                    await ws.send_str(junk)
                await ws.send_bytes(b"\xff\xfe")
                body = {"requestId": "r", "subscriptionType": "SUBSCRIPTION_TYPE_RFQ"}
                await ws.send_json({"subscribe": body})
                await ws.send_json({"subscribe": body | {"subscriptionType": 1}})
                answers = [await ws.receive_json(timeout=10) for _ in range(7)]
        return status, answers

    status, answers = asyncio.run(run())
    assert status == 404  # only /v1/ws/private is served
    assert [("error" in a) for a in answers] == [True] * 6 + [False]
    assert answers[5]["requestId"] == "r"
    assert answers[6]["orderSubscriptionSnapshot"] == {"orders": [], "eof": True}


def test_what_the_stream_said_is_weighed_per_order() -> None:
    from cancelkit.polymarket import StreamOrder
    from cancelkit.polymarket._heard import Heard

    def execution(
        order_id: str,
        kind: Any,
        *,
        execution_id: str | None = None,
        shares: Decimal | None = None,
        **order: Any,
    ) -> Execution:
        market = order.pop("market", "m")
        return Execution("r", kind, StreamOrder(order_id, market, **order), execution_id, shares)

    heard = Heard({"a", "b", "c", "d", "e"})
    heard.hear(execution("a", "partial_fill", execution_id="x1", shares=Decimal(2)))
    heard.hear(execution("a", "partial_fill", execution_id="x1", shares=Decimal(2)))  # again
    heard.hear(execution("a", "cancelled", quantity=Decimal(10)))  # no cumQuantity given
    heard.hear(execution("b", "replaced"))  # still open under its id: no end
    heard.hear(execution("c", "expired", state="ORDER_STATE_EXPIRED"))
    heard.hear(execution("d", "fill", filled_quantity=Decimal(4), quantity=Decimal(4)))
    heard.hear(execution("d", "fill", filled_quantity=Decimal(4), quantity=Decimal(4)))
    heard.hear(execution("e", "fill"))
    heard.hear(execution("e", "cancelled"))  # two different ends
    heard.hear(execution("zz", "cancelled"))  # not one of the run's orders
    word = heard.word
    assert word("a", "m") == (
        "cancelled",
        "partly filled (at least 2 of 10), then cancelled: EXECUTION_TYPE_CANCELED on the"
        " exchange's order stream; no longer listed",
    )
    assert word("a", "another-market") is None
    assert word("b", "m") is None
    assert word("c", "m") == (
        "not_open",
        "expired: EXECUTION_TYPE_EXPIRED, ORDER_STATE_EXPIRED on the exchange's order stream;"
        " no longer listed",
    )
    assert word("d", None) is not None
    assert word("d", None)[0] == "filled"  # type: ignore[index]
    assert word("e", "m") is None
    assert word("zz", "m") is None
    assert "zz" not in heard.final


@pytest.mark.parametrize("abort", [False, True], ids=["deadline", "abort"])
def test_a_server_that_never_answers_the_close_frame_does_not_hold_the_run(
    monkeypatch: pytest.MonkeyPatch, abort: bool
) -> None:
    from aiohttp import web
    from cancelkit._bulk import Control, running
    from cancelkit.polymarket import _heard

    # The close's own wait made long (aiohttp's own bound, 10 s, then ends it): a run
    # that waited for the close frame at all ends far past the bound below.
    monkeypatch.setattr(_stream, "_CLOSE_WAIT", 120.0)

    async def run() -> tuple[float, float]:
        release = asyncio.Event()

        async def handler(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse(autoclose=False)  # the close frame is never answered
            await ws.prepare(request)
            async for message in ws:  # a close frame included: heard, never answered
                if message.type == aiohttp.WSMsgType.TEXT:
                    request_id = json.loads(message.data)["subscribe"]["requestId"]
                    snapshot = {"orders": [], "eof": True}
                    await ws.send_json(
                        {"requestId": request_id, "orderSubscriptionSnapshot": snapshot}
                    )
            await release.wait()
            return ws

        app = web.Application()
        app.router.add_get(_stream.PATH, handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        key = base64.b64encode(bytes(32)).decode()
        try:
            async with AsyncPolymarketUSClient(
                "k", key, base_url=f"http://127.0.0.1:{port}", trust_env=False
            ) as pm:

                async def opener(slugs: list[str] | None) -> AsyncGenerator[Any, None]:
                    async def held() -> AsyncGenerator[Any, None]:
                        async with aclosing(pm.order_events(slugs)) as events:
                            async for event in events:
                                yield event
                                await asyncio.Event().wait()  # the stream rests at its yield

                    return held()

                control = Control(deadline=0.5)
                control.grace = 1.0
                heard = _heard.Heard(None)
                with running(control):
                    async with _heard.streaming(opener, None, heard, control):
                        await asyncio.wait_for(heard.ready.wait(), 10)
                        assert heard.live  # subscribed: the connection is open
                        if abort:
                            control.abort()
                        else:  # the run's work lasts to its very end
                            await asyncio.sleep(max(0.0, control.end() - time.monotonic()))
                return time.monotonic(), control.end()
        finally:
            release.set()
            await runner.cleanup()

    async def bounded() -> tuple[float, float]:
        async with asyncio.timeout(30):
            return await run()

    ended, end = asyncio.run(bounded())
    assert ended <= end + 2.0  # generous: the close waited for nothing past the run's end

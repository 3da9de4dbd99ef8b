"""Kalshi's private order stream (``user_orders`` on ``/trade-api/ws/v2``), on a real
WebSocket connection to the sandbox: the signed handshake, the typed events a bot
reads (``AsyncKalshiClient.order_events``), the reconnect that resubscribes and
lists again, the shapes taken from the pages, and a cancel-all that names what a
live stream knows and sends its DELETE first."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from cancelkit import AsyncKalshiClient, AuthenticationError
from cancelkit.kalshi import _events, _stream
from cancelkit.kalshi._auth import KalshiAuth
from cancelkit.kalshi._events import (
    OrderEvent,
    OrderSnapshot,
    OrderUpdate,
    StreamInterrupted,
)
from cancelkit.sandbox import Sandbox
from cancelkit.sandbox._kalshi_ws import user_order

pytestmark = pytest.mark.faults
PAGES = Path(__file__).resolve().parent.parent.parent / "shared" / "pages" / "kalshi"


async def _until(
    events: AsyncGenerator[OrderEvent, None], done: Callable[[list[OrderEvent]], bool]
) -> list[OrderEvent]:
    """The events until ``done`` says enough (bounded: never a hang)."""
    seen: list[OrderEvent] = []
    async with asyncio.timeout(20):
        async for event in events:
            seen.append(event)
            if done(seen):
                break
    return seen


def _snapshot(seen: list[OrderEvent]) -> bool:
    return isinstance(seen[-1], OrderSnapshot)


def _ws_url(box: Sandbox) -> str:
    return _stream.stream_url(box.kalshi_url)


async def _handshake(url: str, headers: list[tuple[str, str]]) -> int:
    """The status the sandbox answers a WebSocket upgrade with these headers (101: opened)."""
    async with aiohttp.ClientSession() as session:
        try:
            ws = await session.ws_connect(url, headers=headers)
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status
        await ws.close()
        return 101


# -- the handshake ---------------------------------------------------------------------


@pytest.mark.parametrize("key", ["rsa", "ed25519"])
def test_the_signed_handshake_opens_and_a_tampered_one_is_refused_401(
    cancelkit_sandbox: Sandbox, key: Any
) -> None:
    box = cancelkit_sandbox
    key_id, pem = box.credentials.kalshi_key(key)
    auth = KalshiAuth(key_id, pem)
    url = _ws_url(box)
    path = "/trade-api/ws/v2"
    assert url.endswith(path)

    def tampered(headers: list[tuple[str, str]], name: str, change: Callable[[str], str]) -> Any:
        return [(n, change(v) if n == name else v) for n, v in headers]

    def flipped(signature: str) -> str:
        raw = bytearray(base64.b64decode(signature))
        raw[0] ^= 1
        return base64.b64encode(bytes(raw)).decode()

    async def run() -> list[int]:
        good = auth.signed("GET", path, b"")
        return [
            await _handshake(url, good),
            await _handshake(url, tampered(good, "KALSHI-ACCESS-SIGNATURE", flipped)),
            # Signed for another path (REST's root), or another time than it says.
            await _handshake(url, auth.signed("GET", "/trade-api/v2", b"")),
            await _handshake(
                url, tampered(good, "KALSHI-ACCESS-TIMESTAMP", lambda t: str(int(t) + 1))
            ),
            await _handshake(url, [h for h in good if h[0] != "KALSHI-ACCESS-SIGNATURE"]),
        ]

    assert asyncio.run(run()) == [101, 401, 401, 401, 401]


def _stream_with_an_unknown_key(box: Sandbox) -> AuthenticationError:
    """What opening the stream with a key id the exchange does not know raises."""
    _, pem = box.credentials.kalshi_key("ed25519")

    async def run() -> None:
        async with AsyncKalshiClient("not-a-key", pem, base_url=box.kalshi_url) as client:
            events = client.order_events()
            async with aclosing(events):
                await _until(events, _snapshot)

    with pytest.raises(AuthenticationError) as caught:
        asyncio.run(run())
    return caught.value


def test_a_refused_handshake_is_an_authentication_error(cancelkit_sandbox: Sandbox) -> None:
    assert _stream_with_an_unknown_key(cancelkit_sandbox).status == 401


@pytest.mark.parametrize("offset", [-300.0, 120.0])
def test_a_handshake_refused_for_our_clock_is_signed_again_once(
    cancelkit_sandbox: Sandbox, offset: float
) -> None:
    box = cancelkit_sandbox
    box.set_knobs(clock_offset=offset)  # the exchange's clock (and its Date) moved
    order = box.seed_kalshi()

    async def run() -> list[OrderEvent]:
        async with box.async_kalshi_client() as client:
            events = client.order_events()
            async with aclosing(events):
                return await _until(events, _snapshot)

    seen = asyncio.run(run())
    # The handshake comes first (before any REST answer could teach the clock): its
    # 401's Date corrected it, and the re-signed handshake was let in, unannounced.
    assert [type(e) for e in seen] == [OrderSnapshot]
    assert order.id in {o.id for o in seen[0].orders}
    assert box.kalshi.stats.auth_failures == 1
    assert box.kalshi.stats.stream_connections == 1


def test_a_second_401_after_the_clock_correction_is_final(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    box.set_knobs(clock_offset=120.0)
    assert _stream_with_an_unknown_key(box).status == 401
    assert box.kalshi.stats.auth_failures == 2  # the skewed one, then the key's


# -- the events ------------------------------------------------------------------------


def test_listing_then_a_typed_update_for_each_create_cancel_and_fill(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    rested = box.seed_kalshi(subaccount=2).id
    box.seed_kalshi(owner="someone-else")

    async def run() -> list[OrderEvent]:
        async with box.async_kalshi_client() as client:
            events = client.order_events()
            async with aclosing(events):
                seen = await _until(events, _snapshot)
                created = await asyncio.to_thread(box.seed_kalshi, client_order_id="cid-1")
                also = await asyncio.to_thread(box.seed_kalshi)
                seen += await _until(events, lambda s: len(s) == 2)
                await client.cancel_order(created.id)
                await asyncio.to_thread(box.kalshi.fill, also)
                seen += await _until(events, lambda s: len(s) == 2)
                return seen

    seen = asyncio.run(run())
    snapshot, created, also, cancelled, filled = seen
    assert isinstance(snapshot, OrderSnapshot)
    assert [(o.id, o.status, o.subaccount) for o in snapshot.orders] == [(rested, "resting", 2)]
    assert isinstance(created, OrderUpdate)
    assert isinstance(cancelled, OrderUpdate)
    assert isinstance(also, OrderUpdate)
    assert isinstance(filled, OrderUpdate)
    assert (created.kind, created.order.status, created.order.client_order_id) == (
        "open",
        "resting",
        "cid-1",
    )
    assert created.order.remaining_count == created.order.initial_count > 0
    assert (cancelled.kind, cancelled.order.id, cancelled.order.status) == (
        "cancelled",
        created.order.id,
        "canceled",
    )
    assert cancelled.order.remaining_count == Decimal(0)
    assert (filled.kind, filled.order.id, filled.order.status) == (
        "fill",
        also.order.id,
        "executed",
    )
    assert filled.order.fill_count == filled.order.initial_count
    assert created.sid == filled.sid >= 1
    assert isinstance(created.sending_ts_ms, int)


def test_a_dropped_socket_reconnects_resubscribes_and_lists_again(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    first = box.seed_kalshi().id

    async def run() -> tuple[list[OrderEvent], str, str]:
        async with box.async_kalshi_client() as client:
            events = client.order_events()
            async with aclosing(events):
                seen = await _until(events, _snapshot)
                assert box.drop_kalshi_stream() == 1
                # What happens while it is away is never sent: the new listing has it.
                second = await asyncio.to_thread(box.seed_kalshi)
                box.kalshi.cancel(box.kalshi.orders[first])
                seen += await _until(events, _snapshot)
                third = await asyncio.to_thread(box.seed_kalshi)
                seen += await _until(
                    events, lambda s: isinstance(s[-1], OrderUpdate) and s[-1].order.id == third.id
                )
                return seen, second.id, third.id

    seen, second, third = asyncio.run(run())
    kinds = [type(e).__name__ for e in seen]
    assert kinds[:2] == ["OrderSnapshot", "StreamInterrupted"]
    assert kinds.count("OrderSnapshot") == 2
    interrupted = seen[1]
    assert isinstance(interrupted, StreamInterrupted)
    assert interrupted.attempt == 1
    # What the reader knows after the reconnect: the new listing, then the updates
    # (the order placed while away is in one or the other, whenever it came).
    resting: set[str] = set()
    for event in seen[kinds.index("OrderSnapshot", 1) :]:
        if isinstance(event, OrderSnapshot):
            resting = {o.id for o in event.orders}
        elif isinstance(event, OrderUpdate):
            (resting.add if event.kind == "open" else resting.discard)(event.order.id)
    assert resting == {second, third}  # the first, cancelled while away, is gone
    last = seen[-1]
    assert isinstance(last, OrderUpdate)
    assert (last.kind, last.order.id) == ("open", third)
    # Resubscribed (a second sid, whose update came) and listed once per connection.
    assert last.sid == 2
    listings = [
        r for r in box.requests if (r.method, r.path) == ("GET", "/trade-api/v2/portfolio/orders")
    ]
    assert len(listings) == 2


# -- the shapes, from the pages --------------------------------------------------------


def _block(page: str, channel: str) -> dict[str, Any]:
    path = PAGES / page
    if not path.exists():
        pytest.fail(f"{path} is missing: ../shared must sit beside the project")
    text = path.read_text()
    opener = f"````yaml asyncapi.yaml {channel}\n"
    block = text.split(opener, 1)[1].split("\n````", 1)[0]
    document = yaml.safe_load(block)
    assert isinstance(document, dict)
    return document


def _user_order_schema() -> dict[str, Any]:
    document = _block("ws-user-orders.md", "user_orders")
    (operation,) = document["operations"]
    (message,) = operation["messages"]
    assert message["id"] == "userOrder"
    schema = message["jsonPayloadSchema"]
    assert isinstance(schema, dict)
    return schema


def test_the_readers_fields_and_statuses_are_the_pages() -> None:
    schema = _user_order_schema()
    assert tuple(schema["required"]) == _events.ENVELOPE_REQUIRED
    assert schema["properties"]["type"]["const"] == _events.MESSAGE_TYPE
    body = schema["properties"]["msg"]
    assert tuple(body["required"]) == _events.ORDER_REQUIRED
    assert tuple(body["properties"]["status"]["enum"]) == _events.STATUSES
    assert set(_events.KINDS) == set(_events.STATUSES)
    # The page's own example reads as an update (given our sid).
    example = _block("ws-user-orders.md", "user_orders")["operations"][0]["messages"][0]
    read = _events.read(example["example"], {22: "user_orders"}, {})
    assert isinstance(read, OrderUpdate)
    assert (read.kind, read.order.id, read.order.remaining_count) == (
        "open",
        "ee587a1c-8b87-4dcf-b721-9f6f790619fa",
        Decimal("10.00"),
    )
    assert _events.read(example["example"], {23: "user_orders"}, {}) is None  # not our sid


def test_the_sandboxs_user_order_messages_are_in_the_pages_shape(
    cancelkit_sandbox: Sandbox,
) -> None:
    import jsonschema
    from cancelkit.sandbox._kalshi import order_json

    schema = _user_order_schema()
    box = cancelkit_sandbox
    orders = [box.seed_kalshi(client_order_id="c"), box.seed_kalshi(subaccount=5)]
    box.kalshi.cancel(orders[0])
    box.kalshi.fill(orders[1])
    for order in orders:
        message = {
            "type": "user_order",
            "sid": 1,
            "sending_ts_ms": 1,
            "msg": user_order(order, order_json(order, time.monotonic() + 60)),
        }
        jsonschema.validate(message, schema)


def test_the_sandboxs_keep_alive_is_the_pages() -> None:
    """The page's Ping: every 10 seconds, body ``heartbeat`` (its block's const and its
    prose), as the sandbox's default and its Ping body."""
    import re

    from cancelkit.sandbox import Knobs
    from cancelkit.sandbox._kalshi_ws import HEARTBEAT

    document = _block("ws-keep-alive.md", "control_frames")
    (kalshi_ping,) = [m for m in document["receiveMessages"] if m["id"] == "outgoingPing"]
    assert kalshi_ping["jsonPayloadSchema"]["const"].encode() == HEARTBEAT
    every = re.search(r"every (\d+) seconds", document["description"])
    assert every is not None
    assert Knobs().stream_ping_every == float(every.group(1))


async def _drain(events: AsyncGenerator[OrderEvent, None], seen: list[OrderEvent]) -> None:
    """Read on (a client answers Pings while it reads), keeping what comes."""
    async for event in events:
        seen.append(event)


async def _poll(done: Callable[[], bool], what: str) -> None:
    async with asyncio.timeout(20):  # generous: each step is a few Pings of 50 ms
        while not done():
            await asyncio.sleep(0.02)


def test_the_sandbox_pings_heartbeat_and_the_client_answers_each(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    box.set_knobs(stream_ping_every=0.05)

    async def run() -> list[OrderEvent]:
        seen: list[OrderEvent] = []
        async with box.async_kalshi_client() as client:
            events = client.order_events()
            async with aclosing(events):
                seen += await _until(events, _snapshot)
                reader = asyncio.create_task(_drain(events, seen))
                try:
                    await _poll(lambda: box.kalshi.stats.stream_pongs >= 3, "three Pongs")
                finally:
                    reader.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await reader
        return seen

    seen = asyncio.run(run())
    stats = box.kalshi.stats
    # Each Ping carried the page's body, and the client's Pong echoed it back.
    assert stats.stream_pings >= stats.stream_pongs >= 3
    # On the one connection: Pings are control frames, never a message or a reconnect.
    assert [type(e).__name__ for e in seen] == ["OrderSnapshot"]
    assert stats.stream_connections == 1


def test_a_silent_server_is_caught_by_the_clients_own_ping_timeout(
    cancelkit_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that hangs (no message, no Ping, the client's Pings unanswered) is
    dropped by the client's own keep-alive (a Ping after PING_EVERY of silence, its
    Pong due within half of that), not waited on forever; it reconnects and lists
    again once the server answers."""
    box = cancelkit_sandbox
    monkeypatch.setattr(_stream, "PING_EVERY", 0.3)  # scaled down from 10 s
    box.set_knobs(stream_ping_every=0)  # no Ping of the server's: only the client's
    first = box.seed_kalshi().id

    async def run() -> list[OrderEvent]:
        seen: list[OrderEvent] = []
        async with box.async_kalshi_client() as client:
            events = client.order_events()
            async with aclosing(events):
                seen += await _until(events, _snapshot)
                box.set_knobs(stream_silent=True)
                seen += await _until(events, lambda s: isinstance(s[-1], StreamInterrupted))
                box.set_knobs(stream_silent=False)
                seen += await _until(events, _snapshot)
        return seen

    seen = asyncio.run(run())
    kinds = [type(e).__name__ for e in seen]
    assert kinds[0] == "OrderSnapshot"
    assert "StreamInterrupted" in kinds
    assert kinds[-1] == "OrderSnapshot"  # reconnected and listed again
    last = seen[-1]
    assert isinstance(last, OrderSnapshot)
    assert [o.id for o in last.orders] == [first]
    assert box.kalshi.stats.stream_connections >= 2


def test_hostile_messages_are_dropped_never_believed() -> None:
    ours = {7: "user_orders"}
    good = _block("ws-user-orders.md", "user_orders")["operations"][0]["messages"][0]["example"]
    import json

    data = json.loads(good)
    data["sid"] = 7
    assert isinstance(_events.read(json.dumps(data), ours, {}), OrderUpdate)
    for change in (
        lambda d: d["msg"].pop("remaining_count_fp"),
        lambda d: d["msg"].update(status="pending_cancel"),
        lambda d: d["msg"].update(order_id=5),
        lambda d: d["msg"].update(remaining_count_fp="NaN"),
        lambda d: d["msg"].update(subaccount_number=64),
        lambda d: d.update(type="fill"),
        lambda d: d.update(sid=True),
    ):
        bad = json.loads(json.dumps(data))
        change(bad)
        assert _events.read(json.dumps(bad), ours, {}) is None
    for raw in ("", "[]", "{", '{"type": "user_order"}', "1e999999", "[" * 100_000):
        assert _events.read(raw, ours, {}) is None
    # A subscribed answer to a command we did not send is nobody's.
    answer = '{"id": 3, "type": "subscribed", "msg": {"channel": "user_orders", "sid": 9}}'
    assert _events.read(answer, ours, {1: "subscribe"}) is None
    assert _events.read(answer, ours, {3: "subscribe"}) == _events.Subscribed(3, "user_orders", 9)


def test_stream_urls_follow_the_quick_start() -> None:
    assert (
        _stream.stream_url("https://external-api.kalshi.com/trade-api/v2")
        == "wss://external-api-ws.kalshi.com/trade-api/ws/v2"
    )
    assert (
        _stream.stream_url("https://external-api.demo.kalshi.co/trade-api/v2")
        == "wss://external-api-ws.demo.kalshi.co/trade-api/ws/v2"
    )
    assert (
        _stream.stream_url("https://api.elections.kalshi.com/trade-api/v2")
        == "wss://api.elections.kalshi.com/trade-api/ws/v2"
    )
    assert (
        _stream.stream_url("http://127.0.0.1:8123/trade-api/v2")
        == "ws://127.0.0.1:8123/trade-api/ws/v2"
    )


# -- a cancel-all that hears a live stream ---------------------------------------------


def _kalshi_requests(box: Sandbox) -> list[tuple[str, str, str]]:
    return [(r.method, r.path, dict(r.query).get("subaccount", "")) for r in box.requests]


def test_cancel_all_on_a_live_stream_deletes_first_and_names_what_it_knows(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    primary = [box.seed_kalshi().id for _ in range(3)]
    fourth = [box.seed_kalshi(subaccount=4).id for _ in range(2)]
    cancel_all = ("DELETE", "/trade-api/v2/portfolio/events/orders")
    listing = ("GET", "/trade-api/v2/portfolio/orders")

    async def run() -> tuple[list[Any], list[Any], list[Any], list[Any]]:
        async with box.async_kalshi_client() as client:
            events = client.order_events()
            async with aclosing(events):
                await _until(events, _snapshot)
                box.clear_requests()
                in_four = await client.cancel_all(subaccount=4, deadline=20)
                sent_four = _kalshi_requests(box)
                box.clear_requests()
                late = await asyncio.to_thread(box.seed_kalshi)
                await _until(
                    events, lambda s: isinstance(s[-1], OrderUpdate) and s[-1].order.id == late.id
                )
                rest = await client.cancel_all(deadline=20)
                sent_rest = _kalshi_requests(box)
                assert late.id in {r.target for r in rest}
            return in_four, sent_four, rest, sent_rest

    in_four, sent_four, rest, sent_rest = asyncio.run(run())
    # The subaccount's orders only, named from the stream; the DELETE first.
    assert {(r.target, r.status) for r in in_four} == {(i, "not_open") for i in fourth}
    assert sent_four[0] == (*cancel_all, "4")
    assert sent_four[1:]
    assert all(s == (*listing, "4") for s in sent_four[1:])
    assert sent_rest[0] == (*cancel_all, "")
    assert {r.status for r in rest} == {"not_open"}
    assert len(rest) == 4
    assert {r.target for r in rest} >= set(primary)
    assert open_ids_kalshi(box) == set()


def open_ids_kalshi(box: Sandbox) -> set[str]:
    return {o.id for o in box.kalshi.on_book("kalshi-demo")}


def test_cancel_all_without_a_live_stream_lists_first(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    ids = [box.seed_kalshi().id for _ in range(2)]

    async def run() -> list[Any]:
        async with box.async_kalshi_client() as client:
            events = client.order_events()
            async with aclosing(events):
                await _until(events, _snapshot)
            # Closed: what it knew is a listing of the past, not known now.
            box.clear_requests()
            return await client.cancel_all(deadline=20)

    results = asyncio.run(run())
    sent = _kalshi_requests(box)
    assert sent[0][:2] == ("GET", "/trade-api/v2/portfolio/orders")
    assert sent[1][:2] == ("DELETE", "/trade-api/v2/portfolio/events/orders")
    assert sorted(r.target for r in results) == sorted(ids)
    assert {r.status for r in results} == {"not_open"}


def test_the_sandbox_answers_hostile_commands_with_the_pages_errors(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    key_id, pem = box.credentials.kalshi_key("ed25519")
    auth = KalshiAuth(key_id, pem)
    sent: list[Any] = [
        "not json",
        "[1, 2]",
        {"id": 1, "cmd": "launch", "params": {}},
        {"id": 2, "cmd": "subscribe"},
        {"id": 3, "cmd": "subscribe", "params": {"channels": []}},
        {"id": 4, "cmd": "subscribe", "params": {"channels": ["ticker"]}},
        {"id": 5, "cmd": "subscribe", "params": {"channels": ["user_orders"], "market_tickers": 7}},
        {"id": 6, "cmd": "unsubscribe", "params": {"sids": [999]}},
        {"id": 7, "cmd": "subscribe", "params": {"channels": ["user_orders"]}},
    ]

    async def run() -> list[dict[str, Any]]:
        import json

        async with aiohttp.ClientSession() as session:
            url = _ws_url(box)
            ws = await session.ws_connect(url, headers=auth.signed("GET", "/trade-api/ws/v2", b""))
            answers = []
            for message in sent:
                await ws.send_str(message if isinstance(message, str) else json.dumps(message))
                async with asyncio.timeout(10):
                    answers.append(json.loads((await ws.receive()).data))
            await ws.close()
            return answers

    answers = asyncio.run(run())
    codes = [(a.get("id"), a["type"], a["msg"].get("code")) for a in answers]
    assert codes == [
        (None, "error", 1),
        (None, "error", 1),
        (1, "error", 5),
        (2, "error", 2),
        (3, "error", 3),
        (4, "error", 8),
        (5, "error", 11),
        (6, "error", 7),
        (7, "subscribed", None),
    ]
    assert answers[-1]["msg"]["channel"] == "user_orders"


def test_the_live_book_names_each_subaccount_s_resting_orders_as_the_stream_tells_them() -> None:
    """A guard's Kalshi kill names the resting orders its live stream knows, per
    subaccount: those the snapshot gave and updates added, not those cancelled or
    filled, an order that moved to another subaccount under its new one only; and
    nothing (list first) while any order's subaccount is unknown, or no stream is live."""
    from cancelkit.kalshi._events import OrderSnapshot, OrderUpdate, StreamOrder, UpdateKind
    from cancelkit.kalshi._live import LiveBook

    def update(kind: UpdateKind, order_id: str, sub: int | None) -> OrderUpdate:
        return OrderUpdate(kind, StreamOrder(order_id, subaccount=sub), sid=1)

    book = LiveBook()
    assert book.resting(0) is None  # no stream live
    book.live = 1
    book._take(OrderSnapshot((StreamOrder("a", subaccount=0), StreamOrder("b", subaccount=3))))
    book._take(update("open", "c", 0))
    book._take(update("open", "d", 3))
    book._take(update("cancelled", "a", 0))
    book._take(update("fill", "d", 3))
    book._take(update("open", "b", 0))  # moved from subaccount 3 to 0

    def resting(sub: int | None) -> list[str] | None:
        found = book.resting(sub)
        return None if found is None else sorted(found)

    assert (resting(0), resting(3), resting(None)) == (["b", "c"], [], ["b", "c"])
    book._take(update("open", "e", None))  # whose? a subaccount asked: list instead
    assert resting(0) is None
    assert resting(None) == ["b", "c", "e"]
    book._take(update("cancelled", "e", None))
    assert resting(0) == ["b", "c"]
    book._take(OrderSnapshot((StreamOrder("f", subaccount=3),)))  # a reconnect's listing
    assert (resting(0), resting(3)) == ([], ["f"])


def test_a_ledger_registers_a_kill_s_targets_at_once_duplicates_following_the_first() -> None:
    from cancelkit._bulk import Ledger

    once = Ledger(["x", "y", "z"], missing_ok=False, on_result=None)
    once.first_of_each(["x", "y", "z"])
    assert [once.first_of(i, k) for i, k in enumerate("xyz")] == [True, True, True]
    twice = Ledger(["x", "y", "x"], missing_ok=False, on_result=None)
    twice.first_of_each(["x", "y", "x"])
    assert twice._first == {"x": 0, "y": 1}
    assert twice._duplicates == {0: [2]}

"""Limitless's private order stream (provisional shape), on a real WebSocket to the
sandbox's Socket.IO endpoint: the signed handshake (accepted, and refused when
tampered with), the namespace and the subscribe, an order placed, cancelled and
matched heard as a typed event with its market, a reconnect that subscribes again,
the Engine.IO pings answered, and hostile frames closed, never a 500."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import Any

import aiohttp
import pytest
from cancelkit import AuthenticationError
from cancelkit.limitless import (
    AsyncLimitlessClient,
    LimitlessOrderEvent,
    LimitlessStreamEvent,
    LimitlessStreamInterrupted,
    LimitlessStreamSubscribed,
    _stream,
)
from cancelkit.sandbox import Sandbox

WAIT = 20.0  # seconds any one wait may take, at most
PATH = "/socket.io/?EIO=4&transport=websocket"


async def _until(
    events: AsyncGenerator[LimitlessStreamEvent, None],
    done: Callable[[list[LimitlessStreamEvent]], bool],
) -> list[LimitlessStreamEvent]:
    """The events until ``done`` says enough (bounded: never a hang)."""
    seen: list[LimitlessStreamEvent] = []
    async with asyncio.timeout(WAIT):
        async for event in events:
            seen.append(event)
            if done(seen):
                break
    return seen


async def _subscribes(box: Sandbox, count: int) -> None:
    """Until the sandbox has taken ``count`` subscribes (an order placed before that
    would, rightly, be heard by nobody)."""
    async with asyncio.timeout(WAIT):
        while box.limitless_stream_subscribes < count:
            await asyncio.sleep(0.01)


def _client(box: Sandbox) -> AsyncLimitlessClient:
    return box.async_limitless_client(paced=False)


def _last_is(kind: type) -> Callable[[list[LimitlessStreamEvent]], bool]:
    return lambda seen: isinstance(seen[-1], kind)


def test_an_order_placed_cancelled_and_matched_is_heard_with_its_market(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox

    async def run() -> list[LimitlessStreamEvent]:
        async with _client(box) as lm:
            events = lm.order_events()
            async with aclosing(events):
                seen = await _until(events, _last_is(LimitlessStreamSubscribed))
                await _subscribes(box, 1)
                box.seed_limitless(
                    market_slug="not-ours", owner=box.credentials.limitless_other_profile_id
                )
                placed = box.seed_limitless(market_slug="btc-100k")
                seen += await _until(events, _last_is(LimitlessOrderEvent))
                await lm.cancel_order(order_id=placed.id)
                seen += await _until(events, _last_is(LimitlessOrderEvent))
                filled = box.seed_limitless(market_slug="eth-5k")
                box.limitless.fill(filled)
                seen += await _until(events, lambda s: len(s) == 2)
        return seen

    subscribed, placement, cancellation, placed_again, matched = asyncio.run(run())
    assert subscribed == LimitlessStreamSubscribed(1)
    assert isinstance(placement, LimitlessOrderEvent)
    assert (placement.source, placement.type) == ("OME", "PLACEMENT")
    assert placement.market_slug == "btc-100k"  # the other profile's order is not heard
    assert isinstance(cancellation, LimitlessOrderEvent)
    assert (cancellation.source, cancellation.type) == ("OME", "CANCELLATION")
    assert cancellation.order_id == placement.order_id
    assert isinstance(placed_again, LimitlessOrderEvent)
    assert placed_again.market_slug == "eth-5k"
    assert isinstance(matched, LimitlessOrderEvent)
    assert (matched.source, matched.type, matched.market_slug) == (
        "SETTLEMENT",
        "MATCHED",
        "eth-5k",
    )
    assert matched.data["tradeEventId"]  # untyped fields kept as sent


def test_a_handshake_refused_for_our_clock_is_signed_again_once(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    box.set_knobs(clock_offset=-300.0)  # the exchange's clock (and its Date) moved

    async def run() -> list[LimitlessStreamEvent]:
        async with _client(box) as lm:
            events = lm.order_events()
            async with aclosing(events):
                return await _until(events, _last_is(LimitlessStreamSubscribed))

    # The 401's Date corrected the clock; the re-signed upgrade (the second connect)
    # was let in, and no interruption was announced.
    assert asyncio.run(run()) == [LimitlessStreamSubscribed(2)]
    assert box.limitless.stats.auth_failures == 1


def test_a_tampered_handshake_is_refused_before_the_upgrade(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox

    async def connect(headers: list[tuple[str, str]]) -> int:
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(box.limitless_url + PATH, headers=headers) as ws:
                    first = await ws.receive(timeout=WAIT)
                    assert first.type == aiohttp.WSMsgType.TEXT
                    assert first.data.startswith("0{")  # Engine.IO's open packet
                    return 101
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status

    async def run() -> dict[str, int]:
        async with _client(box) as lm:
            good = lm._auth.signed("GET", PATH, b"")
            other_path = lm._auth.signed("GET", "/socket.io/?EIO=4&transport=polling", b"")
            other_method = lm._auth.signed("POST", PATH, b"")
        name, value = good[2]
        raw = bytearray(base64.b64decode(value))
        raw[0] ^= 1
        flipped = [*good[:2], (name, base64.b64encode(bytes(raw)).decode())]
        return {
            "signed": await connect(good),
            "signature flipped": await connect(flipped),
            "signed for another path": await connect([*good[:2], other_path[2]]),
            "signed as POST": await connect([*good[:2], other_method[2]]),
            "unsigned": await connect([good[0]]),
        }

    found = asyncio.run(run())
    assert found == {
        "signed": 101,
        "signature flipped": 401,
        "signed for another path": 401,
        "signed as POST": 401,
        "unsigned": 401,
    }


def test_a_client_with_a_revoked_token_raises_authentication_error(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    secret = base64.b64encode(b"x" * 32).decode()

    async def run() -> None:
        async with AsyncLimitlessClient(
            box.credentials.limitless_token_id, secret, base_url=box.limitless_url, paced=False
        ) as lm:
            events = lm.order_events()
            async with aclosing(events):
                await _until(events, lambda _: True)

    with pytest.raises(AuthenticationError, match="handshake was refused"):
        asyncio.run(run())


def test_a_reconnect_subscribes_again_and_hears_what_follows(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    box.set_knobs(stream_close_after=1)  # the server closes after one event

    async def run() -> list[LimitlessStreamEvent]:
        async with _client(box) as lm:
            events = lm.order_events()
            async with aclosing(events):
                seen = await _until(events, _last_is(LimitlessStreamSubscribed))
                await _subscribes(box, 1)
                box.seed_limitless(market_slug="first")
                seen += await _until(events, _last_is(LimitlessStreamSubscribed))
                box.set_knobs(stream_close_after=0)
                await _subscribes(box, 2)
                box.seed_limitless(market_slug="second")
                seen += await _until(events, _last_is(LimitlessOrderEvent))
        return seen

    seen = asyncio.run(run())
    kinds = [type(e).__name__ for e in seen]
    assert kinds == [
        "LimitlessStreamSubscribed",
        "LimitlessOrderEvent",
        "LimitlessStreamInterrupted",
        "LimitlessStreamSubscribed",
        "LimitlessOrderEvent",
    ]
    assert seen[1].market_slug == "first"  # type: ignore[union-attr]
    assert isinstance(seen[2], LimitlessStreamInterrupted)
    assert seen[3] == LimitlessStreamSubscribed(2)
    assert seen[4].market_slug == "second"  # type: ignore[union-attr]
    assert box.limitless_stream_subscribes == 2


def test_the_server_pings_are_answered_and_the_connection_stays(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    box.set_knobs(stream_heartbeat=0.25)  # a ping every 250 ms, a pong due within 1 s

    async def run() -> list[LimitlessStreamEvent]:
        async with _client(box) as lm:
            events = lm.order_events()
            async with aclosing(events):
                seen = await _until(events, _last_is(LimitlessStreamSubscribed))
                await _subscribes(box, 1)
                await asyncio.sleep(2.0)  # eight pings: one unanswered would close it
                box.seed_limitless(market_slug="later")
                seen += await _until(events, _last_is(LimitlessOrderEvent))
        return seen

    seen = asyncio.run(run())
    assert [type(e).__name__ for e in seen] == [
        "LimitlessStreamSubscribed",
        "LimitlessOrderEvent",
    ]
    assert box.limitless_stream_subscribes == 1  # never reconnected


async def _raw(box: Sandbox) -> tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]:
    async with _client(box) as lm:
        headers = lm._auth.signed("GET", PATH, b"")
    session = aiohttp.ClientSession()
    ws = await session.ws_connect(box.limitless_url + PATH, headers=headers)
    first = await ws.receive(timeout=WAIT)
    assert first.data.startswith("0{")
    return session, ws


def test_a_connection_that_does_not_answer_pings_is_closed(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    box.set_knobs(stream_heartbeat=0.05)

    async def run() -> list[str]:
        session, ws = await _raw(box)
        heard: list[str] = []
        try:
            async with asyncio.timeout(WAIT):
                async for message in ws:  # ends when the server closes
                    heard.append(message.data)
        finally:
            await ws.close()
            await session.close()
        return heard

    assert asyncio.run(run()) == ["2"]


def test_no_event_before_the_namespace_and_the_subscribe(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox

    async def run() -> list[str]:
        session, ws = await _raw(box)
        heard: list[str] = []
        try:
            await ws.send_str('42/markets,["subscribe_order_events"]')  # not joined yet
            await ws.send_str("40/other,")
            heard.append((await ws.receive(timeout=WAIT)).data)
            await ws.send_str("40/markets,")
            heard.append((await ws.receive(timeout=WAIT)).data)
            box.seed_limitless(market_slug="unheard")  # joined, not subscribed
            await ws.send_str('42/markets,["subscribe_order_events"]')
            async with asyncio.timeout(WAIT):
                while box.limitless_stream_subscribes < 1:
                    await asyncio.sleep(0.01)
            box.seed_limitless(market_slug="heard")
            heard.append((await ws.receive(timeout=WAIT)).data)
        finally:
            await ws.close()
            await session.close()
        return heard

    refused, joined, event = asyncio.run(run())
    assert refused.startswith("44/other,")
    assert joined.startswith("40/markets,{")
    name, payload = json.loads(event.removeprefix("42/markets,"))
    assert name == "orderEvent"
    assert payload["marketSlug"] == "heard"


@pytest.mark.parametrize(
    "frame",
    [
        "not engine.io",
        "4",
        "42/markets,{not json",
        "42/markets,[]",
        '42/markets,"string"',
        "40/markets,{broken",
        "49",
        "\x00\x01",
        "[" * 5000,
        b"\x00binary",
    ],
)
def test_hostile_frames_close_the_connection_never_a_500(
    cancelkit_sandbox: Sandbox, frame: str | bytes
) -> None:
    box = cancelkit_sandbox

    async def run() -> int | None:
        session, ws = await _raw(box)
        try:
            if isinstance(frame, bytes):
                await ws.send_bytes(frame)
            else:
                await ws.send_str(frame)
            async with asyncio.timeout(WAIT):
                async for _ in ws:
                    pass
            return ws.close_code
        finally:
            await session.close()

    assert asyncio.run(run()) in (1003, 1008)

    # The server is still well: a signed client joins and subscribes.
    async def again() -> list[LimitlessStreamEvent]:
        async with _client(box) as lm:
            events = lm.order_events()
            async with aclosing(events):
                return await _until(events, _last_is(LimitlessStreamSubscribed))

    assert asyncio.run(again()) == [LimitlessStreamSubscribed(1)]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/socket.io/?EIO=3&transport=websocket", 400),
        ("/socket.io/?EIO=4&transport=polling", 400),
        ("/socket.io/?EIO=4&EIO=4&transport=websocket", 400),
        ("/socket.io/?transport=websocket", 400),
    ],
)
def test_an_upgrade_it_does_not_serve_is_a_400(
    cancelkit_sandbox: Sandbox, path: str, status: int
) -> None:
    box = cancelkit_sandbox

    async def run() -> int:
        async with _client(box) as lm:
            headers = lm._auth.signed("GET", path, b"")  # signed right: refused for its query
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(box.limitless_url + path, headers=headers):
                    return 101
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status

    assert asyncio.run(run()) == status


def test_long_polling_is_a_400_in_engine_io_shape(cancelkit_sandbox: Sandbox) -> None:
    import httpx

    answer = httpx.get(cancelkit_sandbox.limitless_url + "/socket.io/?EIO=4&transport=polling")
    assert answer.status_code == 400
    assert answer.json() == {"code": 0, "message": "Transport unknown"}


@pytest.mark.parametrize(
    "payload",
    [
        {"source": "OME", "type": "PLACEMENT", "orderId": "o", "marketSlug": "m"},
        {"source": "SETTLEMENT", "type": "MATCHED", "marketSlug": "m", "eventId": "e"},
        {"source": "OME", "type": "EXECUTION", "marketId": 42, "status": "FILLED"},
    ],
)
def test_the_sources_pairs_are_read(payload: dict[str, Any]) -> None:
    event = _stream._event("42/markets," + json.dumps(["orderEvent", payload]))
    assert isinstance(event, LimitlessOrderEvent)
    assert (event.source, event.type) == (payload["source"], payload["type"])
    assert event.market_slug == payload.get("marketSlug")
    assert event.market_id == (None if "marketId" not in payload else str(payload["marketId"]))


@pytest.mark.parametrize(
    "frame",
    [
        '42/markets,["orderEvent",{"source":"OME","type":"FILL"}]',  # a type no source names
        '42/markets,["orderEvent",{"source":"X","type":"PLACEMENT"}]',
        '42/markets,["orderEvent",{"source":"OME","type":"PLACEMENT","marketSlug":7}]',
        '42/markets,["orderEvent",{"source":"OME","type":"PLACEMENT","orderId":["a"]}]',
        '42/markets,["orderEvent",{"source":"OME","type":"PLACEMENT","marketId":true}]',
        '42/markets,["orderEvent",{"source":"OME","type":"PLACEMENT","marketSlug":"a\\nb"}]',
        '42/markets,["orderEvent"]',
        '42/markets,["somethingElse",{"source":"OME","type":"PLACEMENT"}]',
        '42["orderEvent",{"source":"OME","type":"PLACEMENT"}]',  # the default namespace
        '42/other,["orderEvent",{"source":"OME","type":"PLACEMENT"}]',
        "42/markets,[" * 3000,
    ],
)
def test_a_frame_the_sources_do_not_describe_is_dropped(frame: str) -> None:
    assert _stream._event(frame) is None


def test_each_connect_is_signed_afresh(cancelkit_sandbox: Sandbox, monkeypatch: Any) -> None:
    """A reconnect after the 30-second window still gets in: its timestamp is new."""
    box = cancelkit_sandbox
    box.set_knobs(stream_close_after=1)
    stamps: list[str] = []

    async def run() -> None:
        async with _client(box) as lm:
            signed = lm._auth.signed

            def spy(method: str, target: str, body: bytes) -> list[tuple[str, str]]:
                headers = signed(method, target, body)
                if target == PATH:
                    stamps.append(headers[1][1])
                return headers

            monkeypatch.setattr(lm._auth, "signed", spy)
            events = lm.order_events()
            async with aclosing(events):
                await _until(events, _last_is(LimitlessStreamSubscribed))
                await _subscribes(box, 1)
                time.sleep(0.01)  # a later millisecond for the second stamp
                box.seed_limitless(market_slug="x")
                await _until(events, _last_is(LimitlessStreamSubscribed))

    asyncio.run(run())
    assert len(stamps) == 2
    assert stamps[0] != stamps[1]


def test_the_client_loads_no_stream_module_and_its_defaults_are_the_streams() -> None:
    """The stream's modules (and aiohttp) load when a stream is opened, not with the
    client (the cold command pays nothing for them); its defaults are theirs."""
    import inspect
    import subprocess
    import sys

    from cancelkit.limitless import _events

    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from cancelkit.limitless import AsyncLimitlessClient, LimitlessClient\n"
            "print(sorted(m for m in sys.modules if m.endswith(('._events', '._stream'))"
            " or m == 'aiohttp'))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert loaded.stdout.strip() == "[]"
    defaults = inspect.signature(AsyncLimitlessClient.order_events).parameters
    assert defaults["max_message_bytes"].default == _events.MAX_MESSAGE
    assert defaults["reconnects"].default == _events.RECONNECTS


def test_the_streams_url_is_the_exchanges_beside_its_api_else_the_root_given() -> None:
    from cancelkit import InvalidRequest

    assert _stream.stream_url("https://api.limitless.exchange", None) == _stream.STREAM_URL
    assert _stream.stream_url("http://127.0.0.1:8/", None) == "http://127.0.0.1:8"
    assert _stream.stream_url("https://api.limitless.exchange", "https://ws.example/") == (
        "https://ws.example"
    )
    with pytest.raises(InvalidRequest):
        _stream.stream_url("https://api.limitless.exchange", "ftp://ws.example")


def test_a_client_on_a_given_transport_has_no_stream_and_says_so_before_any_io() -> None:
    import httpx
    from cancelkit.limitless import LimitlessStreamError

    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing may be sent")

    async def run() -> None:
        secret = base64.b64encode(b"k" * 32).decode()
        async with AsyncLimitlessClient(
            "tok", secret, transport=httpx.MockTransport(refuse), paced=False
        ) as lm:
            with pytest.raises(LimitlessStreamError, match="carries no WebSocket"):
                lm.order_events()
        async with AsyncLimitlessClient(
            "tok", secret, base_url="http://127.0.0.1:9", paced=False
        ) as lm:
            with pytest.raises(InvalidRequest, match="reconnects"):
                lm.order_events(reconnects=-1)
            with pytest.raises(InvalidRequest, match="max_message_bytes"):
                lm.order_events(max_message_bytes=10)

    from cancelkit import InvalidRequest

    asyncio.run(run())

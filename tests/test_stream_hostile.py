"""The private order streams fed by a hostile (or broken) server: a scripted
WebSocket server on 127.0.0.1 (aiohttp) that speaks just enough of each venue's
protocol to get the client subscribed, then misbehaves. Each case asserts what a
guard depends on: nothing unbounded (reconnect rate, memory, log lines, the event
loop), and nothing from the server taken for an order's end."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cancelkit import Account, AsyncDesk, InvalidRequest, SecretRef, _ws
from cancelkit.limitless import (
    AsyncLimitlessClient,
    LimitlessOrderEvent,
    LimitlessStreamEvent,
    LimitlessStreamInterrupted,
    LimitlessStreamSubscribed,
    _events,
    _stream,
)
from helpers import LM_SECRET, LM_TOKEN_ID, Script, call

WAIT = 5.0  # seconds a whole case may take, at most (never a hang)
NAMESPACE = "/markets"

Behaviour = Callable[[web.WebSocketResponse], Awaitable[None]]


async def _handshake(ws: web.WebSocketResponse) -> bool:
    """Engine.IO's open, the namespace joined, the subscribe read: False if the
    client left first."""
    opened = {"sid": "s", "upgrades": [], "pingInterval": 25000, "pingTimeout": 20000}
    await ws.send_str("0" + json.dumps(opened))
    async for message in ws:
        if message.type != aiohttp.WSMsgType.TEXT:
            return False
        if message.data.startswith(f"40{NAMESPACE}"):
            await ws.send_str(f"40{NAMESPACE}," + json.dumps({"sid": "n"}))
        elif message.data.startswith(f"42{NAMESPACE},"):
            return True  # subscribe_order_events
    return False


async def _until_closed(ws: web.WebSocketResponse) -> None:
    """Read (and drop) until the client has gone."""
    async for _ in ws:
        pass


@asynccontextmanager
async def _engine(behaviour: Behaviour, counts: dict[str, int]) -> AsyncIterator[str]:
    """A Socket.IO server on an ephemeral loopback port that subscribes each client,
    then runs ``behaviour``; its URL. ``counts["connections"]``: connections taken."""

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        counts["connections"] = counts.get("connections", 0) + 1
        if await _handshake(ws):
            await behaviour(ws)
        return ws

    app = web.Application()
    app.router.add_get("/socket.io/", handler)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def _client(url: str) -> AsyncLimitlessClient:
    return AsyncLimitlessClient(LM_TOKEN_ID, LM_SECRET, base_url=url, trust_env=False)


def _run(case: Callable[[], Awaitable[Any]]) -> Any:
    async def bounded() -> Any:
        async with asyncio.timeout(WAIT):
            return await case()

    return asyncio.run(bounded())


def _event_frame(order: str, pad: int = 0) -> str:
    payload = {"source": "OME", "type": "PLACEMENT", "orderId": order, "pad": "x" * pad}
    return f"42{NAMESPACE}," + json.dumps(["orderEvent", payload])


# -- the reconnect rate ------------------------------------------------------------------


def test_a_server_that_drops_each_connection_once_subscribed_is_reconnected_ever_slower(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A gateway that accepts, subscribes and drops at once: each connect is a
    success (the stream never gives up), yet the waits before reconnecting grow as
    they do for failures, so the reconnect rate is bounded (it was one every 0.1 s,
    forever: a signed handshake each, and on Kalshi a listing each)."""
    delays: list[float] = []
    real = _ws.backoff

    def spy(attempt: int) -> float:
        delays.append(real(attempt))
        return 0.0  # the case does not wait them out

    monkeypatch.setattr(_ws, "backoff", spy)
    counts: dict[str, int] = {}

    async def drop(ws: web.WebSocketResponse) -> None:
        await ws.close()

    async def case() -> list[LimitlessStreamEvent]:
        seen: list[LimitlessStreamEvent] = []
        async with _engine(drop, counts) as url, _client(url) as lm:
            events = lm.order_events(reconnects=2)
            async with aclosing(events):
                async for event in events:
                    seen.append(event)
                    if sum(isinstance(e, LimitlessStreamInterrupted) for e in seen) == 6:
                        break
        return seen

    seen = _run(case)
    # Never given up (reconnects=2): each connection was subscribed, so each drop is
    # the first failure in a row...
    assert [e.attempt for e in seen if isinstance(e, LimitlessStreamInterrupted)] == [1] * 6
    # ...but the waits grow as for failures in a row, up to the cap.
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.6]  # before each reconnect
    assert counts["connections"] == 6


def test_a_frame_breaking_the_websocket_protocol_is_named_in_the_interruption() -> None:
    """A frame with reserved bits set (a broken proxy, a server speaking a compression
    it never agreed): the connection is dropped and reopened, and the interruption
    (shown by ``cancelkit status``) says why; it said "connection error: None"."""

    async def broken(ws: web.WebSocketResponse) -> None:
        transport = ws._writer.transport if ws._writer is not None else None  # type: ignore[attr-defined]
        assert transport is not None
        transport.write(b"\xc1\x01x")  # FIN, RSV1, text, one byte: never agreed
        await _until_closed(ws)

    async def case() -> LimitlessStreamInterrupted:
        async with _engine(broken, {}) as url, _client(url) as lm:
            events = lm.order_events()
            async with aclosing(events):
                async for event in events:
                    if isinstance(event, LimitlessStreamInterrupted):
                        return event
        raise AssertionError("the stream ended")

    event = _run(case)
    assert "reserved bits" in event.reason
    assert "None" not in event.reason


# -- memory --------------------------------------------------------------------------------


def test_a_reader_behind_a_flood_of_large_frames_keeps_a_bounded_backlog() -> None:
    """A server sending 1 MB frames faster than the consumer reads: what is read
    ahead is bounded in characters, not only in packets (10,000 packets of up to
    ``max_message_bytes`` each was up to 10 GiB); past the bound the connection is
    closed at once and the consumer hears the interruption after what was kept."""
    frames, size = 24, 1_000_000
    handled = asyncio.Event()

    async def flood(ws: web.WebSocketResponse) -> None:
        for n in range(frames):
            await ws.send_str(_event_frame(f"o{n}", pad=size))
        await ws.send_str("2")  # answered only once every frame before it was read
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT and message.data == "3":
                break
        handled.set()  # read to the ping, or closed by the client

    async def case() -> list[LimitlessStreamEvent]:
        seen: list[LimitlessStreamEvent] = []
        async with _engine(flood, {}) as url, _client(url) as lm:
            events = lm.order_events(max_message_bytes=2 * size)
            async with aclosing(events):
                async for event in events:
                    seen.append(event)
                    if isinstance(event, LimitlessStreamSubscribed):
                        await handled.wait()  # the consumer reads nothing meanwhile
                    orders = sum(isinstance(e, LimitlessOrderEvent) for e in seen)
                    if isinstance(event, LimitlessStreamInterrupted) or orders == frames:
                        break
        return seen

    seen = _run(case)
    kept = [e for e in seen if isinstance(e, LimitlessOrderEvent)]
    assert isinstance(seen[-1], LimitlessStreamInterrupted)
    assert "characters behind" in seen[-1].reason
    assert 0 < len(kept) <= _stream._BACKLOG_CHARS // size
    assert [e.order_id for e in kept] == [f"o{n}" for n in range(len(kept))]  # in order


# -- log lines -----------------------------------------------------------------------------


def test_a_flood_of_server_exceptions_is_a_few_log_lines_escaped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The server's ``exception`` messages are logged, escaped (a terminal's control
    characters shown as ``?``), and only the first few of a connection: 2,000 of
    them were 2,000 log lines, as many as a server cared to send."""
    count = 2000

    async def shout(ws: web.WebSocketResponse) -> None:
        for n in range(count):
            said = {"message": f"\x1b]0;owned\x07\x1b[2J error {n}"}
            await ws.send_str(f"42{NAMESPACE}," + json.dumps(["exception", said]))
        await ws.send_str(_event_frame("after"))
        await _until_closed(ws)

    async def case() -> list[LimitlessStreamEvent]:
        seen: list[LimitlessStreamEvent] = []
        async with _engine(shout, {}) as url, _client(url) as lm:
            events = lm.order_events()
            async with aclosing(events):
                async for event in events:
                    seen.append(event)
                    if isinstance(event, LimitlessOrderEvent):
                        break
        return seen

    with caplog.at_level(logging.DEBUG, logger="cancelkit"):
        seen = _run(case)
    assert seen[-1].order_id == "after"  # type: ignore[union-attr]
    said = [r.getMessage() for r in caplog.records if "the server sa" in r.getMessage()]
    assert 1 <= len(said) <= 4
    assert all("\x1b" not in line and "\x07" not in line for line in said)
    assert "error 0" in said[0]


# -- the event loop ------------------------------------------------------------------------


def test_a_flood_of_engine_io_pings_does_not_hold_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """5,000 pings sent at once: each is answered, and every other task (a guard's
    firing) gets the loop between two answers; before, every ping already read was
    answered in one go while the rest of the program waited."""
    pings = 5000
    ticks = 0
    answered_at: list[int] = []
    send = aiohttp.ClientWebSocketResponse.send_str

    async def spy(self: aiohttp.ClientWebSocketResponse, data: str, *args: Any) -> None:
        if data == "3":
            answered_at.append(ticks)
        await send(self, data, *args)

    monkeypatch.setattr(aiohttp.ClientWebSocketResponse, "send_str", spy)
    pongs = asyncio.Event()

    async def flood(ws: web.WebSocketResponse) -> None:
        await asyncio.gather(*(ws.send_str("2") for _ in range(pings)))
        got = 0
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT and message.data == "3":
                got += 1
                if got == pings:
                    break
        pongs.set()
        await _until_closed(ws)

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    async def case() -> None:
        tick = asyncio.ensure_future(ticker())  # turning before any ping can come
        try:
            async with _engine(flood, {}) as url, _client(url) as lm:
                events = lm.order_events()
                async with aclosing(events):
                    async for event in events:
                        assert isinstance(event, LimitlessStreamSubscribed)
                        break
                    await pongs.wait()
        finally:
            tick.cancel()

    _run(case)
    assert len(answered_at) == pings
    most = max(answered_at.count(t) for t in set(answered_at))
    assert most == 1  # at most one answer per turn of the loop


# -- what a stream names ---------------------------------------------------------------------


@pytest.mark.parametrize("slug", [".", ".."])
def test_a_dot_segment_market_is_never_learned_listed_nor_cancelled(
    make_lm: Callable[..., Any], slug: str
) -> None:
    """A stream's ``marketSlug`` of ``..`` was learned by the guard, which then listed
    ``GET /markets/../user-orders`` (every HTTP stack resolves it: ``GET
    /user-orders``) and fired ``DELETE /orders/all/..`` (``DELETE /orders/``), both
    signed. Such a slug is refused as Polymarket's ``..`` order id is: the frame is
    dropped, the desk does not learn it, the client sends nothing."""
    frame = {"source": "OME", "type": "PLACEMENT", "orderId": "o", "marketSlug": slug}
    assert _events.read(frame) is None
    account = Account("lm", "limitless", LM_TOKEN_ID, SecretRef(env="LM_SECRET"))
    assert AsyncDesk([account]).learn("lm", slug) is False
    script = Script()
    for method in ("open_orders", "cancel_all"):
        with pytest.raises(InvalidRequest, match="dot-segment"):
            call(getattr(make_lm(script), method), slug)
    assert script.requests == []


def test_a_stream_naming_endless_markets_costs_bounded_memory_and_log_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """5,000 markets on one account's stream: the guard learns the first
    ``MAX_LEARNED`` (as before), and now also keeps at most as many for its status
    (``markets_seen`` grew with every one) and logs the refusals a few times, not
    once per market (4,000 warnings before)."""
    from cancelkit._cli._guard_desk import Upkeep
    from cancelkit._desk import MAX_LEARNED

    account = Account("lm", "limitless", LM_TOKEN_ID, SecretRef(env="LM_SECRET"))
    desk = AsyncDesk([account])
    upkeep = Upkeep(desk)
    with caplog.at_level(logging.INFO, logger="cancelkit"):
        for n in range(5000):
            upkeep._event("lm", LimitlessOrderEvent("OME", "PLACEMENT", f"o{n}", f"m-{n}"))
    assert len(desk.learned("lm")) == MAX_LEARNED
    (shown,) = upkeep.status()["accounts"]
    assert len(shown["markets_seen"]) <= MAX_LEARNED  # _guard_desk.MAX_SEEN
    assert len(shown["markets_covered"]) == MAX_LEARNED
    refused = [r for r in caplog.records if "not learned" in r.getMessage()]
    assert 1 <= len(refused) <= 11


def test_a_kept_markets_file_naming_a_million_markets_is_read_to_the_bound(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``guard-markets.json`` with 300,000 markets for an account (under its 4 MiB
    cap): only the first ``MAX_LEARNED`` are read back, with one warning, so a start
    costs no more than with the bound (each market read back is checked by its
    venue's rules and compared with those learned)."""
    from cancelkit._cli._guard_markets import NAME, LearnedMarkets
    from cancelkit._desk import MAX_LEARNED

    markets = [f"m{n}" for n in range(300_000)]
    path = tmp_path / NAME
    path.write_text(json.dumps({"version": 1, "accounts": {"lm": markets, "x": "no"}}))
    path.chmod(0o600)
    with caplog.at_level(logging.WARNING, logger="cancelkit"):
        found = LearnedMarkets(tmp_path).read()
    assert found == {"lm": markets[:MAX_LEARNED]}
    assert "names 300000 markets; the first 1000 read" in caplog.text


# -- a server's clock --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "date",
    [
        "Mon, 01 Jan 2020 99999999999:00:00 GMT",  # OverflowError in the parser
        "Mon, 01 Jan 1900 00:00:99999999999 GMT",
        "Fri, 31 Dec 9999 23:59:59 -2359",  # past what a timestamp may be
    ],
)
def test_a_date_header_no_exchange_could_send_neither_raises_nor_moves_the_clock(
    date: str,
) -> None:
    """A gateway's ``Date`` that overflows the parser raised ``OverflowError`` out of
    the client: ``cancel_order`` raised it after the exchange had answered, and a
    kill switch stopped at once ("unexpected OverflowError"), every order
    ``not_sent``. One in year 9999 moved the clock there, so every later request
    was signed 8,000 years late. Such a header is now ignored, as a missing one is."""
    import httpx
    from cancelkit import PolymarketUSClient
    from cancelkit._signing import SigningAuth
    from helpers import PM_KEY_ID, PM_SECRET_32

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Date": date}, content=b"{}")

    with PolymarketUSClient(
        PM_KEY_ID, PM_SECRET_32, base_url="https://pm.test", transport=httpx.MockTransport(answer)
    ) as pm:
        assert pm.cancel_order("ord-1") is None  # the page's answer: done, nothing raised
        assert pm._auth.offset == 0.0
        results = pm.cancel_orders(["a", "b"], deadline=3)
    assert len(results) == 2
    assert all("Overflow" not in r.message and r.status != "not_sent" for r in results)
    fresh = PolymarketUSClient(PM_KEY_ID, PM_SECRET_32, base_url="https://pm.test")
    auth: SigningAuth = fresh._auth
    assert auth.resign(date, 0.0) is False  # a stream's refused handshake: no re-sign
    assert auth.offset == 0.0
    fresh.close()


# -- the guard's own files -----------------------------------------------------------------


@pytest.mark.parametrize(
    "record",
    [
        '{"cause": "x", "started": 1e400}',  # Infinity: OverflowError, a traceback
        '{"cause": "x", "started": NaN}',  # ValueError: "refusing to start"
        '{"cause": "x", "started": 1e300}',
        '{"cause": "x", "started": -1e20}',
        '{"cause": "x", "started": true}',
    ],
)
def test_a_damaged_firing_record_is_finished_never_a_guard_that_will_not_start(
    tmp_path: Path, record: str
) -> None:
    """``guard-firing.json`` whose start is no time (a damaged disk, a hand edit):
    the guard's start raised (Infinity: ``OverflowError``, a traceback; NaN: taken
    for another user's record, "refusing to start"), so the firing it records was
    never finished and nothing was armed. It is now an unfinished firing of unknown
    cause, finished as a cut-off record is."""
    from cancelkit._cli._guard_state import RECORD_NAME, FiringRecord, Guard, Outcome, State

    path = tmp_path / RECORD_NAME
    path.write_text(record)
    path.chmod(0o600)
    causes: list[str] = []

    async def fire(cause: str, beside: Callable[[], None]) -> Outcome:
        causes.append(cause)
        return Outcome(0, "")

    async def main() -> State:
        guard = Guard(fire, FiringRecord(tmp_path))
        assert await guard.resume() is not None
        return guard.state

    assert _run(main) is State.FIRED
    assert len(causes) == 1
    assert causes[0].startswith("finishing an unfinished firing (cause: unknown")


def test_a_firing_records_cause_reaches_no_log_line_with_its_control_characters(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The cause read back from the record is logged and shown by ``cancelkit
    status``: a terminal's escape sequences in it are shown as ``?``."""
    from cancelkit._cli._guard_state import RECORD_NAME, FiringRecord

    path = tmp_path / RECORD_NAME
    path.write_text(json.dumps({"cause": "SIGUSR1\x1b]0;owned\x07\x1b[2J\r\n", "started": 1.0}))
    path.chmod(0o600)
    found = FiringRecord(tmp_path).read()
    assert found is not None
    assert found.cause == "SIGUSR1?]0;owned??[2J??"


def test_a_flood_of_silent_control_connections_holds_a_bounded_few() -> None:
    """200 connections to the control socket that send nothing (a script connecting
    in a loop): each was held, with its descriptor, for the 5 s read wait, so
    thousands could leave a firing no descriptor to connect with. Now at most
    ``MAX_WAITING`` wait; the oldest are closed at once, and a request (and each
    connection still waiting, when it speaks) is answered as before."""
    import shutil
    import tempfile

    from cancelkit import _guard_link as link
    from cancelkit._cli._guard_server import Server, bind

    flood = 200

    async def handle(request: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "op": request.get("op")}

    async def ask(
        streams: tuple[asyncio.StreamReader, asyncio.StreamWriter], op: str
    ) -> dict[str, Any]:
        reader, writer = streams
        writer.write(link.encode({"op": op}))
        return link.decode(await reader.readline())

    async def main() -> tuple[int, int, dict[str, Any], dict[str, Any]]:
        directory = Path(tempfile.mkdtemp(prefix="ck-hostile-", dir="/tmp"))  # short path
        server = Server(link.socket_path(directory), handle)
        await server.start(bind(server.path))
        silent = []
        try:
            for _ in range(flood):
                silent.append(await asyncio.open_unix_connection(str(server.path)))
            answer = await ask(await asyncio.open_unix_connection(str(server.path)), "status")
            reads = [asyncio.ensure_future(reader.read(1)) for reader, _ in silent]
            pending: set[asyncio.Future[bytes]] = set(reads)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(3.0):  # under the 5 s read wait
                    while len(pending) > 32:  # _guard_server.MAX_WAITING
                        _, pending = await asyncio.wait(
                            pending, return_when=asyncio.FIRST_COMPLETED
                        )
            closed = sum(1 for task in reads if task.done() and task.result() == b"")
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            last = await ask(silent[-1], "heartbeat")  # the newest was kept
            return closed, len(pending), answer, last
        finally:
            for _, writer in silent:
                writer.close()
            await server.close()
            shutil.rmtree(directory)

    closed, waiting, answer, last = _run(main)
    assert answer == {"ok": True, "op": "status"}
    assert last == {"ok": True, "op": "heartbeat"}
    assert waiting <= 32  # _guard_server.MAX_WAITING
    assert closed == flood - waiting  # closed by the guard, without a word


def test_a_kalshi_stream_inventing_orders_is_not_kept_past_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stream sending ``resting`` for order after order that no listing showed (a
    broken or hostile server, for the days a guard runs): its book kept every one,
    and a firing's cancel-all named them all. Past ``MAX_KNOWN`` the book keeps no
    more and names nothing (the kill lists first, as without a stream) until the next
    snapshot (a reconnect's listing) makes it whole again."""
    from cancelkit.kalshi import _live
    from cancelkit.kalshi._events import OrderSnapshot, OrderUpdate, StreamOrder

    monkeypatch.setattr(_live, "MAX_KNOWN", 50, raising=False)  # 200,000 in use
    book = _live.LiveBook()
    book.live = 1  # as a tapped stream past its snapshot
    book._take(OrderSnapshot((StreamOrder("listed"),)))
    for n in range(49):
        book._take(OrderUpdate("open", StreamOrder(f"o{n}"), sid=1))
    assert len(book.resting(None) or []) == 50  # at the bound: all known, all named
    for n in range(49, 5000):
        book._take(OrderUpdate("open", StreamOrder(f"o{n}"), sid=1))
    assert book.resting(None) is None  # not all known: the kill lists first
    assert len(book._orders) <= 50
    book._take(OrderUpdate("cancelled", StreamOrder("o0"), sid=1))
    assert book.resting(None) is None  # still not whole
    book._take(OrderSnapshot((StreamOrder("a"), StreamOrder("b"))))
    assert sorted(book.resting(None) or []) == ["a", "b"]


def test_a_stream_inventing_open_orders_costs_the_guard_bounded_memory(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The guard's status kept every open order a stream showed (for days, from a
    broken or hostile server: without bound). Now at most ``MAX_ORDERS`` an account;
    past it the status says the count stops there, with one warning; a snapshot
    starts afresh."""
    from cancelkit._cli import _guard_desk
    from cancelkit.polymarket._events import Execution, OrderSnapshot, StreamOrder

    monkeypatch.setattr(_guard_desk, "MAX_ORDERS", 50, raising=False)  # 200,000 in use
    account = Account("pm", "polymarket", "key", SecretRef(env="PM_SECRET"))
    upkeep = _guard_desk.Upkeep(AsyncDesk([account]))
    upkeep._event("pm", OrderSnapshot("r", (StreamOrder("listed"),), True))
    with caplog.at_level(logging.WARNING, logger="cancelkit"):
        for n in range(3000):
            upkeep._event("pm", Execution("r", "partial_fill", StreamOrder(f"o{n}")))
    (shown,) = upkeep.status()["accounts"]
    assert shown["open_orders"] == 50
    assert "more than 50" in shown["orders_from"]
    assert len([r for r in caplog.records if "more than 50 open orders" in r.getMessage()]) == 1
    upkeep._event("pm", OrderSnapshot("r", (StreamOrder("a"),), True))
    (shown,) = upkeep.status()["accounts"]
    assert (shown["open_orders"], shown["orders_from"]) == (1, "stream")


def test_endless_partial_fills_of_one_order_are_bounded_and_not_believed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A kill's hearing of the Polymarket stream kept every partial fill of an order
    of its run, each execution id once: a stream sending a fresh id each time grew
    it without bound for the run's length. Past ``_FILLS`` the order's word is not
    believed (it is looked up, as for two different ends) and nothing more is kept."""
    from cancelkit.polymarket import _heard
    from cancelkit.polymarket._events import Execution, StreamOrder

    monkeypatch.setattr(_heard, "_FILLS", 20, raising=False)  # 10,000 in use
    heard = _heard.Heard(["a", "b"])
    for n in range(5000):
        heard.hear(Execution("r", "partial_fill", StreamOrder("a"), execution_id=f"x{n}"))
    heard.hear(Execution("r", "cancelled", StreamOrder("a")))
    for n in range(3):
        heard.hear(Execution("r", "partial_fill", StreamOrder("b"), execution_id=f"x{n}"))
    heard.hear(Execution("r", "cancelled", StreamOrder("b")))
    assert len(heard.fills["a"]) <= 20
    assert heard.word("a", None) is None  # looked up instead
    assert heard.word("b", None) is not None  # a few fills: believed as before


# -- numbers that are no time ------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["guard", "--heartbeat-timeout", "nan"],  # the dead-man's switch never fired
        ["guard", "--heartbeat-timeout", "inf"],
        ["guard", "--deadline", "nan"],
        ["trigger", "--timeout", "nan"],
        ["cancel", "--everywhere", "--deadline", "nan"],
        ["cancel", "polymarket", "ord-1", "--deadline", "nan"],  # every order not_sent
        ["cancel", "polymarket", "ord-1", "--rate", "nan"],
    ],
)
def test_a_time_option_of_nan_or_inf_is_a_usage_error_naming_it(
    tmp_path: Path, args: list[str]
) -> None:
    """click reads ``nan`` and ``inf`` as floats, and every range check passes NaN:
    ``guard --heartbeat-timeout nan`` armed a dead-man's switch that never fired, and
    ``--deadline nan`` reported every order ``not_sent``. Each is now exit 2 naming
    the option, before anything starts."""
    from cancelkit._cli import main
    from click.testing import CliRunner

    env = {
        "CANCELKIT_CONFIG": str(tmp_path / "none.toml"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "POLYMARKET_KEY_ID": "k",
        "POLYMARKET_SECRET_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    }
    result = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    assert result.exit_code == 2
    option = args[-2]
    assert f"'{option}'" in result.stderr
    assert "is not a finite number" in result.stderr


@pytest.mark.parametrize("timeout", [math.nan, math.inf])
def test_a_client_timeout_or_deadline_of_nan_is_refused_before_any_request(
    make_pm: Callable[..., Any], timeout: float
) -> None:
    """``timeout=nan`` was accepted, then the first cancel raised ``ValueError``
    ("Invalid value NaN") from the socket layer (``inf``: ``OverflowError``; async:
    four connect timeouts and a ``NetworkError``); ``deadline=nan`` ended a bulk
    cancel before its first request with every order ``not_sent``. Both are
    ``InvalidRequest`` naming the setting, before any I/O."""
    import httpx

    for bad in (timeout, httpx.Timeout(5.0, read=timeout)):
        with pytest.raises(InvalidRequest, match="timeout"):
            make_pm(Script(), timeout=bad)
    script = Script()
    client = make_pm(script)
    if timeout != timeout:  # NaN (an infinite deadline is a run without one)
        with pytest.raises(InvalidRequest, match="deadline must be a positive number"):
            call(client.cancel_orders, ["ord-1"], deadline=timeout)
    assert script.requests == []


def test_a_flood_of_websocket_pings_does_not_hold_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """2,000 WebSocket pings sent at once to a Polymarket stream (the Kalshi and
    Limitless readers answer them the same way, ``_ws.control_frame``): each is
    answered, and other tasks get the loop between two answers; aiohttp's own
    answering (``autoping``) answered every ping already read in one go."""
    from cancelkit.polymarket import AsyncPolymarketUSClient, OrderSnapshot
    from cancelkit.polymarket import _stream as pm_stream
    from helpers import PM_KEY_ID, PM_SECRET_32

    pings = 2000
    ticks = 0
    answered_at: list[int] = []
    pong = aiohttp.ClientWebSocketResponse.pong

    async def spy(self: aiohttp.ClientWebSocketResponse, message: bytes = b"") -> None:
        answered_at.append(ticks)
        await pong(self, message)

    monkeypatch.setattr(aiohttp.ClientWebSocketResponse, "pong", spy)
    pongs = asyncio.Event()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        got = 0
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                request_id = json.loads(message.data)["subscribe"]["requestId"]
                snapshot = {"orders": [], "eof": True}
                await ws.send_json({"requestId": request_id, "orderSubscriptionSnapshot": snapshot})
                await asyncio.gather(*(ws.ping() for _ in range(pings)))
            elif message.type == aiohttp.WSMsgType.PONG:
                got += 1
                if got == pings:
                    pongs.set()
        return ws

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    async def case() -> None:
        app = web.Application()
        app.router.add_get(pm_stream.PATH, handler)
        runner = web.AppRunner(app, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        tick = asyncio.ensure_future(ticker())  # turning before any ping can come
        try:
            async with AsyncPolymarketUSClient(
                PM_KEY_ID, PM_SECRET_32, base_url=f"http://127.0.0.1:{port}", trust_env=False
            ) as pm:
                events = pm.order_events()
                async with aclosing(events):
                    first = await anext(events)
                    assert isinstance(first, OrderSnapshot)
                    reading = asyncio.ensure_future(anext(events))  # the pings are read
                    await pongs.wait()
                    reading.cancel()
                    await asyncio.gather(reading, return_exceptions=True)
        finally:
            tick.cancel()
            await runner.cleanup()

    _run(case)
    assert len(answered_at) == pings
    most = max(answered_at.count(t) for t in set(answered_at))
    assert most == 1  # at most one answer per turn of the loop


@pytest.mark.parametrize("market", ["a%2Fb", "a?b", "a b", "a#b", "mark\u00e9t", "a;b"])
def test_only_a_plain_path_segment_is_learned(market: str) -> None:
    """What a stream may make the guard learn: letters, digits and ``-._~`` (one
    plain path segment of the signed requests); the firing below shows why."""
    account = Account("lm", "limitless", LM_TOKEN_ID, SecretRef(env="LM_SECRET"))
    desk = AsyncDesk([account])
    assert desk.learn("lm", market) is False
    assert desk.learn("lm", "will-btc-hit-100k_v2.1~x") is True


def test_a_market_that_is_no_plain_segment_is_not_learned_nor_stops_a_firing(
    cancelkit_sandbox: Any, tmp_path: Path
) -> None:
    """A stream's ``marketSlug`` of ``a/b`` was learned, listed as
    ``/markets/a%2Fb/user-orders`` and fired as ``DELETE /orders/all/a%2Fb``: the
    route-level 404 stopped the account's whole firing, and the market learned after
    it was ``not_sent``, its order left open (and the account's listings failed, so
    its status said unreachable). A learned market must be one plain path segment;
    any other is not learned, and the firing covers the rest."""
    from test_desk_learn import _desk_file

    box = cancelkit_sandbox
    file = _desk_file(box, tmp_path, markets='"named"')
    in_named = box.seed_limitless(market_slug="named")
    in_seen = box.seed_limitless(market_slug="seen")

    async def case() -> tuple[bool, Any, Any]:
        from cancelkit import load_accounts

        async with AsyncDesk(load_accounts(file.path, environ=file.env)) as desk:
            learned = desk.learn("lm", "a/b")
            desk.learn("lm", "seen")
            listed = await desk.open_orders(10)
            (run,) = await desk.cancel_everywhere(deadline=10, accounts=["lm"])
            return learned, listed["lm"], run

    learned, listed, run = _run(case)
    assert learned is False
    assert sorted(listed) == sorted([in_named.id, in_seen.id])
    assert (run.covered, run.ok) == (("named", "seen"), True)
    assert box.limitless.get(in_seen.id).status == "cancelled"


@pytest.mark.parametrize("kind", ["open to others", "a link", "another user's"])
def test_touches_of_a_heartbeat_file_others_control_are_no_heartbeats(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    """``--heartbeat-file`` was any path ``stat`` could reach: a file others may write,
    one another user made first (``/tmp/bot.alive`` before the bot), or a link to a
    file that changes all the time (a log) kept the dead-man's switch from ever
    firing with the bot dead. Its touches are beats only from a regular file this
    user owns and no one else may write; otherwise one warning says why."""
    import os

    from cancelkit._cli import _guard_run
    from cancelkit._cli._guard_state import FiringRecord, Guard, Outcome

    if kind == "another user's" and os.getuid() != 0:
        pytest.skip("needs root, to give the file to another user")
    path = tmp_path / "bot.alive"
    target = tmp_path / "busy.log"
    target.write_text("")
    target.chmod(0o600)
    if kind == "a link":
        path.symlink_to(target)
    else:
        path.write_text("")
        path.chmod(0o666 if kind == "open to others" else 0o600)
        if kind == "another user's":
            os.chown(path, 65534, 65534)

    async def fire(cause: str, beside: Callable[[], None]) -> Outcome:
        return Outcome(0, "")

    async def main() -> int:
        guard = Guard(fire, FiringRecord(tmp_path), heartbeat_timeout=60.0)
        guard.arm()
        watch = asyncio.ensure_future(_guard_run._watch_file(guard, path))
        try:
            for n in range(1, 400):  # touched 0.01 s apart, until the watch has said why
                os.utime(target if kind == "a link" else path, (n, n))
                await asyncio.sleep(0.01)
                if "its touches are not heartbeats" in caplog.text:
                    await asyncio.sleep(3 * _guard_run.FILE_POLL)  # more looks, more touches
                    break
            return guard.beats
        finally:
            watch.cancel()

    with caplog.at_level(logging.WARNING, logger="cancelkit"):
        beats = _run(main)
    assert beats == 0
    assert "its touches are not heartbeats" in caplog.text

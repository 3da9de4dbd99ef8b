"""The Limitless sandbox's private order stream: Socket.IO (Engine.IO v4, WebSocket
transport only) at ``/socket.io/``, namespace ``/markets`` (PROVISIONAL, as the
client's: see ``cancelkit.limitless._events`` for the sources).

The upgrade is authenticated exactly as a REST request is (the same ``lmts-*``
check, over ``GET`` and the path with its query, empty body) and refused with the
REST API's 401 before the upgrade; an Engine.IO version or transport it does not
serve is a 400. Once open, the connection must join ``/markets`` and emit
``subscribe_order_events``; only then does it hear an ``orderEvent`` for each order
of its token's profile that is placed (seeded), cancelled or matched (filled) on the
book, in any market. Nothing is sent on subscribing (no snapshot) and nothing is
replayed. The server pings every ``stream_heartbeat`` seconds and closes a
connection that does not answer within four times as long. A malformed packet, a
binary frame or a client that does not read is answered with a close, never a
crash; the ``stream`` knob off makes the endpoint a 404, and ``stream_close_after``
closes a connection once it has sent that many events (the client reconnects).

The events' shape is the sandbox's own reading of the facts: ``source``/``type``
as [A][C] name them, ``orderId``, and ``marketSlug`` (on ``MATCHED`` as [C] types it;
on the engine's events because [B] says events carry their market), a timestamp.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from ._common import Refusal
from ._polymarket_ws import _deny
from ._state import FILLED, OPEN, Book, Order

NAMESPACE = "/markets"
SUBSCRIBE = "subscribe_order_events"
_QUEUE = 100_000  # packets waiting for one connection; past it the connection is closed
_MAX_PAYLOAD = 1_000_000  # Engine.IO's maxPayload, as announced
_PONG_WITHIN = 4  # ping intervals a pong may take (the pingTimeout announced)
_JOIN_WAIT = 10.0  # seconds a connection may stay without joining the namespace


def _stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def engine_error(code: int, message: str) -> Response:
    """An Engine.IO handshake error, in its shape (``code``, ``message``), 400."""
    return JSONResponse({"code": code, "message": message}, 400)


class _Link:
    """One open connection: its profile, whether it joined and subscribed, its queue."""

    def __init__(self, ws: WebSocket, owner: str) -> None:
        self.ws = ws
        self.owner = owner
        self.joined = False
        self.subscribed = False
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(_QUEUE)
        self.pong = asyncio.Event()
        self.events = 0  # orderEvents sent

    def put(self, packet: str | None) -> None:
        try:
            self.queue.put_nowait(packet)
        except asyncio.QueueFull:  # a client that does not read is cut off
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.get_nowait()
                self.queue.put_nowait(None)


class LimitlessStreamHub:
    """Every stream connection of the Limitless book, and the events they hear."""

    def __init__(self, book: Book) -> None:
        self.book = book
        self.loop: asyncio.AbstractEventLoop | None = None
        self.links: set[_Link] = set()
        self.subscribes = 0  # subscribe_order_events received on a joined namespace
        self.matched = 0
        book.on_execution = self.changed
        book.on_seed = self.placed

    # -- from the book (any thread) ------------------------------------------------

    def placed(self, orders: list[Order]) -> None:
        """Orders were placed (seeded): a ``PLACEMENT`` each, for whoever listens."""
        loop = self.loop
        if not self.links or loop is None or loop.is_closed():
            return  # nobody connected: nobody hears it (and a big seed costs nothing)
        # Open when placed, decided now: a fill that follows at once is heard after it.
        placed = [o for o in orders if o.status == OPEN]
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self._placed, placed)

    def _placed(self, orders: list[Order]) -> None:
        for order in orders:
            self._emit(order, "PLACEMENT")

    def changed(self, order: Order, what: str, shares: float) -> None:
        """A cancel (when it takes effect) or a fill of ``order``."""
        delay = max(0.0, order.leaves_book_at - time.monotonic()) if what == "cancel" else 0.0
        self._soon(order, what, delay)

    def _soon(self, order: Order, what: str, delay: float) -> None:
        loop = self.loop
        if loop is None or loop.is_closed():
            return  # nobody has ever connected: nobody hears it
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(loop.call_later, delay, self._emit, order, what)

    def _emit(self, order: Order, what: str) -> None:
        if what == "cancel":  # it took effect now: cancelled, or filled while pending
            what = "fill" if order.status == FILLED else "cancel"
        payload: dict[str, Any] = {"orderId": order.id, "timestamp": _stamp()}
        if what == "PLACEMENT":
            payload |= {"source": "OME", "type": "PLACEMENT"}
        elif what == "cancel":
            payload |= {"source": "OME", "type": "CANCELLATION"}
        else:  # a fill or a partial fill: the engine matched it
            self.matched += 1
            payload |= {
                "source": "SETTLEMENT",
                "type": "MATCHED",
                "eventId": f"matched:{self.matched}",
                "tradeEventId": f"trade-{self.matched}",
            }
        if order.market_slug is not None:
            payload["marketSlug"] = order.market_slug
        packet = f"42{NAMESPACE}," + json.dumps(["orderEvent", payload])
        for link in list(self.links):
            if link.subscribed and link.owner == order.owner:
                link.put(packet)

    # -- one connection --------------------------------------------------------------

    async def serve(
        self, ws: WebSocket, authenticate: Callable[[WebSocket], Awaitable[str]]
    ) -> None:
        """Check the upgrade, then serve the connection until it ends."""
        self.loop = asyncio.get_running_loop()
        if not self.book.knobs.stream:
            await _deny(ws, JSONResponse({"message": "Not Found", "statusCode": 404}, 404))
            return
        query = ws.query_params
        if query.getlist("EIO") != ["4"]:
            await _deny(ws, engine_error(5, "Unsupported protocol version"))
            return
        if query.getlist("transport") != ["websocket"]:
            await _deny(ws, engine_error(0, "Transport unknown"))
            return
        try:
            owner = await authenticate(ws)
        except Refusal as refusal:
            await _deny(ws, refusal.response)
            return
        await ws.accept()
        self.book.count("stream_connections")
        link = _Link(ws, owner)
        self.links.add(link)
        interval = self.book.knobs.stream_heartbeat
        opened = {
            "sid": uuid.uuid4().hex,
            "upgrades": [],
            "pingInterval": int(interval * 1000),
            "pingTimeout": int(interval * _PONG_WITHIN * 1000),
            "maxPayload": _MAX_PAYLOAD,
        }
        link.put("0" + json.dumps(opened))
        tasks = [
            asyncio.ensure_future(self._write(link)),
            asyncio.ensure_future(self._ping(link, interval, interval * _PONG_WITHIN)),
        ]
        try:
            await self._read(link)
        finally:
            self.links.discard(link)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            with contextlib.suppress(Exception):
                await ws.close(code=1000)

    async def _read(self, link: _Link) -> None:
        opened_at = time.monotonic()
        while True:
            try:
                wait = None if link.joined else max(0.0, opened_at + _JOIN_WAIT - time.monotonic())
                message = await asyncio.wait_for(link.ws.receive(), wait)
            except (WebSocketDisconnect, RuntimeError, TimeoutError):
                return
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if not isinstance(text, str) or not self._packet(link, text):
                await _close(link.ws, 1003 if text is None else 1008)
                return

    def _packet(self, link: _Link, text: str) -> bool:
        """One Engine.IO packet from the client; False: malformed (the connection is
        closed, as Engine.IO closes on a parse error)."""
        if text == "3":
            link.pong.set()
            return True
        if text == "1":
            return False
        if not text.startswith("4"):
            return text in ("5", "6")  # upgrade, noop: nothing to do
        packet = text[1:]
        if packet.startswith("0"):
            return self._join(link, packet[1:])
        if packet == f"1{NAMESPACE}," or packet == f"1{NAMESPACE}":
            link.joined = link.subscribed = False
            return True
        if packet.startswith(f"2{NAMESPACE},"):
            body = packet[len(NAMESPACE) + 2 :].lstrip("0123456789")
            try:
                data = json.loads(body)
            except (ValueError, RecursionError):
                return False
            if not isinstance(data, list) or not data or not isinstance(data[0], str):
                return False
            if data[0] == SUBSCRIBE and link.joined:
                link.subscribed = True
                self.subscribes += 1
            return True  # another event, or one before joining: ignored
        return packet[:1] in ("1", "2") and packet[1:2] in ("/", "[")  # another namespace's

    def _join(self, link: _Link, rest: str) -> bool:
        namespace, _, payload = rest.partition(",")
        if not namespace:
            namespace = "/"
        if payload:
            try:
                json.loads(payload)
            except (ValueError, RecursionError):
                return False
        if namespace != NAMESPACE:
            link.put(f"44{namespace[:64]}," + json.dumps({"message": "Invalid namespace"}))
            return True
        link.joined = True
        link.put(f"40{NAMESPACE}," + json.dumps({"sid": uuid.uuid4().hex}))
        return True

    async def _ping(self, link: _Link, interval: float, timeout: float) -> None:
        while True:
            await asyncio.sleep(interval)
            link.pong.clear()
            link.put("2")
            try:
                await asyncio.wait_for(link.pong.wait(), timeout)
            except TimeoutError:  # no pong: the connection is taken for lost
                link.put(None)
                return

    async def _write(self, link: _Link) -> None:
        ws = link.ws
        while True:
            packet = await link.queue.get()
            if packet is None:
                await _close(ws, 1008)
                return
            await ws.send_text(packet)
            if packet.startswith(f"42{NAMESPACE},"):
                link.events += 1
                self.book.count("stream_executions")
                close_after = self.book.knobs.stream_close_after
                if close_after and link.events >= close_after:
                    await _close(ws, 1012)  # "service restart": the client reconnects
                    return


async def _close(ws: WebSocket, code: int) -> None:
    with contextlib.suppress(Exception):
        await ws.close(code=code)


async def polling(request: Request) -> Response:
    """Engine.IO's HTTP long-polling transport: not served (WebSocket only [A][C])."""
    return engine_error(0, "Transport unknown")

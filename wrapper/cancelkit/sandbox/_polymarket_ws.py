"""The Polymarket US sandbox's private order stream, ``/v1/ws/private``.

The handshake is checked as a REST request is (``timestamp + "GET" + path``, Ed25519);
a refused one is answered 401 before the upgrade, as the gateway would. A subscription
(``SUBSCRIPTION_TYPE_ORDER``, at most 100 markets) gets the snapshot of the account's
open orders in its markets, then an execution for every cancel and fill on the book:
a cancel's when it takes effect (after the ``cancel_delay`` knob), as
``EXECUTION_TYPE_CANCELED``, or ``EXECUTION_TYPE_FILL`` if the order filled while the
cancel was pending. Nothing is replayed: what happens while a client is not
connected, it never hears. The ``stream_*`` knobs drop, delay, duplicate and reorder
execution messages and close connections, each deterministically (every n-th);
``stream_snapshot_delay`` holds a subscription (its snapshot, and every execution)
back for that long, as a slow gateway would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from ._common import Refusal
from ._state import FILLED, Book, Order

MAX_MARKETS = 100  # per subscription, as the page says
MAX_SUBSCRIPTIONS = 100  # per connection (the sandbox's own bound)
SNAPSHOT_PART = 500  # orders per snapshot message
_QUEUE = 200_000  # messages waiting for one connection; past it the connection is closed
_REORDER_HOLD = 0.05  # seconds a held-back message waits for the next one
_ORDER_TYPES = ("SUBSCRIPTION_TYPE_ORDER", 1)
_TYPES = {
    "cancel": "EXECUTION_TYPE_CANCELED",
    "fill": "EXECUTION_TYPE_FILL",
    "partial_fill": "EXECUTION_TYPE_PARTIAL_FILL",
}

OrderJson = Callable[[Order, float], dict[str, Any]]


def _every(n: int, count: int) -> bool:
    return n > 0 and count % n == 0


class _Link:
    """One accepted connection: its account, subscriptions and outgoing queue."""

    def __init__(self, ws: WebSocket, account: str) -> None:
        self.ws = ws
        self.account = account
        self.subscriptions: dict[str, frozenset[str]] = {}  # request id -> markets (empty: all)
        self.queue: asyncio.Queue[tuple[str, bool]] = asyncio.Queue(_QUEUE)
        self.overflowed = False

    def put(self, text: str, execution: bool) -> None:
        try:
            self.queue.put_nowait((text, execution))
        except asyncio.QueueFull:  # a client that does not read is cut off
            self.overflowed = True


class StreamHub:
    """Every stream connection of one book, and the executions they are sent."""

    def __init__(self, book: Book, order_json: OrderJson, default_market: str) -> None:
        self.book = book
        self.order_json = order_json
        self.default_market = default_market
        self.loop: asyncio.AbstractEventLoop | None = None
        self.links: set[_Link] = set()
        self.executions = 0
        # time.monotonic() of each subscription's snapshot, as it was queued to send.
        self.snapshots: list[float] = []
        book.on_execution = self.changed

    # -- from the book (any thread) ------------------------------------------------

    def changed(self, order: Order, what: str, shares: float) -> None:
        """The book changed ``order``: schedule its execution on the server's loop."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return  # nobody has ever connected: nobody hears it
        delay = max(0.0, order.leaves_book_at - time.monotonic()) if what == "cancel" else 0.0
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self._schedule, order, what, shares, delay)

    def _schedule(self, order: Order, what: str, shares: float, delay: float) -> None:
        assert self.loop is not None
        if delay > 0:
            self.loop.call_later(delay, self._emit, order, what, shares)
        else:
            self._emit(order, what, shares)

    def _emit(self, order: Order, what: str, shares: float) -> None:
        if what == "cancel":  # it took effect now: cancelled, or filled while pending
            what = "fill" if order.status == FILLED else "cancel"
        if what in ("cancel", "fill"):
            if order.streamed:
                return  # one final execution per order
            order.streamed = True
        now = max(time.monotonic(), order.leaves_book_at)
        shown = self.order_json(order, now)
        if what == "fill" and shares <= 0:
            shares = max(0.0, float(shown["quantity"]) - float(shown.get("cumQuantity", 0)))
            shares = shares or float(shown["quantity"])
        market = order.market_slug or self.default_market
        for link in list(self.links):
            if link.account != order.owner:
                continue
            for request_id, markets in link.subscriptions.items():
                if markets and market not in markets:
                    continue
                self.executions += 1
                message = {
                    "requestId": request_id,
                    "subscriptionType": "SUBSCRIPTION_TYPE_ORDER",
                    "orderSubscriptionUpdate": {
                        "execution": {
                            "id": f"exec-{self.executions}",
                            "order": shown,
                            "lastShares": f"{shares:g}" if what != "cancel" else "0",
                            "lastPx": shown["price"],
                            "type": _TYPES[what],
                            "tradeId": f"trade-{self.executions}" if what != "cancel" else "",
                        }
                    },
                }
                link.put(json.dumps(message), True)

    async def push(self, message: str | dict[str, Any]) -> int:
        """Send ``message`` to every connection (hostile messages, for tests): a string
        as is, once per connection; an object once per subscription, with its
        ``requestId``. Returns how many were queued."""
        queued = 0
        for link in self.links:
            if isinstance(message, str):
                link.put(message, False)
                queued += 1
                continue
            for request_id in link.subscriptions:
                link.put(json.dumps({**message, "requestId": request_id}), False)
                queued += 1
        return queued

    # -- one connection ------------------------------------------------------------

    async def serve(
        self, ws: WebSocket, authenticate: Callable[[WebSocket], Awaitable[str]]
    ) -> None:
        """Check the handshake, then serve the connection until it ends."""
        self.loop = asyncio.get_running_loop()
        if not self.book.knobs.stream:
            await _deny(ws, Response(b'{"code":404,"message":"Not Found"}', 404))
            return
        try:
            account = await authenticate(ws)
        except Refusal as refusal:
            await _deny(ws, refusal.response)
            return
        await ws.accept()
        self.book.count("stream_connections")
        link = _Link(ws, account)
        self.links.add(link)
        writer = asyncio.ensure_future(self._write(link))
        beat = asyncio.ensure_future(self._heartbeats(link))
        try:
            await self._read(link)
        finally:
            self.links.discard(link)
            for task in (writer, beat):
                task.cancel()
            for task in (writer, beat):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _read(self, link: _Link) -> None:
        while (raw := await _received(link.ws)) is not None:
            self._request(link, raw)

    def _request(self, link: _Link, raw: str | bytes) -> None:
        """One message from the client: subscribe or unsubscribe; anything else is
        answered with an error, never a crash."""
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            link.put(json.dumps({"error": "message is not JSON"}), False)
            return
        if not isinstance(data, dict):
            link.put(json.dumps({"error": "message must be a JSON object"}), False)
            return
        if isinstance(data.get("unsubscribe"), dict):
            body = data["unsubscribe"]
            request_id = body.get("request_id", body.get("requestId"))
            if isinstance(request_id, str):
                link.subscriptions.pop(request_id, None)
            return
        body = data.get("subscribe")
        if not isinstance(body, dict):
            link.put(json.dumps({"error": "expected subscribe or unsubscribe"}), False)
            return
        request_id = body.get("requestId", body.get("request_id"))
        if not isinstance(request_id, str) or not 0 < len(request_id) <= 128:
            link.put(json.dumps({"error": "requestId must be a string"}), False)
            return

        def refuse(why: str) -> None:
            link.put(json.dumps({"requestId": request_id, "error": why}), False)

        kind = body.get("subscriptionType", body.get("subscription_type"))
        if kind not in _ORDER_TYPES:
            refuse(f"subscription type {str(kind)[:40]!r} is not served by the sandbox")
            return
        markets = body.get("marketSlugs", body.get("market_slugs")) or []
        if not isinstance(markets, list) or not all(isinstance(m, str) for m in markets):
            refuse("marketSlugs must be a list of market slugs")
            return
        if len(markets) > MAX_MARKETS:
            refuse(f"at most {MAX_MARKETS} markets per subscription, got {len(markets)}")
            return
        if request_id not in link.subscriptions and len(link.subscriptions) >= MAX_SUBSCRIPTIONS:
            refuse(f"at most {MAX_SUBSCRIPTIONS} subscriptions per connection")
            return
        chosen = frozenset(markets)
        delay = self.book.knobs.stream_snapshot_delay
        if delay and self.loop is not None:  # a slow subscription: nothing heard until it
            self.loop.call_later(delay, self._subscribe, link, request_id, chosen)
        else:
            self._subscribe(link, request_id, chosen)

    def _subscribe(self, link: _Link, request_id: str, chosen: frozenset[str]) -> None:
        """The subscription takes effect: its snapshot now, its executions from now."""
        if link not in self.links:
            return  # closed meanwhile
        link.subscriptions[request_id] = chosen
        now = time.monotonic()
        self.snapshots.append(now)
        orders = [
            self.order_json(o, now)
            for o in self.book.on_book(link.account)
            if not chosen or (o.market_slug or self.default_market) in chosen
        ]
        parts = [orders[n : n + SNAPSHOT_PART] for n in range(0, len(orders), SNAPSHOT_PART)]
        for n, part in enumerate(parts or [[]]):
            snapshot = {"orders": part, "eof": n == max(0, len(parts) - 1)}
            message = {
                "requestId": request_id,
                "subscriptionType": "SUBSCRIPTION_TYPE_ORDER",
                "orderSubscriptionSnapshot": snapshot,
            }
            link.put(json.dumps(message), False)

    async def _heartbeats(self, link: _Link) -> None:
        while True:
            await asyncio.sleep(self.book.knobs.stream_heartbeat)
            link.put('{"heartbeat": {}}', False)

    async def _write(self, link: _Link) -> None:
        """Send the queue in order, with the stream knobs applied to executions."""
        count = sent = 0
        held: str | None = None
        ws = link.ws
        while True:
            if link.overflowed:
                await ws.close(code=1008)
                return
            try:
                if held is None:
                    text, execution = await link.queue.get()
                else:
                    text, execution = await asyncio.wait_for(link.queue.get(), _REORDER_HOLD)
            except TimeoutError:  # nothing came after the held one: it goes now
                assert held is not None
                await ws.send_text(held)
                held = None
                continue
            if not execution:
                await ws.send_text(text)
                continue
            knobs = self.book.knobs
            count += 1
            if knobs.stream_delay:
                await asyncio.sleep(knobs.stream_delay)
            if _every(knobs.stream_drop_every, count):
                self.book.count("stream_dropped")
                continue
            if held is None and _every(knobs.stream_reorder_every, count):
                held = text
                continue
            copies = 2 if _every(knobs.stream_duplicate_every, count) else 1
            for _ in range(copies):
                await ws.send_text(text)
            sent += 1
            if held is not None:
                await ws.send_text(held)
                held = None
                sent += 1
            self.book.count("stream_executions")
            if knobs.stream_close_after and sent >= knobs.stream_close_after:
                await ws.close(code=1012)  # "service restart": the client reconnects
                return


async def _deny(ws: WebSocket, response: Response) -> None:
    """Refuse the upgrade with an HTTP answer (as a gateway does), where the server
    can send one; else close before accepting (an HTTP 403)."""
    if "websocket.http.response" in ws.scope.get("extensions", {}):
        await ws.send_denial_response(response)
    else:
        await ws.close(code=1008)


async def _received(ws: WebSocket) -> str | bytes | None:
    """A client's next message (its text, else its bytes); None once it has gone."""
    try:
        message = await ws.receive()
    except (WebSocketDisconnect, RuntimeError):
        return None
    if message["type"] == "websocket.disconnect":
        return None
    raw: str | bytes | None = message.get("text")
    if raw is None:
        raw = message.get("bytes") or b""
    return raw

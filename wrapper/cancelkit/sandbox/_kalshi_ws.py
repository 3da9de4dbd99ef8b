"""The Kalshi sandbox's WebSocket, ``/trade-api/ws/v2``: the ``user_orders`` channel.

The handshake is checked exactly as a REST request is (the same ``authenticate``:
``KALSHI-ACCESS-*`` headers, ``timestamp + "GET" + "/trade-api/ws/v2"`` signed with
the registered key, RSA-PSS or Ed25519, the timestamp within 30 s); a refused one
is answered 401 before the upgrade. Commands and answers follow
``websockets/websocket-connection`` (``ws-connection.md``): ``subscribe`` to
``user_orders`` (optionally ``market_tickers``) is answered ``subscribed`` with a
fresh ``sid``; ``unsubscribe`` by ``sids``; anything else gets the page's ``error``
(codes from ``getting_started/quick_start_websockets``). Then a ``user_order``
message, in ``websockets/user-orders``' shape (``ws-user-orders.md``), for every
order of the key's member created (seeded), cancelled (when the cancel takes
effect, after the ``cancel_delay`` knob: ``canceled``, or ``executed`` if it
filled meanwhile) or filled on the book. Like Kalshi: no snapshot on subscribe,
nothing replayed to a client that was not connected. :meth:`KalshiStreamHub.drop`
closes every connection (a test's dropped socket).

Keep-alive (``websockets/connection-keep-alive``, ``ws-keep-alive.md``): a Ping frame
with body ``heartbeat`` every ``stream_ping_every`` seconds (the page's 10; 0:
none), sent through the server's control frames (``_frames``: ASGI has no Ping); the
client's Pings are answered with Pongs. ``stream_silent`` hangs every connection:
nothing is sent and no Ping answered until it is turned off.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from starlette.websockets import WebSocket

from ._common import Refusal
from ._frames import ControlFrames, control_frames
from ._polymarket_ws import _deny, _received  # the same refusal, the same reading
from ._state import OPEN, Book, Order

CHANNEL = "user_orders"
MAX_SUBSCRIPTIONS = 100  # per connection (the sandbox's own bound)
MAX_TICKERS = 1000  # per subscription (the sandbox's own bound: the page gives none)
_QUEUE = 200_000  # messages waiting for one connection; past it the connection is closed
HEARTBEAT = b"heartbeat"  # the body of Kalshi's Pings (the keep-alive page)
_PING_FLOOR = 0.01  # seconds: the shortest gap between Pings, whatever the knob says
_SILENCE_LOOK = 0.05  # seconds between looks at the stream_silent knob while hung
# getting_started/quick_start_websockets, "WebSocket Error Codes".
_ERRORS = {
    1: "Unable to process message",
    2: "Params required",
    3: "Channels required",
    4: "Subscription IDs required",
    5: "Unknown command",
    7: "Unknown subscription ID",
    8: "Unknown channel name",
    11: "Invalid parameter",
}

OrderJson = Callable[[Order, float], dict[str, Any]]
Authenticate = Callable[[WebSocket], Awaitable[str]]


class _Link:
    """One accepted connection: its member, subscriptions and outgoing queue."""

    def __init__(self, ws: WebSocket, member: str) -> None:
        self.ws = ws
        self.member = member
        self.subscriptions: dict[int, frozenset[str]] = {}  # sid -> tickers (empty: all)
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(_QUEUE)
        self.overflowed = False

    def put(self, message: dict[str, Any] | None) -> None:
        try:
            self.queue.put_nowait(None if message is None else json.dumps(message))
        except asyncio.QueueFull:  # a client that does not read is cut off
            self.overflowed = True


def user_id(member: str) -> str:
    """The member's ``user_id`` (a UUID on the page), stable per member."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"cancelkit-sandbox:{member}"))


def user_order(order: Order, shown: dict[str, Any]) -> dict[str, Any]:
    """``msg`` of a ``user_order`` from the REST ``Order`` the book shows: the page's
    required fields (``side``, ``is_yes``, ``created_ts_ms`` are the stream's own)."""
    yes = shown["outcome_side"] == "yes"
    msg = {
        name: shown[name]
        for name in (
            "order_id",
            "ticker",
            "exchange_index",
            "status",
            "outcome_side",
            "book_side",
            "yes_price_dollars",
            "fill_count_fp",
            "remaining_count_fp",
            "initial_count_fp",
            "taker_fill_cost_dollars",
            "maker_fill_cost_dollars",
            "taker_fees_dollars",
            "maker_fees_dollars",
            "client_order_id",
            "created_time",
            "subaccount_number",
        )
    }
    msg["user_id"] = user_id(order.owner)
    msg["side"] = "yes" if yes else "no"
    msg["is_yes"] = yes
    msg["created_ts_ms"] = int(order.created_at * 1000)
    return msg


class KalshiStreamHub:
    """Every ``/trade-api/ws/v2`` connection of one book, and what they are sent."""

    def __init__(self, book: Book, order_json: OrderJson) -> None:
        self.book = book
        self.order_json = order_json
        self.loop: asyncio.AbstractEventLoop | None = None
        self.links: set[_Link] = set()
        self.sids = 0
        self.sent = 0  # user_order messages queued
        book.on_execution = self.changed
        book.on_seed = self.seeded

    # -- from the book (any thread) ------------------------------------------------

    def _call(self, work: Callable[..., None], *args: Any) -> None:
        loop = self.loop
        if loop is None or loop.is_closed():
            return  # nobody has ever connected: nobody hears it
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(work, *args)

    def seeded(self, orders: Iterable[Order]) -> None:
        """Orders were created: a ``resting`` message for each one open."""
        for order in orders:
            if order.status == OPEN:
                self._call(self._emit, order)

    def changed(self, order: Order, what: str, shares: float) -> None:
        """The book changed ``order`` (a cancel, at ``leaves_book_at``; a fill, now)."""
        delay = max(0.0, order.leaves_book_at - time.monotonic()) if what == "cancel" else 0.0
        self._call(self._schedule, order, delay)

    def _schedule(self, order: Order, delay: float) -> None:
        assert self.loop is not None
        if delay > 0:
            self.loop.call_later(delay, self._emit, order)
        else:
            self._emit(order)

    def _emit(self, order: Order) -> None:
        now = max(time.monotonic(), order.leaves_book_at)
        msg = user_order(order, self.order_json(order, now))
        for link in list(self.links):
            if link.member != order.owner:
                continue
            for sid, tickers in link.subscriptions.items():
                if tickers and msg["ticker"] not in tickers:
                    continue
                self.sent += 1
                link.put(
                    {
                        "type": "user_order",
                        "sid": sid,
                        "sending_ts_ms": int(time.time() * 1000),
                        "msg": msg,
                    }
                )

    def drop(self) -> int:
        """Close every connection now (as a restarting gateway would); how many."""
        links = list(self.links)
        for link in links:
            self._call(link.put, None)
        return len(links)

    # -- one connection ------------------------------------------------------------

    async def serve(self, ws: WebSocket, authenticate: Authenticate) -> None:
        """Check the handshake, then serve the connection until it ends."""
        self.loop = asyncio.get_running_loop()
        try:
            member = await authenticate(ws)
        except Refusal as refusal:
            await _deny(ws, refusal.response)
            return
        await ws.accept()
        self.book.count("stream_connections")
        link = _Link(ws, member)
        self.links.add(link)
        writer = asyncio.ensure_future(self._write(link))
        frames = control_frames(ws.scope)
        pinger = None if frames is None else asyncio.ensure_future(self._ping(frames))
        try:
            await self._read(link)
        finally:
            self.links.discard(link)
            for task in (writer, pinger):
                if task is None:
                    continue
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def _silent(self) -> bool:
        return self.book.knobs.stream_silent

    async def _ping(self, frames: ControlFrames) -> None:
        """Kalshi's keep-alive: a Ping with body ``heartbeat`` every
        ``stream_ping_every`` seconds (none while 0 or silent); its Pongs counted."""
        frames.silent = self._silent

        def pong(body: bytes) -> None:
            if body == HEARTBEAT:
                self.book.count("stream_pongs")

        frames.on_pong = pong
        while True:
            every = self.book.knobs.stream_ping_every
            await asyncio.sleep(max(every, _PING_FLOOR) if every > 0 else _SILENCE_LOOK)
            if every <= 0 or self._silent():
                continue
            if not frames.ping(HEARTBEAT):
                return
            self.book.count("stream_pings")

    async def _read(self, link: _Link) -> None:
        while (raw := await _received(link.ws)) is not None:
            self._command(link, raw)

    def _command(self, link: _Link, raw: str | bytes) -> None:
        """One command: subscribe or unsubscribe; anything else is answered with the
        page's error, never a crash."""
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            data = None
        command = data.get("id") if isinstance(data, dict) else None
        if isinstance(command, bool) or not isinstance(command, int) or command < 0:
            command = None

        def refuse(code: int) -> None:
            answer: dict[str, Any] = {"type": "error", "msg": {"code": code, "msg": _ERRORS[code]}}
            if command:
                answer["id"] = command
            link.put(answer)

        if not isinstance(data, dict) or not isinstance(data.get("cmd"), str):
            refuse(1)
            return
        params = data.get("params")
        if data["cmd"] not in ("subscribe", "unsubscribe"):
            refuse(5)
            return
        if not isinstance(params, dict):
            refuse(2)
            return
        if data["cmd"] == "unsubscribe":
            sids = params.get("sids")
            if not isinstance(sids, list) or not sids:
                refuse(4)
                return
            if not all(isinstance(s, int) and s in link.subscriptions for s in sids):
                refuse(7)
                return
            for sid in sids:
                del link.subscriptions[sid]
                answer = {"type": "unsubscribed", "sid": sid}
                link.put(answer | ({"id": command} if command else {}))
            return
        channels = params.get("channels")
        if not isinstance(channels, list) or not channels:
            refuse(3)
            return
        if channels != [CHANNEL]:
            refuse(8)  # the sandbox serves user_orders alone
            return
        tickers = params.get("market_tickers", [])
        if (
            not isinstance(tickers, list)
            or len(tickers) > MAX_TICKERS
            or not all(isinstance(t, str) and 0 < len(t) <= 128 for t in tickers)
        ):
            refuse(11)
            return
        if len(link.subscriptions) >= MAX_SUBSCRIPTIONS:
            refuse(11)
            return
        self.sids += 1
        link.subscriptions[self.sids] = frozenset(tickers)
        answer = {"type": "subscribed", "msg": {"channel": CHANNEL, "sid": self.sids}}
        link.put(answer | ({"id": command} if command else {}))

    async def _write(self, link: _Link) -> None:
        """Send the queue in order; None (``drop``) or an overflow closes."""
        ws = link.ws
        while True:
            if link.overflowed:
                await ws.close(code=1008)
                return
            text = await link.queue.get()
            while self._silent():  # hung: nothing leaves, not even a close
                await asyncio.sleep(_SILENCE_LOOK)
            if text is None:
                await ws.close(code=1012)  # "service restart": the client reconnects
                return
            await ws.send_text(text)

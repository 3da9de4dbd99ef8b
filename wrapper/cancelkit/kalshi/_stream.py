"""Kalshi's private order stream (the ``user_orders`` channel of ``/trade-api/ws/v2``)
as an async iterator of typed events (:mod:`._events`).

aiohttp's WebSocket client, as Polymarket's stream: aiohttp is already the async
clients' transport (no new dependency; the stream's session is made by the same
``AiohttpTransport``, on the client's proxy route and TLS settings), and it bounds
what it reads (``max_msg_size``). What each step follows (pages under
https://docs.kalshi.com/, copies in ``../shared/pages/kalshi/``):

- Handshake (``getting_started/quick_start_websockets``): the REST headers
  ``KALSHI-ACCESS-KEY``/``-TIMESTAMP``/``-SIGNATURE``, signed over
  ``timestamp + "GET" + "/trade-api/ws/v2"`` by the client's own key
  (:class:`KalshiAuth`: RSA-PSS or Ed25519) and learned clock. A 401 whose ``Date``
  shows our clock was off corrects the clock and is retried once, as REST does.
- The URL (same page): the production and demo REST hosts have their own
  WebSocket hosts (``external-api-ws.``); the older shared hosts serve both; any
  other base URL (the sandbox's, a proxy's) is the same host with
  ``/trade-api/ws/v2`` for the REST root's ``/trade-api/v2``.
- Subscribe (``websockets/websocket-connection``):
  ``{"id": N, "cmd": "subscribe", "params": {"channels": ["user_orders"]}}``, every
  market (no ``market_tickers``); the ``sid`` of its ``subscribed`` answer is the
  only one whose ``user_order`` messages are believed.
- Keep-alive (``websockets/connection-keep-alive``): Kalshi pings every 10 s and
  aiohttp answers each with a pong; the client also pings every :data:`PING_EVERY`
  seconds ("Clients may also send Ping frames") and aiohttp drops a connection
  whose pong does not come back within half of that.
- No snapshot, no replay (neither page has one): once subscribed, the resting
  orders are listed over REST (``GET /portfolio/orders``) and yielded as an
  :class:`OrderSnapshot`; updates that came meanwhile follow it (each says its
  order's whole state, so applying them after the listing is right either way).
- Reconnects back off exponentially, at most ``reconnects`` failures in a row;
  each is announced (:class:`StreamInterrupted`), resubscribes and lists again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing

import aiohttp
import anyio
import anyio.lowlevel
import attrs
from yarl import URL

from .._base import HTTPSettings
from .._exceptions import AuthenticationError, CancelKitError, InvalidRequest
from .._signing import SigningAuth
from .._transport import AiohttpTransport
from .._ws import (
    NO_STREAM_ON_GIVEN_TRANSPORT,
    Venue,
    check_message_bytes,
    check_reconnects,
    close_wait,
    connect_timeout,
    control_frame,
    error_of,
    open_socket,
    reconnecting,
    stream_transport,
)
from .._ws import Lost as _Lost
from ._events import (
    CHANNEL,
    MAX_MESSAGE,
    RECONNECTS,
    SUBSCRIBE_WAIT,
    OrderEvent,
    OrderSnapshot,
    OrderStreamError,
    OrderUpdate,
    Refused,
    StreamInterrupted,
    StreamOrder,
    Subscribed,
    read,
)

logger = logging.getLogger("cancelkit")

WS_PATH = "/trade-api/ws/v2"
REST_PATH = "/trade-api/v2"
# The quick start's hosts: each REST host's WebSocket host (the shared ones serve both).
WS_HOSTS = {
    "external-api.kalshi.com": "external-api-ws.kalshi.com",
    "external-api.demo.kalshi.co": "external-api-ws.demo.kalshi.co",
}
PING_EVERY = 10.0
_CLOSE_WAIT = 0.5  # seconds a closing connection waits for the server's close frame
_POLL = 1.0  # seconds between checks that the client is still open

Listing = Callable[[], Awaitable[list[StreamOrder]]]


def stream_url(base_url: str) -> str:
    """The WebSocket URL for a REST ``base_url`` (see the module docstring)."""
    url = URL(base_url.rstrip("/"))
    scheme = {"https": "wss", "http": "ws", "wss": "wss", "ws": "ws"}.get(url.scheme)
    if scheme is None or not url.host:
        raise InvalidRequest(f"no WebSocket URL for base URL {base_url!r}")
    path = url.path
    if path.endswith(REST_PATH):
        path = path[: -len(REST_PATH)] + WS_PATH
    else:
        path = path.rstrip("/") + WS_PATH
    host = WS_HOSTS.get(url.host, url.host)
    return str(url.with_scheme(scheme).with_host(host).with_path(path).with_query(None))


@attrs.frozen
class Link:
    """What the stream needs of its client: its signing, REST base URL and settings,
    whether it sends through a transport the caller gave (no WebSocket there),
    whether it has been closed (its stream then ends), its proxy route, and the
    listing of its resting orders (the reconcile at each connect)."""

    auth: SigningAuth
    base_url: str
    settings: HTTPSettings
    given_transport: bool
    closed: Callable[[], bool]
    route: str | None
    listing: Listing


def _transport(link: Link) -> AiohttpTransport:
    """The stream's own aiohttp session on the client's one route and TLS settings."""
    return stream_transport(link.settings, link.base_url, link.route)


def order_events(
    link: Link,
    *,
    max_message_bytes: int = MAX_MESSAGE,
    reconnects: int = RECONNECTS,
    subscribe_wait: float = SUBSCRIBE_WAIT,
) -> AsyncGenerator[OrderEvent, None]:
    """The ``user_orders`` stream of ``link``'s key (see the module docstring and
    :meth:`AsyncKalshiClient.order_events`); its arguments are checked here, before
    anything is sent."""
    if link.given_transport:
        raise OrderStreamError(NO_STREAM_ON_GIVEN_TRANSPORT)
    check_message_bytes(max_message_bytes)
    check_reconnects(reconnects)
    if (
        isinstance(subscribe_wait, bool)
        or not isinstance(subscribe_wait, int | float)
        or not subscribe_wait > 0
    ):
        raise InvalidRequest("subscribe_wait must be a positive number of seconds")
    url = URL(stream_url(link.base_url), encoded=True)
    return _stream(link, url, max_message_bytes, reconnects, float(subscribe_wait))


_VENUE: Venue[OrderEvent] = Venue(
    resigned="kalshi order stream handshake refused (401); clock corrected",
    interrupted_log="kalshi order stream interrupted (%s); reconnecting",
    auth_path=WS_PATH,
    where=WS_PATH,
    url_name="base URL",
    error=OrderStreamError,
    interrupted=StreamInterrupted,
    subscribed=lambda event: isinstance(event, OrderSnapshot),  # subscribed and listed
    # The reconcile listing's key refused is not a network fault; its other errors are.
    fatal=(AuthenticationError, OrderStreamError),
    faults=(CancelKitError,),
)


def _stream(
    link: Link, url: URL, max_message_bytes: int, reconnects: int, subscribe_wait: float
) -> AsyncGenerator[OrderEvent, None]:
    venue = attrs.evolve(_VENUE, auth_path=url.raw_path, where=url.raw_path)

    def connect(
        session: aiohttp.ClientSession, transport: AiohttpTransport
    ) -> AsyncGenerator[OrderEvent, None]:
        return _connection(link, session, transport, url, max_message_bytes, subscribe_wait)

    return reconnecting(
        venue, link.auth, link.closed, lambda: _transport(link), connect, reconnects
    )


async def _connection(
    link: Link,
    session: aiohttp.ClientSession,
    transport: AiohttpTransport,
    url: URL,
    max_message_bytes: int,
    subscribe_wait: float,
) -> AsyncGenerator[OrderEvent, None]:
    """One connection: handshake, subscription, listing, then its updates until it ends."""
    headers = link.auth.signed("GET", url.raw_path, b"")
    timeout = connect_timeout(link.settings.timeout)
    ws = await open_socket(
        session,
        transport,
        url,
        headers,
        timeout,
        max_message_bytes,
        heartbeat=PING_EVERY,  # our pings; Kalshi's are answered too
    )
    try:
        events = _events_of(link, session, ws, subscribe_wait)
        async with aclosing(events):
            async for event in events:
                yield event
    finally:  # bounded, and done even when the consumer is cancelled
        with anyio.move_on_after(_close_wait(), shield=True):
            await ws.close()


def _close_wait() -> float:
    """Seconds a closing connection waits for the server's close frame: never past
    a kill switch's run (see :func:`.._ws.close_wait`)."""
    return close_wait(_CLOSE_WAIT)


async def _receive(
    link: Link, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse, until: float
) -> aiohttp.WSMessage | None:
    """The next data message, or None once ``until`` (monotonic) passes or the client
    is closed; raises :class:`_Lost` when the connection ends."""
    while True:
        wait = min(_POLL, until - time.monotonic())
        if wait <= 0 or session.closed or link.closed():
            return None
        try:
            message = await ws.receive(timeout=wait)
        except TimeoutError:
            continue
        if await control_frame(ws, message):
            continue
        if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            return message
        if session.closed or link.closed():
            return None
        if message.type == aiohttp.WSMsgType.ERROR:
            raise _Lost(error_of(ws, message))
        raise _Lost(f"closed by the server (code {ws.close_code})")


async def _events_of(
    link: Link,
    session: aiohttp.ClientSession,
    ws: aiohttp.ClientWebSocketResponse,
    subscribe_wait: float,
) -> AsyncGenerator[OrderEvent, None]:
    command = 1  # "must be unique within the session": one command per connection
    commands = {command: "subscribe"}
    sids: dict[int, str] = {}
    await ws.send_json({"id": command, "cmd": "subscribe", "params": {"channels": [CHANNEL]}})
    deadline = time.monotonic() + subscribe_wait
    while not sids:
        message = await _receive(link, session, ws, deadline)
        if message is None:
            if session.closed or link.closed():
                return
            raise _Lost(f"no answer to the subscription in {subscribe_wait:g} s")
        item = read(message.data, sids, commands)
        if isinstance(item, Refused):
            raise OrderStreamError(
                f"the exchange refused the user_orders subscription: error {item.code}"
                f" {item.message}"
            )
        if isinstance(item, Subscribed):
            sids[item.sid] = item.channel
        # Anything else before the answer is no subscription's of ours: dropped.
    # Subscribed: everything from now on is heard; list what rests (no snapshot).
    orders = await link.listing()
    yield OrderSnapshot(tuple(orders))
    while True:
        message = await _receive(link, session, ws, float("inf"))
        if message is None:
            return
        item = read(message.data, sids, commands)
        if isinstance(item, OrderUpdate):
            yield item
        elif isinstance(item, Refused):
            # An error after subscribing (a buffer overflow, code 25, ends the
            # subscription): resubscribe on a new connection, and list again.
            raise _Lost(f"error {item.code}: {item.message}")
        else:
            logger.debug("kalshi order stream: a message dropped (not ours, or malformed)")
            await anyio.lowlevel.checkpoint()  # a flood does not hold the loop

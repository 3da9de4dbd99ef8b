"""Polymarket US's private order stream (``/v1/ws/private``) as an async iterator of
typed events (:mod:`._events`).

aiohttp's WebSocket client: aiohttp is already the async clients' transport (no
new dependency; the stream's session is made by the same ``AiohttpTransport``, with
the client's proxy and TLS settings), and it bounds what it reads
(``max_msg_size``; its reader pauses the socket when its buffer is full).

- The handshake is signed as a REST request is (``timestamp + "GET" + path``, the
  client's own Ed25519 key and learned clock). A 401 whose ``Date`` shows our clock
  was off corrects the clock and is retried once, re-signed, as REST does.
- Keep-alive: WebSocket pings every :data:`PING_EVERY` seconds (the overview lets a
  client "implement their own keep-alive"), and a connection silent for ``silence``
  seconds (no heartbeat, nothing) is dropped and opened again.
- Reconnects back off exponentially, at most ``reconnects`` failures in a row; each
  is announced (:class:`StreamInterrupted`): the exchange documents no replay, so
  what was sent meanwhile is lost and must be reconciled over REST.
- At most 100 markets per subscription (the page's limit): more are split.
- A message that is not a well-formed order message of our own subscriptions is
  dropped (see :func:`._events.read`); a flood of them is read one by one, yielding to
  the event loop between messages, and never buffered beyond aiohttp's reader.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Iterable
from contextlib import aclosing

import aiohttp
import anyio
import anyio.lowlevel
import attrs
from yarl import URL

from .._base import HTTPSettings
from .._exceptions import InvalidRequest
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
from . import _validation as check
from ._events import (
    MAX_MESSAGE,
    RECONNECTS,
    SILENCE,
    Execution,
    Heartbeat,
    OrderEvent,
    OrderSnapshot,
    OrderStreamError,
    Refused,
    StreamInterrupted,
    read,
)

logger = logging.getLogger("cancelkit")

PATH = "/v1/ws/private"
MARKETS_PER_SUBSCRIPTION = 100  # the page's limit
PING_EVERY = 10.0
_CLOSE_WAIT = 0.5  # seconds a closing connection waits for the server's close frame
_POLL = 1.0  # seconds between checks that the client is still open


def _groups(market_slugs: Iterable[str] | None) -> list[list[str]]:
    """The subscriptions' markets: [] is every market; more than 100 are split."""
    if market_slugs is None:
        return [[]]
    if isinstance(market_slugs, str):
        raise InvalidRequest("market_slugs must be a list of market slugs, not one string")
    slugs = list(dict.fromkeys(check.market_slug(s) for s in market_slugs))
    if not slugs:
        raise InvalidRequest("market_slugs is empty: give None for every market")
    step = MARKETS_PER_SUBSCRIPTION
    return [slugs[n : n + step] for n in range(0, len(slugs), step)]


@attrs.frozen
class Link:
    """What the stream needs of its client: its signing, URL and settings, whether
    it sends through a transport the caller gave (which carries no WebSocket),
    whether it has been closed (its stream then ends), and the proxy its requests go
    through (``_proxy.route``, decided when it was built; None: direct)."""

    auth: SigningAuth
    base_url: str
    settings: HTTPSettings
    given_transport: bool
    closed: Callable[[], bool]
    route: str | None


def _route(link: Link) -> AiohttpTransport:
    """The stream's own aiohttp session (closed with it), on the client's one route
    and TLS settings. aiohttp is not let read the environment: it would connect
    around an ``ALL_PROXY`` or an ``https://`` proxy that the client's REST goes through."""
    return stream_transport(link.settings, link.base_url, link.route)


def _closed(link: Link, session: aiohttp.ClientSession) -> bool:
    return session.closed or link.closed()


def order_events(
    link: Link,
    market_slugs: Iterable[str] | None = None,
    *,
    max_message_bytes: int = MAX_MESSAGE,
    silence: float = SILENCE,
    reconnects: int = RECONNECTS,
) -> AsyncGenerator[OrderEvent, None]:
    """The private order stream of ``link``'s key (see the module docstring and
    :meth:`AsyncPolymarketUSClient.order_events`); its arguments are checked here,
    before anything is sent."""
    if link.given_transport:
        raise OrderStreamError(NO_STREAM_ON_GIVEN_TRANSPORT)
    groups = _groups(market_slugs)
    check_message_bytes(max_message_bytes)
    if isinstance(silence, bool) or not isinstance(silence, int | float) or not silence > 0:
        raise InvalidRequest("silence must be a positive number of seconds")
    check_reconnects(reconnects)
    return _stream(link, groups, max_message_bytes, silence, reconnects)


_VENUE: Venue[OrderEvent] = Venue(
    resigned="order stream handshake refused (401); clock corrected, retrying",
    interrupted_log="order stream interrupted (%s); reconnecting",
    auth_path=PATH,
    where=PATH,
    url_name="base URL",
    error=OrderStreamError,
    interrupted=StreamInterrupted,
    subscribed=lambda event: isinstance(event, OrderSnapshot) and event.eof,
)


def _stream(
    link: Link, groups: list[list[str]], max_message_bytes: int, silence: float, reconnects: int
) -> AsyncGenerator[OrderEvent, None]:
    url = URL(link.base_url.rstrip("/") + PATH, encoded=True)

    def connect(
        session: aiohttp.ClientSession, transport: AiohttpTransport
    ) -> AsyncGenerator[OrderEvent, None]:
        return _connection(link, session, transport, url, groups, max_message_bytes, silence)

    return reconnecting(_VENUE, link.auth, link.closed, lambda: _route(link), connect, reconnects)


async def _connection(
    link: Link,
    session: aiohttp.ClientSession,
    transport: AiohttpTransport,
    url: URL,
    groups: list[list[str]],
    max_message_bytes: int,
    silence: float,
) -> AsyncGenerator[OrderEvent, None]:
    """One connection: handshake, subscriptions, then its events until it ends."""
    headers = link.auth.signed("GET", url.raw_path, b"")
    timeout = connect_timeout(link.settings.timeout)
    ws = await open_socket(
        session, transport, url, headers, timeout, max_message_bytes, heartbeat=PING_EVERY
    )
    try:
        events = _events_of(link, session, ws, groups, silence)
        async with aclosing(events):
            async for event in events:
                yield event
    finally:  # bounded, and done even when the consumer is cancelled
        with anyio.move_on_after(_close_wait(), shield=True):
            await ws.close()


def _close_wait() -> float:
    """Seconds a closing connection waits for the server's close frame (see
    :func:`.._ws.close_wait`); read at each close, so it can be set in tests."""
    return close_wait(_CLOSE_WAIT)


async def _events_of(
    link: Link,
    session: aiohttp.ClientSession,
    ws: aiohttp.ClientWebSocketResponse,
    groups: list[list[str]],
    silence: float,
) -> AsyncGenerator[OrderEvent, None]:
    ours: dict[str, list[str]] = {}
    for n, slugs in enumerate(groups):
        request_id = f"cancelkit-{uuid.uuid4().hex[:12]}-{n}"
        ours[request_id] = slugs
        await ws.send_json(
            {
                "subscribe": {
                    "requestId": request_id,
                    "subscriptionType": "SUBSCRIPTION_TYPE_ORDER",
                    "marketSlugs": slugs,
                }
            }
        )
    pending_snapshots = set(ours)
    heard = time.monotonic()
    while True:
        wait = min(_POLL, max(0.0, heard + silence - time.monotonic()))
        try:
            message = await ws.receive(timeout=wait)
        except TimeoutError:
            if _closed(link, session):
                return
            if time.monotonic() - heard >= silence:
                raise _Lost(f"no message for {silence:g} s") from None
            continue
        if await control_frame(ws, message):
            continue
        if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            heard = time.monotonic()
            item = read(message.data, ours)
            if isinstance(item, Refused):
                raise OrderStreamError(f"the exchange refused the order subscription: {item.error}")
            if isinstance(item, OrderSnapshot):
                if item.eof:
                    pending_snapshots.discard(item.request_id)
                # One event per subscription's snapshot; eof once all are in.
                yield OrderSnapshot(item.request_id, item.orders, not pending_snapshots)
            elif isinstance(item, Execution):
                yield item
            elif item is None:
                logger.debug("order stream: a message dropped (not one of ours, or malformed)")
                await anyio.lowlevel.checkpoint()  # a flood does not hold the loop
            else:
                assert isinstance(item, Heartbeat)
            continue
        if _closed(link, session):
            return
        if message.type == aiohttp.WSMsgType.ERROR:
            raise _Lost(error_of(ws, message))
        raise _Lost(f"closed by the server (code {ws.close_code})")

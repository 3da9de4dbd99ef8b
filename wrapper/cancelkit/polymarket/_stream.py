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
import httpx
from yarl import URL

from .._base import HTTPSettings
from .._bulk import current_run
from .._exceptions import AuthenticationError, InvalidRequest
from .._signing import SigningAuth
from .._tls import context
from .._transport import AiohttpTransport, proxy_arguments
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
_BACKOFF_FIRST, _BACKOFF_MAX = 0.1, 5.0
_CLOSE_WAIT = 0.5  # seconds a closing connection waits for the server's close frame
_POLL = 1.0  # seconds between checks that the client is still open


class _Lost(Exception):
    """The connection ended or went silent (reconnect)."""


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
    settings = link.settings
    verify = context(settings.verify, link.base_url, link.route, settings.trust_env)
    return AiohttpTransport(proxy=link.route, trust_env=False, verify=verify)


def _closed(link: Link, session: aiohttp.ClientSession) -> bool:
    return session.closed or link.closed()


def _backoff(attempt: int) -> float:
    return min(_BACKOFF_MAX, _BACKOFF_FIRST * 2.0 ** (attempt - 1))


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
        raise OrderStreamError(
            "this client sends through a transport it was given, which carries no"
            " WebSocket: no order stream"
        )
    groups = _groups(market_slugs)
    if isinstance(max_message_bytes, bool) or not isinstance(max_message_bytes, int):
        raise InvalidRequest("max_message_bytes must be a whole number of bytes")
    if not 1024 <= max_message_bytes <= 1 << 30:
        raise InvalidRequest("max_message_bytes must be from 1 KiB to 1 GiB")
    if isinstance(silence, bool) or not isinstance(silence, int | float) or not silence > 0:
        raise InvalidRequest("silence must be a positive number of seconds")
    if isinstance(reconnects, bool) or not isinstance(reconnects, int) or reconnects < 0:
        raise InvalidRequest("reconnects must be a whole number, 0 or more")
    return _stream(link, groups, max_message_bytes, silence, reconnects)


async def _stream(
    link: Link, groups: list[list[str]], max_message_bytes: int, silence: float, reconnects: int
) -> AsyncGenerator[OrderEvent, None]:
    transport = _route(link)
    url = URL(link.base_url.rstrip("/") + PATH, encoded=True)
    failures = 0
    resigned = False  # a 401 already answered by one re-signed handshake
    try:
        while True:
            session = transport.session()
            if _closed(link, session):
                return  # the client was closed: so is its stream
            signed_offset = link.auth.offset  # the clock the handshake is signed with
            connection = _connection(
                link, session, transport, url, groups, max_message_bytes, silence
            )
            try:
                async with aclosing(connection):  # closed at once, not when collected
                    async for event in connection:
                        if isinstance(event, OrderSnapshot) and event.eof:
                            failures = 0  # subscribed: the next failure starts afresh
                            resigned = False
                        yield event
                return  # the client was closed
            except _Lost as exc:
                reason = str(exc)
            except aiohttp.WSServerHandshakeError as exc:
                date = exc.headers.get("Date") if exc.headers is not None else None
                if exc.status == 401 and not resigned and link.auth.resign(date, signed_offset):
                    # Refused for our clock, as REST is: the answer's Date corrected
                    # it; one handshake signed with it, at once. A second 401 is final.
                    resigned = True
                    logger.info("order stream handshake refused (401); clock corrected, retrying")
                    continue
                if exc.status in (401, 403):
                    raise AuthenticationError(
                        f"the order stream's handshake was refused ({exc.status})",
                        status=exc.status,
                        method="GET",
                        path=PATH,
                    ) from None
                if exc.status in (400, 404, 405):
                    raise OrderStreamError(
                        f"no order stream at {PATH} ({exc.status}): is the base URL right?",
                        status=exc.status,
                    ) from None
                reason = f"the handshake answered {exc.status}"
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            if _closed(link, transport.session()):
                return
            failures += 1
            if failures > reconnects:
                raise OrderStreamError(
                    f"the order stream failed {failures} times in a row; last: {reason}"
                )
            logger.info("order stream interrupted (%s); reconnecting", reason)
            yield StreamInterrupted(reason, failures)
            await anyio.sleep(_backoff(failures))
    finally:  # closed even when the consumer is cancelled
        with anyio.CancelScope(shield=True):
            await transport.aclose()


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
    proxy, proxy_headers, extra = proxy_arguments(transport.route(url), url)
    headers = link.auth.signed("GET", url.raw_path, b"") + extra
    with anyio.fail_after(_connect_timeout(link.settings.timeout)):
        ws = await session.ws_connect(
            url,
            headers=headers,
            proxy=proxy,
            proxy_headers=proxy_headers,
            max_msg_size=max_message_bytes,
            heartbeat=PING_EVERY,
            autoclose=True,
            compress=0,  # no permessage-deflate: nothing to inflate past the bound
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
    """Seconds a closing connection waits for the server's close frame: within a
    kill switch's run (its stream), none once the run has stopped and never past
    its end (deadline + grace): the close is done after the run's work."""
    control = current_run()
    if control is None:
        return _CLOSE_WAIT
    if control.stopped:
        return 0.0
    return min(_CLOSE_WAIT, max(0.0, control.end() - time.monotonic()))


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
            raise _Lost(f"connection error: {ws.exception()}")
        raise _Lost(f"closed by the server (code {ws.close_code})")


def _connect_timeout(timeout: float | httpx.Timeout) -> float:
    if isinstance(timeout, int | float):
        return float(timeout)
    parts = [t for t in (timeout.connect, timeout.read, timeout.pool) if t is not None]
    return max(parts, default=10.0)

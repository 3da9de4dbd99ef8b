"""Limitless's private order stream (PROVISIONAL: see ``_events``) as an async iterator
of typed events: Socket.IO (Engine.IO v4) over aiohttp's WebSocket client.

The framing is written here, not taken from python-socketio: the stream needs one
namespace, one emit and one event, which is a few dozen lines of Engine.IO v4;
aiohttp is already the async clients' transport (no new dependency; opening a
stream loads this module, about 10 ms, where ``import socketio`` loads 173 modules
in 75-140 ms on top of an async client); its reconnects, silence detection and
backoff would still have to be made to announce each interruption as the other
venues' streams do; and the sandbox tests then exercise framing of our own, end to
end. Each connect is a handshake of our own, signed afresh (the exchange allows 30
seconds of skew).

- The upgrade request carries ``lmts-api-key``, ``lmts-timestamp`` and
  ``lmts-signature``, the REST scheme over ``GET`` and the Engine.IO path with an
  empty body, with the client's key and learned clock, signed again on every connect.
  A 401 whose ``Date`` shows our clock was off corrects the clock and is retried
  once, as REST does.
- Then the namespace ``/markets`` is joined and ``subscribe_order_events`` emitted,
  on every (re)connect: the exchange keeps no subscription across one [B].
- The server's Engine.IO pings (``2``) are answered (``3``) by a reader task of the
  connection's own, however slowly the consumer reads; a connection that hears
  nothing for its announced ping interval plus timeout is dropped and opened again.
- Reconnects back off exponentially, at most ``reconnects`` failures in a row; each
  is announced (:class:`LimitlessStreamInterrupted`): nothing is replayed.
- No snapshot exists: the stream adds order events (and the markets they name), never
  the open orders; those are still the per-market listing's to tell.
- A frame that is not a well-formed ``orderEvent`` of our namespace is dropped (see
  ``_events.read``); a flood of them is read one by one, yielding to the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable
from typing import Any

import aiohttp
import anyio
import anyio.lowlevel
import attrs
from yarl import URL

from .._base import HTTPSettings
from .._proxy import route as proxy_route
from .._signing import SigningAuth
from .._transport import AiohttpTransport
from .._urls import check_base_url
from .._ws import (
    NO_STREAM_ON_GIVEN_TRANSPORT,
    Venue,
    check_message_bytes,
    check_reconnects,
    connect_timeout,
    control_frame,
    error_of,
    open_socket,
    reconnecting,
    stream_transport,
)
from .._ws import Lost as _Lost
from ._events import (
    MAX_MESSAGE,
    RECONNECTS,
    LimitlessOrderEvent,
    LimitlessStreamError,
    LimitlessStreamEvent,
    LimitlessStreamInterrupted,
    LimitlessStreamSubscribed,
    read,
)

logger = logging.getLogger("cancelkit")

PATH = "/socket.io/?EIO=4&transport=websocket"  # what is signed, and requested
NAMESPACE = "/markets"
SUBSCRIBE = "subscribe_order_events"
EVENT = "orderEvent"
STREAM_URL = "https://ws.limitless.exchange"  # [A][C]: wss://ws.limitless.exchange
_API_URL = "https://api.limitless.exchange"
_CLOSE_WAIT = 0.5  # seconds a closing connection waits for the server's close frame
_POLL = 1.0  # seconds between checks that the client is still open
_SILENCE_MIN, _SILENCE_MAX = 1.0, 300.0  # bounds on what a server's open packet may set
_SILENCE_DEFAULT = 45.0  # Engine.IO's defaults, 25 s interval + 20 s timeout
_BACKLOG = 10_000  # packets read ahead of the consumer at most
# Characters read ahead at most (one packet of any size the stream allows always
# fits): 10,000 packets of max_message_bytes each would be 10 GiB.
_BACKLOG_CHARS = 16 * 2**20
_MAX_SAID = 200  # characters of a server's message kept (it is logged)
_SAID_LOGGED = 3  # a server's "exception" messages logged per connection, at most


@attrs.frozen
class Link:
    """What the stream needs of its client: its signing, the stream's URL, the
    client's settings, whether it sends through a transport the caller gave (which
    carries no WebSocket), and whether it has been closed (its stream then ends)."""

    auth: SigningAuth
    url: str
    settings: HTTPSettings
    given_transport: bool
    closed: Callable[[], bool]


def stream_url(base_url: str, given: str | None) -> str:
    """The stream's URL: ``given``, else the exchange's own beside its API, else (a
    sandbox or another API root) the API root itself."""
    if given is not None:
        return check_base_url(given).rstrip("/")
    if base_url.rstrip("/") == _API_URL:
        return STREAM_URL
    return base_url.rstrip("/")


def order_events(
    link: Link,
    *,
    max_message_bytes: int = MAX_MESSAGE,
    reconnects: int = RECONNECTS,
) -> AsyncGenerator[LimitlessStreamEvent, None]:
    """The private order stream of ``link``'s token (see the module docstring and
    :meth:`AsyncLimitlessClient.order_events`); its arguments are checked here,
    before anything is sent."""
    if link.given_transport:
        raise LimitlessStreamError(NO_STREAM_ON_GIVEN_TRANSPORT)
    check_message_bytes(max_message_bytes)
    check_reconnects(reconnects)
    return _stream(link, max_message_bytes, reconnects)


def _said(text: object) -> str:
    """A server's words, bounded and printable (they go in logs and errors)."""
    shown = str(text)[:_MAX_SAID]
    return "".join(c if c.isprintable() else "?" for c in shown)


_VENUE: Venue[LimitlessStreamEvent] = Venue(
    resigned="limitless order stream handshake refused (401); clock corrected",
    interrupted_log="limitless order stream interrupted (%s); reconnecting",
    auth_path=PATH,
    where=PATH,
    url_name="URL",
    error=LimitlessStreamError,
    interrupted=LimitlessStreamInterrupted,
    subscribed=lambda event: isinstance(event, LimitlessStreamSubscribed),
)


def _transport(link: Link) -> AiohttpTransport:
    """The stream's own aiohttp session: the stream's host is not the API's, so its
    proxy is decided for it."""
    settings = link.settings
    route = proxy_route(link.url, settings.proxy, settings.trust_env)
    return stream_transport(settings, link.url, route)


def _stream(
    link: Link, max_message_bytes: int, reconnects: int
) -> AsyncGenerator[LimitlessStreamEvent, None]:
    url = URL(link.url + PATH, encoded=True)
    venue = attrs.evolve(_VENUE, where=f"{link.url}{PATH}")
    connects = 0

    def connect(
        session: aiohttp.ClientSession, transport: AiohttpTransport
    ) -> AsyncGenerator[LimitlessStreamEvent, None]:
        nonlocal connects
        connects += 1
        return _connection(link, session, transport, url, max_message_bytes, connects)

    return reconnecting(
        venue, link.auth, link.closed, lambda: _transport(link), connect, reconnects
    )


async def _connection(
    link: Link,
    session: aiohttp.ClientSession,
    transport: AiohttpTransport,
    url: URL,
    max_message_bytes: int,
    attempt: int,
) -> AsyncGenerator[LimitlessStreamEvent, None]:
    """One connection: the signed upgrade, Engine.IO's open, the namespace, the
    subscription, then its events until it ends."""
    headers = link.auth.signed("GET", PATH, b"")  # a fresh timestamp on every connect
    wait = connect_timeout(link.settings.timeout)
    ws = await open_socket(session, transport, url, headers, wait, max_message_bytes)
    frames = _Frames(link, session, ws)
    try:
        with anyio.fail_after(wait):
            frames.silence = _opened(await frames.next())
            await ws.send_str(f"40{NAMESPACE},")
            while not _joined(await frames.next()):
                pass
        await ws.send_str(f"42{NAMESPACE},{json.dumps([SUBSCRIBE])}")
        yield LimitlessStreamSubscribed(attempt)
        while True:
            text = await frames.next()
            if text is None:
                return  # the client was closed
            event = _event(text, frames)
            if event is None:
                logger.debug("limitless order stream: a frame dropped (not one of ours)")
                await anyio.lowlevel.checkpoint()  # a flood does not hold the loop
            else:
                yield event
    finally:  # bounded, and done even when the consumer is cancelled
        frames.close()
        with anyio.move_on_after(_CLOSE_WAIT, shield=True):
            await ws.close()


class _Frames:
    """The connection's Engine.IO text packets, read by a task of their own so that
    the server's pings are answered however slowly the consumer reads; a silence, a
    close or a consumer more than :data:`_BACKLOG` packets (or
    :data:`_BACKLOG_CHARS` characters) behind ends them (:class:`_Lost`): the
    connection is closed at once, what was read still reaches the consumer."""

    def __init__(
        self, link: Link, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse
    ) -> None:
        self.link, self.session, self.ws = link, session, ws
        self.silence = _SILENCE_DEFAULT
        self._items: deque[str] = deque()
        self._chars = 0  # characters in _items
        self.said = 0  # "exception" messages the server sent (see _event)
        self._ready = asyncio.Event()
        self._done = False
        self._error: BaseException | None = None
        self._task = asyncio.ensure_future(self._pump())

    def close(self) -> None:
        """Stop reading (the connection is being closed)."""
        self._task.cancel()

    async def next(self) -> str | None:
        """The next packet other than a ping; None once the client is closed."""
        while not self._items:
            if self._done:
                if self._error is not None:
                    raise self._error
                return None
            self._ready.clear()
            await self._ready.wait()
        text = self._items.popleft()
        self._chars -= len(text)
        return text

    async def _pump(self) -> None:
        try:
            while True:
                text = await self._read()
                if text is None:
                    break
                behind = self._behind(text)
                if behind is not None:
                    self._error = _Lost(behind)
                    # Nothing more is read: the server is told now, not once the
                    # consumer has caught up with what is kept.
                    with contextlib.suppress(Exception):
                        async with asyncio.timeout(_CLOSE_WAIT):
                            await self.ws.close()
                    break
                self._items.append(text)
                self._chars += len(text)
                self._ready.set()
        except Exception as exc:  # the consumer's to see, at its next read
            self._error = exc
        self._done = True
        self._ready.set()

    def _behind(self, text: str) -> str | None:
        """Why ``text`` cannot be kept (the consumer is too far behind), or None."""
        if len(self._items) >= _BACKLOG:
            return f"the reader fell {_BACKLOG} packets behind"
        if self._items and self._chars + len(text) > _BACKLOG_CHARS:
            return f"the reader fell {_BACKLOG_CHARS} characters behind"
        return None

    async def _read(self) -> str | None:
        heard = time.monotonic()
        while True:
            wait = min(_POLL, max(0.0, heard + self.silence - time.monotonic()))
            try:
                message = await self.ws.receive(timeout=wait)
            except TimeoutError:
                if self.session.closed or self.link.closed():
                    return None
                if time.monotonic() - heard >= self.silence:
                    raise _Lost(f"no ping for {self.silence:g} s") from None
                continue
            if await control_frame(self.ws, message):
                continue
            if message.type == aiohttp.WSMsgType.TEXT:
                heard = time.monotonic()
                text: str = message.data
                if text == "2":  # Engine.IO ping: answered at once
                    await self.ws.send_str("3")
                    # A flood of pings does not hold the loop (a guard's firing).
                    await anyio.lowlevel.checkpoint()
                    continue
                if text == "1":
                    raise _Lost("the server closed the Engine.IO session")
                if text.startswith(f"41{NAMESPACE},") or text == f"41{NAMESPACE}":
                    raise _Lost("the server left the namespace")
                return text
            if message.type == aiohttp.WSMsgType.BINARY:
                heard = time.monotonic()
                await anyio.lowlevel.checkpoint()
                continue  # no binary packet is ours
            if self.session.closed or self.link.closed():
                return None
            if message.type == aiohttp.WSMsgType.ERROR:
                raise _Lost(error_of(self.ws, message))
            raise _Lost(f"closed by the server (code {self.ws.close_code})")


def _opened(text: str | None) -> float:
    """Engine.IO's open packet: the seconds of silence after which the connection is
    taken for lost (its ping interval plus timeout, bounded)."""
    if text is None:
        raise _Lost("the client was closed")
    if not text.startswith("0"):
        raise _Lost("the server did not open an Engine.IO session")
    try:
        found = json.loads(text[1:])
    except (ValueError, RecursionError):
        found = None
    if not isinstance(found, dict):
        raise _Lost("the server's Engine.IO open packet is malformed")
    interval, timeout = found.get("pingInterval"), found.get("pingTimeout")
    if not _whole(interval) or not _whole(timeout):
        return _SILENCE_DEFAULT
    assert isinstance(interval, int)
    assert isinstance(timeout, int)
    return min(_SILENCE_MAX, max(_SILENCE_MIN, (interval + timeout) / 1000))


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 31


def _joined(text: str | None) -> bool:
    """Whether ``text`` is the namespace's connect answer (True); a refusal raises;
    anything else is not the answer yet (False)."""
    if text is None:
        raise _Lost("the client was closed")
    if text.startswith(f"40{NAMESPACE},") or text == f"40{NAMESPACE}":
        return True
    if text.startswith(f"44{NAMESPACE},"):
        try:
            said: Any = json.loads(text[len(NAMESPACE) + 3 :])
        except (ValueError, RecursionError):
            said = None
        message = said.get("message") if isinstance(said, dict) else None
        raise LimitlessStreamError(
            f"the exchange refused the {NAMESPACE} namespace: {_said(message or '?')}"
        )
    return False


def _event(text: str, frames: _Frames | None = None) -> LimitlessOrderEvent | None:
    """An ``orderEvent`` on our namespace, read (``_events.read``); None otherwise.
    The server's ``exception`` messages are logged, the first few of a connection
    (``frames``) only: a server repeating them cannot fill a disk with log lines."""
    prefix = f"42{NAMESPACE},"
    if not text.startswith(prefix):
        return None
    rest = text[len(prefix) :].lstrip("0123456789")  # an ack id, if any
    try:
        data = json.loads(rest)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, list) or not data or not isinstance(data[0], str):
        return None
    if data[0] == "exception":  # [A]: the server's errors
        said = 1 if frames is None else frames.said + 1
        if frames is not None:
            frames.said = said
        if said <= _SAID_LOGGED:
            logger.info("limitless order stream: the server said: %s", _said(data[1:]))
        elif said == _SAID_LOGGED + 1:
            logger.info(
                "limitless order stream: the server says more; not logged until it reconnects"
            )
        return None
    if data[0] != EVENT or len(data) != 2:
        return None
    return read(data[1])

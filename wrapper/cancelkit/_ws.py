"""The reconnect loop every venue's private order stream runs (no venue here: each
passes in what is its own, as a :class:`Venue`).

- One aiohttp session for the stream (made by ``transport``, closed at the end even
  when the consumer is cancelled); the loop ends quietly once it or the client is closed.
- Each attempt notes the clock its handshake is signed with; a 401 whose ``Date``
  shows that clock was off corrects it and is retried once, at once, as REST does.
- A refused handshake is final: 401/403 an :class:`AuthenticationError`, 400/404/405
  the venue's stream error (nothing there); any other answer or a network fault
  is a reconnect, backed off exponentially, at most ``reconnects`` failures in a
  row, each announced by the venue's interrupted event. Failures are counted
  afresh (and the re-sign allowed again) once an attempt is subscribed.
- A server that accepts, subscribes and drops at once (a flapping gateway, a
  hostile host) is no failure in that count, yet its reconnects back off too: each
  connection that ends within :data:`STEADY` seconds of its subscription waits
  longer than the last, so reconnects (each a signed handshake, and Kalshi's a
  listing too) never come faster than one per backoff cap, however often it drops.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import TYPE_CHECKING, Generic, TypeVar

import aiohttp
import anyio
import anyio.lowlevel
import attrs
import httpx
from yarl import URL

from ._bulk import current_run
from ._exceptions import AuthenticationError, InvalidRequest
from ._signing import SigningAuth
from ._tls import context
from ._transport import AiohttpTransport, proxy_arguments

if TYPE_CHECKING:
    from ._settings import HTTPSettings

logger = logging.getLogger("cancelkit")

_BACKOFF_FIRST, _BACKOFF_MAX = 0.1, 5.0
STEADY = 2 * _BACKOFF_MAX  # seconds a subscribed connection must last to reset the backoff

E = TypeVar("E")

Connect = Callable[[aiohttp.ClientSession, AiohttpTransport], AsyncGenerator[E, None]]


class Lost(Exception):
    """The connection ended or went silent (reconnect)."""


@attrs.frozen
class Venue(Generic[E]):
    """What a venue's stream puts into the loop: the line logged when a handshake
    is re-signed, the one (``%s``: the reason) when a connection is lost, the path
    an authentication error names, where and which URL a 400/404/405 names, its
    stream error, its interrupted event, which of its events mean "subscribed",
    the errors that end the stream at once and the further ones that are reconnects."""

    resigned: str
    interrupted_log: str
    auth_path: str
    where: str
    url_name: str
    error: Callable[..., Exception]
    interrupted: Callable[[str, int], E]
    subscribed: Callable[[E], bool]
    fatal: tuple[type[Exception], ...] = ()
    faults: tuple[type[Exception], ...] = ()


def backoff(attempt: int) -> float:
    """Seconds before reconnect ``attempt`` (1, 2, ...): doubling, capped."""
    return min(_BACKOFF_MAX, _BACKOFF_FIRST * 2.0 ** (attempt - 1))


def close_wait(limit: float) -> float:
    """Seconds a closing connection waits for the server's close frame (at most
    ``limit``): within a kill switch's run, none once the run has stopped and never
    past its end (deadline + grace): the close is done after the run's work."""
    control = current_run()
    if control is None:
        return limit
    if control.stopped:
        return 0.0
    return min(limit, max(0.0, control.end() - time.monotonic()))


async def reconnecting(
    venue: Venue[E],
    auth: SigningAuth,
    closed: Callable[[], bool],
    transport: Callable[[], AiohttpTransport],
    connect: Connect[E],
    reconnects: int,
) -> AsyncGenerator[E, None]:
    """The events of one connection after another (see the module docstring)."""
    faults: tuple[type[Exception], ...] = (
        *venue.faults,
        aiohttp.ClientError,
        OSError,
        TimeoutError,
    )
    routed = transport()
    failures = 0
    quick = 0  # connections in a row that dropped within STEADY s of their subscription
    resigned = False  # a 401 already answered by one re-signed handshake
    try:
        while True:
            session = routed.session()
            if session.closed or closed():
                return  # the client was closed: so is its stream
            signed_offset = auth.offset  # the clock the handshake is signed with
            connection = connect(session, routed)
            subscribed_at: float | None = None
            try:
                async with aclosing(connection):  # closed at once, not when collected
                    async for event in connection:
                        if venue.subscribed(event):
                            failures = 0  # subscribed: the next failure starts afresh
                            resigned = False
                            subscribed_at = time.monotonic()
                        yield event
                return  # the client was closed
            except Lost as exc:
                reason = str(exc)
            except aiohttp.WSServerHandshakeError as exc:
                date = exc.headers.get("Date") if exc.headers is not None else None
                if exc.status == 401 and not resigned and auth.resign(date, signed_offset):
                    # Refused for our clock, as REST is: the answer's Date corrected
                    # it; one handshake signed with it, at once. A second 401 is final.
                    resigned = True
                    logger.info(venue.resigned)
                    continue
                if exc.status in (401, 403):
                    raise AuthenticationError(
                        f"the order stream's handshake was refused ({exc.status})",
                        status=exc.status,
                        method="GET",
                        path=venue.auth_path,
                    ) from None
                if exc.status in (400, 404, 405):
                    raise venue.error(
                        f"no order stream at {venue.where} ({exc.status}):"
                        f" is the {venue.url_name} right?",
                        status=exc.status,
                    ) from None
                reason = f"the handshake answered {exc.status}"
            except venue.fatal:
                raise  # not a network fault (the venue says which)
            except faults as exc:
                reason = f"{type(exc).__name__}: {exc}"
            if routed.session().closed or closed():
                return
            if subscribed_at is not None:
                steady = time.monotonic() - subscribed_at >= STEADY
                quick = 0 if steady else quick + 1
            failures += 1
            if failures > reconnects:
                raise venue.error(
                    f"the order stream failed {failures} times in a row; last: {reason}"
                )
            logger.info(venue.interrupted_log, reason)
            yield venue.interrupted(reason, failures)
            await anyio.sleep(backoff(max(failures, quick)))
    finally:  # closed even when the consumer is cancelled
        with anyio.CancelScope(shield=True):
            await routed.aclose()


def stream_transport(settings: HTTPSettings, url: str, route: str | None) -> AiohttpTransport:
    """A stream's own aiohttp session on ``route`` (decided already: aiohttp is not
    let read the environment, which could send it around the proxy REST goes
    through) and the client's TLS settings for ``url``."""
    verify = context(settings.verify, url, route, settings.trust_env)
    return AiohttpTransport(proxy=route, trust_env=False, verify=verify)


def connect_timeout(timeout: float | httpx.Timeout) -> float:
    """Seconds a stream's handshake may take: the client's timeout, or the longest
    of its connect, read and pool parts."""
    if isinstance(timeout, int | float):
        return float(timeout)
    parts = [t for t in (timeout.connect, timeout.read, timeout.pool) if t is not None]
    return max(parts, default=10.0)


async def open_socket(
    session: aiohttp.ClientSession,
    transport: AiohttpTransport,
    url: URL,
    headers: list[tuple[str, str]],
    timeout: float,
    max_message_bytes: int,
    heartbeat: float | None = None,
) -> aiohttp.ClientWebSocketResponse:
    """The WebSocket upgrade, signed by ``headers``, through the transport's route
    (a proxy's credentials where they belong), within ``timeout`` seconds: never
    compressed (nothing to inflate past ``max_message_bytes``); with ``heartbeat``,
    our pings that often (the server's are answered either way)."""
    proxy, proxy_headers, extra = proxy_arguments(transport.route(url), url)
    with anyio.fail_after(timeout):
        return await session.ws_connect(
            url,
            headers=headers + extra,
            proxy=proxy,
            proxy_headers=proxy_headers,
            max_msg_size=max_message_bytes,
            heartbeat=heartbeat,
            autoclose=True,
            autoping=False,  # answered by each reader (control_frame), yielding the loop
            compress=0,
        )


def error_of(ws: aiohttp.ClientWebSocketResponse, message: aiohttp.WSMessage) -> str:
    """Why an ``ERROR`` message ended the connection: the error it carries (aiohttp
    keeps a protocol error there, not in ``ws.exception()``, which said "None")."""
    error = message.data if isinstance(message.data, BaseException) else ws.exception()
    return f"connection error: {type(error).__name__}: {error}" if error else "connection error"


async def control_frame(ws: aiohttp.ClientWebSocketResponse, message: aiohttp.WSMessage) -> bool:
    """Whether ``message`` is a WebSocket ping or pong: a ping is answered. Either
    way the event loop is given up before the next read: aiohttp's own answering
    (``autoping``) read and answered every ping already buffered without yielding,
    so a flood of them held the loop, and a guard's firing with it."""
    if message.type == aiohttp.WSMsgType.PING:
        await ws.pong(message.data)
    elif message.type != aiohttp.WSMsgType.PONG:
        return False
    await anyio.lowlevel.checkpoint()
    return True


def check_message_bytes(max_message_bytes: int) -> None:
    """Refuse (InvalidRequest) a message bound that is not 1 KiB to 1 GiB."""
    if isinstance(max_message_bytes, bool) or not isinstance(max_message_bytes, int):
        raise InvalidRequest("max_message_bytes must be a whole number of bytes")
    if not 1024 <= max_message_bytes <= 1 << 30:
        raise InvalidRequest("max_message_bytes must be from 1 KiB to 1 GiB")


def check_reconnects(reconnects: int) -> None:
    """Refuse (InvalidRequest) a reconnect count that is not a whole number >= 0."""
    if isinstance(reconnects, bool) or not isinstance(reconnects, int) or reconnects < 0:
        raise InvalidRequest("reconnects must be a whole number, 0 or more")


NO_STREAM_ON_GIVEN_TRANSPORT = (
    "this client sends through a transport it was given, which carries no WebSocket:"
    " no order stream"
)
"""Why a client built on a caller's transport has no order stream."""

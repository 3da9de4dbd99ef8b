"""The lean send path of the clients' default routes: a request built once from the
generated builder (``_wire``), signed over its exact bytes, handed to the connection
pool the httpx client chose (httpcore, sync) or to the aiohttp session under it
(async), and its answer read to the bound (``_bounded.Reader``).

What httpx would do per request and a cancel does not need is skipped: three URL
parses and merges, the header model, the auth-flow generator, cookies (never kept
nor sent), redirects (never followed), event hooks and the response decoders. What
it guarantees is kept: the same route (proxy, ``trust_env``, TLS settings: the pool
is the one httpx built), the same timeouts, httpx's exception classes (so retries
and "may have landed" are classified as before), and the clock learned from every
signed answer's ``Date``. A transport given by the caller is never bypassed.

A client's ``timeout`` bounds each attempt in total (:func:`attempt_seconds`), not
each read: a server that answers and then sends a byte a second never holds an
attempt past it. The sync pool's connections read and write through
:class:`Clamped`, which cuts every socket wait to what is left of the attempt; the
aiohttp session is given the total itself.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import httpcore
import httpx
from httpx._transports.default import map_httpcore_exceptions  # httpx pinned < 0.29

from ._bounded import Bounded, Reader, header_values, other_headers
from ._wire import Prepared, Wire

if TYPE_CHECKING:
    from yarl import URL

    from ._transport import AiohttpTransport


def attempt_seconds(value: float | httpx.Timeout) -> float | None:
    """The seconds one attempt may take in all, for a client's ``timeout``: a number
    is the whole attempt (waiting for a connection, connecting, sending, the answer
    read to its end); an ``httpx.Timeout`` keeps each of its parts a bound of its own
    step (a slow connect does not eat the answer's time), and the attempt ends
    within its pool, connect and read parts together (None: no read bound given)."""
    if not isinstance(value, httpx.Timeout):
        return float(value)
    if value.read is None:
        return None
    return value.read + (value.connect or 0.0) + (value.pool or 0.0)


# The time.monotonic() instant by which this thread's (or task's) attempt ends: set
# around one attempt, read by every socket wait of a Clamped connection.
_ENDS: ContextVar[float | None] = ContextVar("cancelkit_attempt_ends", default=None)


@contextmanager
def attempt_within(seconds: float | None) -> Iterator[None]:
    """The block of one attempt: no socket wait of a :class:`Clamped` pool in it
    outlasts ``seconds`` from now (None: no bound but each wait's own)."""
    token = _ENDS.set(None if seconds is None else time.monotonic() + seconds)
    try:
        yield
    finally:
        _ENDS.reset(token)


def _left(timeout: float | None, error: type[Exception]) -> float | None:
    """A socket wait's timeout cut to what is left of the attempt; ``error`` once
    nothing is."""
    ends = _ENDS.get()
    if ends is None:
        return timeout
    left = ends - time.monotonic()
    if left <= 0:
        raise error("the attempt's timeout passed (a total for the whole attempt)")
    return left if timeout is None else min(timeout, left)


class _ClampedStream(httpcore.NetworkStream):
    """A connection whose every read and write ends by the attempt's end (``_ENDS``)."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        wait = _left(timeout, httpcore.ConnectTimeout)
        return _ClampedStream(self._inner.start_tls(ssl_context, server_hostname, wait))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class Clamped(httpcore.NetworkBackend):
    """httpcore's network backend, its connections' waits cut to the attempt's end.

    Outside an attempt (:func:`attempt_within`) it changes nothing."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        wait = _left(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, wait, local_address, socket_options)
        return _ClampedStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        wait = _left(timeout, httpcore.ConnectTimeout)
        return _ClampedStream(self._inner.connect_unix_socket(path, wait, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def clamp(transport: object) -> None:
    """Give an httpx sync transport's pool (direct or proxy) :class:`Clamped`
    connections; any other transport is left as it is."""
    if isinstance(transport, httpx.HTTPTransport):
        pool = transport._pool
        backend = pool._network_backend
        if not isinstance(backend, Clamped):
            pool._network_backend = Clamped(backend)


class _Within(httpx.SyncByteStream):
    """An answer's body, read only while the attempt lasts (``_ENDS``)."""

    def __init__(self, inner: httpx.SyncByteStream) -> None:
        self._inner = inner

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            _left(None, httpx.ReadTimeout)
            yield chunk

    def close(self) -> None:
        self._inner.close()


def within(stream: httpx.SyncByteStream | httpx.AsyncByteStream) -> Any:
    """A sync answer's body read within the attempt (see :func:`attempt_within`)."""
    if isinstance(stream, httpx.SyncByteStream):
        return _Within(stream)
    return stream


class _Answer(httpx.Response):
    """An ``httpx.Response`` of a body read already (and bounded), as httpx would have
    built it, but for its headers model: that is made when first asked for, which a
    successful cancel never does (the clock has the ``Date`` from the reader).

    httpx's ``__init__`` is not run: it would build the headers, and it would hand
    the body to decoders and a chunker (the body is plain bytes here). Its attributes
    are set as it sets them for a ``stream=`` response that has been read (httpx
    pinned < 0.29; ``Response.read()`` sets ``_content`` likewise).
    """

    def __init__(
        self, status: int, raw_headers: Sequence[tuple[bytes, bytes]], body: bytes, reason: bytes
    ) -> None:
        self.status_code = status
        # The raw headers only (not the reader, which knows the request and its signer).
        self._raw: Sequence[tuple[bytes, bytes]] | None = raw_headers
        self._headers: httpx.Headers | None = None
        self._request = None
        self.next_request = None
        self.extensions = {"http_version": b"HTTP/1.1", "reason_phrase": reason}
        self.history = []
        self.is_closed = False
        self.is_stream_consumed = False
        self.default_encoding = "utf-8"
        self._stream: httpx.ByteStream | None = None
        self._num_bytes_downloaded = 0
        self._content = body

    @property
    def stream(self) -> httpx.ByteStream:
        """The body as a stream (made when first read: most answers never are)."""
        stream = self._stream
        if stream is None:
            stream = self._stream = httpx.ByteStream(self._content)
        return stream

    @stream.setter
    def stream(self, value: httpx.ByteStream) -> None:
        self._stream = value

    @property
    def headers(self) -> httpx.Headers:
        """The answer's headers but its encoding and length (its body is decoded)."""
        headers = self._headers
        if headers is None:
            # Built, then published, then the raw headers let go: a reader on another
            # thread meanwhile builds its own copy, never an empty one.
            raw = self._raw
            headers = httpx.Headers(other_headers(raw) if raw else None)
            self._headers = headers
            self._raw = None
        return headers

    @headers.setter
    def headers(self, value: httpx.Headers) -> None:
        self._headers, self._raw = value, None

    def _ascii_header(self, name: str) -> str | None:
        """Header ``name``'s value (None if absent) as the headers model would give
        it; LookupError when only that model can tell (a value is not ASCII, or the
        model is built already)."""
        raw = self._raw
        if raw is None:
            raise LookupError(name)
        values = header_values(raw, name.encode("ascii"))
        if not values:
            return None
        if not all(value.isascii() for value in values):
            raise LookupError(name)
        return ", ".join(value.decode("ascii") for value in values)


def _response(
    status: int,
    raw_headers: Sequence[tuple[bytes, bytes]],
    reader: Reader,
    body: bytes,
    reason: bytes,
    prepared: Prepared,
) -> httpx.Response:
    if prepared.signer is not None:
        prepared.signer.observe(reader.date)
    return _Answer(status, raw_headers, body, reason)


def header(response: httpx.Response, name: str) -> str | None:
    """``response.headers.get(name)`` (``name`` in lower case), read from a lean
    answer's raw headers when its values are ASCII (which any decoding httpx picks
    reads alike), without building the headers model."""
    if type(response) is _Answer:
        try:
            return response._ascii_header(name)
        except LookupError:  # only the headers model can tell
            pass
    value: str | None = response.headers.get(name)
    return value


class SyncSender:
    """Sends prepared requests through an httpcore pool (direct or proxy)."""

    def __init__(
        self, wire: Wire, pool: httpcore.ConnectionPool, timeout: float | httpx.Timeout
    ) -> None:
        self.wire = wire
        self._pool = pool
        self._extensions = {"timeout": timeout_of(timeout).as_dict()}
        self._total = attempt_seconds(timeout)

    @property
    def total(self) -> float | None:
        """The seconds one attempt may take in all (None: no read bound given)."""
        return self._total

    @classmethod
    def of(
        cls, http: httpx.Client, wire: Wire, timeout: float | httpx.Timeout
    ) -> SyncSender | None:
        """The lean sender for ``http``'s route to its base URL, if that route is one
        the client built (``_bounded.Bounded`` around httpx's own transport)."""
        route = http._transport_for_url(http.base_url)
        inner = route._inner if isinstance(route, Bounded) else None
        if type(inner) is not httpx.HTTPTransport:
            return None
        clamp(inner)
        return cls(wire, inner._pool, timeout)

    def send(self, prepared: Prepared, within: float | None = None) -> httpx.Response:
        """One attempt: signed now, sent, its answer read to the bound, all within the
        attempt's total (``timeout``), and within ``within`` seconds if given."""
        # attempt_within(), inline: a context manager cost more than the rest of it.
        total = self._total
        if within is not None:
            total = within if total is None else min(total, within)
        token = _ENDS.set(None if total is None else time.monotonic() + total)
        try:
            return self._send(prepared)
        finally:
            _ENDS.reset(token)

    def _send(self, prepared: Prepared) -> httpx.Response:
        wire = self.wire
        request = httpcore.Request(
            prepared.method,
            httpcore.URL(
                scheme=wire.scheme, host=wire.host, port=wire.port, target=prepared.target
            ),
            headers=prepared.wire_headers(),
            content=prepared.body,
            extensions=self._extensions,
        )
        with map_httpcore_exceptions():
            answer = self._pool.handle_request(request)
            try:
                reader = Reader(answer.headers, prepared)
                parts = [out for chunk in answer.stream for out in reader.feed(chunk)]  # type: ignore[union-attr]
            finally:
                answer.close()
        reason = answer.extensions.get("reason_phrase", b"")
        body = b"".join(parts)
        return _response(answer.status, answer.headers, reader, body, reason, prepared)


class AsyncSender:
    """Sends prepared requests through the aiohttp session of cancelkit's transport:
    one coroutine per attempt, from the signature to the answer (a layer per step
    cost more than the steps themselves)."""

    def __init__(
        self, wire: Wire, transport: AiohttpTransport, timeout: float | httpx.Timeout
    ) -> None:
        # Imported here: a sync client never loads aiohttp.
        import aiohttp
        from yarl import URL

        from ._transport import CHUNK, httpx_error, proxy_arguments

        self._url = URL.build
        self._errors = (aiohttp.ClientError, TimeoutError)
        self._httpx_error = httpx_error
        self._chunk = CHUNK
        self.wire = wire
        self._transport = transport
        parts = timeout_of(timeout)
        # ``total``: the whole attempt, the answer read to its end included.
        self._timeout = aiohttp.ClientTimeout(
            total=attempt_seconds(timeout),
            sock_connect=parts.connect,
            sock_read=parts.read,
            connect=parts.pool,
        )
        self._scheme, _, self._authority = wire.origin.partition("://")
        # The last target's URL: a venue's single cancel often has the same one
        # (Limitless's POST /orders/cancel), and its URL is read-only.
        self._last: tuple[str, URL] | None = None
        # The proxy route: one origin, one route, worked out once.
        origin = URL(wire.origin)
        self._proxy, self._proxy_headers, self._proxy_extra = proxy_arguments(
            transport.route(origin), origin
        )

    def _url_of(self, target: str) -> URL:
        """The URL of ``target`` exactly as signed (encoded: yarl leaves it as it is)."""
        path, _, query = target.partition("?")
        url = self._url(
            scheme=self._scheme,
            authority=self._authority,
            path=path,
            query_string=query,
            encoded=True,
        )
        self._last = (target, url)
        return url

    async def send(self, prepared: Prepared) -> httpx.Response:
        """One attempt: signed now, sent with the URL exactly as signed (encoded), its
        answer read to the bound; aiohttp's errors raised as httpx's, as from
        ``AiohttpTransport.handle_async_request``."""
        target = prepared.target
        last = self._last
        url = last[1] if last is not None and last[0] == target else self._url_of(target)
        try:
            response = await self._transport.session().request(
                prepared.method,
                url,
                headers=prepared.wire_headers() + self._proxy_extra,
                data=prepared.body or None,
                proxy=self._proxy,
                proxy_headers=self._proxy_headers,
                allow_redirects=False,
                auto_decompress=False,
                timeout=self._timeout,
            )
            try:
                reader = Reader(response.raw_headers, prepared)
                if reader.plain and reader.length is not None:
                    # The length is within the bound: aiohttp reads exactly that much.
                    body = await response.read()
                else:
                    parts = [
                        out
                        async for chunk in response.content.iter_chunked(self._chunk)
                        for out in reader.feed(chunk)
                    ]
                    body = b"".join(parts)
            finally:
                response.release()
        except self._errors as exc:
            # The transport's classification, inline: a context manager cost more.
            raise self._httpx_error(exc) from exc
        reason = response.reason.encode() if response.reason else b""
        return _response(response.status, response.raw_headers, reader, body, reason, prepared)


def timeout_of(value: Any) -> httpx.Timeout:
    """A client's ``timeout`` setting as httpx reads it."""
    return value if isinstance(value, httpx.Timeout) else httpx.Timeout(value)

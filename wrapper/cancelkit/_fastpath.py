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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import httpcore
import httpx
from httpx._transports.default import map_httpcore_exceptions  # httpx pinned < 0.29

from ._bounded import Bounded, Reader, header_values, other_headers
from ._wire import Prepared, Wire

if TYPE_CHECKING:
    from yarl import URL

    from ._transport import AiohttpTransport


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

    def __init__(self, wire: Wire, pool: httpcore.ConnectionPool, timeout: httpx.Timeout) -> None:
        self.wire = wire
        self._pool = pool
        self._extensions = {"timeout": timeout.as_dict()}

    @classmethod
    def of(cls, http: httpx.Client, wire: Wire, timeout: httpx.Timeout) -> SyncSender | None:
        """The lean sender for ``http``'s route to its base URL, if that route is one
        the client built (``_bounded.Bounded`` around httpx's own transport)."""
        route = http._transport_for_url(http.base_url)
        inner = route._inner if isinstance(route, Bounded) else None
        if type(inner) is not httpx.HTTPTransport:
            return None
        return cls(wire, inner._pool, timeout)

    def send(self, prepared: Prepared) -> httpx.Response:
        """One attempt: signed now, sent, its answer read to the bound."""
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

    def __init__(self, wire: Wire, transport: AiohttpTransport, timeout: httpx.Timeout) -> None:
        # Imported here: a sync client never loads aiohttp.
        import aiohttp
        from yarl import URL

        from ._transport import CHUNK, httpx_error

        self._url = URL.build
        self._errors = (aiohttp.ClientError, TimeoutError)
        self._httpx_error = httpx_error
        self._chunk = CHUNK
        self.wire = wire
        self._transport = transport
        self._timeout = aiohttp.ClientTimeout(
            sock_connect=timeout.connect, sock_read=timeout.read, connect=timeout.pool
        )
        self._scheme, _, self._authority = wire.origin.partition("://")
        # The last target's URL: a venue's single cancel often has the same one
        # (Limitless's POST /orders/cancel), and its URL is read-only.
        self._last: tuple[str, URL] | None = None
        # The proxy route: one origin, one route, worked out once.
        self._proxy, self._proxy_auth = transport.route(URL(wire.origin))

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
                headers=prepared.wire_headers(),
                data=prepared.body or None,
                proxy=self._proxy,
                proxy_auth=self._proxy_auth,
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

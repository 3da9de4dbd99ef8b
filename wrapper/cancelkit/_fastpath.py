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

from typing import TYPE_CHECKING, Any

import httpcore
import httpx
from httpx._transports.default import map_httpcore_exceptions  # httpx pinned < 0.29

from ._bounded import Bounded, Reader
from ._wire import Prepared, Wire

if TYPE_CHECKING:
    from ._transport import AiohttpTransport


def _response(
    status: int, reader: Reader, body: bytes, reason: bytes, prepared: Prepared
) -> httpx.Response:
    # The body is read already: handing it over as the response's content skips
    # httpx's decoders and chunker, 50-80 µs of an answer's reading (httpx pinned
    # < 0.29; Response.read() sets the same attribute).
    response = httpx.Response(
        status,
        headers=reader.headers,
        stream=httpx.ByteStream(body),
        extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
    )
    response._content = body
    if prepared.signer is not None:
        prepared.signer.observe(reader.date)
    return response


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
                reader = Reader(answer.headers, prepared.what)
                parts = [out for chunk in answer.stream for out in reader.feed(chunk)]  # type: ignore[union-attr]
            finally:
                answer.close()
        reason = answer.extensions.get("reason_phrase", b"")
        return _response(answer.status, reader, b"".join(parts), reason, prepared)


class AsyncSender:
    """Sends prepared requests through the aiohttp session of cancelkit's transport."""

    def __init__(self, wire: Wire, transport: AiohttpTransport, timeout: httpx.Timeout) -> None:
        # Imported here: a sync client never loads aiohttp.
        import aiohttp
        from yarl import URL

        self._url = URL
        self.wire = wire
        self._transport = transport
        self._timeout = aiohttp.ClientTimeout(
            sock_connect=timeout.connect, sock_read=timeout.read, connect=timeout.pool
        )

    async def send(self, prepared: Prepared) -> httpx.Response:
        """One attempt: signed now, sent, its answer read to the bound."""
        url = self._url(self.wire.origin + prepared.target, encoded=True)
        status, reason, reader, body = await self._transport.send_prepared(
            prepared.method,
            url,
            prepared.wire_headers(),
            prepared.body,
            self._timeout,
            prepared.what,
        )
        return _response(status, reader, body, reason, prepared)


def timeout_of(value: Any) -> httpx.Timeout:
    """A client's ``timeout`` setting as httpx reads it."""
    return value if isinstance(value, httpx.Timeout) else httpx.Timeout(value)

"""The async clients' default transport: aiohttp under httpx (httpx-aiohttp), made safe
for signed requests.

httpx's own async transport costs a millisecond a request over aiohttp's; the
library ``httpx-aiohttp`` gives httpx an aiohttp transport. Two of its choices
would break what cancelkit promises, so :class:`AiohttpTransport` sends the
request itself:

* the URL goes to aiohttp exactly as httpx built it, the bytes the auth flow
  signed (``encoded=True``); otherwise yarl re-quotes the path (``%3B`` becomes
  ``;``, ``%27`` becomes ``'``), the exchange sees another path than the one
  signed, and the request is refused or reaches another resource;
* a connection that drops after the request went out is a read error ("may
  have landed"), never a connect timeout ("never sent"), which the library maps
  every ``ClientConnectionError`` to: after a drop a cancel may have taken effect.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import aiohttp
import httpx
import httpx_aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

from ._bounded import Reader, accept_encoding, bounded

_CHUNK = 64 * 1024
_Route = tuple[URL | None, aiohttp.BasicAuth | None]
_DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


def _httpx_error(exc: aiohttp.ClientError | TimeoutError) -> httpx.TransportError:
    """aiohttp's error as httpx's, keeping "never sent" apart from "may have landed"."""
    if isinstance(exc, aiohttp.ClientConnectorError):  # could not connect: nothing was sent
        return httpx.ConnectError(str(exc))
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(str(exc))
    if isinstance(exc, TimeoutError | aiohttp.SocketTimeoutError):
        # Any other timeout came after connecting: the request may have landed.
        return httpx.ReadTimeout(str(exc) or "timed out")
    # Disconnected, reset, bad payload: may have landed.
    return httpx.ReadError(str(exc) or type(exc).__name__)


@contextmanager
def _mapped() -> Iterator[None]:
    """aiohttp's errors as httpx's (:func:`_httpx_error`)."""
    try:
        yield
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise _httpx_error(exc) from exc


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _mapped():
            async for chunk in self._response.content.iter_chunked(_CHUNK):
                yield chunk

    async def aclose(self) -> None:
        self._response.release()


class AiohttpTransport(httpx_aiohttp.AiohttpTransport):
    """An ``httpx.AsyncBaseTransport`` over aiohttp that sends the URL as signed and
    tells a failed connect from a dropped answer.

    Args:
        proxy: a proxy URL for every request (user info in it is sent as the
            proxy's Basic auth), or None.
        trust_env: with no ``proxy``, take one from ``HTTP(S)_PROXY``/``ALL_PROXY``
            unless ``NO_PROXY`` names the host, as httpx does.
        verify, limits: as httpx-aiohttp's (and httpx's).
    """

    def __init__(
        self,
        *,
        proxy: str | None = None,
        trust_env: bool = True,
        verify: ssl.SSLContext | str | bool = True,
        limits: httpx.Limits = _DEFAULT_LIMITS,
    ) -> None:
        super().__init__(verify=verify, trust_env=trust_env, limits=limits)
        self._trust_env = trust_env
        given: _Route = (None, None)
        if proxy is not None:
            url = URL(proxy)
            auth = None if url.user is None else aiohttp.BasicAuth(url.user, url.password or "")
            given = (url.with_user(None), auth)
        self._given = given
        # The environment's choice per (scheme, host), read once as httpx reads it
        # once per client: aiohttp's own trust_env would read it, and ~/.netrc, on
        # every request.
        self._from_env: dict[tuple[str, str | None], _Route] = {}

    def _route(self, url: URL) -> _Route:
        """The proxy (and its auth) for ``url``: ``proxy=``, else the environment's."""
        if self._given[0] is not None or not self._trust_env:
            return self._given
        key = (url.scheme, url.host)
        route = self._from_env.get(key)
        if route is None:
            try:
                route = get_env_proxy_for_url(url)
            except LookupError:  # none for this scheme, or NO_PROXY names the host
                route = (None, None)
            self._from_env[key] = route
        return route

    def get_client(self) -> aiohttp.ClientSession:
        """The session, made on first use: cookies are never kept nor sent (the
        exchanges authenticate each request by its signature)."""
        if isinstance(self.client, aiohttp.ClientSession):
            return self.client
        connector = aiohttp.TCPConnector(
            keepalive_timeout=self.limits.keepalive_expiry,
            ssl=self.ssl_context,
            limit=self.limits.max_connections or 0,
        )
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    async def send_prepared(
        self,
        method: str,
        url: URL,
        headers: list[tuple[str, str]],
        body: bytes,
        timeout: aiohttp.ClientTimeout,
        what: str,
    ) -> tuple[int, bytes, Reader, bytes]:
        """Send a request built and signed by ``_fastpath``, ``url`` exactly as given
        (encoded); returns (status, reason, the answer's reader, its body read to the
        bound). Errors are httpx's, as from :meth:`handle_async_request`."""
        if not isinstance(self.client, aiohttp.ClientSession):
            self.client = self.get_client()
        proxy, proxy_auth = self._route(url)
        try:
            response = await self.client.request(
                method,
                url,
                headers=headers,
                data=body or None,
                proxy=proxy,
                proxy_auth=proxy_auth,
                allow_redirects=False,
                auto_decompress=False,
                timeout=timeout,
            )
            try:
                reader = Reader(response.raw_headers, what)
                if reader.plain and reader.length is not None:
                    # The length is within the bound: aiohttp reads exactly that much.
                    content = await response.read()
                else:
                    parts = [
                        out
                        async for chunk in response.content.iter_chunked(_CHUNK)
                        for out in reader.feed(chunk)
                    ]
                    content = b"".join(parts)
            finally:
                response.release()
        except (aiohttp.ClientError, TimeoutError) as exc:
            # _mapped's classification, inline: its generator costs more than the rest.
            raise _httpx_error(exc) from exc
        reason = response.reason.encode() if response.reason else b""
        return response.status, reason, reader, content

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` with aiohttp, byte for byte as httpx built it."""
        if not isinstance(self.client, aiohttp.ClientSession):
            self.client = self.get_client()
        timeout = request.extensions.get("timeout", {})
        accept_encoding(request)
        with _mapped():
            body = request.content  # auth flows that sign the body have read it
            # httpx owns authentication (it made any Authorization header from
            # userinfo already): aiohttp gets the URL without it.
            url = URL(str(request.url), encoded=True).with_user(None)
            proxy, proxy_auth = self._route(url)
            response = await self.client.request(
                request.method,
                url,
                headers=request.headers.multi_items(),
                data=body or None,
                proxy=proxy,
                proxy_auth=proxy_auth,
                allow_redirects=False,
                auto_decompress=False,  # httpx decodes, as it would for its own transport
                timeout=aiohttp.ClientTimeout(
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                    connect=timeout.get("pool"),
                ),
            )
        extensions = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode()
        # Decoded by cancelkit, to a bound: httpx would inflate a gzip bomb whole.
        return bounded(
            request,
            httpx.Response(
                status_code=response.status,
                headers=response.raw_headers,
                stream=_Body(response),
                request=request,
                extensions=extensions,
            ),
        )

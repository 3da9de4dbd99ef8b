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

import base64
import ssl
import sys
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import httpx
import httpx_aiohttp
from aiohttp.abc import AbstractStreamWriter
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

from ._bounded import accept_encoding, bounded
from ._eager import started

CHUNK = 64 * 1024
_Route = tuple[URL | None, str | None]  # the proxy, and its Proxy-Authorization value
_PROXY_AUTHORIZATION = "Proxy-Authorization"
_DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


def basic_credential(user: str, password: str | None) -> str:
    """A ``Basic`` credential for a proxy's user and password (latin-1, as aiohttp's
    own ``BasicAuth``, which aiohttp 3.14 deprecates together with ``proxy_auth``)."""
    pair = f"{user}:{password or ''}".encode("latin-1")
    return "Basic " + base64.b64encode(pair).decode("ascii")


def proxy_arguments(
    route: _Route, url: URL
) -> tuple[URL | None, dict[str, str] | None, list[tuple[str, str]]]:
    """aiohttp's ``proxy`` and ``proxy_headers`` for a request to ``url`` over
    ``route``, and the headers to add to the request itself. A TLS target's
    credential goes on the CONNECT alone (``proxy_headers``); a plain target's
    request goes to the proxy, which forwards it, so its credential is one of that
    request's headers: aiohttp sends ``proxy_headers`` on a CONNECT only."""
    proxy, authorization = route
    if proxy is None or authorization is None:
        return proxy, None, []
    if url.scheme in ("https", "wss"):
        return proxy, {_PROXY_AUTHORIZATION: authorization}, []
    return proxy, None, [(_PROXY_AUTHORIZATION, authorization)]


def httpx_error(exc: aiohttp.ClientError | TimeoutError) -> httpx.TransportError:
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
    """aiohttp's errors as httpx's (:func:`httpx_error`)."""
    try:
        yield
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise httpx_error(exc) from exc


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _mapped():
            async for chunk in self._response.content.iter_chunked(CHUNK):
                yield chunk

    async def aclose(self) -> None:
        self._response.release()


class _Request(aiohttp.ClientRequest):
    """aiohttp's request, its body written as it is sent, not one event-loop pass
    later (see ``_eager``; Python 3.12 and later do so already)."""

    if sys.version_info < (3, 12):

        def write_bytes(
            self,
            writer: AbstractStreamWriter,
            conn: aiohttp.connector.Connection,
            content_length: int | None = None,
        ) -> Coroutine[Any, Any, None]:
            return started(super().write_bytes(writer, conn, content_length))


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
            auth = None if url.user is None else basic_credential(url.user, url.password)
            given = (url.with_user(None), auth)
        self._given = given
        # The environment's choice per (scheme, host), read once as httpx reads it
        # once per client: aiohttp's own trust_env would read it, and ~/.netrc, on
        # every request.
        self._from_env: dict[tuple[str, str | None], _Route] = {}

    def route(self, url: URL) -> _Route:
        """The proxy (and its auth) for ``url``: ``proxy=``, else the environment's."""
        if self._given[0] is not None or not self._trust_env:
            return self._given
        key = (url.scheme, url.host)
        route = self._from_env.get(key)
        if route is None:
            try:
                proxy, auth = get_env_proxy_for_url(url)
                route = (proxy, None if auth is None else auth.encode())
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
        return aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), request_class=_Request
        )

    def forget(self) -> None:
        """In a forked child: the session's connections are the parent's. It is marked
        closed and nothing is sent on them nor closed: collected, an aiohttp connector
        closes its connections, which would unregister their sockets from the epoll
        instance the child shares with its parent (the parent's loop then never hears
        from them) and, over TLS, send a close_notify on them."""
        client = self.client
        if isinstance(client, aiohttp.ClientSession) and client.connector is not None:
            client.connector._closed = True

    def session(self) -> aiohttp.ClientSession:
        """The session, made on first use (see :meth:`get_client`)."""
        client = self.client
        if not isinstance(client, aiohttp.ClientSession):
            client = self.client = self.get_client()
        return client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` with aiohttp, byte for byte as httpx built it."""
        client = self.session()
        timeout = request.extensions.get("timeout", {})
        accept_encoding(request)
        with _mapped():
            body = request.content  # auth flows that sign the body have read it
            # httpx owns authentication (it made any Authorization header from
            # userinfo already): aiohttp gets the URL without it.
            url = URL(str(request.url), encoded=True).with_user(None)
            proxy, proxy_headers, extra = proxy_arguments(self.route(url), url)
            response = await client.request(
                request.method,
                url,
                headers=request.headers.multi_items() + extra,
                data=body or None,
                proxy=proxy,
                proxy_headers=proxy_headers,
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

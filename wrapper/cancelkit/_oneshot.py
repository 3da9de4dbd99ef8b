"""One run per process (the ``cancelkit`` command): httpx's own async transport.

The async clients' default route is aiohttp under httpx (``_transport``), faster per
request, but importing aiohttp and its family costs a cold process more than the
kill switch then sends (a kill of 300 Polymarket orders is about 20 requests). A
command that builds its client inside :func:`one_shot` gets httpx's own transport
(httpcore) instead, on the route httpx itself chooses (``proxy``, the environment's
proxies, TLS settings), every answer read to the same bound (``_bounded``). Signing
is unchanged: the auth flow signs the final request, which httpcore sends as built.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import httpx

from ._bounded import accept_encoding, bounded

if TYPE_CHECKING:
    from ._settings import HTTPSettings

_ACTIVE: ContextVar[bool] = ContextVar("cancelkit_one_shot", default=False)


@contextmanager
def one_shot() -> Iterator[None]:
    """Async clients built inside use httpx's own transport (see the module)."""
    token = _ACTIVE.set(True)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def active() -> bool:
    """Whether a client built now is built inside :func:`one_shot`."""
    return _ACTIVE.get()


class AsyncBounded(httpx.AsyncBaseTransport):
    """Any async transport, its answers read to a bound (see ``_bounded.bounded``)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the wrapped transport; the answer's body is
        decoded by cancelkit, bounded."""
        accept_encoding(request)
        return bounded(request, await self._inner.handle_async_request(request))

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._inner.aclose()


def async_client(
    settings: HTTPSettings, verify: bool | str | ssl.SSLContext, options: dict[str, Any]
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` on httpx's own transport and proxy mounts, each read
    to the bound (httpx has no public hook for this; pinned < 0.29, as the sync
    client's ``Bounded``)."""
    http = httpx.AsyncClient(proxy=settings.proxy, verify=verify, **options)
    http._transport = AsyncBounded(http._transport)
    http._mounts = {k: v and AsyncBounded(v) for k, v in http._mounts.items()}
    return http

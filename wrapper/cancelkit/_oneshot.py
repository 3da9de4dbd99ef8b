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


def import_aiohttp() -> None:
    """Import aiohttp for a one-run process's order stream, without the two TLS
    contexts its connector module makes as it loads (``_SSL_CONTEXT_VERIFIED`` and
    ``_UNVERIFIED``: each loads the CA bundle, 15-30 ms apiece, on the path of a cold
    kill's first cancel, which waits for the stream). Every aiohttp session such a
    process opens is cancelkit's, given its own context (``_tls``), so those defaults
    are never used; here they are made verifying with no CA at all, as ``_tls`` makes
    a context it never uses: used after all, their handshake would fail (closed, not
    open). Only the importing thread is affected (another thread making a context
    meanwhile gets the real thing), and only a client built in :func:`one_shot` (the
    command) calls this: a program's own aiohttp keeps its defaults."""
    import sys
    import threading

    if "aiohttp" in sys.modules:
        return
    made, paths = ssl.create_default_context, ssl.SSLContext.set_default_verify_paths
    importer = threading.get_ident()

    def create(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        if threading.get_ident() != importer:
            return made(*args, **kwargs)
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies; trusts no CA

    def default_paths(self: ssl.SSLContext) -> None:
        if threading.get_ident() != importer:
            paths(self)

    ssl.create_default_context = create
    ssl.SSLContext.set_default_verify_paths = default_paths  # type: ignore[method-assign]
    try:
        import aiohttp  # noqa: F401
    finally:
        ssl.create_default_context = made
        ssl.SSLContext.set_default_verify_paths = paths  # type: ignore[method-assign]

"""The HTTP side shared by every client: one loop for sync, one for async."""

from __future__ import annotations

import asyncio
import http.cookiejar
import os
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar
from urllib.parse import urlencode

import anyio
import httpx

from . import __version__, _batch
from ._auth import LimitlessAuth, PolymarketAuth
from ._clock import Clock
from ._exceptions import InvalidRequest, NetworkError
from ._limiter import DeadlinePassed
from ._limits import GLOBAL
from ._retry import Attempts, RetryPolicy, retry_after

if TYPE_CHECKING:
    from ._limiter import Limiter

_A = TypeVar("_A", bound="AsyncHTTP")
_T = TypeVar("_T")
_SHARED_STATE = ("_auth", "_clock", "_policy", "base_url")

_HEADERS = {"User-Agent": f"cancelkit/{__version__}", "Accept": "application/json"}
# Keep idle connections for 30 s (httpx's default is 5): the first cancel after a
# quiet spell should not pay a new TCP and TLS handshake. Servers that close
# sooner cost one retried attempt, which is safe for a cancel.
_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=30.0)
_WARM_PATH = "/"


class _NoCookies(http.cookiejar.CookieJar):
    """A jar that keeps nothing: the exchanges authenticate every request by its
    signature, so a cookie set by a server or a proxy must never be sent back. It
    also skips the stdlib's cookie parsing, a third of a millisecond per answer."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        """Keep nothing."""

    def add_cookie_header(self, request: Any) -> None:
        """Send nothing."""  # the API root: no credentials, no rate budget, changes nothing


def env(name: str, *, required: bool = True) -> str | None:
    """An environment variable, or an InvalidRequest naming the missing one."""
    value = os.environ.get(name)
    if required and not value:
        raise InvalidRequest(f"environment variable {name} is not set")
    return value or None


def target(request: dict[str, Any]) -> str:
    """Path and query of a generated request, for log lines and errors."""
    params = request.get("params")
    path = str(request["url"])
    return path + (f"?{urlencode(params, doseq=True)}" if params else "")


def redacted(url: str) -> str:
    """``url`` without its userinfo (``user:password@``), for reprs and messages."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    host = authority.rpartition("@")[2]
    return f"{scheme}{sep}{'***@' if '@' in authority else ''}{host}{slash}{path}"


def check_base_url(base_url: object) -> str:
    """An http(s) URL with a host and no query or fragment, else InvalidRequest.

    A query or fragment would be pasted in front of every endpoint's path
    (``/?x=1/v1/order/...``), and a URL without a host has nowhere to go.
    """
    if not isinstance(base_url, str):
        raise InvalidRequest(f"base_url must be a string, not {type(base_url).__name__}")
    shown = redacted(base_url)
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL as exc:
        raise InvalidRequest(f"base_url {shown!r} is not a valid URL ({exc})") from None
    if url.scheme not in ("http", "https"):  # httpx lower-cases the scheme
        raise InvalidRequest(f"base_url must be an http(s) URL, got {shown!r}")
    if not url.host:
        raise InvalidRequest(f"base_url {shown!r} has no host")
    if url.query or "?" in base_url:
        raise InvalidRequest(f"base_url {shown!r} has a query; give the API root only")
    if url.fragment or "#" in base_url:
        raise InvalidRequest(f"base_url {shown!r} has a fragment; give the API root only")
    return base_url


def check_settings(base_url: object, timeout: object, max_retries: object) -> None:
    """Refuse client settings that would only fail later, on the first cancel."""
    check_base_url(base_url)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise InvalidRequest(f"timeout must be a positive number of seconds, got {timeout!r}")
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise InvalidRequest(f"max_retries must be a non-negative integer, got {max_retries!r}")


def _options(auth: httpx.Auth, base_url: str, timeout: float) -> dict[str, Any]:
    """What the sync and async httpx clients share."""
    return {
        "base_url": base_url,
        "auth": auth,
        "timeout": timeout,
        "headers": _HEADERS,
        "limits": _LIMITS,
        "cookies": _NoCookies(),
    }


def _unreachable(base_url: str, exc: httpx.TransportError) -> NetworkError:
    return NetworkError(f"{redacted(base_url)} is unreachable: {type(exc).__name__}: {exc}")


def run_sync(main: Callable[[], Awaitable[_T]]) -> _T:
    """Run ``main`` to completion from sync code, even where an event loop is already
    running in this thread (a notebook): then on a private loop in a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return anyio.run(main)
    with ThreadPoolExecutor(1, thread_name_prefix="cancelkit") as pool:
        return pool.submit(anyio.run, main).result()


class Venue:
    """What every client shares, whatever the exchange: settings, signing, clock, retries.

    A venue sets ``_auth_class`` (its signing flow), ``_env`` (the key id, secret and
    API URL variables ``from_env`` reads), ``_id_label`` (the name of the key id in
    reprs) and, if its spec documents one, ``_not_open_status``.
    """

    _auth_class: ClassVar[type[PolymarketAuth | LimitlessAuth]]
    _env: ClassVar[tuple[str, str, str]]
    _id_label: ClassVar[str]
    # The status the venue documents for "order cannot be cancelled", if it has one.
    _not_open_status: ClassVar[int | None] = None
    _auth: PolymarketAuth | LimitlessAuth
    _clock: Clock
    _policy: RetryPolicy
    base_url: str

    if TYPE_CHECKING:  # the concrete clients' constructors, for from_env

        def __init__(self, key_id: str, secret: str, **kwargs: Any) -> None: ...

    def _setup(
        self, key_id: str, secret: str, base_url: str, timeout: float, max_retries: int
    ) -> None:
        check_settings(base_url, timeout, max_retries)
        self._clock = Clock()
        self._policy = RetryPolicy(max_retries=max_retries)
        self._auth = self._auth_class(key_id, secret, self._clock)
        self.base_url = base_url

    @classmethod
    def from_env(cls, **kwargs: Any) -> Self:
        """Build from the venue's key id, secret and optional API URL environment
        variables (see the client's docstring); keyword arguments go to the constructor."""
        key_var, secret_var, url_var = cls._env
        base_url = env(url_var, required=False)
        if base_url and "base_url" not in kwargs:
            kwargs["base_url"] = base_url
        return cls(env(key_var) or "", env(secret_var) or "", **kwargs)

    def _attempts(self, request: dict[str, Any], deadline: float | None = None) -> Attempts:
        return Attempts(
            self._policy,
            self._clock,
            request["method"],
            target(request),
            not_open_status=self._not_open_status,
            deadline=deadline,
        )

    def __repr__(self) -> str:
        key = getattr(self._auth, self._id_label)
        url = redacted(self.base_url)
        return f"{type(self).__name__}({self._id_label}={key!r}, base_url={url!r})"


class SyncHTTP(Venue):
    """Owns an ``httpx.Client`` whose auth signs every attempt; runs the retry loop."""

    _http: httpx.Client

    def _open(
        self,
        auth: httpx.Auth,
        base_url: str,
        timeout: float,
        transport: httpx.BaseTransport | None,
    ) -> None:
        self._http = httpx.Client(transport=transport, **_options(auth, base_url, timeout))
        self._timeout = timeout
        self._transport = transport

    def _on_async_twin(self, cls: type[_A], work: Callable[[_A], Awaitable[_T]]) -> _T:
        """Run ``work`` on an async twin of this client (bulk cancels are async inside)."""
        twin = self._async_twin(cls)

        async def main() -> _T:
            async with twin:
                return await work(twin)

        return run_sync(main)

    def _async_twin(self, cls: type[_A]) -> _A:
        """An async client sharing this one's auth, clock and settings (for bulk cancels)."""
        transport = self._transport
        if transport is not None and not isinstance(transport, httpx.AsyncBaseTransport):
            raise InvalidRequest(
                "bulk cancels run asynchronously: give the client a transport that is also an"
                " httpx.AsyncBaseTransport (such as httpx.MockTransport), or none"
            )
        twin = cls.__new__(cls)
        # The same decoded key and learned clock: nothing is decoded or learned twice.
        state = vars(self)
        for name in _SHARED_STATE:
            setattr(twin, name, state[name])
        twin._open(state["_auth"], state["base_url"], self._timeout, transport)
        return twin

    def _send(self, request: dict[str, Any]) -> tuple[httpx.Response, Attempts]:
        attempts = self._attempts(request)
        while True:
            attempts.begin()
            outcome: httpx.Response | httpx.TransportError
            try:
                outcome = self._http.request(**request)
            except httpx.TransportError as exc:
                outcome = exc
            delay = attempts.delay(outcome)
            if delay is None:
                return attempts.final(outcome), attempts
            time.sleep(delay)

    def warm(self) -> float:
        """Open a connection now (TCP, and TLS in production) so that the first cancel
        does not pay for it: one unsigned ``GET /`` of the API root, whatever it
        answers. Returns the seconds it took; :class:`NetworkError` if unreachable."""
        started = time.perf_counter()
        try:
            self._http.get(_WARM_PATH, auth=None)
        except httpx.TransportError as exc:
            raise _unreachable(self.base_url, exc) from None
        return time.perf_counter() - started

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncHTTP(Venue):
    """Owns an ``httpx.AsyncClient`` whose auth signs every attempt; runs the retry loop."""

    _http: httpx.AsyncClient

    def _open(
        self,
        auth: httpx.Auth,
        base_url: str,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None,
    ) -> None:
        if transport is None:
            from ._transport import AiohttpTransport

            transport = AiohttpTransport(limits=_LIMITS)  # aiohttp under httpx: _transport
        self._http = httpx.AsyncClient(transport=transport, **_options(auth, base_url, timeout))

    async def _send(
        self,
        request: dict[str, Any],
        limiter: Limiter | None = None,
        operation: str = GLOBAL,
        deadline: float | None = None,
    ) -> tuple[httpx.Response, Attempts]:
        attempts = self._attempts(request, deadline)
        last: httpx.Response | httpx.TransportError | None = None
        while True:
            if deadline is not None and last is None and time.monotonic() >= deadline:
                raise DeadlinePassed("not sent: the deadline had passed")  # no new first attempt
            # Every attempt, retries included, counts against the exchange's limits.
            try:
                slot = limiter.slot(operation, deadline) if limiter is not None else nullcontext()
                async with slot:
                    if last is None:
                        _batch.about_to_send()  # a bulk run journals "sent" before it is
                    attempts.begin()
                    outcome: httpx.Response | httpx.TransportError
                    try:
                        outcome = await self._http.request(**request)
                    except httpx.TransportError as exc:
                        outcome = exc
            except DeadlinePassed:
                if last is None:
                    raise
                return attempts.final(last), attempts  # the last answer is the outcome
            last = outcome
            if isinstance(outcome, httpx.Response):
                _batch.answered(outcome.status_code, retry_after(outcome))
                if outcome.status_code == 429 and limiter:
                    limiter.refused(operation, retry_after(outcome))
            delay = attempts.delay(outcome)
            if delay is None:
                return attempts.final(outcome), attempts
            await anyio.sleep(delay)

    async def warm(self) -> float:
        """Open a connection now (see :meth:`SyncHTTP.warm`); returns the seconds taken."""
        started = time.perf_counter()
        try:
            response = await self._http.get(_WARM_PATH, auth=None)
            await response.aclose()
        except httpx.TransportError as exc:
            raise _unreachable(self.base_url, exc) from None
        return time.perf_counter() - started

    async def close(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

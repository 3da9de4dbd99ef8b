"""The HTTP side shared by every client: one loop for sync, one for async."""

from __future__ import annotations

import http.cookiejar
import math
import os
import ssl
import sys
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Hashable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self, TypedDict, TypeVar, Unpack
from urllib.parse import urlencode

import anyio
import attrs
import httpx

from . import __version__, _fork, _oneshot, _proxy, _tls
from . import _bulk as _batch
from ._bounded import Bounded
from ._clock import Clock
from ._exceptions import InvalidRequest, NetworkError
from ._limiter import GLOBAL, DeadlinePassed
from ._retry import Attempts, RetryPolicy, retry_after

# The `as` imports: other modules import these from here too (the settings live in
# _settings, below this module and _oneshot, which both read them).
from ._settings import HTTPSettings as HTTPSettings
from ._settings import check_proxy as check_proxy
from ._settings import shown
from ._signing import SigningAuth
from ._urls import check_base_url as check_base_url
from ._urls import redacted as redacted

if TYPE_CHECKING:
    import asyncio

    from ._fastpath import AsyncSender, SyncSender
    from ._limiter import Limiter
    from ._loop_thread import LoopThread
    from ._transport import AiohttpTransport
    from ._wire import Prepared

_A = TypeVar("_A", bound="AsyncHTTP")
_T = TypeVar("_T")

_HEADERS = {"User-Agent": f"cancelkit/{__version__}", "Accept": "application/json"}
# Keep idle connections for 90 s (httpx's default is 5): the first cancel after a
# quiet spell should not pay a new TCP and TLS handshake, and an armed guard's idle
# requests on the strictest venue come a minute apart. Servers that close sooner
# cost one retried attempt, which is safe for a cancel.
_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=90.0)
_WARM_PATH = "/"
_NOT_RENEWED = "{} could not renew its connections after fork(); create a new client"
_FINISH = 2.0  # seconds an unclosed sync client's bulk pool may take to close at exit
_MADE = 64  # requests an async client keeps built (_request_for), at most


class _NoCookies(http.cookiejar.CookieJar):
    """A jar that keeps nothing: the exchanges authenticate every request by its
    signature, so a cookie set by a server or a proxy must never be sent back. It
    also skips the stdlib's cookie parsing, a third of a millisecond per answer."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        """Keep nothing."""

    def add_cookie_header(self, request: Any) -> None:
        """Send nothing."""  # the API root: no credentials, no rate budget, changes nothing


def env(*names: str) -> list[str]:
    """The environment variables ``names``; an InvalidRequest naming every one that is
    unset or empty, at once (not one per run, fixed one at a time)."""
    values = [os.environ.get(name, "") for name in names]
    missing = [name for name, value in zip(names, values, strict=True) if not value]
    if missing:
        many = len(missing) > 1
        raise InvalidRequest(
            f"environment variable{'s' if many else ''} {', '.join(missing)}"
            f" {'are' if many else 'is'} not set"
        )
    return values


def check_settings(base_url: object, timeout: object, max_retries: object) -> str:
    """Refuse client settings that would only fail later, on the first cancel; returns
    the base URL as it will be used (without user info)."""
    url = check_base_url(base_url)
    # NaN and infinity are refused too: the socket layer raised on them at the
    # first request (ValueError, OverflowError), or timed every connect out.
    if isinstance(timeout, httpx.Timeout):
        parts = (timeout.connect, timeout.read, timeout.write, timeout.pool)
        if any(p is not None and not 0 < p < math.inf for p in parts):
            raise InvalidRequest(
                f"every part of timeout must be positive and finite, got {timeout!r}"
            )
    elif (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not 0 < timeout < math.inf
    ):
        raise InvalidRequest(
            f"timeout must be a positive number of seconds or an httpx.Timeout, got {timeout!r}"
        )
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise InvalidRequest(f"max_retries must be a non-negative integer, got {max_retries!r}")
    return url


class SyncOptions(TypedDict, total=False):
    """The keyword arguments of a sync client's constructor (and so of ``from_env``)."""

    base_url: str
    timeout: float | httpx.Timeout
    max_retries: int
    retry: RetryPolicy | None
    transport: httpx.BaseTransport | None
    proxy: str | None
    trust_env: bool
    verify: bool | str | ssl.SSLContext


class AsyncOptions(TypedDict, total=False):
    """The keyword arguments of an async client's constructor (and so of ``from_env``)."""

    base_url: str
    timeout: float | httpx.Timeout
    max_retries: int
    retry: RetryPolicy | None
    transport: httpx.AsyncBaseTransport | None
    proxy: str | None
    trust_env: bool
    verify: bool | str | ssl.SSLContext


def _known_keywords(kwargs: Mapping[str, object], options: type) -> None:
    """A misspelt keyword fails before the environment is read, naming it."""
    unknown = sorted(set(kwargs) - set(options.__annotations__))
    if unknown:
        raise TypeError(f"from_env() got unexpected keyword argument(s): {', '.join(unknown)}")


async def _anyio_sleep(seconds: float) -> None:
    """``anyio.sleep``, looked up when first awaited: building a sync client (the one a
    cold command sends its first cancel on) does not load anyio's event-loop core."""
    await anyio.sleep(seconds)


def _one_route(settings: HTTPSettings, transport: object) -> None:
    if settings.proxy is not None and transport is not None:
        raise InvalidRequest(
            "give proxy= or transport=, not both: a transport decides the route itself"
        )


def _verify(
    settings: HTTPSettings, base_url: str, transport: object, route: str | None
) -> bool | str | ssl.SSLContext:
    """``verify`` for httpx: with a caller's transport, unused (httpx builds no
    context then); else the shared or never-used context of ``_tls``."""
    if transport is not None:
        return settings.verify
    return _tls.context(settings.verify, base_url, route, settings.trust_env)


def _options(auth: httpx.Auth, base_url: str, settings: HTTPSettings) -> dict[str, Any]:
    """What the sync and async httpx clients share."""
    return {
        "base_url": base_url,
        "auth": auth,
        "timeout": settings.timeout,
        "headers": _HEADERS,
        "limits": _LIMITS,
        "cookies": _NoCookies(),
        # The proxy is decided once, for the base URL (``_proxy.route``), and given
        # explicitly; the environment is not read again (nor its other schemes').
        "trust_env": False,
    }


def _unreachable(base_url: str, exc: httpx.TransportError) -> NetworkError:
    return NetworkError(f"{redacted(base_url)} is unreachable: {type(exc).__name__}: {exc}")


class SyncTransportInThread(httpx.AsyncBaseTransport):
    """A sync ``httpx.BaseTransport`` for the async twin a bulk cancel runs on: each
    request is sent, and its answer read, in a worker thread."""

    def __init__(self, transport: httpx.BaseTransport) -> None:
        self._transport = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` with the sync transport, off the event loop."""

        def send() -> httpx.Response:
            response = self._transport.handle_request(request)
            try:
                content = b"".join(response.iter_raw())
            finally:
                response.close()
            # Keep the encoded bytes: httpx decodes them for the async client.
            return httpx.Response(
                response.status_code,
                headers=response.headers,
                content=content,
                extensions=response.extensions,
            )

        # Not waited for past a cancel (an abort, the attempt's timeout): the thread
        # ends by itself, within the attempt's timeout on an httpx transport
        # (``_fastpath.clamp``).
        return await anyio.to_thread.run_sync(send, abandon_on_cancel=True)


@attrs.frozen
class Shared:
    """What a sync client and the async twin its bulk cancels run on share: the same
    decoded key and learned clock (nothing is decoded or learned twice), retries,
    settings and waits."""

    auth: SigningAuth
    clock: Clock
    policy: RetryPolicy
    settings: HTTPSettings
    base_url: str
    sleep: Callable[[float], None]
    async_sleep: Callable[[float], Awaitable[None]]
    route: str | None = attrs.field(default=None, repr=shown)  # every path's proxy


class Signer(Protocol):
    """A venue's signing flow, built from its key id and secret (its auth class)."""

    def __call__(self, key_id: str, secret: str, clock: Clock | None = None, /) -> SigningAuth:
        """The auth that signs every request of one client."""
        ...


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The running asyncio event loop, or None (none runs, or another library's).

    asyncio is not imported for it: where no module has imported asyncio, no asyncio
    loop runs (the CLI's first cancel goes out before it is loaded, see ``_cli._first``)."""
    module = sys.modules.get("asyncio")
    if module is None:
        return None
    try:
        loop: asyncio.AbstractEventLoop = module.get_running_loop()
    except RuntimeError:
        return None
    return loop


class Venue:
    """What every client shares, whatever the exchange: settings, signing, clock, retries.

    A venue sets ``_auth_class`` (its signing flow), ``_env`` (the key id, secret and
    API URL variables ``from_env`` reads), ``_id_label`` (the name of the key id in
    reprs) and, if its spec documents one, ``_not_open_status``.
    """

    _auth_class: ClassVar[Signer]
    _env: ClassVar[tuple[str, str, str]]
    _id_label: ClassVar[str]
    # The status the venue documents for "order cannot be cancelled", if it has one.
    _not_open_status: ClassVar[int | None] = None
    _auth: SigningAuth
    _clock: Clock
    _policy: RetryPolicy
    _settings: HTTPSettings
    # The waits between attempts: a seam for tests (no process-wide patch of time.sleep).
    _sleep: Callable[[float], None]
    _async_sleep: Callable[[float], Awaitable[None]]
    base_url: str
    # The proxy of every path, decided once (``_proxy.route``), None: direct.
    _route: str | None = None
    _twin_of_sync = False  # a sync client's twin: its owner renews it after fork()
    _fork_failed = False  # could not be renewed after fork(): refuses to be used

    def _setup(
        self,
        key_id: str,
        secret: str,
        base_url: str,
        timeout: float | httpx.Timeout,
        max_retries: int,
        proxy: str | None = None,
        trust_env: bool = True,
        verify: bool | str | ssl.SSLContext = True,
        retry: RetryPolicy | None = None,
        shared: Shared | None = None,
    ) -> None:
        if shared is not None:  # a sync client's twin: its key, clock, retries, settings
            self._adopt(shared)
            return
        self.base_url = check_settings(base_url, timeout, max_retries)
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise InvalidRequest(f"retry must be a RetryPolicy or None, not {type(retry).__name__}")
        self._settings = HTTPSettings(timeout, proxy, trust_env, verify)
        self._clock = Clock()
        self._policy = retry if retry is not None else RetryPolicy(max_retries=max_retries)
        self._auth = self._auth_class(key_id, secret, self._clock)
        self._sleep = time.sleep
        self._async_sleep = _anyio_sleep

    def _shared(self) -> Shared:
        return Shared(
            self._auth,
            self._clock,
            self._policy,
            self._settings,
            self.base_url,
            self._sleep,
            self._async_sleep,
            self._route,
        )

    def _adopt(self, shared: Shared) -> None:
        self._auth, self._clock, self._policy = shared.auth, shared.clock, shared.policy
        self._settings, self.base_url = shared.settings, shared.base_url
        self._sleep, self._async_sleep = shared.sleep, shared.async_sleep
        self._route, self._twin_of_sync = shared.route, True

    @classmethod
    def _env_arguments(cls, kwargs: dict[str, Any]) -> tuple[str, str]:
        """Key id and secret from the environment; the URL variable fills ``base_url``
        unless given."""
        key_var, secret_var, url_var = cls._env
        key_id, secret = env(key_var, secret_var)
        base_url = os.environ.get(url_var)
        if base_url and "base_url" not in kwargs:
            kwargs["base_url"] = base_url
        return key_id, secret

    def _attempts(
        self, request: dict[str, Any], deadline: float | None = None, order: str | None = None
    ) -> Attempts:
        # Path and query of the request, for log lines and errors.
        params = request.get("params")
        path = str(request["url"])
        return Attempts(
            self._policy,
            self._clock,
            request["method"],
            f"{path}?{urlencode(params, doseq=True)}" if params else path,
            not_open_status=self._not_open_status,
            deadline=deadline,
            order=order,
        )

    @property
    def key_id(self) -> str:
        """The id of the key this client signs with (Polymarket's key id, Limitless's
        token id): never secret, shown in reprs and the CLI's reports."""
        key: str = getattr(self._auth, self._id_label)
        return key

    def __repr__(self) -> str:
        key = self.key_id
        url = redacted(self.base_url)
        return f"{type(self).__name__}({self._id_label}={key!r}, base_url={url!r})"


class SyncHTTP(Venue):
    """Owns an ``httpx.Client`` whose auth signs every attempt; runs the retry loop.

    Bulk cancels run on an async twin (``_twin_class``) in a loop thread of this
    client's own, both started on first use and kept until :meth:`close`.
    """

    _http: httpx.Client
    _twin_class: ClassVar[type[AsyncHTTP]]
    _lean: SyncSender | None = None  # the lean send path (_fastpath), on the default route

    if TYPE_CHECKING:  # each client defines its own, with these keywords

        def __init__(self, key_id: str, secret: str, **kwargs: Unpack[SyncOptions]) -> None: ...

    @classmethod
    def from_env(cls, **kwargs: Unpack[SyncOptions]) -> Self:
        """Build from the venue's key id, secret and optional API URL environment
        variables (see the client's docstring); keyword arguments go to the constructor."""
        _known_keywords(kwargs, SyncOptions)
        options = dict(kwargs)
        key_id, secret = cls._env_arguments(options)
        return cls(key_id, secret, **options)  # type: ignore[arg-type]

    def _open(
        self,
        auth: httpx.Auth,
        base_url: str,
        transport: httpx.BaseTransport | None,
    ) -> None:
        settings = self._settings
        _one_route(settings, transport)
        if transport is None:  # a transport the caller gives decides the route itself
            self._route = _proxy.route(base_url, settings.proxy, settings.trust_env)
        self._opened = (auth, base_url, transport)
        self._connect()
        self._bulk_lock = threading.RLock()  # close() from a signal handler re-enters
        self._loop_thread: LoopThread | None = None
        self._twin: AsyncHTTP | None = None
        self._finalizer: weakref.finalize[Any, SyncHTTP] | None = None
        _fork.track(self)

    def _connect(self) -> None:
        """The httpx client (a fresh pool) and the lean sender on it."""
        auth, base_url, transport = self._opened
        settings = self._settings
        http = httpx.Client(
            transport=transport,
            proxy=self._route,
            verify=_verify(settings, base_url, transport, self._route),
            **_options(auth, base_url, settings),
        )
        if transport is None:
            # Answers read to a bound (_bounded) on every route httpx chose: direct and
            # each proxy mount (httpx has no public hook for this; pinned < 0.29). A
            # transport the caller gives is theirs.
            http._transport = Bounded(http._transport)
            http._mounts = {k: v and Bounded(v) for k, v in http._mounts.items()}
        self._http = http
        self._lean = None  # a transport the caller gives is always used
        from ._fastpath import attempt_seconds, clamp

        self._attempt_seconds = attempt_seconds(settings.timeout)
        clamp(transport)  # an httpx transport's waits end with the attempt, too
        if transport is None:
            from ._fastpath import SyncSender
            from ._wire import Wire

            wire = Wire(base_url, _HEADERS, self._auth)
            self._lean = SyncSender.of(http, wire, settings.timeout)
        self._transport = transport

    def _after_fork(self) -> None:
        """In a forked child (``_fork``): fresh locks, no loop thread nor twin (made
        again on first use), a fresh pool; the parent's are left untouched. A
        transport the caller gave is theirs, and kept."""
        self._bulk_lock = threading.RLock()  # close() from a signal handler re-enters
        if self._finalizer is not None:
            self._finalizer.detach()  # it would stop the parent's loop thread
        if self._twin is not None:
            self._twin._abandon()
        _fork.leave(self._loop_thread, self._twin, self._http)
        self._loop_thread = self._twin = self._finalizer = None
        if self._transport is None and not self._http.is_closed:
            self._fork_failed = True
            self._connect()
            self._fork_failed = False

    def _on_async_twin(self, cls: type[_A], work: Callable[[_A], Awaitable[_T]]) -> _T:
        """Run ``work`` on this client's async twin (bulk cancels are async inside), in
        its loop thread: one thread and one connection pool for the client's life, so
        keep-alive and :meth:`warm` serve every bulk call. Works from inside a running
        event loop too (a notebook): the twin's loop is its own."""
        from ._loop_thread import Closed

        loop, twin = self._bulk(cls)
        try:
            return loop.call(lambda: work(twin))
        except Closed as exc:
            raise InvalidRequest(
                f"{type(self).__name__} was closed during this call ({exc}): what it sent"
                " may have landed; check the open orders with a new client"
            ) from None

    def _bulk(self, cls: type[_A]) -> tuple[LoopThread, _A]:
        """The loop thread and the async twin, started on first use."""
        self._check_open()
        with self._bulk_lock:
            self._check_open()  # closed meanwhile, from another thread
            # Kept here: close() from a signal handler may clear the attribute meanwhile
            # (this call then ends with Closed).
            loop = self._loop_thread
            if loop is None:
                from ._loop_thread import LoopThread

                loop = self._loop_thread = LoopThread()
                # A client dropped without close() does not keep its thread running.
                self._finalizer = weakref.finalize(self, loop.stop)
            twin = self._twin
            if twin is None:
                twin = self._twin = cls._twin_of(self._shared(), self._async_transport())
                # Dropped or still open at exit: its pool closed quietly, not left to
                # aiohttp's "Unclosed client session" on stderr (issue 31).
                if self._finalizer is not None:
                    self._finalizer.detach()  # finish() stops the loop too
                self._finalizer = weakref.finalize(self, loop.finish, twin.close, _FINISH)
            if not isinstance(twin, cls):
                raise TypeError(f"the twin of {type(self).__name__} is not a {cls.__name__}")
            return loop, twin

    def _async_transport(self) -> httpx.AsyncBaseTransport | None:
        """The same proxy, environment, TLS and timeout settings as this client, and a
        sync ``transport`` runs there too (in a worker thread)."""
        transport = self._transport
        if transport is None or isinstance(transport, httpx.AsyncBaseTransport):
            return transport
        return SyncTransportInThread(transport)

    def _check_open(self) -> None:
        if self._http.is_closed:
            raise InvalidRequest(f"{type(self).__name__} is closed; create a new client")
        if self._fork_failed:
            raise InvalidRequest(_NOT_RENEWED.format(type(self).__name__))

    def _send(
        self, request: dict[str, Any], order: str | None = None
    ) -> tuple[httpx.Response, Attempts]:
        self._check_open()
        attempts = self._attempts(request, order=order)
        lean = self._lean
        prepared = lean.wire.prepare(request) if lean is not None else None
        while True:
            attempts.begin()
            outcome: httpx.Response | httpx.TransportError
            try:
                if lean is not None and prepared is not None:
                    outcome = lean.send(prepared)
                else:
                    outcome = self._given_route(request)
            except httpx.TransportError as exc:
                outcome = exc
            except httpx.HTTPError as exc:  # a body that cannot be decoded
                raise attempts.undecodable(exc) from exc
            delay = attempts.delay(outcome)
            if delay is None:
                return attempts.final(outcome), attempts
            self._sleep(delay)

    def _given_route(self, request: dict[str, Any]) -> httpx.Response:
        """One attempt through httpx (a transport the caller gave), within the
        attempt's total: an httpx transport's waits are cut to it, any other's
        answer is checked against it as it is read."""
        from ._fastpath import attempt_within, within

        with attempt_within(self._attempt_seconds):
            http = self._http
            response = http.send(http.build_request(**request), stream=True)
            try:
                response.stream = within(response.stream)
                response.read()
            finally:
                response.close()
        return response

    def warm(self) -> float:
        """Open a connection now (TCP, and TLS in production) so that the first cancel
        does not pay for it: one unsigned ``GET /`` of the API root, whatever it
        answers, on the pool of single cancels and on the pool of bulk cancels (the
        kill switch). Returns the seconds it took; :class:`NetworkError` if
        unreachable (the transport's error as its ``__cause__``)."""
        self._check_open()
        started = time.perf_counter()
        try:
            self._http.get(_WARM_PATH, auth=None)
        except httpx.TransportError as exc:
            raise _unreachable(self.base_url, exc) from exc  # the cause kept
        self._on_async_twin(self._twin_class, lambda twin: twin.warm())
        return time.perf_counter() - started

    def close(self) -> None:
        """Close the connection pools and the bulk cancels' loop thread; also done by
        ``with``. From another thread too: a bulk call running there ends first
        (cancelled, with an :class:`InvalidRequest` saying the client was closed), and
        no new one starts. A client never closed is closed quietly when it is
        collected or at exit."""
        self._http.close()
        with self._bulk_lock:
            loop, twin = self._loop_thread, self._twin
            self._loop_thread = self._twin = None
        if loop is not None:
            loop.close(twin.close if twin is not None else None)

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
    """Owns an ``httpx.AsyncClient`` whose auth signs every attempt; runs the retry loop.

    One client belongs to the event loop that first uses it (its connections do):
    using it from another loop is refused before anything is sent.
    """

    _http: httpx.AsyncClient
    _lean: AsyncSender | None = None  # the lean send path (_fastpath), on the default route
    _loop: asyncio.AbstractEventLoop | None
    _loop_bound: bool

    if TYPE_CHECKING:  # each client defines its own, with these keywords

        def __init__(
            self,
            key_id: str,
            secret: str,
            *,
            _shared: Shared | None = None,
            **kwargs: Unpack[AsyncOptions],
        ) -> None: ...

    @classmethod
    def from_env(cls, **kwargs: Unpack[AsyncOptions]) -> Self:
        """Build from the venue's key id, secret and optional API URL environment
        variables (see the client's docstring); keyword arguments go to the constructor."""
        _known_keywords(kwargs, AsyncOptions)
        options = dict(kwargs)
        key_id, secret = cls._env_arguments(options)
        return cls(key_id, secret, **options)  # type: ignore[arg-type]

    def _open(
        self,
        auth: httpx.Auth,
        base_url: str,
        transport: httpx.AsyncBaseTransport | None,
    ) -> None:
        settings = self._settings
        _one_route(settings, transport)
        if transport is None and not self._twin_of_sync:  # a twin has its owner's route
            self._route = _proxy.route(base_url, settings.proxy, settings.trust_env)
        self._opened = (auth, base_url, transport)
        self._one_shot = transport is None and _oneshot.active()
        # Pooled connections belong to the loop that opened them; a mock or an
        # in-process app has none, and may be driven from any loop.
        self._loop_bound = transport is None or isinstance(transport, httpx.AsyncHTTPTransport)
        self._connect()
        if not self._twin_of_sync:  # a twin is dropped by its owner in a child
            _fork.track(self)

    def _connect(self) -> None:
        """The httpx client (a fresh pool, bound to no loop yet) and the lean sender."""
        auth, base_url, transport = self._opened
        settings = self._settings
        self._loop = None
        self._lean = None  # a transport the caller gives is always used
        self._aiohttp: AiohttpTransport | None = None  # the one this client built
        from ._fastpath import attempt_seconds

        self._attempt_seconds = attempt_seconds(settings.timeout)
        if self._one_shot:  # the CLI: no aiohttp to import
            verify = _verify(settings, base_url, transport, self._route)
            self._http = _oneshot.async_client(
                attrs.evolve(settings, proxy=self._route),
                verify,
                _options(auth, base_url, settings),
            )
            return
        if transport is None:
            from ._fastpath import AsyncSender
            from ._transport import AiohttpTransport
            from ._wire import Wire

            # aiohttp under httpx (_transport), with the same proxy, environment and
            # TLS settings as httpx's own transport would have.
            transport = AiohttpTransport(
                limits=_LIMITS,
                proxy=self._route,
                trust_env=False,  # the route is decided (aiohttp reads it otherwise)
                verify=_verify(settings, base_url, transport, self._route),
            )
            wire = Wire(base_url, _HEADERS, self._auth)
            self._lean = AsyncSender(wire, transport, settings.timeout)
            self._aiohttp = transport
        # The transport applies proxy and TLS settings itself (httpx would mount its
        # own proxy transport in front of it).
        self._http = httpx.AsyncClient(transport=transport, **_options(auth, base_url, settings))

    def _after_fork(self) -> None:
        """In a forked child (``_fork``): a fresh pool and aiohttp session, made on the
        child's event loop when first used; the parent's are left untouched. A
        transport the caller gave is theirs, and kept (so is its loop binding)."""
        if self._opened[2] is None and not self._http.is_closed:
            self._abandon()
            _fork.leave(self._http, self._lean)
            self._fork_failed = True
            self._connect()
            self._fork_failed = False

    def _abandon(self) -> None:
        """In a forked child: keep the parent's aiohttp connections from being closed
        from here (see ``AiohttpTransport.forget``)."""
        if self._aiohttp is not None:
            self._aiohttp.forget()

    @classmethod
    def _twin_of(cls, shared: Shared, transport: httpx.AsyncBaseTransport | None) -> Self:
        """An async client with ``shared``'s key, clock and settings: the twin a sync
        client runs its bulk cancels on. Built by its constructor, handed the decoded
        key (in ``shared``) instead of the secret, which is neither kept nor decoded
        twice."""
        key_id: str = getattr(shared.auth, cls._id_label)
        return cls(key_id, "", base_url=shared.base_url, transport=transport, _shared=shared)

    def _check_usable(self) -> None:
        if self._http.is_closed:
            raise InvalidRequest(f"{type(self).__name__} is closed; create a new client")
        if self._fork_failed:
            raise InvalidRequest(_NOT_RENEWED.format(type(self).__name__))
        loop = running_loop()  # None: not asyncio (trio), nothing to compare
        if self._loop is None or not self._loop_bound:
            self._loop = loop
        elif loop is not self._loop:
            raise InvalidRequest(
                f"this {type(self).__name__} was first used on another event loop; its"
                " connections belong to that loop: create one client per event loop"
            )

    async def _attempt(
        self, request: dict[str, Any], prepared: Prepared | None, attempts: Attempts, first: bool
    ) -> httpx.Response | httpx.TransportError:
        """One attempt (in its limiter slot, if any): the answer, or the transport error."""
        if first:
            _batch.about_to_send()  # a bulk run journals "sent" before it is
        attempts.begin()
        lean = self._lean
        try:
            if lean is not None and prepared is not None:
                return await lean.send(prepared)  # its session bounds the whole attempt
            return await self._within(request)
        except httpx.TransportError as exc:
            return exc
        except httpx.HTTPError as exc:  # a body that cannot be decoded
            raise attempts.undecodable(exc) from exc

    async def _within(self, request: dict[str, Any]) -> httpx.Response:
        """One attempt through httpx (the CLI's route, or a transport the caller
        gave), cancelled when the attempt's total has passed: a read timeout."""
        from ._fastpath import attempt_within

        seconds = self._attempt_seconds
        # The instant is set too, for a sync transport run in a worker thread.
        with attempt_within(seconds):
            try:
                with anyio.fail_after(seconds):
                    return await self._http.request(**request)
            except TimeoutError:
                raise httpx.ReadTimeout(
                    f"no whole answer within the attempt's timeout ({seconds:g} s)"
                ) from None

    # The requests a kill switch sends again and again (a cancel-all), kept built:
    # key -> (the lean sender they were made for, the request, its wire form).
    _made: dict[Hashable, tuple[object, dict[str, Any], Prepared | None]] | None = None

    def _request_for(
        self, key: Hashable, build: Callable[[], dict[str, Any]]
    ) -> tuple[dict[str, Any], Prepared | None]:
        """The request ``build`` makes and its wire form (everything but the
        signature, made per attempt), kept under ``key``: the call's own checked
        arguments, equal only for the same request. Made again for another lean
        sender (after fork(), say); at most ``_MADE`` kept."""
        lean = self._lean
        made = self._made
        if made is None:
            made = self._made = {}
        found = made.get(key)
        if found is not None and found[0] is lean:
            return found[1], found[2]
        request = build()
        prepared = lean.wire.prepare(request) if lean is not None else None
        if len(made) >= _MADE:
            made.clear()
        made[key] = (lean, request, prepared)
        return request, prepared

    async def _send(
        self,
        request: dict[str, Any],
        limiter: Limiter | None = None,
        operation: str = GLOBAL,
        deadline: float | None = None,
        order: str | None = None,
        units: int = 1,
        prepared: Prepared | None = None,
    ) -> tuple[httpx.Response, Attempts]:
        """``prepared``: ``request``'s wire form from :meth:`_request_for`, if kept."""
        self._check_usable()
        attempts = self._attempts(request, deadline, order)
        lean = self._lean
        if prepared is None and lean is not None:
            prepared = lean.wire.prepare(request)
        last: httpx.Response | httpx.TransportError | None = None
        # Sent already, before the run began (_bulk.Presend): its outcome is this
        # request's first attempt's, whatever the deadline or the limiter say now.
        present = _batch.presented(request)
        while True:
            outcome: httpx.Response | httpx.TransportError
            if present is not None:
                _batch.about_to_send()
                attempts.begin()
                if limiter is not None:  # it took no slot: the next keeps its distance
                    limiter.answered_at(present.answered)
                outcome, present = present.outcome, None
                if not isinstance(outcome, httpx.Response | httpx.TransportError):
                    raise attempts.undecodable(outcome)  # a body that could not be decoded
            elif deadline is not None and last is None and time.monotonic() >= deadline:
                raise DeadlinePassed("not sent: the deadline had passed")  # no new first attempt
            elif limiter is None:  # no slot to take (an empty context cost two more awaits)
                outcome = await self._attempt(request, prepared, attempts, last is None)
            else:
                # Every attempt, retries included, counts against the exchange's limits.
                try:
                    # ``units``: a batch's items, for a bucket that charges per item.
                    async with limiter.slot(operation, deadline, units):
                        outcome = await self._attempt(request, prepared, attempts, last is None)
                except DeadlinePassed:
                    if last is None:
                        raise
                    return attempts.final(last), attempts  # the last answer is the outcome
            last = outcome
            if isinstance(outcome, httpx.Response):
                status = outcome.status_code
                # Retry-After matters only on a 429: no header lookup on every answer.
                wait = retry_after(outcome) if status == 429 else None
                _batch.answered(status, wait)
                if status == 429 and limiter:
                    limiter.refused(operation, wait)
            delay = attempts.delay(outcome)
            if delay is None:
                return attempts.final(outcome), attempts
            await self._async_sleep(delay)

    async def warm(self) -> float:
        """Open a connection now (TCP, and TLS in production) so that the first cancel
        does not pay for it: one unsigned ``GET /`` of the API root, whatever it
        answers. Returns the seconds it took; :class:`NetworkError` if unreachable
        (the transport's error as its ``__cause__``)."""
        self._check_usable()
        started = time.perf_counter()
        try:
            response = await self._http.get(_WARM_PATH, auth=None)
            await response.aclose()
        except httpx.TransportError as exc:
            raise _unreachable(self.base_url, exc) from exc  # the cause kept
        return time.perf_counter() - started

    async def close(self) -> None:
        """Close the connection pool (also done by ``async with``)."""
        await self._http.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (the name httpx and aiohttp users expect)."""
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

"""Polymarket US: cancel one order, many (batched, confirmed), or all; list orders.

The public methods of both clients, written once: this is the async client, and
``_sync_client.py`` is generated from it by ``scripts/unasync.py`` (``make drift``
checks it is current). A method says what it does here; how each side carries it
out (the sync client's direct route, its loop thread for bulk calls) is its base
class's ``_call`` and ``_on_twin``, in ``_client_base.py``.
"""

from __future__ import annotations

import ssl
from collections.abc import (
    AsyncGenerator,  # unasync: async only
    Callable,
    Iterable,
)
from typing import TYPE_CHECKING

import httpx

from .._base import Shared  # unasync: async only
from .._bulk import DEFAULT_DEADLINE, CancelResult, Control
from .._exceptions import OrderNotFound
from .._retry import RetryPolicy
from . import _events  # unasync: async only
from ._client_base import (
    DEFAULT_BASE_URL,
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_RATE,
    _accepted,
    _after_404,
    _AsyncPolymarket,
    _confirmed,
    _route_miss,
)
from ._events import OrderEvent  # unasync: async only
from ._rates import CANCEL, GET_ORDER, LIST_OPEN

if TYPE_CHECKING:  # loaded with the first answer that holds an order (_client_base)
    from .._generated.polymarket_us_api.models import Order


class AsyncPolymarketUSClient(_AsyncPolymarket):
    """Cancels Polymarket US orders. A context manager; close it when done.

    ``PolymarketUSClient`` is the sync client, ``AsyncPolymarketUSClient`` the async
    one: the same arguments and methods (awaited on the async one). ``from_env()``
    reads ``POLYMARKET_KEY_ID``, ``POLYMARKET_SECRET_KEY`` and, if set,
    ``POLYMARKET_API_URL``.

    Args:
        key_id: the API key id (a UUID) from the developer portal.
        secret_key: the base64 secret key (32-byte seed or 64-byte seed + public key).
        base_url: the API root; point it at the sandbox for tests.
        timeout: seconds for each attempt, or an ``httpx.Timeout``.
        max_retries: retries after the first attempt on connection errors, timeouts,
            429, 5xx (bulk cancels retry until their deadline instead).
        transport: an httpx transport (mock, in-process app; ``httpx.BaseTransport``
            for the sync client, ``httpx.AsyncBaseTransport`` for the async one); it
            decides the route, so not with ``proxy``.
        proxy: a proxy URL for every request of every path (single, bulk, async).
        trust_env: honour ``HTTP(S)_PROXY``/``NO_PROXY`` (default, as httpx does).
        verify: TLS verification: True, False, a CA bundle path or an ``ssl.SSLContext``.
        retry: the retry limits and backoff (a :class:`RetryPolicy`); given, it
            replaces ``max_retries``.
    """

    def __init__(
        self,
        key_id: str,
        secret_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | httpx.Timeout = 10.0,
        max_retries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
        verify: bool | str | ssl.SSLContext = True,
        retry: RetryPolicy | None = None,
        _shared: Shared | None = None,  # unasync: async only (how a sync client builds its twin)
    ) -> None:
        self._setup(
            key_id,
            secret_key,
            base_url,
            timeout,
            max_retries,
            proxy,
            trust_env,
            verify,
            retry,
            _shared,  # unasync: async only
        )
        self._open(self._auth, self.base_url, transport)

    def order_events(  # unasync: async only (the whole method: an async iterator)
        self,
        market_slugs: Iterable[str] | None = None,
        *,
        max_message_bytes: int = _events.MAX_MESSAGE,
        silence: float = _events.SILENCE,
        reconnects: int = _events.RECONNECTS,
    ) -> AsyncGenerator[OrderEvent, None]:
        """This key's private order stream (``/v1/ws/private``), as typed events.

        Yields an :class:`OrderSnapshot` of the open orders (``eof`` once complete),
        then an :class:`Execution` for every cancel, fill, partial fill, expiry... of
        this key's orders in ``market_slugs``' markets (None: every market; more than
        100 are split into several subscriptions, the documented limit). The
        handshake is signed with this client's key. The connection is kept alive
        (pings; dropped after ``silence`` seconds without a message) and reopened
        with backoff; each reconnect yields :class:`StreamInterrupted` first, since
        the exchange replays nothing: what happened meanwhile must be asked over
        REST. A message that is not a well-formed order message of this stream's own
        subscriptions is dropped, never believed; one larger than
        ``max_message_bytes`` drops the connection. Raises :class:`OrderStreamError`
        after ``reconnects`` failures in a row or a refused subscription, and
        :class:`AuthenticationError` on a refused handshake; ends when the client is
        closed. Use ``contextlib.aclosing`` (or break out of ``async for``) to
        close it. Async only: the sync client has no such method.

        While an account-wide stream (no ``market_slugs``) is read and live, a
        ``cancel_all`` or ``cancel_orders`` on this client hears it instead of
        opening a stream of its own: its first cancel waits for no snapshot.
        """
        from . import _heard, _stream  # aiohttp is imported only by those who stream

        self._check_usable()
        # A caller's transport decides the route (and carries no WebSocket).
        given = self._lean is None and not self._loop_bound
        link = _stream.Link(
            self._auth,
            self.base_url,
            self._settings,
            given,
            lambda: self._http.is_closed,
            self._route,
        )
        events = _stream.order_events(
            link,
            market_slugs,
            max_message_bytes=max_message_bytes,
            silence=silence,
            reconnects=reconnects,
        )
        if market_slugs is not None:
            return events
        if self._stream_taps is None:
            self._stream_taps = _heard.Taps()
        return self._stream_taps.tapped(events)

    async def cancel_order(
        self, order_id: str, *, market_slug: str | None = None, missing_ok: bool = False
    ) -> None:
        """Cancel one order by its exchange-assigned id.

        Returns only when the exchange answered the documented ``200`` with an empty
        ``CancelOrderResponse`` (``{}`` or no body); a redirect or any other answer
        raises (:class:`UnexpectedResponse`: not a confirmation). Raises
        :class:`InvalidRequest` before any I/O if ``order_id`` cannot address exactly
        one path segment. The exchange answers 404 both for an unknown order and for
        one that is no longer open, so on a 404 one lookup tells them apart:
        :class:`OrderNotFound` (unknown for this key) or :class:`OrderNotOpen` with
        its ``state`` (``cancelled``, ``filled``, ``expired``...). ``missing_ok``
        accepts an unknown or already-cancelled order, never a filled one. While a
        bulk call runs on this client, it takes its slot from that call's rate
        limits (waiting no longer than its timeout).
        """
        request = self._request(order_id, market_slug)
        try:
            response, attempts = await self._call(request, CANCEL, order_id)
        except OrderNotFound as exc:
            try:
                found: Order | None = await self.get_order(order_id)
            except OrderNotFound:
                found = None
            error = _after_404(exc, found)
            if missing_ok and _accepted(error):
                return
            raise error from None if error is exc else exc
        _confirmed(response, attempts)

    async def open_orders(self, *, market_slugs: Iterable[str] | None = None) -> list[Order]:
        """The open orders of this key (in ``market_slugs``' markets, if given)."""
        try:
            response, _ = await self._call(self._list_request(market_slugs), LIST_OPEN)
        except OrderNotFound as exc:
            raise _route_miss(exc, "GET /v1/orders/open") from None
        return self._parse_orders(response)

    async def get_order(self, order_id: str) -> Order:
        """One order of this key, whatever its state; :class:`OrderNotFound` if unknown."""
        response, _ = await self._call(self._order_request(order_id), GET_ORDER, order_id)
        return self._parse_order(response)

    async def cancel_orders(
        self,
        order_ids: Iterable[str],
        *,
        market_slug: str | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        max_rate: float | None = DEFAULT_MAX_RATE,
        deadline: float = DEFAULT_DEADLINE,
        missing_ok: bool = False,
        on_result: Callable[[CancelResult[str]], None] | None = None,
        control: Control | None = None,
    ) -> list[CancelResult[str]]:
        """Cancel many orders: the kill switch, confirmed by the exchange's listing.

        One listing of open orders gives each order's market; ids it lacks are
        looked up (``not_open``, ``not_found``, or open after all); the open ones
        go in batches of the spec's ``maxItems`` (20) through the batched cancel,
        whose answer only echoes ids, so the run lists again until none is listed.
        With ``market_slug`` (the market of every order, given) no listing comes
        first: the batches go at once, each entry naming that market, and each id
        the listings after the cancel never show is looked up (``not_found``;
        ``not_open``, since no listing saw it open; ``failed`` if it is open in
        another market, which a cancel naming this one does not reach).
        Leaving the listing is not an outcome (cancelled or filled?): each order's
        end is the exchange's word on it, its execution on the private order stream
        (opened before the first cancel, see
        :meth:`AsyncPolymarketUSClient.order_events`: ``cancelled``,
        ``filled``, or ``cancelled`` with how much filled first), or, where the
        stream said nothing, ``GET /v1/order/{id}`` (``not_open``, "not asked",
        when the rate limit leaves no slot for it). Every id is validated first (invalid
        ones are ``not_sent``); duplicates are cancelled once. Requests stay inside
        every documented rate limit (``max_rate`` per second over all endpoints,
        and the live page's per-endpoint windows), and retryable failures are
        retried until ``deadline`` seconds have passed. A 401/403 or an answer that
        is not the exchange's stops the run (the rest ``not_sent``). Returns one
        result per id, in input order; ``on_result`` sees each as it is known (on a
        sync client, on its ``cancelkit-bulk`` thread; if it raises, the run stops and
        :class:`OnResultFailed` is raised at the end, every result in it).
        ``control`` (a :class:`Control`) lets a caller stop or abort the run; its
        deadline replaces ``deadline``. The sync client runs it on its async twin,
        in the client's own loop thread.
        """
        return await self._on_twin(
            lambda twin: twin._kill_listed(
                order_ids,
                market_slug,
                concurrency,
                max_rate,
                deadline,
                missing_ok,
                on_result,
                control,
            )
        )

    async def cancel_all(
        self,
        *,
        market_slugs: Iterable[str] | None = None,
        max_rate: float | None = DEFAULT_MAX_RATE,
        deadline: float = DEFAULT_DEADLINE,
        on_result: Callable[[CancelResult[str]], None] | None = None,
        control: Control | None = None,
    ) -> list[CancelResult[str]]:
        """The exchange's cancel-all (every market, or ``market_slugs``'), confirmed:
        each order it names ends once the listing no longer shows it, with its
        execution on the private order stream (opened before the cancel) or its
        lookup's word, as in :meth:`cancel_orders`; any order still listed there at
        the end is reported ``failed``. ``on_result``: as for :meth:`cancel_orders`.
        The sync client runs it on its async twin, in the client's own loop thread."""
        return await self._on_twin(
            lambda twin: twin._kill_all(market_slugs, max_rate, deadline, on_result, control)
        )

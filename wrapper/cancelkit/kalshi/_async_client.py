"""Kalshi: cancel one order (V2), many (the kill switch), or all; list orders.

The public methods of both clients, written once: this is the async client, and
``_sync_client.py`` is generated from it by ``scripts/unasync.py`` (``make drift``
checks it is current). How each side carries a call out (the sync client's calls
on its async twin) is its base class's ``_call`` and ``_on_twin``, in
``_client_base.py``.
"""

from __future__ import annotations

import ssl
from collections.abc import (
    AsyncGenerator,  # unasync: async only
    Callable,
    Iterable,
)
from typing import Self, Unpack

import httpx

from .._base import (
    AsyncOptions,
    Shared,  # unasync: async only
)
from .._bulk import DEFAULT_DEADLINE, CancelResult, Control
from .._exceptions import OrderNotFound, UnexpectedResponse
from .._generated.kalshi_api.models import CancelOrderV2Response, Order, OrderStatus
from .._retry import RetryPolicy, parse_answer
from . import _events  # unasync: async only
from . import _rates as rates
from . import _validation as check
from ._client_base import (
    DEFAULT_BASE_URL,
    DEFAULT_CONCURRENCY,
    _accepted,
    _after_404,
    _AsyncKalshi,
    _checked_cancel,
    _keywords,
    _the_order,
)
from ._events import OrderEvent, StreamOrder  # unasync: async only


class AsyncKalshiClient(_AsyncKalshi):
    """Cancels Kalshi orders with an API key (RSA or Ed25519). A context manager.

    ``KalshiClient`` is the sync client, ``AsyncKalshiClient`` the async one: the
    same arguments and methods (awaited on the async one). ``from_env()`` reads
    ``KALSHI_API_KEY_ID``, the key from ``KALSHI_PRIVATE_KEY`` (the PEM itself) or
    ``KALSHI_PRIVATE_KEY_PATH`` (a PEM file), and, if set, ``KALSHI_API_URL``.

    Every request of a sync client runs on its async twin, so that one set of token
    buckets (the twin's) paces them all.

    Args:
        key_id: the API key id (``KALSHI-ACCESS-KEY``).
        private_key: the private key's PEM (PKCS#1 or PKCS#8 RSA, PKCS#8 Ed25519),
            loaded once; its type decides the signature (RSA-PSS or Ed25519).
        base_url: the API root with its path (production by default;
            :data:`DEMO_BASE_URL` for the demo exchange, or the sandbox's).
        tier: the key's rate-limit tier (``basic`` ... ``prestige``): its token
            buckets pace every call.
        timeout: seconds for each attempt, or an ``httpx.Timeout``.
        max_retries: retries after the first attempt on connection errors, timeouts, 429, 5xx.
        transport: an httpx transport (mock, in-process app; ``httpx.BaseTransport``
            for the sync client, ``httpx.AsyncBaseTransport`` for the async one); it
            decides the route, so not with ``proxy``.
        proxy: a proxy URL for every request.
        trust_env: honour ``HTTP(S)_PROXY``/``NO_PROXY`` (default, as httpx does).
        verify: TLS verification: True, False, a CA bundle path or an ``ssl.SSLContext``.
        retry: the retry limits and backoff (a :class:`RetryPolicy`); given, it
            replaces ``max_retries``.
    """

    def __init__(
        self,
        key_id: str,
        private_key: str | bytes,
        *,
        base_url: str = DEFAULT_BASE_URL,
        tier: rates.Tier = rates.DEFAULT_TIER,
        timeout: float | httpx.Timeout = 10.0,
        max_retries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
        verify: bool | str | ssl.SSLContext = True,
        retry: RetryPolicy | None = None,
        _shared: Shared | None = None,  # unasync: async only (how a sync client builds its twin)
    ) -> None:
        rates.tier_budgets(tier)  # refused before the key is even read
        self._tier = tier
        self._setup(
            key_id,
            private_key,  # type: ignore[arg-type]  # str or bytes: KalshiAuth takes both
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

    @classmethod
    def from_env(
        cls, *, tier: rates.Tier = rates.DEFAULT_TIER, **kwargs: Unpack[AsyncOptions]
    ) -> Self:
        """Build from ``KALSHI_API_KEY_ID``, ``KALSHI_PRIVATE_KEY`` or
        ``KALSHI_PRIVATE_KEY_PATH``, and ``KALSHI_API_URL`` if set; ``tier`` and the
        keyword arguments go to the constructor."""
        _keywords(kwargs, AsyncOptions)
        options = dict(kwargs)
        key_id, private_key = cls._env_arguments(options)
        return cls(key_id, private_key, tier=tier, **options)  # type: ignore[arg-type]

    def order_events(  # unasync: async only (the whole method: an async iterator)
        self,
        *,
        max_message_bytes: int = _events.MAX_MESSAGE,
        reconnects: int = _events.RECONNECTS,
        subscribe_wait: float = _events.SUBSCRIBE_WAIT,
    ) -> AsyncGenerator[OrderEvent, None]:
        """This key's private order stream (the ``user_orders`` channel of
        ``/trade-api/ws/v2``), as typed events, for every market and subaccount.

        The handshake is signed with this client's key (RSA-PSS or Ed25519, as REST
        requests are: ``timestamp + "GET" + "/trade-api/ws/v2"``). Once the
        subscription is answered, the resting orders are listed over REST (Kalshi's
        stream sends no snapshot) and yielded as one :class:`OrderSnapshot`; then an
        :class:`OrderUpdate` for every order created, filled, cancelled or otherwise
        updated (``kind``: ``open``, ``cancelled``, ``fill`` or ``unknown``, from the
        page's ``status``). Kalshi's pings are answered and the client pings too; a
        connection that ends is reopened with backoff, resubscribed and listed again,
        each time after a :class:`StreamInterrupted` (no replay: what happened
        meanwhile is in the new listing). A message that is not a well-formed
        ``user_order`` of this connection's own subscription is dropped, never
        believed; one larger than ``max_message_bytes`` drops the connection. Raises
        :class:`OrderStreamError` after ``reconnects`` failures in a row or a refused
        subscription (none answered in ``subscribe_wait`` seconds is a failure), and
        :class:`AuthenticationError` on a refused handshake or listing; ends when the
        client is closed. Use ``contextlib.aclosing`` to close it. Async only.

        While it is read and live, a ``cancel_all`` on this client names the resting
        orders it knows and sends its DELETE at once, instead of listing first.
        """
        from . import _live, _stream  # aiohttp is imported only by those who stream

        self._check_usable()
        given = self._lean is None and not self._loop_bound  # a caller's transport

        async def listing() -> list[StreamOrder]:
            return [_events.listed(o) for o in await self.open_orders()]

        link = _stream.Link(
            self._auth,
            self.base_url,
            self._settings,
            given,
            lambda: self._http.is_closed,
            self._route,
            listing,
        )
        events = _stream.order_events(
            link,
            max_message_bytes=max_message_bytes,
            reconnects=reconnects,
            subscribe_wait=subscribe_wait,
        )
        if self._live_book is None:
            self._live_book = _live.LiveBook()
        return self._live_book.tapped(events)

    async def cancel_order(
        self, order_id: str, *, subaccount: int | None = None, missing_ok: bool = False
    ) -> CancelOrderV2Response | None:
        """Cancel one order through ``DELETE /portfolio/events/orders/{order_id}`` (V2).

        Returns the exchange's answer (``reduced_by``: the contracts cancelled, a
        fixed-point string) only on a 2xx with the documented body; any other answer
        raises. Its ``order_id`` is checked against the request: Kalshi's changelog
        (2026-05-21) records V2 cancel answers that describe another order, so such
        an answer is confirmed by one ``GetOrder`` (cancelled, or
        :class:`UnexpectedResponse`). A 404 is told apart by one ``GetOrder``:
        :class:`OrderNotFound` (unknown to this key) or :class:`OrderNotOpen` with
        its ``state`` (``cancelled``, or ``filled`` for an executed order).
        ``missing_ok`` accepts an unknown or already-cancelled order (returning
        None), never a filled one. ``subaccount``: 0 (primary, the exchange's
        default) to 63. Raises :class:`InvalidRequest` before any I/O for an id
        that is not one plain path segment.
        """
        request = self._cancel_request(order_id, subaccount)  # refused here, before anything
        try:
            response, _ = await self._call(request, rates.CANCEL, order_id)
        except OrderNotFound as exc:
            try:
                found: Order | None = await self.get_order(order_id)
            except OrderNotFound:
                found = None
            error = _after_404(exc, found)
            if missing_ok and _accepted(error):
                return None
            raise error from None if error is exc else exc
        what = "DELETE /portfolio/events/orders/{order_id}"
        answer = _checked_cancel(parse_answer(response, CancelOrderV2Response.from_dict, what))
        if answer.order_id != order_id:
            # The answer describes another order (changelog 2026-05-21): ask the order.
            order = await self.get_order(order_id)
            if order.status != OrderStatus.CANCELED:
                raise UnexpectedResponse(
                    f"the cancel answered for order {answer.order_id!r}, and order"
                    f" {order_id!r} is {getattr(order.status, 'value', order.status)}:"
                    " it may still be open",
                    order=order_id,
                    status=response.status_code,
                )
        return answer

    async def get_order(self, order_id: str) -> Order:
        """One order of this key, whatever its state; :class:`OrderNotFound` if unknown."""
        request = self._order_request(order_id)
        response, _ = await self._call(request, rates.GET_ORDER, order_id)
        return _the_order(response, order_id)

    async def open_orders(
        self,
        *,
        ticker: str | None = None,
        event_ticker: str | list[str] | None = None,
        subaccount: int | None = None,
    ) -> list[Order]:
        """Every resting order of this key (status ``resting``, every page of the
        cursor), in one market (``ticker``), up to 10 events (``event_ticker``) or one
        subaccount if given (all subaccounts otherwise)."""
        first = self._list_request(ticker, event_ticker, subaccount)
        return await self._on_twin(lambda twin: twin._pages(first, twin._slots(), None))

    async def cancel_orders(
        self,
        order_ids: Iterable[str],
        *,
        subaccount: int | None = None,
        tickers: Iterable[str] | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        deadline: float = DEFAULT_DEADLINE,
        missing_ok: bool = False,
        on_result: Callable[[CancelResult[str]], None] | None = None,
        control: Control | None = None,
    ) -> list[CancelResult[str]]:
        """Cancel many orders by id: the kill switch. One result per id, in input order.

        Batches of ``BatchCancelOrdersV2`` as large as the tier's Write bucket holds
        at once (Basic: 50), paced by the key's buckets (2 tokens per order). An
        order is ``cancelled`` only when its entry says so and a listing of resting
        orders taken after the answer no longer shows it (Kalshi's changelog,
        2026-05-21, records V2 answers that did not describe the order cancelled);
        one still listed at the deadline is ``failed``. An entry with an ``error``,
        or no entry, is asked with one ``GetOrder``: ``not_open`` (canceled),
        ``filled`` (executed), ``not_found``, or ``failed`` (still resting). An
        invalid id is ``not_sent``; what was sent without an answer is ``unknown``.
        With ``tickers`` (market tickers), only the orders listed resting in those
        markets are sent; any other is asked with one ``GetOrder`` and, still
        resting elsewhere, left alone (``not_sent``).
        Retries (429, 5xx, connection errors) go on until ``deadline`` seconds;
        ``control`` stops or aborts the run from elsewhere. The sync client runs it
        on its async twin, in the client's own loop thread.
        """
        return await self._on_twin(
            lambda twin: twin._kill_orders(
                order_ids,
                subaccount,
                concurrency,
                deadline,
                missing_ok,
                on_result,
                control,
                tickers or (),
            )
        )

    async def cancel_all(
        self,
        *,
        subaccount: int | None = None,
        deadline: float = DEFAULT_DEADLINE,
        on_result: Callable[[CancelResult[str]], None] | None = None,
        control: Control | None = None,
    ) -> list[CancelResult[str]]:
        """Cancel every resting order of this key, in every subaccount unless
        ``subaccount`` is given, with one ``DELETE /portfolio/events/orders``
        (documented answer: 204), confirmed by listing resting orders until none is
        left or the deadline.

        Every subaccount's orders when ``subaccount`` is None (the exchange's rule
        for an omitted ``subaccount``). Kalshi's page warns: **orders placed in the
        minute after the request may also be cancelled.** One result per order
        listed resting before the request: ``not_open`` once it leaves the listing
        (cancelled by this request, or filled just before: not asked), ``failed``
        if still listed at the deadline; any other order still resting at the end
        is reported ``failed`` too (index -1).
        While :meth:`AsyncKalshiClient.order_events` is read and live on the async
        client, the resting orders it knows are the ones named and the DELETE goes
        first, with no listing before it (an order whose creation the stream has
        not said yet is cancelled unnamed, as one placed between a listing and the
        DELETE would be). A first listing that fails or hangs
        (5xx, network) holds the cancel-all back at most a quarter of the time left
        (at least 2 s, at most half): it is then sent anyway, confirmed, and one
        ``unknown`` result says which orders it cancelled cannot be named.
        """
        if subaccount is not None:
            check.subaccount(subaccount)  # refused here, before anything
        return await self._on_twin(
            lambda twin: twin._kill_all(subaccount, deadline, on_result, control)
        )

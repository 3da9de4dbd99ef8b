"""Limitless Exchange: cancel one order, many (batched), or a market's; list and look up.

The public methods of both clients, written once: this is the async client, and
``_sync_client.py`` is generated from it by ``scripts/unasync.py`` (``make drift``
checks it is current). A method says what it does here; how each side carries it
out (the sync client on its async twin, or its direct route unpaced) is its base
class's ``_call`` and ``_on_twin``, in ``_client_base.py``.
"""

from __future__ import annotations

import ssl
import typing  # unasync: async only
from collections.abc import (
    AsyncGenerator,  # unasync: async only
    Callable,
    Iterable,
    Sequence,
)
from typing import overload
from uuid import UUID

import httpx

from .._base import Shared  # unasync: async only
from .._bulk import DEFAULT_DEADLINE, CancelResult, Control
from .._exceptions import CancelKitError, OrderNotFound, OrderNotOpen
from .._generated.limitless_api.models import (
    MaintenanceStatusDto,
    OrderStatus,
    OrderStatusResultDto,
    UserOrderDto,
)
from .._retry import RetryPolicy
from ._client_base import (
    DEFAULT_BASE_URL,
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_RATE,
    CancelTarget,
    StatusTarget,
    _AsyncLimitless,
    _body,
    _label,
    _message,
    _single,
    _TargetT,
    _with_state,
)

if typing.TYPE_CHECKING:  # unasync: async only (the stream's module loads when it is opened)
    from ._events import LimitlessStreamEvent


class AsyncLimitlessClient(_AsyncLimitless):
    """Cancels Limitless Exchange orders with a scoped API token. A context manager.

    ``LimitlessClient`` is the sync client, ``AsyncLimitlessClient`` the async one:
    the same arguments and methods (awaited on the async one). ``from_env()`` reads
    ``LIMITLESS_TOKEN_ID``, ``LIMITLESS_TOKEN_SECRET`` and, if set,
    ``LIMITLESS_API_URL``.

    Args:
        token_id: the scoped API token id (``lmts-api-key``).
        secret: the token secret, base64 as issued.
        base_url: the API root; point it at the sandbox for tests.
        timeout: seconds for each attempt, or an ``httpx.Timeout``.
        max_retries: retries after the first attempt on connection errors, timeouts, 429, 5xx.
        transport: an httpx transport (mock, in-process app; ``httpx.BaseTransport``
            for the sync client, ``httpx.AsyncBaseTransport`` for the async one); it
            decides the route, so not with ``proxy``.
        proxy: a proxy URL for every request of every path (single, bulk, async).
        trust_env: honour ``HTTP(S)_PROXY``/``NO_PROXY`` (default, as httpx does).
        verify: TLS verification: True, False, a CA bundle path or an ``ssl.SSLContext``.
        retry: the retry limits and backoff (a :class:`RetryPolicy`); given, it
            replaces ``max_retries``.
        paced: keep the published pace (at most 2 requests in flight, 300 ms between
            calls, per token) across every call of this client, single or bulk: the
            default. False for a token with raised limits or a sandbox without them:
            calls then go out as they come (a 429 is still waited out and retried).
    """

    def __init__(
        self,
        token_id: str,
        secret: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | httpx.Timeout = 10.0,
        max_retries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
        verify: bool | str | ssl.SSLContext = True,
        retry: RetryPolicy | None = None,
        paced: bool = True,
        _shared: Shared | None = None,  # unasync: async only (how a sync client builds its twin)
    ) -> None:
        self._pace_calls = paced
        self._setup(
            token_id,
            secret,
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
        *,
        stream_url: str | None = None,
        max_message_bytes: int = 1024 * 1024,  # _events.MAX_MESSAGE
        reconnects: int = 5,  # _events.RECONNECTS
    ) -> AsyncGenerator[LimitlessStreamEvent, None]:
        """This token's private order stream (PROVISIONAL: Socket.IO at
        ``wss://ws.limitless.exchange``, namespace ``/markets``; see
        ``cancelkit.limitless._events`` for the sources its shape is written from).

        Yields :class:`LimitlessStreamSubscribed` once the namespace is joined and
        ``subscribe_order_events`` sent (again after every reconnect: the exchange
        keeps no subscription), then an :class:`LimitlessOrderEvent` for every ``orderEvent``
        of the token's orders in any market (placement, update, cancellation,
        execution; settlement's matched, mined, failed), each with its market where
        the frame names it. There is no snapshot: the stream tells what happens
        from now on and which markets it happens in, never what is open; the open
        orders are still :meth:`open_orders`' (one market at a time). The handshake
        is signed with this client's token, afresh on every connect. The server's
        pings are answered and a connection silent past its ping timeout is opened
        again with backoff; each reconnect yields :class:`LimitlessStreamInterrupted` first,
        since nothing is replayed. ``stream_url``: the stream's root (default: the
        exchange's beside its API; the API root itself for any other, such as the
        sandbox). A frame that is not a well-formed ``orderEvent`` of the namespace
        is dropped, never believed; one larger than ``max_message_bytes`` drops the
        connection. Raises :class:`LimitlessStreamError` after ``reconnects`` failures
        in a row or a refused namespace, and :class:`AuthenticationError` on a
        refused handshake; ends when the client is closed. Use
        ``contextlib.aclosing`` (or break out of ``async for``) to close it. Async
        only: the sync client has no such method.
        """
        from . import _stream  # aiohttp is imported only by those who stream

        self._check_usable()
        url = _stream.stream_url(self.base_url, stream_url)
        # A caller's transport decides the route (and carries no WebSocket).
        given = self._lean is None and not self._loop_bound
        link = _stream.Link(self._auth, url, self._settings, given, lambda: self._http.is_closed)
        return _stream.order_events(
            link, max_message_bytes=max_message_bytes, reconnects=reconnects
        )

    @overload
    async def cancel_order(
        self,
        *,
        order_id: UUID | str,
        client_order_id: None = None,
        on_behalf_of: int | None = None,
        missing_ok: bool = False,
    ) -> str: ...
    @overload
    async def cancel_order(
        self,
        *,
        client_order_id: str,
        order_id: None = None,
        on_behalf_of: int | None = None,
        missing_ok: bool = False,
    ) -> str: ...
    @overload
    async def cancel_order(
        self,
        body: CancelTarget,
        *,
        on_behalf_of: int | None = None,
        missing_ok: bool = False,
    ) -> str: ...
    async def cancel_order(
        self,
        body: CancelTarget | None = None,
        *,
        order_id: UUID | str | None = None,
        client_order_id: str | None = None,
        on_behalf_of: int | None = None,
        missing_ok: bool = False,
    ) -> str:
        """Cancel one order by exactly one of ``order_id`` (a UUID) or ``client_order_id``.

        A generated ``CancelByOrderId`` / ``CancelByClientOrderId`` may be passed
        instead. ``on_behalf_of`` cancels a managed sub-account's order (needs the
        ``delegated_signing`` scope). Returns the server's confirmation message; with
        ``missing_ok``, an unknown order (404) or one already cancelled returns a
        message saying so (``done: ...``) instead of raising. An order that is not open raises
        :class:`OrderNotOpen` with ``state`` from one ``POST /orders/status/batch``
        lookup (``cancelled``, ``filled``, ``expired``; None if it cannot tell): a fill
        is raised whatever ``missing_ok`` says.
        """
        target = _body(body, order_id, client_order_id)  # refused here, before anything
        return await self._cancel_one(target, on_behalf_of, missing_ok)

    async def _cancel_one(
        self, target: CancelTarget, on_behalf_of: int | None, missing_ok: bool
    ) -> str:
        request = self._cancel_request(target, on_behalf_of)
        try:
            response, attempts = await self._call(request, _label(request))
        except OrderNotOpen as exc:
            return _single(await self._tell_state(exc, target, on_behalf_of), missing_ok)
        except OrderNotFound as exc:
            return _single(exc, missing_ok)
        return _message(response, attempts)

    async def _tell_state(
        self, error: OrderNotOpen, target: CancelTarget, on_behalf_of: int | None
    ) -> OrderNotOpen:
        """One status lookup tells cancelled from filled (not for a sub-account's
        order: the lookup's page does not take ``onBehalfOf``)."""
        if on_behalf_of is not None:
            return error
        try:
            return _with_state(error, await self.order_status([target]))
        except CancelKitError:  # the lookup failed: the state stays unknown
            return error

    async def cancel_orders(
        self,
        targets: Iterable[_TargetT],
        *,
        on_behalf_of: int | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        max_rate: float | None = DEFAULT_MAX_RATE,
        deadline: float = DEFAULT_DEADLINE,
        missing_ok: bool = False,
        on_result: Callable[[CancelResult[_TargetT]], None] | None = None,
        control: Control | None = None,
    ) -> list[CancelResult[_TargetT]]:
        """Cancel many orders: the kill switch, each outcome the exchange's word.

        ``targets`` are ``CancelByOrderId`` or ``CancelByClientOrderId`` values, so each
        says which identifier it is. They go through ``POST /orders/batch-cancel`` in
        batches of the spec's limit (50), ids and client ids apart: in the answer's
        ``canceled`` → ``cancelled``; in ``failed`` → as its reason says (an unknown
        reason is ``failed``, shown); absent from both, or ``ORDER_NOT_FOUND`` ("not
        found or already canceled") → asked about through ``POST /orders/status/batch``:
        ``not_found``, ``not_open`` or, still LIVE, ``failed``. Invalid targets are
        ``not_sent``; duplicates are cancelled once. ``on_behalf_of`` (a managed
        sub-account) goes through ``POST /orders/cancel?onBehalfOf=``, one order per
        request, the only cancel whose page documents it.

        Requests keep the published pace (2 in flight, 300 ms apart; ``max_rate``
        per second on top if given; slower after a 429) and retryable failures are
        retried until ``deadline`` seconds have passed; ``concurrency`` is the number
        of batches in flight. A 401/403 or an answer that is not the exchange's stops
        the run (the rest ``not_sent``). Returns one result per target, in input
        order; ``on_result`` sees each as it is known (on a sync client, on its
        ``cancelkit-bulk`` thread; if it raises, the run stops and
        :class:`OnResultFailed` is raised at the end, every result in it);
        ``control`` lets a caller stop or abort the run.
        """
        return await self._on_twin(
            lambda twin: twin._cancel_orders(
                targets,
                on_behalf_of,
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
        market_slug: str,
        on_behalf_of: int | None = None,
        *,
        max_rate: float | None = DEFAULT_MAX_RATE,
        deadline: float = DEFAULT_DEADLINE,
        on_result: Callable[[CancelResult[str]], None] | None = None,
        control: Control | None = None,
    ) -> list[CancelResult[str]]:
        """Cancel every order of this token (or of sub-account ``on_behalf_of``) in one
        market: ``DELETE /orders/all/{slug}``, its 200 or 207 read order by order (a
        ``failed`` entry is ``failed``, its reason shown), then the market's user-orders
        listing until none it cancelled is ``LIVE``: only then is an order
        ``cancelled``. Any other order still ``LIVE`` there is reported ``failed``
        (index -1). For a sub-account the listing cannot be read (its page documents
        no ``onBehalfOf``): the exchange's ``canceled`` list is reported, plus one
        ``unknown`` result for the market, since nothing confirms it is empty.
        ``on_result``: as for :meth:`cancel_orders`."""
        return await self._on_twin(
            lambda twin: twin._kill_market(
                market_slug, on_behalf_of, max_rate, deadline, on_result, control
            )
        )

    async def open_orders(
        self, market_slug: str, *, statuses: Sequence[OrderStatus] | None = None
    ) -> list[UserOrderDto]:
        """This token's orders in one market: ``LIVE`` ones, or those of ``statuses``
        (``GET /markets/{slug}/user-orders``), at the published pace."""
        return await self._on_twin(lambda twin: twin._open_orders(market_slug, statuses))

    async def order_status(
        self, targets: Iterable[CancelTarget | StatusTarget]
    ) -> list[OrderStatusResultDto]:
        """The exchange's word on each order (``POST /orders/status/batch``, 50 per
        request), one result per target in input order (``index`` is the position in
        ``targets``). Every target is validated before anything is sent."""
        return await self._on_twin(lambda twin: twin._order_status(targets))

    async def maintenance_status(self) -> MaintenanceStatusDto:
        """The public maintenance status (``GET /maintenance/status``, unsigned): the
        active and scheduled effects; a ``disabled`` one blocks cancels (503)."""
        return await self._on_twin(lambda twin: twin._maintenance_status())

"""Polymarket US: cancel one order, many (batched, confirmed), or all; list orders.

Ed25519-signed; every request is built by the generated ``_get_kwargs`` of the
operation and every answer parsed by its generated model.
"""

from __future__ import annotations

import importlib
import ssl
import threading
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

import anyio
import httpx

from .._base import AsyncHTTP, Shared, SyncHTTP, Venue
from .._bulk import DEFAULT_DEADLINE, CancelResult, Control, Reporter, check_batch_settings
from .._exceptions import (
    CancelKitError,
    OrderNotFound,
    OrderNotOpen,
    UnexpectedResponse,
    WrongEndpoint,
)
from .._fastpath import header
from .._generated.polymarket_us_api.api.orders import (
    orders_service_cancel_open_orders as _cancel_open,
)
from .._generated.polymarket_us_api.api.orders import orders_service_cancel_order as _cancel
from .._generated.polymarket_us_api.api.orders import (
    orders_service_cancel_order_list as _cancel_list,
)
from .._generated.polymarket_us_api.api.orders import orders_service_get_open_orders as _get_open
from .._generated.polymarket_us_api.api.orders import orders_service_get_order as _get_order
from .._generated.polymarket_us_api.models import (
    CancelOpenOrdersRequest,
    CancelOpenOrdersResponse,
    CancelOrderListRequest,
    CancelOrderRequest,
    CancelOrderRequestEntry,
    CancelOrderResponse,
    GetOpenOrdersResponse,
    GetOrderResponse,
    Order,
    OrderState,
)
from .._generated.polymarket_us_api.types import UNSET
from .._limiter import GLOBAL, Budget, Limiter
from .._retry import Attempts, RetryPolicy, json_of, parse_answer
from . import _events
from . import _kill as kill
from . import _validation as check
from ._auth import PolymarketAuth
from ._events import OrderEvent
from ._rates import (
    CANCEL,
    CANCEL_ALL,
    CANCEL_BATCH,
    GET_ORDER,
    LIST_OPEN,
    POLYMARKET_FLAT,
    POLYMARKET_LIVE,
)

DEFAULT_BASE_URL = "https://api.polymarket.us"
DEFAULT_MAX_RATE = POLYMARKET_FLAT[GLOBAL].limit / POLYMARKET_FLAT[GLOBAL].window
"""The default ``max_rate``: requests per second per key, over all endpoints, as the
older page documents."""
DEFAULT_CONCURRENCY = 4
"""Batched cancels in flight at once (``concurrency``)."""

_T = TypeVar("_T")
# Seconds a request counts in the longest documented window: a bulk call's
# requests still count that long after it ended.
_LONGEST_WINDOW = max(b.window for b in POLYMARKET_LIVE.values())


def limiter(max_rate: float | None) -> Limiter:
    """Every documented window: the live page's table, and ``max_rate`` per second
    over all endpoints (the older page's 20 by default; None: no such cap)."""
    budgets: dict[str, list[Budget]] = {op: [b] for op, b in POLYMARKET_LIVE.items()}
    if max_rate is not None:
        budgets[GLOBAL].append(Budget.per_second(max_rate))
    return Limiter(budgets)


def _route_miss(error: OrderNotFound, what: str) -> WrongEndpoint:
    """A 404 from an endpoint that is not about one order is a route miss."""
    context = error.context() | {"order": None}
    return WrongEndpoint(
        f"{what} answered 404 ({error.message}): is the base URL right?", **context
    )


# The final states of an order, in the words OrderNotOpen.state uses.
_FINAL_STATES = {
    OrderState.ORDER_STATE_CANCELED: "cancelled",
    OrderState.ORDER_STATE_FILLED: "filled",
    OrderState.ORDER_STATE_EXPIRED: "expired",
    OrderState.ORDER_STATE_REJECTED: "rejected",
    OrderState.ORDER_STATE_REPLACED: "replaced",
}


def _after_404(error: OrderNotFound, order: Order | None) -> CancelKitError:
    """What a cancel's 404 meant, given the order's lookup (None: unknown to it too)."""
    if order is None:
        return error
    state = order.state if isinstance(order.state, OrderState) else None
    word = _FINAL_STATES.get(state) if state is not None else None
    context = error.context()
    if word is None:
        # The exchange refused the cancel yet shows the order in a state that is
        # not final: it may well be open. Never reported as gone.
        shown = state.value if state is not None else "no state"
        return UnexpectedResponse(
            f"the cancel answered 404 ({error.message}), but the order is {shown}:"
            " it may still be open",
            **context,
        )
    return OrderNotOpen(f"order is not open: it is {word}", state=word, **context)


def _accepted(error: CancelKitError) -> bool:
    """What ``missing_ok`` accepts: unknown, or cancelled before; never a fill."""
    return isinstance(error, OrderNotFound) or (
        isinstance(error, OrderNotOpen) and error.state == "cancelled"
    )


def _confirmed(response: httpx.Response, attempts: Attempts) -> None:
    """The cancel's answer is the documented one: ``200`` with an empty
    ``CancelOrderResponse`` ("empty on success": ``{}``, or no body at all). Any other
    2xx (202 "accepted", 204), a JSON object with fields (``{"error": ...}``), an HTML
    or other page (a proxy's, a portal's) is never a confirmation."""
    content_type = (header(response, "content-type") or "").lower()
    body = response.content.strip()
    try:
        if response.status_code != 200:
            raise ValueError(f"status {response.status_code}, not the documented 200")
        if "html" in content_type:
            raise ValueError(f"content type {content_type}")
        if body:
            data = json_of(body)
            if not isinstance(data, dict):
                raise TypeError(f"a JSON {type(data).__name__}, not an object")
            CancelOrderResponse.from_dict(data)
            if data:  # "empty on success": a field is not the success answer
                said = data.get("error", data.get("message"))
                raise ValueError(
                    f"fields {sorted(map(str, data))[:5]}"
                    + (f", saying {str(said)[:200]!r}" if said is not None else "")
                )
    except (ValueError, TypeError, AttributeError) as exc:
        raise UnexpectedResponse(
            f"the cancel answered {response.status_code} without the documented answer"
            f" (200 with an empty object; {type(exc).__name__}: {exc}): it is not a"
            " confirmation that the order was cancelled",
            **attempts.context(response),
        ) from None


class _Polymarket(Venue):
    """What the sync and async clients share: this venue's signing, variables, requests."""

    _auth_class = PolymarketAuth
    _env = ("POLYMARKET_KEY_ID", "POLYMARKET_SECRET_KEY", "POLYMARKET_API_URL")
    _id_label = "key_id"

    @staticmethod
    def _request(order_id: str, market_slug: str | None) -> dict[str, Any]:
        order_id = check.polymarket_order_id(order_id)
        body = (
            CancelOrderRequest()
            if market_slug is None
            else CancelOrderRequest(market_slug=check.market_slug(market_slug))
        )
        return _cancel._get_kwargs(order_id, body=body)

    @staticmethod
    def _list_request(market_slugs: Iterable[str] | None) -> dict[str, Any]:
        slugs = None if market_slugs is None else [check.market_slug(s) for s in market_slugs]
        return _get_open._get_kwargs(slugs=slugs or UNSET)

    @staticmethod
    def _order_request(order_id: str) -> dict[str, Any]:
        return _get_order._get_kwargs(check.polymarket_order_id(order_id))

    @staticmethod
    def _batch_request(entries: Sequence[tuple[str, str]]) -> dict[str, Any]:
        orders = [CancelOrderRequestEntry(order_id=i, market_slug=s) for i, s in entries]
        return _cancel_list._get_kwargs(body=CancelOrderListRequest(orders=orders))

    @staticmethod
    def _cancel_open_request(market_slugs: Sequence[str]) -> dict[str, Any]:
        # The body is required: {} means every market.
        body = CancelOpenOrdersRequest(slugs=list(market_slugs) if market_slugs else UNSET)
        return _cancel_open._get_kwargs(body=body)

    @staticmethod
    def _parse_orders(response: httpx.Response) -> list[Order]:
        listing = parse_answer(response, GetOpenOrdersResponse.from_dict, "GET /v1/orders/open")
        return [] if not isinstance(listing.orders, list) else listing.orders

    @staticmethod
    def _parse_order(response: httpx.Response) -> Order:
        found = parse_answer(response, GetOrderResponse.from_dict, "GET /v1/order/{orderId}")
        if not isinstance(found.order, Order):
            raise UnexpectedResponse("GET /v1/order/{orderId} answered without an order")
        return found.order


class PolymarketUSClient(_Polymarket, SyncHTTP):
    """Cancels Polymarket US orders. A context manager; ``close()`` when done.

    ``from_env()`` reads ``POLYMARKET_KEY_ID``, ``POLYMARKET_SECRET_KEY`` and, if set,
    ``POLYMARKET_API_URL``.

    Args:
        key_id: the API key id (a UUID) from the developer portal.
        secret_key: the base64 secret key (32-byte seed or 64-byte seed + public key).
        base_url: the API root; point it at the sandbox for tests.
        timeout: seconds for each attempt, or an ``httpx.Timeout``.
        max_retries: retries after the first attempt on connection errors, timeouts,
            429, 5xx (bulk cancels retry until their deadline instead).
        transport: an ``httpx.BaseTransport`` (mock, in-process app); it decides the
            route, so not with ``proxy``.
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
        transport: httpx.BaseTransport | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
        verify: bool | str | ssl.SSLContext = True,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._setup(
            key_id, secret_key, base_url, timeout, max_retries, proxy, trust_env, verify, retry
        )
        self._open(self._auth, self.base_url, transport)
        self._bulk_calls = 0  # bulk calls running on the twin now
        self._bulk_calls_lock = threading.Lock()

    def _after_fork(self) -> None:
        super()._after_fork()
        self._bulk_calls_lock = threading.Lock()  # another thread may have held it
        self._bulk_calls, self._bulk_until = 0, 0.0  # none runs in the child

    _bulk_until = 0.0  # time.monotonic() until which a past bulk call's windows matter

    def _bulk_call(self, work: Callable[[AsyncPolymarketUSClient], Awaitable[_T]]) -> _T:
        """Run a bulk call on the twin, counted: single calls made meanwhile (and
        while its windows still count) go there too, to take their slots from the
        same limiter."""
        with self._bulk_calls_lock:
            self._bulk_calls += 1
        try:
            return self._on_async_twin(AsyncPolymarketUSClient, work)
        finally:
            with self._bulk_calls_lock:
                self._bulk_calls -= 1
                self._bulk_until = time.monotonic() + _LONGEST_WINDOW

    def _during_bulk(self) -> bool:
        """Whether a bulk call's windows count now (a single call then goes through
        the twin's limiter; otherwise it keeps its own direct path)."""
        return self._bulk_calls > 0 or time.monotonic() < self._bulk_until

    def cancel_order(
        self, order_id: str, *, market_slug: str | None = None, missing_ok: bool = False
    ) -> None:
        """Cancel one order by its exchange-assigned id.

        Returns only when the exchange answered 2xx with the documented (empty or
        JSON object) body; a redirect or any other answer raises. Raises
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
        if self._during_bulk():
            self._on_async_twin(
                AsyncPolymarketUSClient,
                lambda twin: twin.cancel_order(
                    order_id, market_slug=market_slug, missing_ok=missing_ok
                ),
            )
            return
        try:
            response, attempts = self._send(request, order=order_id)
        except OrderNotFound as exc:
            try:
                found: Order | None = self.get_order(order_id)
            except OrderNotFound:
                found = None
            error = _after_404(exc, found)
            if missing_ok and _accepted(error):
                return
            raise error from None if error is exc else exc
        _confirmed(response, attempts)

    def open_orders(self, *, market_slugs: Iterable[str] | None = None) -> list[Order]:
        """The open orders of this key (in ``market_slugs``' markets, if given)."""
        if self._during_bulk():
            return self._on_async_twin(
                AsyncPolymarketUSClient, lambda twin: twin.open_orders(market_slugs=market_slugs)
            )
        return self._parse_orders(self._open_orders_answer(market_slugs))

    def _open_orders_answer(self, market_slugs: Iterable[str] | None) -> httpx.Response:
        """The listing's 2xx answer, unparsed (``_listing`` reads it one order at a time)."""
        try:
            response, _ = self._send(self._list_request(market_slugs))
        except OrderNotFound as exc:
            raise _route_miss(exc, "GET /v1/orders/open") from None
        return response

    def get_order(self, order_id: str) -> Order:
        """One order of this key, whatever its state; :class:`OrderNotFound` if unknown."""
        if self._during_bulk():
            return self._on_async_twin(
                AsyncPolymarketUSClient, lambda twin: twin.get_order(order_id)
            )
        response, _ = self._send(self._order_request(order_id), order=order_id)
        return self._parse_order(response)

    def cancel_orders(
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
        """Cancel many orders, confirmed (the kill switch); runs
        :meth:`AsyncPolymarketUSClient.cancel_orders` with this client's key."""
        return self._bulk_call(
            lambda twin: twin.cancel_orders(
                order_ids,
                market_slug=market_slug,
                concurrency=concurrency,
                max_rate=max_rate,
                deadline=deadline,
                missing_ok=missing_ok,
                on_result=on_result,
                control=control,
            ),
        )

    def cancel_all(
        self,
        *,
        market_slugs: Iterable[str] | None = None,
        max_rate: float | None = DEFAULT_MAX_RATE,
        deadline: float = DEFAULT_DEADLINE,
        on_result: Callable[[CancelResult[str]], None] | None = None,
        control: Control | None = None,
    ) -> list[CancelResult[str]]:
        """Cancel every open order (in ``market_slugs``' markets), confirmed; runs
        :meth:`AsyncPolymarketUSClient.cancel_all` with this client's key."""
        return self._bulk_call(
            lambda twin: twin.cancel_all(
                market_slugs=market_slugs,
                max_rate=max_rate,
                deadline=deadline,
                on_result=on_result,
                control=control,
            ),
        )


class AsyncPolymarketUSClient(_Polymarket, AsyncHTTP):
    """The async twin of :class:`PolymarketUSClient`, with the same arguments (``_shared`` is
    private: how a sync client builds the twin its bulk cancels run on)."""

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
        _shared: Shared | None = None,
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
            _shared,
        )
        self._open(self._auth, self.base_url, transport)

    def _after_fork(self) -> None:
        super()._after_fork()
        # The shared limiter's waits belong to the parent's loop; none runs here.
        self._bulk_calls, self._bulk_until = 0, 0.0
        self._shared_live = self._shared_default = None

    def order_events(
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
        close it.
        """
        from . import _stream  # aiohttp is imported only by those who stream

        self._check_usable()
        # A caller's transport decides the route (and carries no WebSocket).
        given = self._lean is None and not self._loop_bound
        link = _stream.Link(
            self._auth, self.base_url, self._settings, given, lambda: self._http.is_closed
        )
        return _stream.order_events(
            link,
            market_slugs,
            max_message_bytes=max_message_bytes,
            silence=silence,
            reconnects=reconnects,
        )

    async def cancel_order(
        self, order_id: str, *, market_slug: str | None = None, missing_ok: bool = False
    ) -> None:
        """Cancel one order by its exchange-assigned id (see
        :meth:`PolymarketUSClient.cancel_order`)."""
        request = self._request(order_id, market_slug)
        slots = self._during_bulk()
        try:
            response, attempts = await self._send(request, slots, CANCEL, order=order_id)
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
        return await self._list(market_slugs, self._during_bulk(), None)

    async def get_order(self, order_id: str) -> Order:
        """One order of this key, whatever its state; :class:`OrderNotFound` if unknown."""
        return await self._get_one(order_id, self._during_bulk(), None)

    # While bulk calls run on this client, their rate limits are one set of windows
    # (the live page's per key, and the default max_rate's), which single calls made
    # meanwhile take their slots from too: together they stay inside the limits.
    # With no bulk call running, a single call keeps its direct path (no limiter).
    _bulk_calls = 0
    _bulk_until = 0.0  # time.monotonic() until which the last bulk call's windows count
    _shared_live: Limiter | None = None
    _shared_default: Limiter | None = None

    def _shared_now(self) -> bool:
        return self._bulk_calls > 0 or time.monotonic() < self._bulk_until

    def _join_bulk(self, max_rate: float | None) -> Limiter:
        if not self._shared_now() or self._shared_live is None:
            self._shared_live = limiter(None)  # the live page's windows only
            self._shared_default = self._shared_live.view(
                {GLOBAL: [Budget.per_second(DEFAULT_MAX_RATE)]}
            )
        self._bulk_calls += 1
        if max_rate == DEFAULT_MAX_RATE and self._shared_default is not None:
            return self._shared_default
        extra = None if max_rate is None else {GLOBAL: [Budget.per_second(max_rate)]}
        return self._shared_live.view(extra)

    def _leave_bulk(self) -> None:
        self._bulk_calls -= 1
        self._bulk_until = time.monotonic() + _LONGEST_WINDOW

    def _during_bulk(self) -> Limiter | None:
        """The running bulk calls' limits for a single call (waiting for a slot no
        longer than its timeout), or None when none runs."""
        if not self._shared_now() or self._shared_default is None:
            return None
        return self._shared_default.view(max_wait=self._slot_wait())

    def _slot_wait(self) -> float:
        timeout = self._settings.timeout
        if isinstance(timeout, httpx.Timeout):
            parts = [t for t in (timeout.pool, timeout.connect, timeout.read) if t is not None]
            return max(parts, default=10.0)
        return float(timeout)

    async def _list(
        self, market_slugs: Iterable[str] | None, limiter: Limiter | None, deadline: float | None
    ) -> list[Order]:
        try:
            response, _ = await self._send(
                self._list_request(market_slugs), limiter, LIST_OPEN, deadline
            )
        except OrderNotFound as exc:
            raise _route_miss(exc, "GET /v1/orders/open") from None
        return self._parse_orders(response)

    async def _get_one(
        self, order_id: str, limiter: Limiter | None, deadline: float | None
    ) -> Order:
        response, _ = await self._send(
            self._order_request(order_id), limiter, GET_ORDER, deadline, order_id
        )
        return self._parse_order(response)

    async def _cancel_batch(
        self, entries: Sequence[tuple[str, str]], limiter: Limiter | None, deadline: float | None
    ) -> None:
        try:
            await self._send(self._batch_request(entries), limiter, CANCEL_BATCH, deadline)
        except OrderNotFound as exc:
            raise _route_miss(exc, "POST /v1/orders/batched/cancel") from None

    async def _cancel_open(
        self, market_slugs: Sequence[str], limiter: Limiter | None, deadline: float | None
    ) -> list[str]:
        request = self._cancel_open_request(market_slugs)
        try:
            response, _ = await self._send(request, limiter, CANCEL_ALL, deadline)
        except OrderNotFound as exc:
            raise _route_miss(exc, "POST /v1/orders/open/cancel") from None
        answer = parse_answer(
            response, CancelOpenOrdersResponse.from_dict, "POST /v1/orders/open/cancel"
        )
        ids = answer.canceled_order_ids
        return [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []

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
        Leaving the listing is not an outcome (cancelled or filled?): each order's
        end is the exchange's word on it, its execution on the private order stream
        (opened before the first cancel, see :meth:`order_events`: ``cancelled``,
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
        deadline replaces ``deadline``.
        """
        check_batch_settings(concurrency, max_rate)
        control = control or Control(deadline)
        ids = list(order_ids)
        reporter = Reporter(on_result, control)  # on_result raising stops the run
        shared = self._join_bulk(max_rate)
        try:
            return reporter.settle(
                await kill.cancel_listed(
                    _Wire(self),
                    ids,
                    market_slug=market_slug,
                    limiter=shared,
                    control=control,
                    concurrency=concurrency,
                    missing_ok=missing_ok,
                    on_result=reporter.sink,
                )
            )
        finally:
            self._leave_bulk()

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
        the end is reported ``failed``.; ``on_result``: as for
        :meth:`cancel_orders`."""
        check_batch_settings(1, max_rate)
        control = control or Control(deadline)
        slugs = None if market_slugs is None else list(market_slugs)
        reporter = Reporter(on_result, control)  # on_result raising stops the run
        shared = self._join_bulk(max_rate)
        try:
            return reporter.settle(
                await kill.cancel_all(
                    _Wire(self),
                    market_slugs=slugs,
                    limiter=shared,
                    control=control,
                    on_result=reporter.sink,
                )
            )
        finally:
            self._leave_bulk()


class _Wire:
    """The requests of a kill switch (:class:`kill.Wire`), sent by ``client``."""

    def __init__(self, client: AsyncPolymarketUSClient) -> None:
        self._client = client

    async def list_open(
        self, slugs: Iterable[str] | None, limiter: Limiter | None, deadline: float | None
    ) -> list[Order]:
        return await self._client._list(slugs, limiter, deadline)

    async def get_one(
        self, order_id: str, limiter: Limiter | None, deadline: float | None
    ) -> Order:
        return await self._client._get_one(order_id, limiter, deadline)

    async def cancel_batch(
        self, entries: Sequence[tuple[str, str]], limiter: Limiter | None, deadline: float | None
    ) -> None:
        await self._client._cancel_batch(entries, limiter, deadline)

    async def cancel_open(
        self, slugs: Sequence[str], limiter: Limiter | None, deadline: float | None
    ) -> list[str]:
        return await self._client._cancel_open(slugs, limiter, deadline)

    async def order_stream(self, slugs: Sequence[str] | None) -> AsyncGenerator[OrderEvent, None]:
        # aiohttp is imported off the loop: the CLI's route does not load it otherwise,
        # and the first listing's answer is read meanwhile.
        await anyio.to_thread.run_sync(
            importlib.import_module, f"{__package__}._stream", abandon_on_cancel=True
        )
        return self._client.order_events(slugs)


PolymarketUSClient._twin_class = AsyncPolymarketUSClient  # bulk cancels run on it

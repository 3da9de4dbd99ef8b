"""What the Polymarket US clients are built on: the requests and answers both
share, and how each side carries a call out (the sync client's direct route and
loop thread, the async client's shared windows and kill switch requests).

Ed25519-signed; every request is built by the generated ``_get_kwargs`` of the
operation and every answer parsed by its generated model. The public methods are
written once, in ``_async_client.py``; ``_sync_client.py`` is generated from it
(``scripts/unasync.py``).
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import anyio
import httpx

from .._base import AsyncHTTP, SyncHTTP, Venue
from .._bulk import CancelResult, Control, Reporter, check_batch_settings
from .._exceptions import (
    CancelKitError,
    OrderNotFound,
    OrderNotOpen,
    UnexpectedResponse,
    WrongEndpoint,
)
from .._fastpath import header
from .._generated.polymarket_us_api.api.orders import (
    orders_service_cancel_order_list as _cancel_list,
)
from .._generated.polymarket_us_api.models import (
    CancelOrderListRequest,
    CancelOrderRequestEntry,
    OrderState,
)
from .._generated.polymarket_us_api.types import UNSET
from .._limiter import GLOBAL, Budget, Limiter
from .._retry import Attempts, json_of, parse_answer
from . import _validation as check
from ._auth import PolymarketAuth
from ._rates import (
    CANCEL_ALL,
    CANCEL_BATCH,
    GET_ORDER,
    LIST_OPEN,
    POLYMARKET_FLAT,
    POLYMARKET_LIVE,
)

# Loaded above: the operation a cold command sends first (the batched cancel). The
# others (the listing, a single cancel, a lookup, cancel-all) and their answers'
# models load in the methods that build or read them; an order's model (with the
# enums and models it names) with the first answer that holds one; the kill switch
# (with the order stream's code) with the first bulk call. A cold command's first
# request leaves before they are needed; _client loads them all for a program.
if TYPE_CHECKING:
    from .._generated.polymarket_us_api.models import Order
    from . import _heard
    from ._events import OrderEvent

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
    from .._generated.polymarket_us_api.models import CancelOrderResponse

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
        from .._generated.polymarket_us_api.api.orders import orders_service_cancel_order as _cancel
        from .._generated.polymarket_us_api.models import CancelOrderRequest

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
        from .._generated.polymarket_us_api.api.orders import (
            orders_service_get_open_orders as _get_open,
        )

        return _get_open._get_kwargs(slugs=slugs or UNSET)

    @staticmethod
    def _order_request(order_id: str) -> dict[str, Any]:
        from .._generated.polymarket_us_api.api.orders import orders_service_get_order as _get_order

        return _get_order._get_kwargs(check.polymarket_order_id(order_id))

    @staticmethod
    def _batch_request(entries: Sequence[tuple[str, str]]) -> dict[str, Any]:
        orders = [CancelOrderRequestEntry(order_id=i, market_slug=s) for i, s in entries]
        return _cancel_list._get_kwargs(body=CancelOrderListRequest(orders=orders))

    @staticmethod
    def _cancel_open_request(market_slugs: Sequence[str]) -> dict[str, Any]:
        from .._generated.polymarket_us_api.api.orders import (
            orders_service_cancel_open_orders as _cancel_open,
        )
        from .._generated.polymarket_us_api.models import CancelOpenOrdersRequest

        # The body is required: {} means every market.
        body = CancelOpenOrdersRequest(slugs=list(market_slugs) if market_slugs else UNSET)
        return _cancel_open._get_kwargs(body=body)

    @staticmethod
    def _parse_orders(response: httpx.Response) -> list[Order]:
        from .._generated.polymarket_us_api.models import GetOpenOrdersResponse

        listing = parse_answer(response, GetOpenOrdersResponse.from_dict, "GET /v1/orders/open")
        return [] if not isinstance(listing.orders, list) else listing.orders

    @staticmethod
    def _parse_order(response: httpx.Response) -> Order:
        from .._generated.polymarket_us_api.models import GetOrderResponse, Order

        found = parse_answer(response, GetOrderResponse.from_dict, "GET /v1/order/{orderId}")
        if not isinstance(found.order, Order):
            raise UnexpectedResponse("GET /v1/order/{orderId} answered without an order")
        return found.order


class _SyncPolymarket(_Polymarket, SyncHTTP):
    """How the sync client carries out a call: a single call on its own direct
    route (the httpcore pool), unless a bulk call's windows count; a bulk call on
    the async twin, in the client's loop thread."""

    _twin_class: ClassVar[type[_AsyncPolymarket]]
    _bulk_until = 0.0  # time.monotonic() until which a past bulk call's windows matter

    def _open(self, auth: httpx.Auth, base_url: str, transport: httpx.BaseTransport | None) -> None:
        super()._open(auth, base_url, transport)
        self._bulk_calls = 0  # bulk calls running on the twin now
        self._bulk_calls_lock = threading.Lock()

    def _after_fork(self) -> None:
        super()._after_fork()
        self._bulk_calls_lock = threading.Lock()  # another thread may have held it
        self._bulk_calls, self._bulk_until = 0, 0.0  # none runs in the child

    def _on_twin(self, work: Callable[[_AsyncPolymarket], Awaitable[_T]]) -> _T:
        """Run a bulk call on the twin, counted: single calls made meanwhile (and
        while its windows still count) go there too, to take their slots from the
        same limiter."""
        with self._bulk_calls_lock:
            self._bulk_calls += 1
        try:
            return self._on_async_twin(self._twin_class, work)
        finally:
            with self._bulk_calls_lock:
                self._bulk_calls -= 1
                self._bulk_until = time.monotonic() + _LONGEST_WINDOW

    def _during_bulk(self) -> bool:
        """Whether a bulk call's windows count now (a single call then goes through
        the twin's limiter; otherwise it keeps its own direct path)."""
        return self._bulk_calls > 0 or time.monotonic() < self._bulk_until

    def _call(
        self, request: dict[str, Any], operation: str, order: str | None = None
    ) -> tuple[httpx.Response, Attempts]:
        """One request of a single call: on the direct route, or through the twin's
        limiter while a bulk call's windows count."""
        if self._during_bulk():
            return self._on_async_twin(
                self._twin_class, lambda twin: twin._call(request, operation, order)
            )
        return self._send(request, order=order)

    def _open_orders_answer(self, market_slugs: Iterable[str] | None) -> httpx.Response:
        """The listing's 2xx answer, unparsed (``_listing`` reads it one order at a time)."""
        try:
            response, _ = self._send(self._list_request(market_slugs))
        except OrderNotFound as exc:
            raise _route_miss(exc, "GET /v1/orders/open") from None
        return response


class _AsyncPolymarket(_Polymarket, AsyncHTTP):
    """How the async client carries out a call, and the kill switch's requests."""

    # While bulk calls run on this client, their rate limits are one set of windows
    # (the live page's per key, and the default max_rate's), which single calls made
    # meanwhile take their slots from too: together they stay inside the limits.
    # With no bulk call running, a single call keeps its direct path (no limiter).
    _bulk_calls = 0
    _bulk_until = 0.0  # time.monotonic() until which the last bulk call's windows count
    _shared_live: Limiter | None = None
    _shared_default: Limiter | None = None
    # The account-wide order streams read now (order_events()), which a kill on this
    # client hears instead of opening its own; created by the first such stream.
    _stream_taps: _heard.Taps | None = None

    if TYPE_CHECKING:  # written in _async_client.py (async only); the kill switch opens it

        def order_events(
            self, market_slugs: Iterable[str] | None = None
        ) -> AsyncGenerator[OrderEvent, None]: ...

    def _after_fork(self) -> None:
        super()._after_fork()
        # The shared limiter's waits belong to the parent's loop; none runs here.
        self._bulk_calls, self._bulk_until = 0, 0.0
        self._shared_live = self._shared_default = None
        self._stream_taps = None  # the parent's streams are not read here

    async def _on_twin(self, work: Callable[[_AsyncPolymarket], Awaitable[_T]]) -> _T:
        """A bulk call runs right here (the sync client's runs on its twin)."""
        return await work(self)

    async def _call(
        self, request: dict[str, Any], operation: str, order: str | None = None
    ) -> tuple[httpx.Response, Attempts]:
        """One request of a single call, in a running bulk call's windows if any."""
        return await self._send(request, self._during_bulk(), operation, order=order)

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
        from .._generated.polymarket_us_api.models import CancelOpenOrdersResponse

        request, prepared = self._request_for(
            ("cancel-open", tuple(market_slugs)),
            lambda: self._cancel_open_request(market_slugs),
        )
        try:
            response, _ = await self._send(
                request, limiter, CANCEL_ALL, deadline, prepared=prepared
            )
        except OrderNotFound as exc:
            raise _route_miss(exc, "POST /v1/orders/open/cancel") from None
        answer = parse_answer(
            response, CancelOpenOrdersResponse.from_dict, "POST /v1/orders/open/cancel"
        )
        ids = answer.canceled_order_ids
        return [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []

    async def _kill_listed(
        self,
        order_ids: Iterable[str],
        market_slug: str | None,
        concurrency: int,
        max_rate: float | None,
        deadline: float,
        missing_ok: bool,
        on_result: Callable[[CancelResult[str]], None] | None,
        control: Control | None,
    ) -> list[CancelResult[str]]:
        """``cancel_orders``: the listed kill switch on this client's shared windows."""
        from . import _kill as kill  # (loaded with the first bulk call: see above)

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

    async def _kill_all(
        self,
        market_slugs: Iterable[str] | None,
        max_rate: float | None,
        deadline: float,
        on_result: Callable[[CancelResult[str]], None] | None,
        control: Control | None,
    ) -> list[CancelResult[str]]:
        """``cancel_all``: the exchange's cancel-all, confirmed by the listing."""
        from . import _kill as kill  # (loaded with the first bulk call: see above)

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

    def _load_stream(self) -> None:
        """Import the order stream's module (and aiohttp)."""
        importlib.import_module(f"{__package__}._stream")


class _Wire:
    """The requests of a kill switch (:class:`kill.Wire`), sent by ``client``."""

    def __init__(self, client: _AsyncPolymarket) -> None:
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

    def taps(self) -> _heard.Taps | None:
        return self._client._stream_taps

    async def order_stream(self, slugs: Sequence[str] | None) -> AsyncGenerator[OrderEvent, None]:
        # aiohttp is imported off the loop: the CLI's route does not load it otherwise,
        # and the first listing's answer is read meanwhile.
        await anyio.to_thread.run_sync(self._client._load_stream, abandon_on_cancel=True)
        return self._client.order_events(slugs)

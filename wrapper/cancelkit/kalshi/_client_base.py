"""What the Kalshi clients are built on: the requests and answers both share, and
how each side carries a call out (the sync client's calls on its async twin, the
async client's token buckets and kill switch requests).

Signed with an RSA or Ed25519 key (``_auth``); every request is built by the
generated ``_get_kwargs`` of its operation and every answer parsed by its
generated model. Every call of a client takes its tokens from the key's buckets
at its tier (``_rates``): a single call paced with whatever else the client
sends, as Limitless's calls are.

The public methods are written once, in ``_async_client.py``; ``_sync_client.py``
is generated from it (``scripts/unasync.py``).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import httpx

from .._base import AsyncHTTP, SyncHTTP, Venue, env
from .._bulk import CancelResult, Control, Reporter, check_batch_settings
from .._exceptions import (
    CancelKitError,
    InvalidRequest,
    OrderNotFound,
    OrderNotOpen,
    UnexpectedResponse,
    WrongEndpoint,
)
from .._generated.kalshi_api.api.orders import batch_cancel_orders_v2 as _batch
from .._generated.kalshi_api.api.orders import cancel_all_orders as _cancel_all
from .._generated.kalshi_api.api.orders import cancel_order_v2 as _cancel
from .._generated.kalshi_api.api.orders import get_order as _get_order
from .._generated.kalshi_api.api.orders import get_orders as _get_orders
from .._generated.kalshi_api.constraints import FIXED_POINT_COUNT_PATTERN
from .._generated.kalshi_api.models import (
    BatchCancelOrdersV2Request,
    BatchCancelOrdersV2RequestOrdersItem,
    BatchCancelOrdersV2Response,
    CancelOrderV2Response,
    GetOrderResponse,
    GetOrdersResponse,
    GetOrdersStatus,
    Order,
    OrderStatus,
)
from .._generated.kalshi_api.types import UNSET
from .._limiter import Limiter
from .._retry import Attempts, parse_answer
from . import _kill as kill
from . import _rates as rates
from . import _validation as check
from ._auth import KalshiAuth

if TYPE_CHECKING:
    from ._live import LiveBook

DEFAULT_BASE_URL = "https://external-api.kalshi.com/trade-api/v2"
"""Production (Kalshi's recommended host)."""
DEMO_BASE_URL = "https://external-api.demo.kalshi.co/trade-api/v2"
"""The demo exchange (its credentials are separate from production's)."""
PAGE_SIZE = 1000  # GetOrders' `limit` maximum
MAX_PAGES = 10_000  # ten million orders: a cursor that never ends is not a listing
DEFAULT_SLOT_WAIT = 10.0  # seconds, when a timeout gives none of its own
DEFAULT_CONCURRENCY = 4
"""Batches in flight at once (``concurrency``); the buckets pace them in any case."""
_MAX_PEM_FILE = 64 * 1024
_COUNT = re.compile(FIXED_POINT_COUNT_PATTERN)

_T = TypeVar("_T")

# The final states of an order, in the words OrderNotOpen.state uses.
_FINAL_STATES = {OrderStatus.CANCELED: "cancelled", OrderStatus.EXECUTED: "filled"}


def _keywords(kwargs: dict[str, Any] | Any, options: type) -> None:
    """A misspelt ``from_env`` keyword fails before the environment is read, naming it."""
    unknown = sorted(set(kwargs) - set(options.__annotations__))
    if unknown:
        raise TypeError(f"from_env() got unexpected keyword argument(s): {', '.join(unknown)}")


KEY_ENV, KEY_PATH_ENV = "KALSHI_PRIVATE_KEY", "KALSHI_PRIVATE_KEY_PATH"  # the PEM, or its file


def key_path(environ: Mapping[str, str]) -> str | None:
    """The PEM's file when the environment names one (``KALSHI_PRIVATE_KEY_PATH``),
    else None (the PEM itself in ``KALSHI_PRIVATE_KEY``, or no key); both set is an
    error. The rule the clients' ``from_env`` and the desk's accounts share."""
    path = environ.get(KEY_PATH_ENV, "")
    if path and environ.get(KEY_ENV):
        raise InvalidRequest(f"both {KEY_ENV} and {KEY_PATH_ENV} are set: set one")
    return path or None


def _pem_from_file(path: str) -> str:
    """The PEM at ``path`` (``KALSHI_PRIVATE_KEY_PATH``), read to a bound."""
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(_MAX_PEM_FILE + 1)
    except OSError as exc:
        # The path is the user's own setting; the file's content is never shown.
        raise InvalidRequest(
            f"KALSHI_PRIVATE_KEY_PATH: cannot read {path!r} ({exc.strerror})"
        ) from None
    if len(data) > _MAX_PEM_FILE:
        raise InvalidRequest(f"KALSHI_PRIVATE_KEY_PATH: {path!r} is larger than a key file")
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise InvalidRequest(f"KALSHI_PRIVATE_KEY_PATH: {path!r} is not a PEM file") from None


def _checked_cancel(answer: CancelOrderV2Response) -> CancelOrderV2Response:
    """The documented 2xx body: ``reduced_by`` a fixed-point count."""
    if not isinstance(answer.reduced_by, str) or not _COUNT.fullmatch(answer.reduced_by):
        raise UnexpectedResponse(
            "DELETE /portfolio/events/orders/{order_id} answered a reduced_by that is not"
            f" a fixed-point count ({answer.reduced_by!r})"
        )
    if not isinstance(answer.order_id, str):
        raise UnexpectedResponse("the cancel answered without an order_id")
    return answer


def _after_404(error: OrderNotFound, order: Order | None) -> CancelKitError:
    """What a cancel's 404 meant, given the order's lookup (None: unknown to it too)."""
    if order is None:
        return error
    word = _FINAL_STATES.get(order.status) if isinstance(order.status, OrderStatus) else None
    context = error.context()
    if word is None:
        # Refused, yet listed in a state that is not final: it may well be open.
        shown = getattr(order.status, "value", order.status)
        return UnexpectedResponse(
            f"the cancel answered 404 ({error.message}), but the order is {shown}:"
            " it may still be open",
            **context,
        )
    return OrderNotOpen(f"order is not open: it is {word}", state=word, **context)


def _route_miss(error: OrderNotFound, what: str) -> WrongEndpoint:
    """A 404 from an endpoint that is not about one order is a route miss."""
    context = error.context() | {"order": None}
    return WrongEndpoint(
        f"{what} answered 404 ({error.message}): is the base URL right?", **context
    )


def _the_order(response: httpx.Response, order_id: str) -> Order:
    """The order of a ``GetOrder`` answer, which must be the one asked for."""
    found = parse_answer(response, GetOrderResponse.from_dict, "GET /portfolio/orders/{id}")
    if not isinstance(found.order, Order) or found.order.order_id != order_id:
        raise UnexpectedResponse(
            "GET /portfolio/orders/{order_id} answered without the order asked for",
            order=order_id,
        )
    return found.order


def _accepted(error: CancelKitError) -> bool:
    """What ``missing_ok`` accepts: unknown, or cancelled before; never a fill."""
    return isinstance(error, OrderNotFound) or (
        isinstance(error, OrderNotOpen) and error.state == "cancelled"
    )


class _Kalshi(Venue):
    """What the sync and async clients share: this venue's signing, variables, requests."""

    _auth_class = KalshiAuth
    _env = ("KALSHI_API_KEY_ID", KEY_ENV, "KALSHI_API_URL")
    _id_label = "key_id"
    _tier: rates.Tier = rates.DEFAULT_TIER

    @classmethod
    def _env_arguments(cls, kwargs: dict[str, Any]) -> tuple[str, str]:
        """The key id, and the PEM from ``KALSHI_PRIVATE_KEY`` or the file at
        ``KALSHI_PRIVATE_KEY_PATH`` (one of them); ``KALSHI_API_URL`` fills
        ``base_url`` unless given."""
        path = key_path(os.environ)
        pem = os.environ.get(KEY_ENV, "")
        if not pem and path is None:
            missing = ["KALSHI_PRIVATE_KEY_PATH (or KALSHI_PRIVATE_KEY)"]
            if not os.environ.get("KALSHI_API_KEY_ID"):
                missing.insert(0, "KALSHI_API_KEY_ID")
            raise InvalidRequest(
                f"environment variable{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
                f" {'are' if len(missing) > 1 else 'is'} not set"
            )
        (key_id,) = env("KALSHI_API_KEY_ID")
        base_url = os.environ.get("KALSHI_API_URL")
        if base_url and "base_url" not in kwargs:
            kwargs["base_url"] = base_url
        return key_id, pem if path is None else _pem_from_file(path)

    @staticmethod
    def _cancel_request(order_id: str, subaccount: int | None) -> dict[str, Any]:
        account = UNSET if subaccount is None else check.subaccount(subaccount)
        return _cancel._get_kwargs(check.kalshi_order_id(order_id), subaccount=account)

    @staticmethod
    def _order_request(order_id: str) -> dict[str, Any]:
        return _get_order._get_kwargs(check.kalshi_order_id(order_id))

    @staticmethod
    def _list_request(
        ticker: str | None, event_ticker: str | list[str] | None, subaccount: int | None
    ) -> dict[str, Any]:
        """The first page's request (the cursor is added per page)."""
        return _get_orders._get_kwargs(
            ticker=UNSET if ticker is None else check.ticker(ticker),
            event_ticker=UNSET if event_ticker is None else check.event_tickers(event_ticker),
            subaccount=UNSET if subaccount is None else check.subaccount(subaccount),
            status=GetOrdersStatus.RESTING,
            limit=PAGE_SIZE,
        )


def _tickers(tickers: Iterable[str] | str | None) -> list[str]:
    """``cancel_orders``' markets, each checked (a lone string is one ticker, not
    its letters)."""
    if tickers is None:
        return []
    items = [tickers] if isinstance(tickers, str) else list(tickers)
    return [check.ticker(t) for t in dict.fromkeys(items)]


def _with_cursor(request: dict[str, Any], cursor: str) -> dict[str, Any]:
    return {**request, "params": {**request["params"], "cursor": cursor}}


class _SyncKalshi(_Kalshi, SyncHTTP):
    """How the sync client carries out a call: every request on its async twin, in
    the client's loop thread, so that one set of token buckets (the twin's) paces
    them all, single or bulk."""

    _twin_class: ClassVar[type[_AsyncKalshi]]

    def _on_twin(self, work: Callable[[_AsyncKalshi], Awaitable[_T]]) -> _T:
        def run(twin: _AsyncKalshi) -> Awaitable[_T]:
            twin._tier = self._tier
            return work(twin)

        return self._on_async_twin(self._twin_class, run)

    def _call(
        self, request: dict[str, Any], operation: str, order: str | None = None
    ) -> tuple[httpx.Response, Attempts]:
        """One request of a single call, on the twin: the key's buckets there."""
        return self._on_twin(lambda twin: twin._call(request, operation, order))


class _AsyncKalshi(_Kalshi, AsyncHTTP):
    """How the async client carries out a call, and the kill switch's requests."""

    # The resting orders this client's account-wide order streams know while live
    # (order_events()), which its cancel-all names instead of listing first.
    _live_book: LiveBook | None = None

    def _after_fork(self) -> None:
        super()._after_fork()
        self._live_book = None  # the parent's streams are not read here

    async def _on_twin(self, work: Callable[[_AsyncKalshi], Awaitable[_T]]) -> _T:
        """A call runs right here (the sync client's run on its twin)."""
        return await work(self)

    async def _call(
        self, request: dict[str, Any], operation: str, order: str | None = None
    ) -> tuple[httpx.Response, Attempts]:
        """One request of a single call: its tokens from the key's buckets, waited
        for no longer than the call's own timeout (a single call has no deadline)."""
        return await self._send(request, self._slots(), operation, order=order)

    async def _pages(
        self, first: dict[str, Any], limiter: Limiter, deadline: float | None
    ) -> list[Order]:
        """Every page of a listing, from ``first`` on, following the cursor."""
        orders: list[Order] = []
        seen: set[str] = set()
        request = first
        for _ in range(MAX_PAGES):
            try:
                response, _ = await self._send(request, limiter, rates.LIST, deadline)
            except OrderNotFound as exc:
                raise _route_miss(exc, "GET /portfolio/orders") from None
            page = parse_answer(response, GetOrdersResponse.from_dict, "GET /portfolio/orders")
            orders.extend(page.orders)
            cursor = page.cursor
            if not cursor:
                return orders
            if cursor in seen:
                raise UnexpectedResponse(
                    "GET /portfolio/orders gave a cursor it gave before: the listing would"
                    " never end"
                )
            seen.add(cursor)
            request = _with_cursor(first, cursor)
        raise UnexpectedResponse(f"GET /portfolio/orders gave more than {MAX_PAGES} pages")

    async def _kill_orders(
        self,
        order_ids: Iterable[str],
        subaccount: int | None,
        concurrency: int,
        deadline: float,
        missing_ok: bool,
        on_result: Callable[[CancelResult[str]], None] | None,
        control: Control | None,
        tickers: Iterable[str] | str = (),
    ) -> list[CancelResult[str]]:
        """``cancel_orders``: the kill switch by ids, on this client's buckets."""
        check_batch_settings(concurrency, None)
        account = None if subaccount is None else check.subaccount(subaccount)
        markets = _tickers(tickers)
        targets = list(order_ids)
        run = control if control is not None else Control(deadline)
        reporter = Reporter(on_result, run)  # on_result raising stops the run
        return reporter.settle(
            await kill.cancel_orders(
                _KillWire(self),
                targets,
                subaccount=account,
                batch_size=rates.batch_size(self._tier),
                concurrency=concurrency,
                missing_ok=missing_ok,
                on_result=reporter.sink,
                control=run,
                tickers=markets,
            )
        )

    async def _kill_all(
        self,
        subaccount: int | None,
        deadline: float,
        on_result: Callable[[CancelResult[str]], None] | None,
        control: Control | None,
    ) -> list[CancelResult[str]]:
        """``cancel_all``: one cancel-all, confirmed by the resting listing."""
        account = None if subaccount is None else check.subaccount(subaccount)
        run = control if control is not None else Control(deadline)
        reporter = Reporter(on_result, run)  # on_result raising stops the run
        return reporter.settle(
            await kill.cancel_all(
                _KillWire(self), subaccount=account, on_result=reporter.sink, control=run
            )
        )

    async def _cancel_everything(self, subaccount: int | None, deadline: float) -> None:
        what = "DELETE /portfolio/events/orders"
        request, prepared = self._request_for(
            ("cancel-all", subaccount),
            lambda: _cancel_all._get_kwargs(subaccount=UNSET if subaccount is None else subaccount),
        )
        try:
            response, attempts = await self._send(
                request, self._buckets(), rates.CANCEL_ALL, deadline, prepared=prepared
            )
        except OrderNotFound as exc:
            raise _route_miss(exc, what) from None
        if response.status_code != 204 or response.content.strip():
            raise UnexpectedResponse(
                f"{what} answered {response.status_code} with"
                f" {len(response.content)} bytes, not the documented 204: is the base URL right?",
                **attempts.context(response),
            )

    async def _cancel_batch(
        self, order_ids: Sequence[str], subaccount: int | None, deadline: float
    ) -> BatchCancelOrdersV2Response:
        account = UNSET if subaccount is None else subaccount
        body = BatchCancelOrdersV2Request(
            orders=[
                BatchCancelOrdersV2RequestOrdersItem(order_id=order_id, subaccount=account)
                for order_id in order_ids
            ]
        )
        what = "DELETE /portfolio/events/orders/batched"
        try:
            response, _ = await self._send(
                _batch._get_kwargs(body=body),
                self._buckets(),
                rates.CANCEL_BATCH,
                deadline,
                units=len(order_ids),
            )
        except OrderNotFound as exc:  # a 404 for a whole batch is a route miss
            raise _route_miss(exc, what) from None
        return parse_answer(response, BatchCancelOrdersV2Response.from_dict, what)

    async def _list_resting(
        self, subaccount: int | None, deadline: float, ticker: str | None = None
    ) -> list[Order]:
        first = self._list_request(ticker, None, subaccount)
        return await self._pages(first, self._buckets(), deadline)

    async def _lookup(self, order_id: str, deadline: float) -> Order:
        request = self._order_request(order_id)
        response, _ = await self._send(
            request, self._buckets(), rates.GET_ORDER, deadline, order=order_id
        )
        return _the_order(response, order_id)

    _key_limiter: Limiter | None = None
    _key_loop: object = None

    def _buckets(self) -> Limiter:
        """The one limiter of this client's key at its tier: every request takes its
        tokens there, so that calls running at the same time stay inside the buckets
        together. Its waits belong to one event loop: on another loop, a new one."""
        try:
            loop: object = asyncio.get_running_loop()
        except RuntimeError:
            loop = None  # not asyncio (trio)
        if self._key_limiter is None or loop is not self._key_loop:
            # Paced a little under the published refill (see CLIENT_RATE_SHARE).
            limiter = Limiter(rates.spends(self._tier, rates.CLIENT_RATE_SHARE))
            self._key_limiter, self._key_loop = limiter, loop
        return self._key_limiter

    def _slots(self) -> Limiter:
        """The key's buckets for a single call: waited for no longer than its timeout."""
        return self._buckets().view(max_wait=self._slot_wait())

    def _slot_wait(self) -> float:
        timeout = self._settings.timeout
        if isinstance(timeout, httpx.Timeout):
            parts = [t for t in (timeout.pool, timeout.connect, timeout.read) if t is not None]
            return max(parts, default=DEFAULT_SLOT_WAIT)
        return float(timeout)


class _KillWire:
    """The kill switch's requests (``_kill.Wire``) on an async client."""

    def __init__(self, client: _AsyncKalshi) -> None:
        self._client = client

    async def cancel_batch(
        self, order_ids: Sequence[str], subaccount: int | None, deadline: float
    ) -> BatchCancelOrdersV2Response:
        """One batch cancel, its tokens per order."""
        return await self._client._cancel_batch(order_ids, subaccount, deadline)

    async def list_resting(
        self, subaccount: int | None, deadline: float, *, ticker: str | None = None
    ) -> list[Order]:
        """Every resting order (in ``ticker``'s market, if given), every page."""
        return await self._client._list_resting(subaccount, deadline, ticker)

    async def lookup(self, order_id: str, deadline: float) -> Order:
        """One GetOrder."""
        return await self._client._lookup(order_id, deadline)

    async def cancel_all(self, subaccount: int | None, deadline: float) -> None:
        """One cancel-all, its documented 204 or an error."""
        await self._client._cancel_everything(subaccount, deadline)

    def known(self, subaccount: int | None) -> list[str] | None:
        """The resting orders a live account-wide stream of the client knows now
        (``_live``), or None: none is live."""
        book = self._client._live_book
        return None if book is None else book.resting(subaccount)

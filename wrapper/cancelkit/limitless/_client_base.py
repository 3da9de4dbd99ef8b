"""What the Limitless Exchange clients are built on: the requests and answers both
share, and how each side carries a call out (the sync client on its async twin,
or its direct route unpaced; the async client at the token's pace).

HMAC-signed; every request is built by the generated ``_get_kwargs`` of its
operation and every answer parsed by its generated model. Bulk calls keep the
published pace (at most 2 requests in flight, 300 ms apart, per token: see
``_rates``). A 503 is retried until the deadline; if it persists, the error says
what ``GET /maintenance/status`` (public) reports. The public methods are written
once, in ``_async_client.py``; ``_sync_client.py`` is generated from it
(``scripts/unasync.py``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast
from uuid import UUID

import httpx

from .._base import AsyncHTTP, SyncHTTP, Venue, running_loop
from .._bulk import CancelResult, Control, Reporter, cancel_each, check_batch_settings
from .._exceptions import (
    CancelKitError,
    InvalidRequest,
    OrderNotFound,
    OrderNotOpen,
    ServerError,
    UnexpectedResponse,
    WrongEndpoint,
)
from .._generated.limitless_api.api.system import maintenance_controller_get_status as _maintenance
from .._generated.limitless_api.api.trading import (
    market_order_controller_get_user_orders as _user_orders,
)
from .._generated.limitless_api.api.trading import order_controller_batch_cancel_orders as _batch
from .._generated.limitless_api.api.trading import (
    order_controller_cancel_all_orders as _cancel_all,
)
from .._generated.limitless_api.api.trading import (
    order_controller_cancel_order_combined as _cancel,
)
from .._generated.limitless_api.api.trading import (
    order_controller_get_order_status_batch as _status,
)
from .._generated.limitless_api.models import (
    BatchCancelByClientOrderIds,
    BatchCancelByOrderIds,
    BatchCancelOrdersResponseDto,
    CancelAllOrdersResponseDto,
    CancelByClientOrderId,
    CancelByOrderId,
    CancelOrderResponseDto,
    MaintenanceStatusDto,
    OrderStatus,
    OrderStatusBatchDto,
    OrderStatusBatchResponseDto,
    OrderStatusResultDto,
    StatusByClientOrderId,
    StatusByOrderId,
    UserOrderDto,
    UserOrdersResponseDto,
)
from .._generated.limitless_api.types import UNSET
from .._limiter import GLOBAL, Budget, Limiter
from .._retry import Attempts, json_of, parse_answer
from . import _kill as kill
from . import _validation as check
from ._auth import LimitlessAuth
from ._kill import CancelTarget as CancelTarget
from ._kill import StatusTarget as StatusTarget
from ._rates import LIMITLESS

if TYPE_CHECKING:
    from .._wire import Prepared

DEFAULT_BASE_URL = "https://api.limitless.exchange"
PACE = LIMITLESS[GLOBAL]
"""The published limit every bulk call keeps: at most 2 requests in flight, 300 ms
apart, per token."""
DEFAULT_MAX_RATE: float | None = None
"""The default ``max_rate``: no cap beyond :data:`PACE` (``max_rate`` adds one in
requests/s)."""
DEFAULT_CONCURRENCY = 2
"""Requests in flight at once (``concurrency``): the published pace allows 2."""
DEFAULT_SLOT_WAIT = 10.0  # seconds, when a timeout gives none of its own

_T = TypeVar("_T")
logger = logging.getLogger("cancelkit")


def limiter(max_rate: float | None, paced: bool = True) -> Limiter:
    """The published pace (unless not ``paced``), and ``max_rate`` per second on top
    if given."""
    budgets: dict[str, list[Budget]] = {op: [b] for op, b in LIMITLESS.items()} if paced else {}
    budgets.setdefault(GLOBAL, [])
    if max_rate is not None:
        budgets[GLOBAL].append(Budget.per_second(max_rate))
    return Limiter(budgets)


def _status_item(target: CancelTarget | StatusTarget) -> StatusTarget:
    """A status-lookup item for a cancel target or a status item, validated."""
    if isinstance(target, CancelByOrderId | StatusByOrderId):
        return StatusByOrderId(order_id=check.limitless_order_id(target.order_id))
    if isinstance(target, CancelByClientOrderId | StatusByClientOrderId):
        return StatusByClientOrderId(client_order_id=check.client_order_id(target.client_order_id))
    raise InvalidRequest(
        f"a target must be CancelByOrderId or CancelByClientOrderId, not {type(target).__name__}"
    )


# cancel_orders gives back the targets as given: CancelResult[CancelByClientOrderId]
# for client ids only, so that r.target.client_order_id type-checks.
_TargetT = TypeVar("_TargetT", bound=CancelTarget)


def validated(target: CancelTarget) -> CancelTarget:
    """``target`` checked as a single cancel checks it (InvalidRequest if not)."""
    return _body(target, None, None)


def _body(
    target: CancelTarget | None, order_id: UUID | str | None, client_order_id: str | None
) -> CancelTarget:
    if (target is None) + (order_id is None) + (client_order_id is None) != 2:
        given = [
            name
            for name, value in (
                ("a generated body", target),
                ("order_id", order_id),
                ("client_order_id", client_order_id),
            )
            if value is not None
        ]
        raise InvalidRequest(
            "give exactly one of order_id or client_order_id"
            + (f" (got {' and '.join(given)})" if given else " (got neither)")
        )
    if isinstance(target, CancelByOrderId):
        return CancelByOrderId(order_id=check.limitless_order_id(target.order_id))
    if isinstance(target, CancelByClientOrderId):
        return CancelByClientOrderId(client_order_id=check.client_order_id(target.client_order_id))
    if target is not None:
        raise InvalidRequest(
            f"body must be CancelByOrderId or CancelByClientOrderId, not {type(target).__name__}"
        )
    if order_id is not None:
        return CancelByOrderId(order_id=check.limitless_order_id(order_id))
    return CancelByClientOrderId(client_order_id=check.client_order_id(client_order_id))


def _message(response: httpx.Response, attempts: Attempts | None = None) -> str:
    """The confirmation message of a 2xx; a body of another shape is not the
    exchange's confirmation (a proxy's page, a wrong endpoint): never taken as one."""
    try:
        return CancelOrderResponseDto.from_dict(json_of(response.content)).message
    except (ValueError, KeyError, TypeError, AttributeError):
        context: dict[str, Any] = (
            attempts.context(response) if attempts else {"status": response.status_code}
        )
        raise UnexpectedResponse(
            f"POST /orders/cancel answered {response.status_code} without the documented"
            ' confirmation ({"message": ...}): is the base URL right?',
            **context,
        ) from None


def _label(request: dict[str, Any]) -> str:
    """The order a cancel request is about, as errors and log lines name it: as its
    body has it (the id printed once, by the generated model)."""
    body = request["json"]
    order_id = body.get("orderId")
    if order_id is not None:
        return str(order_id)
    return f"client_order_id={body['clientOrderId']}"


def _single(error: OrderNotFound | OrderNotOpen, missing_ok: bool) -> str:
    """``missing_ok`` accepts an unknown order (404) and one the exchange says was
    cancelled; any other order that is not open (filled, or a state no lookup could
    tell) is raised whatever it says: a fill must never pass for a cancel. What it
    returns reads as the success it is (the exchange's own 400 text, "Order cannot be
    cancelled", read like a failure in a log)."""
    if missing_ok and isinstance(error, OrderNotFound):
        return "done: the exchange knows no such order for this token (missing_ok)"
    if missing_ok and isinstance(error, OrderNotOpen) and error.state == "cancelled":
        return "done: already cancelled (the exchange's status: CANCELED)"
    raise error


# The listing's and status lookup's final statuses, as OrderNotOpen.state names them.
_FINAL_STATES = {"CANCELED": "cancelled", "MATCHED": "filled", "UNMATCHED": "expired"}


def _with_state(error: OrderNotOpen, found: Sequence[OrderStatusResultDto]) -> OrderNotOpen:
    """``error`` (Limitless's 400 "cannot be cancelled", which names no state) with the
    final state one ``POST /orders/status/batch`` lookup reports, when it reports one."""
    data = found[0].data if found and found[0].status == "found" else None
    raw = getattr(getattr(data, "status", None), "value", None)
    state = _FINAL_STATES.get(raw) if isinstance(raw, str) else None
    if state is not None:
        error.state = state
        error.message = f"{error.message} (the exchange's status: {raw})"
        error.args = (error.message,)
    return error


def _key(request: dict[str, Any]) -> str:
    """Requests with the same body and query cancel the same order."""
    return json.dumps([request.get("json"), request.get("params")], sort_keys=True, default=str)


class _Limitless(Venue):
    """What the sync and async clients share: this venue's signing, variables, requests."""

    _auth_class = LimitlessAuth
    _env = ("LIMITLESS_TOKEN_ID", "LIMITLESS_TOKEN_SECRET", "LIMITLESS_API_URL")
    _id_label = "token_id"
    # The spec's 400: "Invalid identifier input or order cannot be cancelled"; inputs
    # are validated before sending, so after an unseen success it means "not open".
    _not_open_status = 400
    _pace_calls = True  # keep the published pace on every call (the ``paced`` keyword)

    @staticmethod
    def _request(
        target: CancelTarget | None,
        order_id: UUID | str | None,
        client_order_id: str | None,
        on_behalf_of: int | None,
    ) -> dict[str, Any]:
        return _Limitless._cancel_request(_body(target, order_id, client_order_id), on_behalf_of)

    @staticmethod
    def _cancel_request(target: CancelTarget, on_behalf_of: int | None) -> dict[str, Any]:
        """The cancel of ``target`` as ``_body`` returned it (validated there, once)."""
        profile = UNSET if on_behalf_of is None else check.on_behalf_of(on_behalf_of)
        return _cancel._get_kwargs(body=target, on_behalf_of=profile)

    @staticmethod
    def _batch_request(kind: str, values: list[str]) -> dict[str, Any]:
        """``POST /orders/batch-cancel`` of one kind of identifier (``kill.key_of``'s)."""
        body: BatchCancelByOrderIds | BatchCancelByClientOrderIds = (
            BatchCancelByOrderIds(order_ids=[UUID(v) for v in values])
            if kind == "order"
            else BatchCancelByClientOrderIds(client_order_ids=values)
        )
        return _batch._get_kwargs(body=body)


class _SyncLimitless(_Limitless, SyncHTTP):
    """How the sync client carries out a call: every request on its async twin, in
    the client's loop thread, so that one limiter (the twin's) paces them all,
    single or bulk; unpaced (``paced=False``), a single cancel takes the direct
    route (the httpcore pool)."""

    _twin_class: ClassVar[type[_AsyncLimitless]]

    def _on_twin(self, work: Callable[[_AsyncLimitless], Awaitable[_T]]) -> _T:
        def run(twin: _AsyncLimitless) -> Awaitable[_T]:
            twin._pace_calls = self._pace_calls
            return work(twin)

        return self._on_async_twin(self._twin_class, run)

    def _call(
        self, request: dict[str, Any], order: str | None = None
    ) -> tuple[httpx.Response, Attempts]:
        """One request of a single call: paced, on the twin, with the token's one
        limiter (a bulk call running on this client at the same time counts this
        request too: issue 20); unpaced, on the direct route."""
        if self._pace_calls:
            return self._on_twin(lambda twin: twin._call(request, order))
        return self._send(request, order=order)


class _AsyncLimitless(_Limitless, AsyncHTTP):
    """How the async client carries out a call, and the kill switch's requests."""

    async def _on_twin(self, work: Callable[[_AsyncLimitless], Awaitable[_T]]) -> _T:
        """A call runs right here (the sync client's run on its twin)."""
        return await work(self)

    async def _call(
        self, request: dict[str, Any], order: str | None = None
    ) -> tuple[httpx.Response, Attempts]:
        """One request of a single call: a slot of the token's limiter for each
        attempt, waited for no longer than the call's own timeout (a single call
        has no run deadline)."""
        slots = self._token_pace().view(max_wait=self._slot_wait()) if self._pace_calls else None
        return await self._send(request, slots, GLOBAL, order=order)

    _token_limiter: Limiter | None = None
    _token_loop: object = None

    def _token_pace(self) -> Limiter:
        """The one limiter of this client's token (the published pace): every request
        of this client takes its slots there, single or bulk, so that calls running
        at the same time stay inside the limit together. Its waits belong to one
        event loop: on another loop (a mock transport driven by several), a new one
        keeps its distance from the last answer of the old."""
        loop: object = running_loop()  # None: not asyncio (trio)
        if self._token_limiter is None or loop is not self._token_loop:
            fresh = limiter(None, self._pace_calls)
            if self._token_limiter is not None:
                fresh.answered_at(self._token_limiter.last_answer())
            self._token_limiter, self._token_loop = fresh, loop
        return self._token_limiter

    def _slot_wait(self) -> float:
        """The seconds a call without a deadline waits for a slot: its timeout."""
        timeout = self._settings.timeout
        if isinstance(timeout, httpx.Timeout):
            parts = [t for t in (timeout.pool, timeout.connect, timeout.read) if t is not None]
            return max(parts, default=DEFAULT_SLOT_WAIT)
        return float(timeout)

    def _pace(self, max_rate: float | None, deadline: float | None = None) -> Limiter:
        """The token's limiter, with ``max_rate`` per second on top for this call if
        given; a call without a ``deadline`` waits for a slot no longer than its
        timeout."""
        extra = None if max_rate is None else {GLOBAL: [Budget.per_second(max_rate)]}
        wait = None if deadline is not None else self._slot_wait()
        return self._token_pace().view(extra, max_wait=wait)

    async def _paced_send(
        self,
        request: dict[str, Any],
        limiter: Limiter,
        deadline: float | None,
        what: str,
        prepared: Prepared | None = None,
    ) -> httpx.Response:
        """One request at the pace, retried until ``deadline``: a 404 is a route miss,
        and a 503 that outlasts the retries says what the maintenance status reports."""
        try:
            response, _ = await self._send(request, limiter, GLOBAL, deadline, prepared=prepared)
        except OrderNotFound as exc:
            raise WrongEndpoint(
                f"{what} answered 404 ({exc.message}): is the base URL right?",
                status=exc.status,
                request_id=exc.request_id,
                attempts=exc.attempts,
            ) from None
        except ServerError as exc:
            if exc.status != 503:
                raise
            raise ServerError(
                f"{what}: 503 {exc.message}; {await self._maintenance_note()}",
                status=503,
                request_id=exc.request_id,
                attempts=exc.attempts,
            ) from None
        return response

    async def _maintenance_note(self) -> str:
        """What the public maintenance status says, for an operator facing 503s."""
        try:
            status = await self._maintenance_status()
        except CancelKitError as exc:
            return f"GET /maintenance/status failed too ({exc.message})"
        effects = [e for e in status.active if e.mode != "normal"]
        if not effects:
            return "GET /maintenance/status reports no active maintenance"
        shown = "; ".join(
            f"{e.mode}"
            + (f" ({e.message})" if isinstance(e.message, str) else "")
            + (f" until {e.ends_at}" if isinstance(e.ends_at, str) else "")
            for e in effects
        )
        blocked = any(e.mode == "disabled" for e in effects)
        return f"maintenance: {shown}" + ("; cancels are blocked" if blocked else "")

    async def _maintenance_status(self) -> MaintenanceStatusDto:
        request = _maintenance._get_kwargs()
        response, _ = await self._send({**request, "auth": None})
        return parse_answer(response, MaintenanceStatusDto.from_dict, "GET /maintenance/status")

    async def _batch_cancel(
        self, kind: str, values: list[str], limiter: Limiter, deadline: float | None
    ) -> BatchCancelOrdersResponseDto:
        what = "POST /orders/batch-cancel"
        request = self._batch_request(kind, values)
        response = await self._paced_send(request, limiter, deadline, what)
        return parse_answer(response, BatchCancelOrdersResponseDto.from_dict, what)

    async def _status(
        self, items: list[StatusTarget], limiter: Limiter, deadline: float | None
    ) -> list[OrderStatusResultDto]:
        what = "POST /orders/status/batch"
        request = _status._get_kwargs(body=OrderStatusBatchDto(items=items))
        response = await self._paced_send(request, limiter, deadline, what)
        answer = parse_answer(response, OrderStatusBatchResponseDto.from_dict, what)
        by_index = {r.index: r for r in answer.results}
        if sorted(by_index) != list(range(len(items))):
            raise UnexpectedResponse(f"{what} did not answer each item once (index 0..n-1)")
        return [by_index[i] for i in range(len(items))]

    async def _cancel_all(
        self, market_slug: str, on_behalf_of: int | None, limiter: Limiter, deadline: float | None
    ) -> CancelAllOrdersResponseDto:
        profile = UNSET if on_behalf_of is None else check.on_behalf_of(on_behalf_of)
        slug = check.market_slug(market_slug)
        request, prepared = self._request_for(
            ("cancel-all", slug, on_behalf_of),
            lambda: _cancel_all._get_kwargs(slug, on_behalf_of=profile),
        )
        what = "DELETE /orders/all/{slug}"
        response = await self._paced_send(request, limiter, deadline, what, prepared)
        return parse_answer(response, CancelAllOrdersResponseDto.from_dict, what)

    async def _user_orders(
        self,
        market_slug: str,
        limiter: Limiter,
        deadline: float | None,
        statuses: Sequence[OrderStatus] | None = None,
    ) -> list[UserOrderDto]:
        chosen = UNSET if statuses is None else [OrderStatus(s) for s in statuses]
        request = _user_orders._get_kwargs(check.market_slug(market_slug), statuses=chosen)
        what = "GET /markets/{slug}/user-orders"
        response = await self._paced_send(request, limiter, deadline, what)
        return parse_answer(response, UserOrdersResponseDto.from_dict, what).data

    async def _open_orders(
        self, market_slug: str, statuses: Sequence[OrderStatus] | None
    ) -> list[UserOrderDto]:
        return await self._user_orders(market_slug, self._pace(None), None, statuses)

    async def _order_status(
        self, targets: Iterable[CancelTarget | StatusTarget]
    ) -> list[OrderStatusResultDto]:
        items = [_status_item(t) for t in targets]
        paced = self._pace(None)
        results: list[OrderStatusResultDto] = []
        for part in kill.chunks(items, kill.LOOKUP_BATCH):
            for result in await self._status(part, paced, None):
                result.index = len(results)
                results.append(result)
        return results

    async def _cancel_orders(
        self,
        targets: Iterable[_TargetT],
        on_behalf_of: int | None,
        concurrency: int,
        max_rate: float | None,
        deadline: float,
        missing_ok: bool,
        on_result: Callable[[CancelResult[_TargetT]], None] | None,
        control: Control | None,
    ) -> list[CancelResult[_TargetT]]:
        """``cancel_orders``: batched, or one by one for a sub-account, at the pace."""
        check_batch_settings(concurrency, max_rate)
        control = control or Control(deadline)
        control.about_one_order = kill.not_the_owner
        paced = self._pace(max_rate, control.ends_at)
        # Each result carries the very target it was given, so the run's results are
        # CancelResult[_TargetT]; the engine itself is written for the union.
        given: list[CancelTarget] = list(targets)
        reporter = Reporter(on_result, control)  # on_result raising stops the run
        sink = cast("Callable[[CancelResult[CancelTarget]], None] | None", reporter.sink)
        if on_behalf_of is not None:
            results = await self._one_by_one(
                given, on_behalf_of, paced, concurrency, missing_ok, sink, control
            )
        else:
            results = await kill.cancel_batched(
                _Wire(self),
                given,
                limiter=paced,
                control=control,
                concurrency=concurrency,
                missing_ok=missing_ok,
                on_result=sink,
            )
        return reporter.settle(cast("list[CancelResult[_TargetT]]", results))

    async def _one_by_one(
        self,
        targets: list[CancelTarget],
        on_behalf_of: int,
        paced: Limiter,
        concurrency: int,
        missing_ok: bool,
        on_result: Callable[[CancelResult[CancelTarget]], None] | None,
        control: Control,
    ) -> list[CancelResult[CancelTarget]]:
        check.on_behalf_of(on_behalf_of)

        async def send(
            request: dict[str, Any], limiter: Limiter | None, deadline: float
        ) -> tuple[str | None, int]:
            response, attempts = await self._send(request, limiter, deadline=deadline)
            return _message(response), attempts.count

        return await cancel_each(
            targets,
            lambda target: self._request(target, None, None, on_behalf_of),
            _key,
            send,
            concurrency=concurrency,
            limiter=paced,
            missing_ok=missing_ok,
            on_result=on_result,
            control=control,
        )

    async def _kill_market(
        self,
        market_slug: str,
        on_behalf_of: int | None,
        max_rate: float | None,
        deadline: float,
        on_result: Callable[[CancelResult[str]], None] | None,
        control: Control | None,
    ) -> list[CancelResult[str]]:
        """``cancel_all``: the market's cancel-all, confirmed by its listing."""
        check_batch_settings(1, max_rate)
        check.market_slug(market_slug)
        if on_behalf_of is not None:
            check.on_behalf_of(on_behalf_of)
        control = control or Control(deadline)
        control.about_one_order = kill.not_the_owner
        reporter = Reporter(on_result, control)  # on_result raising stops the run
        return reporter.settle(
            await kill.cancel_market(
                _Wire(self),
                market_slug,
                on_behalf_of=on_behalf_of,
                limiter=self._pace(max_rate, control.ends_at),
                control=control,
                on_result=reporter.sink,
            )
        )


class _Wire:
    """The requests of a kill switch (:class:`kill.Wire`), sent by ``client``."""

    def __init__(self, client: _AsyncLimitless) -> None:
        self._client = client

    def validated(self, target: CancelTarget) -> CancelTarget:
        return validated(target)

    async def batch_cancel(
        self, kind: str, values: list[str], limiter: Limiter, deadline: float | None
    ) -> BatchCancelOrdersResponseDto:
        return await self._client._batch_cancel(kind, values, limiter, deadline)

    async def status(
        self, items: list[StatusTarget], limiter: Limiter, deadline: float | None
    ) -> list[OrderStatusResultDto]:
        return await self._client._status(items, limiter, deadline)

    async def cancel_all(
        self, market_slug: str, on_behalf_of: int | None, limiter: Limiter, deadline: float | None
    ) -> CancelAllOrdersResponseDto:
        return await self._client._cancel_all(market_slug, on_behalf_of, limiter, deadline)

    async def user_orders(
        self, market_slug: str, limiter: Limiter, deadline: float | None
    ) -> list[UserOrderDto]:
        return await self._client._user_orders(market_slug, limiter, deadline)

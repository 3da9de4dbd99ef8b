"""Limitless Exchange: ``POST /orders/cancel``, HMAC-signed, by exactly one identifier."""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, overload
from uuid import UUID

import httpx

from . import _validation as check
from ._auth import LimitlessAuth
from ._base import AsyncHTTP, SyncHTTP, Venue
from ._batch import DEFAULT_DEADLINE, CancelResult, Control, check_batch_settings, run_batch
from ._exceptions import InvalidRequest, OrderNotFound, OrderNotOpen, UnexpectedResponse
from ._generated.limitless_api.api.trading import order_controller_cancel_order_combined as _cancel
from ._generated.limitless_api.models import (
    CancelByClientOrderId,
    CancelByOrderId,
    CancelOrderResponseDto,
)
from ._generated.limitless_api.types import UNSET
from ._limiter import Limiter
from ._retry import Attempts

DEFAULT_BASE_URL = "https://api.limitless.exchange"
DEFAULT_RATE = 10.0
"""Requests per second a bulk cancel starts at. Limitless publishes no limit (a 429
is its only signal), so this is conservative, and halves on each 429."""

CancelTarget = CancelByOrderId | CancelByClientOrderId
"""The generated request body: one of its two variants."""

# cancel_orders gives back the targets as given: CancelResult[CancelByClientOrderId]
# for client ids only, so that r.target.client_order_id type-checks.
_TargetT = TypeVar("_TargetT", bound=CancelTarget)


def _body(
    target: CancelTarget | None, order_id: UUID | str | None, client_order_id: str | None
) -> CancelTarget:
    given = [
        name
        for name, value in (
            ("a generated body", target),
            ("order_id", order_id),
            ("client_order_id", client_order_id),
        )
        if value is not None
    ]
    if len(given) != 1:
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
        return CancelOrderResponseDto.from_dict(json.loads(response.content)).message
    except (ValueError, KeyError, TypeError, AttributeError):
        context: dict[str, Any] = (
            attempts.context(response) if attempts else {"status": response.status_code}
        )
        raise UnexpectedResponse(
            f"POST /orders/cancel answered {response.status_code} without the documented"
            ' confirmation ({"message": ...}): is the base URL right?',
            **context,
        ) from None


def _label(body: CancelTarget) -> str:
    """The order a request is about, as errors and log lines name it."""
    if isinstance(body, CancelByOrderId):
        return str(body.order_id)
    return f"client_order_id={body.client_order_id}"


def _single(error: OrderNotFound | OrderNotOpen, missing_ok: bool) -> str:
    """``missing_ok`` accepts an unknown order (404); an order that is not open is
    raised whatever it says: Limitless's 400 does not say whether it was cancelled or
    filled, and a fill must never pass for a cancel."""
    if missing_ok and isinstance(error, OrderNotFound):
        return error.message
    raise error


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

    @staticmethod
    def _request(
        target: CancelTarget | None,
        order_id: UUID | str | None,
        client_order_id: str | None,
        on_behalf_of: int | None,
    ) -> dict[str, Any]:
        body = _body(target, order_id, client_order_id)
        profile = UNSET if on_behalf_of is None else check.on_behalf_of(on_behalf_of)
        return _cancel._get_kwargs(body=body, on_behalf_of=profile)


class LimitlessClient(_Limitless, SyncHTTP):
    """Cancels Limitless Exchange orders with a scoped API token. A context manager.

    ``from_env()`` reads ``LIMITLESS_TOKEN_ID``, ``LIMITLESS_TOKEN_SECRET`` and, if set,
    ``LIMITLESS_API_URL``.

    Args:
        token_id: the scoped API token id (``lmts-api-key``).
        secret: the token secret, base64 as issued.
        base_url: the API root; point it at the sandbox for tests.
        timeout: seconds for each attempt, or an ``httpx.Timeout``.
        max_retries: retries after the first attempt on connection errors, timeouts, 429, 5xx.
        transport: an ``httpx.BaseTransport`` (mock, in-process app); it decides the
            route, so not with ``proxy``.
        proxy: a proxy URL for every request of every path (single, bulk, async).
        trust_env: honour ``HTTP(S)_PROXY``/``NO_PROXY`` (default, as httpx does).
        verify: TLS verification: True, False, a CA bundle path or an ``ssl.SSLContext``.
    """

    def __init__(
        self,
        token_id: str,
        secret: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | httpx.Timeout = 10.0,
        max_retries: int = 3,
        transport: httpx.BaseTransport | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
        verify: bool | str | ssl.SSLContext = True,
    ) -> None:
        self._setup(token_id, secret, base_url, timeout, max_retries, proxy, trust_env, verify)
        self._open(self._auth, self.base_url, transport)

    @overload
    def cancel_order(
        self,
        *,
        order_id: UUID | str,
        client_order_id: None = None,
        on_behalf_of: int | None = None,
        missing_ok: bool = False,
    ) -> str: ...
    @overload
    def cancel_order(
        self,
        *,
        client_order_id: str,
        order_id: None = None,
        on_behalf_of: int | None = None,
        missing_ok: bool = False,
    ) -> str: ...
    @overload
    def cancel_order(
        self,
        body: CancelTarget,
        *,
        on_behalf_of: int | None = None,
        missing_ok: bool = False,
    ) -> str: ...
    def cancel_order(
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
        ``missing_ok``, a 404 returns its message instead of raising.
        """
        target = _body(body, order_id, client_order_id)
        request = self._request(target, None, None, on_behalf_of)
        try:
            response, attempts = self._send(request, order=_label(target))
        except (OrderNotFound, OrderNotOpen) as exc:
            return _single(exc, missing_ok)
        return _message(response, attempts)

    def cancel_orders(
        self,
        targets: Iterable[_TargetT],
        *,
        on_behalf_of: int | None = None,
        concurrency: int = 8,
        max_rate: float | None = DEFAULT_RATE,
        deadline: float = DEFAULT_DEADLINE,
        missing_ok: bool = False,
        on_result: Callable[[CancelResult[_TargetT]], None] | None = None,
        control: Control | None = None,
    ) -> list[CancelResult[_TargetT]]:
        """Cancel many orders (the kill switch); runs
        :meth:`AsyncLimitlessClient.cancel_orders` with this client's token."""
        return self._on_async_twin(
            AsyncLimitlessClient,
            lambda twin: twin.cancel_orders(
                targets,
                on_behalf_of=on_behalf_of,
                concurrency=concurrency,
                max_rate=max_rate,
                deadline=deadline,
                missing_ok=missing_ok,
                on_result=on_result,
                control=control,
            ),
        )


class AsyncLimitlessClient(_Limitless, AsyncHTTP):
    """The async twin of :class:`LimitlessClient`, with the same arguments."""

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
    ) -> None:
        self._setup(token_id, secret, base_url, timeout, max_retries, proxy, trust_env, verify)
        self._open(self._auth, self.base_url, transport)

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
        """Cancel one order (see :meth:`LimitlessClient.cancel_order`)."""
        target = _body(body, order_id, client_order_id)
        request = self._request(target, None, None, on_behalf_of)
        try:
            response, attempts = await self._send(request, order=_label(target))
        except (OrderNotFound, OrderNotOpen) as exc:
            return _single(exc, missing_ok)
        return _message(response, attempts)

    async def cancel_orders(
        self,
        targets: Iterable[_TargetT],
        *,
        on_behalf_of: int | None = None,
        concurrency: int = 8,
        max_rate: float | None = DEFAULT_RATE,
        deadline: float = DEFAULT_DEADLINE,
        missing_ok: bool = False,
        on_result: Callable[[CancelResult[_TargetT]], None] | None = None,
        control: Control | None = None,
    ) -> list[CancelResult[_TargetT]]:
        """Cancel many orders: the kill switch.

        ``targets`` are ``CancelByOrderId`` or ``CancelByClientOrderId`` values, so each
        says which identifier it is. Invalid ones are ``not_sent``; duplicates are
        cancelled once. Attempts are spaced under ``max_rate`` per second (halved
        on each 429 and recovered gradually; None: no limit), and retryable failures
        are retried until ``deadline`` seconds have passed. A 400 "cannot be
        cancelled" is ``not_open``, a 404 ``not_found`` (ok only with ``missing_ok``);
        a 401/403 or an answer that is not the exchange's stops the run, the rest
        ``not_sent``. Returns one result per target, in input order; ``on_result``
        sees each as it is known; ``control`` lets a caller stop or abort the run.
        """
        check_batch_settings(concurrency, max_rate)
        control = control or Control(deadline)

        async def send(
            request: dict[str, Any], limiter: Limiter | None, deadline: float
        ) -> tuple[str | None, int]:
            response, attempts = await self._send(request, limiter, deadline=deadline)
            return _message(response), attempts.count

        return await run_batch(
            list(targets),
            lambda target: self._request(target, None, None, on_behalf_of),
            _key,
            send,
            concurrency=concurrency,
            limiter=None if max_rate is None else Limiter.per_second(max_rate),
            missing_ok=missing_ok,
            on_result=on_result,
            control=control,
        )

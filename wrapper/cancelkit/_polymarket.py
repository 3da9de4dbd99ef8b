"""Polymarket US: ``POST /v1/order/{orderId}/cancel``, Ed25519-signed."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import httpx
from polymarket_us_api.api.orders import orders_service_cancel_order as _cancel
from polymarket_us_api.models import CancelOrderRequest

from . import _validation as check
from ._auth import PolymarketAuth
from ._base import AsyncHTTP, SyncHTTP, Venue
from ._batch import CancelResult, RateLimiter, run_batch
from ._exceptions import OrderNotFound

DEFAULT_BASE_URL = "https://api.polymarket.us"
RATE_LIMIT = 20.0  # requests per second per API key, as documented


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


class PolymarketUSClient(_Polymarket, SyncHTTP):
    """Cancels Polymarket US orders. A context manager; ``close()`` when done.

    ``from_env()`` reads ``POLYMARKET_KEY_ID``, ``POLYMARKET_SECRET_KEY`` and, if set,
    ``POLYMARKET_API_URL``.

    Args:
        key_id: the API key id (a UUID) from the developer portal.
        secret_key: the base64 secret key (32-byte seed or 64-byte seed + public key).
        base_url: the API root; point it at the sandbox for tests.
        timeout: seconds for each attempt.
        max_retries: retries after the first attempt on connection errors, timeouts, 429, 5xx.
        transport: an ``httpx.BaseTransport`` (mock, proxy, in-process app).
    """

    def __init__(
        self,
        key_id: str,
        secret_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 10.0,
        max_retries: int = 3,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._setup(key_id, secret_key, base_url, timeout, max_retries)
        self._open(self._auth, base_url, timeout, transport)

    def cancel_order(
        self, order_id: str, *, market_slug: str | None = None, missing_ok: bool = False
    ) -> None:
        """Cancel one order by its exchange-assigned id.

        Raises :class:`InvalidRequest` before any I/O if ``order_id`` cannot address
        exactly one path segment. With ``missing_ok``, an order the exchange does not
        know (404) is taken as already gone.
        """
        request = self._request(order_id, market_slug)
        try:
            self._send(request)
        except OrderNotFound:
            if not missing_ok:
                raise

    def cancel_orders(
        self,
        order_ids: Iterable[str],
        *,
        market_slug: str | None = None,
        concurrency: int = 8,
        max_rate: float | None = RATE_LIMIT,
        missing_ok: bool = True,
        on_result: Callable[[CancelResult[str]], None] | None = None,
    ) -> list[CancelResult[str]]:
        """Cancel many orders (the kill switch); runs
        :meth:`AsyncPolymarketUSClient.cancel_orders` with this client's key."""
        return self._on_async_twin(
            AsyncPolymarketUSClient,
            lambda twin: twin.cancel_orders(
                order_ids,
                market_slug=market_slug,
                concurrency=concurrency,
                max_rate=max_rate,
                missing_ok=missing_ok,
                on_result=on_result,
            ),
        )


class AsyncPolymarketUSClient(_Polymarket, AsyncHTTP):
    """The async twin of :class:`PolymarketUSClient`, with the same arguments."""

    def __init__(
        self,
        key_id: str,
        secret_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 10.0,
        max_retries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._setup(key_id, secret_key, base_url, timeout, max_retries)
        self._open(self._auth, base_url, timeout, transport)

    async def cancel_order(
        self, order_id: str, *, market_slug: str | None = None, missing_ok: bool = False
    ) -> None:
        """Cancel one order by its exchange-assigned id (as the sync client does)."""
        request = self._request(order_id, market_slug)
        try:
            await self._send(request)
        except OrderNotFound:
            if not missing_ok:
                raise

    async def cancel_orders(
        self,
        order_ids: Iterable[str],
        *,
        market_slug: str | None = None,
        concurrency: int = 8,
        max_rate: float | None = RATE_LIMIT,
        missing_ok: bool = True,
        on_result: Callable[[CancelResult[str]], None] | None = None,
    ) -> list[CancelResult[str]]:
        """Cancel many orders: the kill switch.

        Every id is validated first (invalid ones become ``InvalidRequest`` results
        and are not sent); duplicates are cancelled once. At most ``concurrency``
        requests are in flight and every attempt, retries included, is spaced under
        ``max_rate`` per second (the documented per-key limit by default), so the
        batch does not draw 429s; those that still come are retried. Returns one
        result per id, in input order; one failure never aborts the batch.
        ``on_result`` is called as each result is known (for progress display).
        """

        async def send(
            request: dict[str, Any], limiter: RateLimiter | None
        ) -> tuple[str | None, int]:
            _, attempts = await self._send(request, limiter)
            return None, attempts.count

        return await run_batch(
            list(order_ids),
            lambda order_id: self._request(order_id, market_slug),
            send,
            concurrency=concurrency,
            max_rate=max_rate,
            missing_ok=missing_ok,
            on_result=on_result,
        )

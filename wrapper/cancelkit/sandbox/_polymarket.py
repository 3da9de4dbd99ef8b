"""The Polymarket US sandbox: Ed25519 ``X-PM-*`` auth, the cancel endpoint, faults."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from ..polymarket._rates import CANCEL, CANCEL_ALL, CANCEL_BATCH, GET_ORDER, LIST_OPEN
from . import _common as common
from ._common import Refusal
from ._polymarket_ws import StreamHub
from ._state import CANCELLED, FILLED, OPEN, Arrival, Book, Order

_CANCEL = re.compile(rb"/v1/order/([^/]+)/cancel")
_ORDER = re.compile(rb"/v1/order/([^/]+)")
_STREAM = b"/v1/ws/private"
DEFAULT_MARKET = "sandbox-market-2026"


@attrs.frozen
class PolymarketKey:
    """A registered Polymarket API key: its id, public key and the account it acts for."""

    key_id: str
    public_key: bytes
    account: str


def error(status: int, message: str) -> Response:
    """An error in the shape the Polymarket US gateway answers with."""
    if status == 429:
        return JSONResponse({"status": 429, "message": "Too Many Requests"}, 429)
    return JSONResponse({"code": status, "message": message}, status)


_STATES = {FILLED: "ORDER_STATE_FILLED", CANCELLED: "ORDER_STATE_CANCELED"}


def quantity_of(order: Order) -> float:
    """The order's size in shares (1 to 100, derived from its id)."""
    return float(1 + hashlib.sha256(order.id.encode()).digest()[0] % 100)


def order_json(order: Order, now: float) -> dict[str, Any]:
    """The order as ``GET /v1/orders/open`` and ``GET /v1/order/{id}`` show it: every
    field an ``Order`` has, with plausible values derived from its id."""
    if order.status == OPEN:
        state = "ORDER_STATE_PARTIALLY_FILLED" if order.filled else "ORDER_STATE_NEW"
    elif order.on_book(now):
        state = "ORDER_STATE_PENDING_CANCEL"
    else:
        state = _STATES.get(order.status, "ORDER_STATE_CANCELED")
    h = hashlib.sha256(order.id.encode()).digest()
    quantity = quantity_of(order)
    filled = quantity if order.status == FILLED else min(order.filled, quantity)
    long = h[2] % 2 == 0
    buy = h[3] % 2 == 0
    stamp = datetime.fromtimestamp(order.created_at, UTC).isoformat().replace("+00:00", "Z")
    slug = order.market_slug or DEFAULT_MARKET
    return {
        "id": order.id,
        "marketSlug": slug,
        "side": "ORDER_SIDE_BUY" if buy else "ORDER_SIDE_SELL",
        "type": "ORDER_TYPE_LIMIT",
        "price": {"value": f"0.{1 + h[4] % 98:02d}", "currency": "USD"},
        "quantity": quantity,
        "cumQuantity": filled,
        "leavesQuantity": 0.0 if order.status != OPEN else quantity - filled,
        "tif": "TIME_IN_FORCE_GOOD_TILL_CANCEL",
        "intent": f"ORDER_INTENT_{'BUY' if buy else 'SELL'}_{'LONG' if long else 'SHORT'}",
        "outcomeSide": "OUTCOME_SIDE_YES" if long else "OUTCOME_SIDE_NO",
        "action": "ORDER_ACTION_BUY" if buy else "ORDER_ACTION_SELL",
        "state": state,
        "marketMetadata": {
            "slug": slug,
            "title": f"Sandbox market {slug}",
            "outcome": "Yes",
            "eventSlug": slug.rsplit("-", 1)[0],
            "team": None,
        },
        "commissionsBasisPoints": "0",
        "insertTime": stamp,
        "createTime": stamp,
    }


class _RawDispatch(common.RawDispatch):
    """Polymarket's API on the raw path (see :class:`~._common.RawDispatch`)."""

    def refuse(self, status: int, message: str) -> Response:
        """A 404 or 405 in Polymarket's error shape."""
        return error(status, message)


def polymarket_app(
    book: Book, keys: dict[str, PolymarketKey], hub: StreamHub | None = None
) -> ASGIApp:
    """Polymarket US Orders: cancel, batched cancel, cancel-all, open orders, one order;
    Ed25519 ``X-PM-*`` auth on every request; the private order stream (``hub``'s)."""
    hub = hub or StreamHub(book, order_json, DEFAULT_MARKET)

    def authenticate(request: HTTPConnection, method: str) -> PolymarketKey:
        key = keys.get(common.single_header(request, "x-pm-access-key", error))
        if key is None:
            raise Refusal(error(401, "unknown or missing X-PM-Access-Key"))
        stamp = common.single_header(request, "x-pm-timestamp", error).encode("latin-1")
        if not common.MILLIS.fullmatch(stamp) or common.skewed(book, int(stamp) / 1000):
            raise Refusal(error(401, "X-PM-Timestamp missing or more than 30 s from server time"))
        signed = stamp + method.encode() + common.raw_path(request)
        try:
            signature = base64.b64decode(
                common.single_header(request, "x-pm-signature", error), validate=True
            )
            Ed25519PublicKey.from_public_bytes(key.public_key).verify(signature, signed)
        except (InvalidSignature, binascii.Error, ValueError):
            raise Refusal(error(401, "invalid X-PM-Signature")) from None
        return key

    async def admitted(
        request: Request, body: bytes, operation: str, page: str
    ) -> tuple[Arrival, PolymarketKey, Any]:
        """Faults, auth, the page's contract, then the injected 500: what every
        endpoint goes through before it acts."""
        # Authenticated first: an unsigned request naming a key must not spend its
        # rate budget (nor grow the limiter's state with made-up key ids).
        key = common.counting_auth_failures(book, lambda: authenticate(request, request.method))
        arrival = await common.faults(book, request, body, key.key_id, error, operation)
        payload = common.contract_check(book, f"polymarket_us/{page}", request, body, error)
        if arrival.fault(book.knobs.failure_rate, "failures_injected"):
            raise Refusal(error(500, "sandbox: injected internal error"))
        return arrival, key, payload

    def mine(order_id: str, key: PolymarketKey) -> Order | None:
        order = book.get(order_id)
        return order if order is not None and order.owner == key.account else None

    async def cancel(request: Request, body: bytes) -> Response:
        match = _CANCEL.fullmatch(common.raw_path(request))
        assert match is not None  # routed here by this pattern
        order_id = unquote(match[1].decode("latin-1"))
        arrival, key, payload = await admitted(request, body, CANCEL, "cancel-order")
        order = mine(order_id, key)
        if order is None:
            return error(404, "order not found")
        slug = payload.get("marketSlug") if isinstance(payload, dict) else None
        if slug and order.market_slug and slug != order.market_slug:
            return error(400, f"order is not in market {slug}")
        return common.take_effect(
            book,
            arrival,
            order,
            not_open=error(404, "order not found or no longer open"),
            done=Response(b"", 200, media_type="application/json"),
        )

    def cancelled(arrival: Arrival, ids: list[str], effect: bool) -> Response:
        if effect and arrival.fault(book.knobs.drop_rate, "drops_injected"):
            return common.DropAfterEffect()
        return JSONResponse({"canceledOrderIds": ids})

    async def cancel_batch(request: Request, body: bytes) -> Response:
        # The gateway has refused the whole batch already if one entry is malformed
        # (the page's contract: 1 to 20 entries, each with orderId and marketSlug).
        arrival, key, payload = await admitted(
            request, body, CANCEL_BATCH, "cancel-multiple-orders"
        )
        entries = payload.get("orders") if isinstance(payload, dict) else None
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            # Only reachable with the validate knob off; the gateway's word is still a 400.
            return error(400, "orders must be a list of {orderId, marketSlug} objects")
        effect = False
        for entry in entries:
            # Each entry on its own; an id unknown here (or in another market) is
            # silently ignored, as the page says.
            order = mine(str(entry.get("orderId")), key)
            if order is not None and entry.get("marketSlug") == (
                order.market_slug or DEFAULT_MARKET
            ):
                effect = book.cancel(order) or effect
        return cancelled(arrival, [str(e.get("orderId")) for e in entries], effect)

    async def cancel_all(request: Request, body: bytes) -> Response:
        arrival, key, payload = await admitted(request, body, CANCEL_ALL, "cancel-all-open-orders")
        given = (payload.get("slugs") if isinstance(payload, dict) else None) or []
        if not isinstance(given, list) or not all(isinstance(s, str) for s in given):
            return error(400, "slugs must be a list of market slugs")  # validate knob off
        slugs = frozenset(given)
        ids = [o.id for o in book.on_book(key.account, slugs) if book.cancel(o)]
        return cancelled(arrival, ids, bool(ids))

    async def open_orders(request: Request, body: bytes) -> Response:
        _, key, _ = await admitted(request, body, LIST_OPEN, "get-open-orders")
        slugs = frozenset(request.query_params.getlist("slugs"))
        now = time.monotonic()
        listed = [order_json(o, now) for o in book.on_book(key.account, slugs)]
        return JSONResponse({"orders": listed})

    async def get_order(request: Request, body: bytes) -> Response:
        match = _ORDER.fullmatch(common.raw_path(request))
        assert match is not None  # routed here by this pattern
        _, key, _ = await admitted(request, body, GET_ORDER, "get-order")
        order = mine(unquote(match[1].decode("latin-1")), key)
        if order is None:
            return error(404, "order not found")
        return JSONResponse({"order": order_json(order, time.monotonic())})

    routes: common.Routes = [  # no path matches two of these patterns
        (_CANCEL, {"POST": cancel}),
        (re.compile(rb"/v1/orders/batched/cancel"), {"POST": cancel_batch}),
        (re.compile(rb"/v1/orders/open/cancel"), {"POST": cancel_all}),
        (re.compile(rb"/v1/orders/open"), {"GET": open_orders}),
        (_ORDER, {"GET": get_order}),
    ]

    async def stream_account(ws: WebSocket) -> str:
        if common.raw_path(ws) != _STREAM:
            raise Refusal(error(404, "Not Found"))
        key: PolymarketKey = common.counting_auth_failures(book, lambda: authenticate(ws, "GET"))
        return key.account

    async def stream(scope: Scope, receive: Receive, send: Send) -> None:
        await hub.serve(WebSocket(scope, receive, send), stream_account)

    admin = common.starlette(common.admin_routes(book), error)
    return common.DateHeader(_RawDispatch(admin, routes, book, stream), book)

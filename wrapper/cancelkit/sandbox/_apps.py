"""The two exchanges as Starlette apps: auth, contract, state and faults, as documented."""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import hmac
import json
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import unquote
from uuid import UUID

import anyio
import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import _contract
from ._state import Book, Order

_PM_CANCEL = re.compile(r"/v1/order/([^/]+)/cancel")
TIMESTAMP_WINDOW = 30.0
_T = TypeVar("_T")  # both exchanges: seconds a timestamp may be off server time
DELEGATED = "delegated_signing"


@attrs.frozen
class PolymarketKey:
    """A registered Polymarket API key: its id, public key and the account it acts for."""

    key_id: str
    public_key: bytes
    account: str


@attrs.frozen
class LimitlessToken:
    """A Limitless scoped token: id, HMAC key, profile, scopes and managed sub-accounts."""

    token_id: str
    secret: bytes = attrs.field(repr=False)
    profile_id: int
    scopes: frozenset[str] = frozenset({"trading"})
    sub_accounts: frozenset[int] = frozenset()


class _Refusal(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


class _DropAfterEffect(Response):
    """Starts a response and then breaks the connection: the cancel happened, the
    client cannot know it (the ambiguous case retries must survive)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"64"), (b"content-type", b"application/json")],
            }
        )
        raise ConnectionAbortedError("sandbox: connection dropped after the cancel took effect")


class _DateHeader:
    """Stamps every response with the sandbox clock (which the offset knob moves)."""

    def __init__(self, app: ASGIApp, book: Book) -> None:
        self.app = app
        self.book = book

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                date = email.utils.formatdate(self.book.now(), usegmt=True).encode()
                message["headers"] = [*message.get("headers", []), (b"date", date)]
            await send(message)

        await self.app(scope, receive, stamped)


class _RawDispatch:
    """Sends every API request to one endpoint that routes on the raw path itself.

    Starlette routes on the decoded path, where %2F becomes a separator and a
    decoded newline defeats the route pattern; the exchange sees the wire path.
    """

    def __init__(self, admin: ASGIApp, endpoint: Callable[[Request], Awaitable[Response]]) -> None:
        self.admin = admin
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox/"):
            await self.admin(scope, receive, send)
            return
        request = Request(scope, receive)
        if request.method != "POST":
            response: Response = JSONResponse({"code": 405, "message": "Method Not Allowed"}, 405)
        else:
            response = await self.endpoint(request)
        await response(scope, receive, send)


def _admin_routes(book: Book) -> list[Route]:
    """Sandbox-only routes under /_sandbox/: not part of either exchange's API."""

    async def orders(request: Request) -> Response:
        if request.method == "GET":
            with book.lock:
                return JSONResponse([o.to_dict() for o in book.orders.values()])
        data = await request.json()
        many = isinstance(data, list)  # a list seeds many orders in one request
        try:
            orders = [
                Order(
                    id=str(item["id"]),
                    owner=str(item["owner"]),
                    client_order_id=item.get("client_order_id"),
                    market_slug=item.get("market_slug"),
                )
                for item in (data if many else [data])
            ]
        except (KeyError, TypeError, AttributeError) as exc:
            return JSONResponse({"message": f"an order needs id and owner: {exc}"}, 400)
        seeded = [book.seed(order).to_dict() for order in orders]
        return JSONResponse(seeded if many else seeded[0], 201)

    async def knobs(request: Request) -> Response:
        if request.method == "POST":
            try:
                book.set_knobs(**(await request.json()))
            except (ValueError, TypeError) as exc:
                return JSONResponse({"message": str(exc)}, 400)
        return JSONResponse(attrs.asdict(book.knobs))

    async def stats(request: Request) -> Response:
        return JSONResponse(attrs.asdict(book.stats))

    async def reset(request: Request) -> Response:
        book.reset()
        return JSONResponse({})

    return [
        Route("/_sandbox/orders", orders, methods=["GET", "POST"]),
        Route("/_sandbox/knobs", knobs, methods=["GET", "POST"]),
        Route("/_sandbox/stats", stats),
        Route("/_sandbox/reset", reset, methods=["POST"]),
    ]


def _skewed(book: Book, moment: float) -> bool:
    return abs(moment - book.now()) > TIMESTAMP_WINDOW


async def _faults(book: Book, key: str, too_many: Callable[[], Response]) -> None:
    knobs = book.knobs
    if knobs.latency:
        await anyio.sleep(knobs.latency)
    if book.roll(knobs.spike_rate, "spikes_injected"):
        await anyio.sleep(knobs.spike_latency)
    if book.over_rate(key):
        raise _Refusal(too_many())


def _counting_auth_failures(book: Book, authenticate: Callable[[], _T]) -> _T:
    try:
        return authenticate()
    except _Refusal:
        book.count("auth_failures")
        raise


def _take_effect(book: Book, order: Order, *, not_open: Response, done: Response) -> Response:
    """Cancel an open order exactly once; maybe drop the connection after it took effect."""
    if not book.cancel(order):
        return not_open
    if book.roll(book.knobs.drop_rate, "drops_injected"):
        return _DropAfterEffect()
    return done


def _contract_check(book: Book, name: str, request: Request, body: bytes, error: Any) -> Any:
    if not book.knobs.validate:
        try:
            return json.loads(body)
        except ValueError:
            raise _Refusal(error(400, "Request body is not JSON")) from None
    try:
        return _contract.check(
            name,
            request.method,
            # The wire path: a decoded %2F would split a segment and match nothing.
            _raw_target(request).partition("?")[0],
            list(request.query_params.multi_items()),
            list(request.headers.items()),
            body,
        )
    except _contract.Violation as violation:
        book.count("auth_failures" if violation.security else "schema_failures")
        raise _Refusal(error(401 if violation.security else 400, str(violation))) from None


def _handler(
    book: Book, endpoint: Callable[[Request, bytes], Awaitable[Response]]
) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        book.count("requests")
        body = await request.body()
        try:
            return await endpoint(request, body)
        except _Refusal as refusal:
            return refusal.response

    return handle


def _raw_target(request: Request) -> str:
    raw: bytes = request.scope.get("raw_path") or request.url.path.encode()
    query: bytes = request.scope.get("query_string", b"")
    return (raw + (b"?" + query if query else b"")).decode("ascii")


def polymarket_app(book: Book, keys: dict[str, PolymarketKey]) -> ASGIApp:
    """Polymarket US: ``POST /v1/order/{orderId}/cancel`` with Ed25519 ``X-PM-*`` headers."""

    def error(status: int, message: str) -> Response:
        return JSONResponse({"code": status, "message": message}, status)

    def too_many() -> Response:
        return JSONResponse({"status": 429, "message": "Too Many Requests"}, 429)

    def authenticate(request: Request) -> PolymarketKey:
        headers = request.headers
        key = keys.get(headers.get("x-pm-access-key", ""))
        if key is None:
            raise _Refusal(error(401, "unknown or missing X-PM-Access-Key"))
        timestamp = headers.get("x-pm-timestamp", "")
        if not timestamp.isdigit() or _skewed(book, int(timestamp) / 1000):
            raise _Refusal(error(401, "X-PM-Timestamp missing or more than 30 s from server time"))
        path = _raw_target(request).partition("?")[0]
        try:
            signature = base64.b64decode(headers.get("x-pm-signature", ""), validate=True)
            Ed25519PublicKey.from_public_bytes(key.public_key).verify(
                signature, (timestamp + request.method + path).encode()
            )
        except (InvalidSignature, binascii.Error, ValueError):
            raise _Refusal(error(401, "invalid X-PM-Signature")) from None
        return key

    async def cancel(request: Request, body: bytes) -> Response:
        # Route on the raw path: Starlette's decoded path turns %2F into a separator.
        match = _PM_CANCEL.fullmatch(_raw_target(request).partition("?")[0])
        if match is None:
            return error(404, "Not Found")
        order_id = unquote(match[1])
        await _faults(book, request.headers.get("x-pm-access-key", ""), too_many)
        key = _counting_auth_failures(book, lambda: authenticate(request))
        payload = _contract_check(book, "polymarket_us", request, body, error)
        if book.roll(book.knobs.failure_rate, "failures_injected"):
            return error(500, "sandbox: injected internal error")
        order = book.get(order_id)
        if order is None or order.owner != key.account:
            return error(404, "order not found")
        slug = payload.get("marketSlug") if isinstance(payload, dict) else None
        if slug and order.market_slug and slug != order.market_slug:
            return error(400, f"order is not in market {slug}")
        return _take_effect(
            book,
            order,
            not_open=error(404, "order not found or no longer open"),
            done=Response(b"", 200, media_type="application/json"),
        )

    return _DateHeader(
        _RawDispatch(Starlette(routes=_admin_routes(book)), _handler(book, cancel)), book
    )


def limitless_app(book: Book, tokens: dict[str, LimitlessToken]) -> ASGIApp:
    """Limitless: ``POST /orders/cancel`` (and legacy ``DELETE /orders/{orderId}``), HMAC."""

    def error(status: int, message: str) -> Response:
        return JSONResponse({"message": message, "statusCode": status}, status)

    def too_many() -> Response:
        return error(429, "Too Many Requests")

    def authenticate(request: Request, body: bytes) -> LimitlessToken:
        headers = request.headers
        token = tokens.get(headers.get("lmts-api-key", ""))
        if token is None:
            raise _Refusal(error(401, "unknown or missing lmts-api-key"))
        stamp = headers.get("lmts-timestamp", "")
        try:
            moment = datetime.fromisoformat(stamp).timestamp()
        except ValueError:
            raise _Refusal(error(401, "lmts-timestamp is not ISO-8601")) from None
        if not stamp.endswith("Z") or _skewed(book, moment):
            raise _Refusal(error(401, "lmts-timestamp more than 30 s from server time"))
        message = f"{stamp}\n{request.method}\n{_raw_target(request)}\n".encode() + body
        expected = hmac.new(token.secret, message, hashlib.sha256).digest()
        try:
            given = base64.b64decode(headers.get("lmts-signature", ""), validate=True)
        except (binascii.Error, ValueError):
            given = b""
        if not hmac.compare_digest(expected, given):
            raise _Refusal(error(401, "invalid lmts-signature"))
        return token

    def acting_owner(request: Request, token: LimitlessToken) -> str:
        raw = request.query_params.get("onBehalfOf")
        if raw is None:
            return str(token.profile_id)
        if not raw.isdigit():
            raise _Refusal(error(400, "onBehalfOf must be a positive integer"))
        if DELEGATED not in token.scopes:
            raise _Refusal(error(401, "onBehalfOf requires the delegated_signing scope"))
        if int(raw) not in token.sub_accounts:
            raise _Refusal(error(401, f"profile {raw} is not a sub-account of this partner"))
        return raw

    async def guarded(request: Request, body: bytes) -> tuple[LimitlessToken, str]:
        await _faults(book, request.headers.get("lmts-api-key", ""), too_many)
        token = _counting_auth_failures(book, lambda: authenticate(request, body))
        return token, acting_owner(request, token)

    def finish(order: Order | None, owner: str) -> Response:
        if book.roll(book.knobs.failure_rate, "failures_injected"):
            return error(500, "sandbox: injected internal error")
        if order is None:
            return error(404, "Order not found")
        if order.owner != owner:
            return error(401, "Not the order owner")
        return _take_effect(
            book,
            order,
            not_open=error(400, f"Order cannot be cancelled: it is {order.status}"),
            done=JSONResponse({"message": "Order canceled successfully"}),
        )

    async def cancel(request: Request, body: bytes) -> Response:
        _, owner = await guarded(request, body)
        payload = _contract_check(book, "limitless", request, body, error)
        if "orderId" in payload:
            order = book.get(str(payload["orderId"]))
        else:
            order = book.by_client_id(owner, payload["clientOrderId"])
        return finish(order, owner)

    async def legacy_delete(request: Request, body: bytes) -> Response:
        # Not in the published spec (the page says it still works): checked by hand.
        _, owner = await guarded(request, body)
        try:
            order_id = str(UUID(request.path_params["order_id"]))
        except ValueError:
            return error(400, "orderId must be a UUID")
        return finish(book.get(order_id), owner)

    routes = [
        Route("/orders/cancel", _handler(book, cancel), methods=["POST"]),
        Route("/orders/{order_id}", _handler(book, legacy_delete), methods=["DELETE"]),
        *_admin_routes(book),
    ]
    return _DateHeader(Starlette(routes=routes), book)

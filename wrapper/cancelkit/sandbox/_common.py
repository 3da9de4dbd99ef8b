"""What the sandbox exchanges share: refusals, faults, admin routes, strict parsing.

Everything a client sends is read from the raw bytes (path, query, headers) and
parsed strictly: only ASCII digits are digits, a header the exchange reads once
may appear once, and nothing is redirected. Hostile input gets the exchange's
own 4xx, never a 500 or a dropped connection.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import attrs
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import _contract, _requests
from ._stamps import on_wire
from ._state import FILLED, OPEN, STATUSES, Arrival, Book, Order

TIMESTAMP_WINDOW = 30.0  # seconds a timestamp may be off server time (Kalshi states none: the same)
ErrorShape = Callable[[int, str], Response]
TOO_DEEP = "Request body is nested too deeply"
# Milliseconds since the epoch in ASCII digits; 16 digits reach the year 2286, so
# nothing longer can be in the window (and int() never sees a 5,000-digit string).
MILLIS = re.compile(rb"[0-9]{1,16}")


class Refusal(Exception):
    """Stop handling a request and answer with ``response``."""

    def __init__(self, response: Response) -> None:
        self.response = response


class DropAfterEffect(Response):
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


class DateHeader:
    """Stamps every response with the sandbox clock (which the offset knob moves)."""

    def __init__(self, app: ASGIApp, book: Book) -> None:
        self.app = app
        self.book = book

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def stamped(message: Message) -> None:
            # The refused WebSocket handshake's answer is dated too, as a gateway's is.
            if message["type"] in ("http.response.start", "websocket.http.response.start"):
                date = email.utils.formatdate(self.book.now(), usegmt=True).encode()
                message["headers"] = [*message.get("headers", []), (b"date", date)]
            await send(message)

        await self.app(scope, receive, stamped)


def starlette(routes: list[BaseRoute], error: ErrorShape) -> Starlette:
    """A Starlette app that never redirects (a trailing slash is a 404, not a 307 to
    wherever the Host header says) and answers unknown routes in the exchange's shape."""

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        return error(status, "Not Found" if status == 404 else "Method Not Allowed")

    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    app.router.redirect_slashes = False
    return app


def raw_path(request: HTTPConnection) -> bytes:
    """The path exactly as it came on the request line (still percent-encoded)."""
    raw: bytes | None = request.scope.get("raw_path")
    return raw if raw else request.url.path.encode()


def raw_target(request: HTTPConnection) -> bytes:
    """Path and query exactly as they came on the request line."""
    query: bytes = request.scope.get("query_string", b"")
    return raw_path(request) + (b"?" + query if query else b"")


def single_header(request: HTTPConnection, name: str, error: ErrorShape) -> str:
    """The one value of header ``name`` ('' if absent); sent twice it is refused:
    "first one wins" or "last one wins" would let a proxy and the server disagree."""
    values = request.headers.getlist(name)
    if len(values) > 1:
        raise Refusal(error(401, f"{name} header sent {len(values)} times"))
    return values[0] if values else ""


def skewed(book: Book, moment: float) -> bool:
    """True if ``moment`` is too far from the sandbox clock to be accepted."""
    return abs(moment - book.now()) > TIMESTAMP_WINDOW


async def faults(
    book: Book,
    request: Request,
    body: bytes,
    key: str,
    error: ErrorShape,
    operation: str | None = None,
) -> Arrival:
    """Latency, the rate limits of ``key`` (and ``operation``), then this request's
    arrival, its spike and its injected 429."""
    knobs = book.knobs
    if knobs.latency:
        await anyio.sleep(knobs.latency)
    if book.over_rate(key, operation):
        raise Refusal(error(429, "Too Many Requests"))
    # One key per request content: a cancel and its retries share their dice.
    digest = hashlib.blake2b(request.method.encode(), digest_size=16)
    digest.update(raw_target(request))
    digest.update(b"\0" + body)
    arrival = book.arrive(digest.digest())
    if arrival.spike(knobs.spike_rate):
        await anyio.sleep(knobs.spike_latency)
    if arrival.fault(knobs.throttle_rate, "rate_limited"):
        raise Refusal(error(429, "Too Many Requests"))
    return arrival


def counting_auth_failures(book: Book, authenticate: Callable[[], Any]) -> Any:
    """Run ``authenticate``, counting its refusals."""
    try:
        result = authenticate()
    except Refusal:
        book.count("auth_failures")
        raise
    _requests.verified.set(True)  # for the request log
    return result


def take_effect(
    book: Book, arrival: Arrival, order: Order, *, not_open: Response, done: Response
) -> Response:
    """Cancel an open order exactly once; maybe drop the connection after it took effect."""
    if not book.cancel(order):
        return not_open
    if order.status == FILLED:  # filled before the cancel took (the fill_pending knob)
        return not_open
    if arrival.fault(book.knobs.drop_rate, "drops_injected"):
        return DropAfterEffect()
    return done


def contract_check(
    book: Book,
    name: str,
    request: Request,
    body: bytes,
    error: ErrorShape,
    query: list[tuple[str, str]] | None = None,
) -> Any:
    """The body as the spec unmarshals it, or a refusal in the exchange's shape.
    ``query``: the query as the exchange reads it, if not as sent."""
    if not book.knobs.validate:
        try:
            return json.loads(body) if body else None
        except ValueError:
            raise Refusal(error(400, "Request body is not JSON")) from None
        except RecursionError:
            raise Refusal(error(400, TOO_DEEP)) from None
    try:
        return _contract.check(
            name,
            request.method,
            # The wire path: a decoded %2F would split a segment and match nothing.
            raw_path(request).decode("latin-1"),
            list(request.query_params.multi_items()) if query is None else query,
            list(request.headers.items()),
            body,
        )
    except _contract.Violation as violation:
        book.count("auth_failures" if violation.security else "schema_failures")
        raise Refusal(error(401 if violation.security else 400, str(violation))) from None
    except RecursionError:  # Python's JSON parser recurses: a body of 100,000 "["
        book.count("schema_failures")
        raise Refusal(error(400, TOO_DEEP)) from None


Endpoint = Callable[[Request, bytes], Awaitable[Response]]


def handler(book: Book, endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    """Count the request, read its body, and turn a refusal into its response."""

    async def handle(request: Request) -> Response:
        arrived = time.monotonic()  # before the body: when the request reached us
        wire = on_wire(request.scope.get("client"))  # when its bytes reached the socket
        book.count("requests")
        body = await request.body()
        book.count("bodies")
        _requests.verified.set(False)
        try:
            response = await endpoint(request, body)
        except Refusal as refusal:
            response = refusal.response
        book.log.add(
            request.method,
            raw_path(request).decode("latin-1"),
            list(request.query_params.multi_items()),
            body,
            is_verified=_requests.verified.get(),
            status=response.status_code,
            arrived=arrived,
            wire=wire,
        )
        return response

    return handle


Routes = list[tuple[re.Pattern[bytes], dict[str, Endpoint]]]
"""A venue's API: each raw-path pattern with its endpoint per method."""


class RawDispatch:
    """Routes every API request on the raw path, as the exchange sees it: Starlette
    routes on the decoded path, where ``%2F`` becomes a separator and a decoded
    newline defeats the route pattern. The first pattern that matches decides the
    route (so ``batched`` comes before ``{order_id}``); no pattern is a 404, another
    method a 405, each in the venue's shape (:meth:`refuse`, which a venue's subclass
    gives). A WebSocket goes to ``stream`` if the venue has one; ``/_sandbox/`` and
    anything else to ``admin``."""

    def __init__(
        self, admin: ASGIApp, routes: Routes, book: Book, stream: ASGIApp | None = None
    ) -> None:
        self.admin = admin
        self.stream = stream
        self.routes = [
            (pattern, {m: handler(book, e) for m, e in methods.items()})
            for pattern, methods in routes
        ]

    def refuse(self, status: int, message: str) -> Response:
        """A 404 or 405 in the venue's error shape."""
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and self.stream is not None:
            await self.stream(scope, receive, send)
            return
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox/"):
            await self.admin(scope, receive, send)
            return
        request = Request(scope, receive)
        path = raw_path(request)
        methods = next((m for pattern, m in self.routes if pattern.fullmatch(path)), None)
        if methods is None:
            response = self.refuse(404, "Not Found")
        elif request.method in methods:
            response = await methods[request.method](request)
        else:
            response = self.refuse(405, "Method Not Allowed")
        await response(scope, receive, send)


def _admin_error(status: int, message: str) -> Response:
    return JSONResponse({"message": message}, status)


async def _json(request: Request) -> Any:
    return _parsed(await request.body())


def _parsed(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:  # includes bad UTF-8 and over-long integers
        raise Refusal(_admin_error(400, f"body is not JSON: {exc}")) from None
    except RecursionError:
        raise Refusal(_admin_error(400, TOO_DEEP)) from None


_ORDER_FIELDS = {"id", "owner", "client_order_id", "market_slug", "status", "subaccount"}
_MAX_SUBACCOUNT = 63  # Kalshi: 0 (primary) to 63


def _order(item: Any, default_owner: str | None) -> Order:
    if not isinstance(item, dict):
        raise ValueError("an order is a JSON object")
    unknown = set(item) - _ORDER_FIELDS
    if unknown:
        raise ValueError(f"unknown order fields {sorted(unknown)}; known: {sorted(_ORDER_FIELDS)}")
    if "owner" not in item and default_owner is not None:
        item = {**item, "owner": default_owner}
    for name in ("id", "owner"):
        if not isinstance(item.get(name), str | int) or isinstance(item.get(name), bool):
            raise ValueError(f"an order needs {name} (a string)")
    for name in ("client_order_id", "market_slug"):
        if not isinstance(item.get(name), str | None):
            raise ValueError(f"{name} must be a string or null")
    status = item.get("status", OPEN)
    if status not in STATUSES:
        raise ValueError(f"status must be one of {list(STATUSES)}, not {status!r}")
    subaccount = item.get("subaccount")
    if subaccount is not None and (
        isinstance(subaccount, bool)
        or not isinstance(subaccount, int)
        or not 0 <= subaccount <= _MAX_SUBACCOUNT
    ):
        raise ValueError(f"subaccount must be a whole number from 0 to {_MAX_SUBACCOUNT} or null")
    return Order(
        id=str(item["id"]),
        owner=str(item["owner"]),
        client_order_id=item.get("client_order_id"),
        market_slug=item.get("market_slug"),
        status=status,
        subaccount=subaccount,
    )


def admin_routes(book: Book) -> list[BaseRoute]:
    """Sandbox-only routes under /_sandbox/: not part of any exchange's API.

    A request here changes all it asks for or nothing: every item is checked first.
    """

    async def orders(request: Request) -> Response:
        if request.method == "GET":
            with book.lock:
                return JSONResponse([o.to_dict() for o in book.orders.values()])
        body = await request.body()
        # A seed of 20,000 orders is parsed and stored off the event loop: the
        # exchanges' routes keep answering meanwhile.
        return await anyio.to_thread.run_sync(seed, body)

    def seed(body: bytes) -> Response:
        try:
            data = _parsed(body)
        except Refusal as refusal:
            return refusal.response
        many = isinstance(data, list)  # a list seeds many orders in one request
        try:
            new = [_order(item, book.default_owner) for item in (data if many else [data])]
        except ValueError as exc:
            return _admin_error(400, str(exc))
        seeded = [order.to_dict() for order in book.seed_many(new)]
        return JSONResponse(seeded if many else seeded[0], 201)

    async def knobs(request: Request) -> Response:
        if request.method == "POST":
            changes = await _json(request)
            if not isinstance(changes, dict):
                return _admin_error(400, "knobs are a JSON object of name: value")
            try:
                book.set_knobs(**changes)
            except ValueError as exc:
                return _admin_error(400, str(exc))
        return JSONResponse(attrs.asdict(book.knobs))

    async def stats(request: Request) -> Response:
        return JSONResponse(attrs.asdict(book.stats))

    async def reset(request: Request) -> Response:
        book.reset()
        return JSONResponse({})

    async def fill(request: Request) -> Response:
        order = book.get(request.path_params["order_id"])
        if order is None:
            return _admin_error(404, "no such order")
        if not book.fill(order):
            return _admin_error(409, f"order is {order.status} and off the book")
        return JSONResponse(order.to_dict())

    def guarded(endpoint: Callable[[Request], Awaitable[Response]]) -> Any:
        async def run(request: Request) -> Response:
            try:
                return await endpoint(request)
            except Refusal as refusal:
                return refusal.response

        return run

    return [
        Route("/_sandbox/orders", guarded(orders), methods=["GET", "POST"]),
        Route("/_sandbox/knobs", guarded(knobs), methods=["GET", "POST"]),
        Route("/_sandbox/stats", stats),
        Route("/_sandbox/reset", reset, methods=["POST"]),
        Route("/_sandbox/orders/{order_id}/fill", fill, methods=["POST"]),
    ]

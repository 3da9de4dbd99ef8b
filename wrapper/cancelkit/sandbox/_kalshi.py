"""The Kalshi sandbox: ``KALSHI-ACCESS-*`` signatures, the V2 cancel family, token buckets.

Served under ``/trade-api/v2`` (the API root's path is part of what a client
signs): the V2 cancel, batch cancel and cancel-all, the order listing and one
order, the order-group trigger, and the legacy mutation endpoints, which answer
as the exchange has since June 2026 ("Please switch to the V2 endpoints").

Every request is signed as Kalshi describes: ``timestamp (ms) + METHOD + path``
(the full path, without the query), verified with the registered public key by
its type (RSA-PSS with SHA-256, MGF1(SHA-256) and a 32-byte salt; or Ed25519),
with a timestamp within 30 s of the sandbox clock (Kalshi's pages state no
window); then charged, as it arrives, to the key's Read or Write token bucket at
the ``tier`` knob's figures (the table the clients pace themselves with,
``cancelkit.kalshi._rates``); then validated against the verbatim pages in
``specs/kalshi/``. Orders belong to a member and a subaccount (0 to 63); a key
acts for its member's subaccounts. Kalshi has no pending-cancel state: an order
whose cancel is pending (the ``cancel_delay`` knob) is listed ``resting``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from .._limiter import Bucket
from ..kalshi import _rates as rates
from . import _common as common
from ._common import Endpoint, Refusal
from ._kalshi_ws import KalshiStreamHub
from ._state import CANCELLED, FILLED, OPEN, Arrival, Book, Order

PREFIX = "/trade-api/v2"
"""The API root's path: the sandbox's Kalshi base URL ends with it."""
WS_PATH = "/trade-api/ws/v2"
"""The WebSocket's path (the quick start's URL): the ``user_orders`` channel."""
DEFAULT_TICKER = "KXSANDBOX-26DEC31-T50"
MEMBER = "kalshi-demo"
"""The member (account) the demo keys act for."""
V2_HINT = "Please switch to the V2 endpoints"
LEGACY_CODE = "legacy_endpoint_deprecated"  # the sandbox's word: the changelog gives the message

# Kalshi's statuses for the sandbox's. An order whose cancel is still pending (the
# cancel_delay knob) is listed resting: Kalshi has no pending-cancel state.
STATUS_WORDS = {OPEN: "resting", CANCELLED: "canceled", FILLED: "executed"}
KALSHI_STATUSES = {word: status for status, word in STATUS_WORDS.items()}
MAX_SUBACCOUNT = 63
_DIGITS = re.compile(r"-?[0-9]{1,19}")  # an int64 has at most 19 digits
_ANY_DIGITS = re.compile(r"-?[0-9]+")
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=hashes.SHA256.digest_size)
_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    500: "internal_server_error",
}
_MAX_CURSOR = 1024
# Every tier's buckets, built once (the tier knob takes only these names).
_BUCKETS: dict[str, dict[str, Bucket]] = {tier: rates.buckets(tier) for tier in rates.TIERS}
_STRING_PARAMETERS = frozenset({"market_ticker", "ticker", "event_ticker", "cursor", "status"})


@attrs.frozen
class KalshiKey:
    """A registered Kalshi API key: its id, public key (its type decides the
    signature scheme) and the member it acts for."""

    key_id: str
    public_key: RSAPublicKey | Ed25519PublicKey
    member: str = MEMBER


def error(status: int, message: str, code: str | None = None) -> Response:
    """An error in Kalshi's ``ErrorResponse`` shape; a 429 as the rate-limit page
    documents it: ``{"error": "too many requests"}`` and no ``Retry-After``."""
    if status == 429:
        return JSONResponse({"error": "too many requests"}, 429)
    return JSONResponse({"code": code or _CODES.get(status, "error"), "message": message}, status)


def _fp(count: float) -> str:
    """A fixed-point count as responses emit it: 2 decimals."""
    return f"{count:.2f}"


def count_of(order: Order) -> float:
    """The order's size in contracts (1 to 100, derived from its id)."""
    return float(1 + hashlib.sha256(order.id.encode()).digest()[0] % 100)


def remaining(order: Order) -> float:
    """Contracts still resting (what a cancel now reduces the order by)."""
    return max(0.0, count_of(order) - order.filled)


def status_word(order: Order, now: float) -> str:
    """``resting``, ``canceled`` or ``executed`` (resting while a cancel is pending)."""
    return "resting" if order.on_book(now) else STATUS_WORDS.get(order.status, "canceled")


def _stamp(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")


def order_json(order: Order, now: float) -> dict[str, Any]:
    """The order as ``GET /portfolio/orders`` and ``GET /portfolio/orders/{id}`` show
    it: every required field of ``Order``, plausible values derived from its id."""
    h = hashlib.sha256(order.id.encode()).digest()
    status = status_word(order, now)
    count = count_of(order)
    filled = count if status == "executed" else min(order.filled, count)
    left = count - filled if status == "resting" else 0.0
    yes = 1 + h[4] % 98
    bid = h[3] % 2 == 0
    return {
        "order_id": order.id,
        "user_id": order.owner,
        "client_order_id": order.client_order_id or "",
        "ticker": order.market_slug or DEFAULT_TICKER,
        "outcome_side": "yes" if bid else "no",
        "book_side": "bid" if bid else "ask",
        "type": "limit",
        "status": status,
        "yes_price_dollars": f"0.{yes:02d}00",
        "no_price_dollars": f"0.{100 - yes:02d}00",
        "fill_count_fp": _fp(filled),
        "remaining_count_fp": _fp(left),
        "initial_count_fp": _fp(count),
        "taker_fees_dollars": "0.0000",
        "maker_fees_dollars": "0.0000",
        "taker_fill_cost_dollars": "0.0000",
        "maker_fill_cost_dollars": f"{filled * yes / 100:.4f}",
        "created_time": _stamp(order.created_at),
        "subaccount_number": order.subaccount or 0,
        "exchange_index": 0,
    }


def event_of(ticker: str) -> str:
    """The event ticker of a market ticker (all but its last ``-`` part)."""
    return ticker.rsplit("-", 1)[0]


def _route(pattern: str) -> re.Pattern[bytes]:
    return re.compile(re.escape(PREFIX).encode() + pattern.encode())


_BATCH = _route(r"/portfolio/events/orders/batched")
_CANCEL = _route(r"/portfolio/events/orders/([^/]+)")
_CANCEL_ALL = _route(r"/portfolio/events/orders")
_ORDERS = _route(r"/portfolio/orders")
_LEGACY_BATCH = _route(r"/portfolio/orders/batched")
_ORDER = _route(r"/portfolio/orders/([^/]+)")
_LEGACY_CHANGE = _route(r"/portfolio/orders/([^/]+)/(?:decrease|amend)")
_TRIGGER = _route(r"/portfolio/order_groups/([^/]+)/trigger")


class _RawDispatch(common.RawDispatch):
    """Kalshi's API on the raw path (see :class:`~._common.RawDispatch`)."""

    def refuse(self, status: int, message: str) -> Response:
        """A 404 or 405 in Kalshi's error shape."""
        return error(status, message)


def _verify(key: KalshiKey, signature: bytes, message: bytes) -> None:
    """Raise InvalidSignature unless ``signature`` is the key's over ``message``."""
    public = key.public_key
    if isinstance(public, Ed25519PublicKey):
        public.verify(signature, message)
    else:
        public.verify(signature, message, _PSS, hashes.SHA256())


def _path_id(pattern: re.Pattern[bytes], request: Request) -> str:
    match = pattern.fullmatch(common.raw_path(request))
    assert match is not None  # routed here by this pattern
    return unquote(match[1].decode("latin-1"))


def kalshi_app(
    book: Book, keys: dict[str, KalshiKey], hub: KalshiStreamHub | None = None
) -> ASGIApp:
    """Kalshi's order-cancel family, signed requests only, and the ``user_orders``
    WebSocket (``hub``'s); see the module's docstring."""
    hub = hub or KalshiStreamHub(book, order_json)

    def authenticate(request: HTTPConnection, method: str | None = None) -> KalshiKey:
        key = keys.get(common.single_header(request, "kalshi-access-key", error))
        if key is None:
            raise Refusal(error(401, "unknown or missing KALSHI-ACCESS-KEY"))
        stamp = common.single_header(request, "kalshi-access-timestamp", error).encode("latin-1")
        if not common.MILLIS.fullmatch(stamp) or common.skewed(book, int(stamp) / 1000):
            raise Refusal(
                error(401, "KALSHI-ACCESS-TIMESTAMP missing or more than 30 s from server time")
            )
        # What Kalshi signs: the path from the host, the query cut off.
        verb = method if method is not None else request.scope["method"]
        message = stamp + verb.encode() + common.raw_path(request)
        try:
            signature = base64.b64decode(
                common.single_header(request, "kalshi-access-signature", error), validate=True
            )
            _verify(key, signature, message)
        except (InvalidSignature, binascii.Error, ValueError):
            raise Refusal(error(401, "invalid KALSHI-ACCESS-SIGNATURE")) from None
        return key

    def charge(key: KalshiKey, operation: str, units: int = 1) -> None:
        """The operation's tokens from the key's bucket at the tier knob's figures, or
        429 (while ``published_limits`` is on)."""
        if not book.knobs.published_limits:
            return
        bucket_name, cost = rates.COSTS[operation]
        bucket = _BUCKETS[book.knobs.tier][bucket_name]
        name = f"{key.key_id}|{bucket.name}"
        if not book.take_tokens(name, bucket.rate, bucket.capacity, cost * units):
            raise Refusal(error(429, "too many requests"))

    async def admitted(
        request: Request,
        body: bytes,
        operation: str,
        page: str | None,
        units: Callable[[bytes], int] | None = None,
    ) -> tuple[Arrival, KalshiKey, Any]:
        """Auth, the key's tokens, the page's contract, the faults, the injected 500:
        what every endpoint goes through before it acts. ``units``: how many of the
        operation's cost the request takes, from its body."""
        # Authenticated first: an unsigned request must not spend a key's tokens.
        key: KalshiKey = common.counting_auth_failures(book, lambda: authenticate(request))
        # Charged as it arrives, before the contract check (milliseconds for a batch,
        # more for a page's first request in a process): a client pacing itself by the
        # same buckets must not meet a 429 made by the sandbox's own work.
        charge(key, operation, 1 if units is None else units(body))
        payload = None
        if page is not None:
            # An empty string parameter is an absent one to the exchange (its Go types
            # skip the optional pointer); openapi-core would refuse it.
            query = [
                (name, value)
                for name, value in request.query_params.multi_items()
                if value or name not in _STRING_PARAMETERS
            ]
            payload = common.contract_check(book, f"kalshi/{page}", request, body, error, query)
        # No operation: Polymarket's per-endpoint windows (endpoint_limits) are not
        # Kalshi's; its limits are the buckets above.
        arrival = await common.faults(book, request, body, key.key_id, error)
        if arrival.fault(book.knobs.failure_rate, "failures_injected"):
            raise Refusal(error(500, "sandbox: injected internal error"))
        return arrival, key, payload

    def subaccount_query(request: Request, default: int | None) -> int | None:
        """The ``subaccount`` query value (0 to 63), ``default`` if absent; 400 else."""
        value = one(request, "subaccount")
        return default if value is None else subaccount_value(value)

    def subaccount_value(value: object) -> int:
        if isinstance(value, str) and _DIGITS.fullmatch(value):
            value = int(value)
        elif isinstance(value, str) and _ANY_DIGITS.fullmatch(value):
            value = MAX_SUBACCOUNT + 1  # an integer past int64: out of range, not "not one"
        if isinstance(value, bool) or not isinstance(value, int):
            raise Refusal(error(400, "subaccount must be an integer"))
        if not 0 <= value <= MAX_SUBACCOUNT:
            raise Refusal(error(400, f"subaccount must be 0 (primary) to {MAX_SUBACCOUNT}"))
        return value

    def mine(order_id: str, key: KalshiKey, subaccount: int | None) -> Order | None:
        """The member's order with this id (in ``subaccount`` unless None), else None:
        another member's order is as unknown as no order."""
        order = book.get(order_id)
        if order is None or order.owner != key.member:
            return None
        if subaccount is not None and (order.subaccount or 0) != subaccount:
            return None
        return order

    def in_market(order: Order, ticker: object) -> bool:
        return not ticker or ticker == (order.market_slug or DEFAULT_TICKER)

    async def cancel(request: Request, body: bytes) -> Response:
        order_id = _path_id(_CANCEL, request)
        arrival, key, _ = await admitted(request, body, rates.CANCEL, "cancel-order-v2")
        # "Defaults to 0": a cancel without subaccount reaches the primary's orders only.
        order = mine(order_id, key, subaccount_query(request, 0))
        if order is None or not in_market(order, request.query_params.get("market_ticker")):
            return error(404, "order not found")
        answer = cancelled_entry(order, remaining(order))
        if arrival.fault(book.knobs.wrong_answer_rate, "wrong_answers"):
            answer = misdescribed(answer)
        return common.take_effect(
            book,
            arrival,
            order,
            not_open=error(404, "order not found or no longer resting"),
            done=JSONResponse(answer),
        )

    def misdescribed(answer: dict[str, Any]) -> dict[str, Any]:
        """The answer about another order (changelog 2026-05-21): its id, client id
        and quantity are not the request's."""
        other = hashlib.sha256(b"other|" + answer["order_id"].encode()).hexdigest()
        return answer | {
            "order_id": str(uuid.UUID(other[:32])),
            "client_order_id": other[32:],
            "reduced_by": _fp(float(answer["reduced_by"]) + 1),
        }

    def cancelled_entry(order: Order, reduced: float) -> dict[str, Any]:
        entry: dict[str, Any] = {"order_id": order.id}
        if order.client_order_id is not None:
            entry["client_order_id"] = order.client_order_id
        entry["reduced_by"] = _fp(reduced)
        entry["ts_ms"] = int(book.now() * 1000)
        return entry

    def batch_units(body: bytes) -> int:
        """The orders a batch body lists (2 tokens each), read before the contract
        check; a body that lists none readable costs one order's worth (its 400
        comes next). No minItems, and Go's ``validate: required`` takes an empty list:
        answered with no entries, charged nothing."""
        try:
            orders = json.loads(body).get("orders")
        except (ValueError, RecursionError, AttributeError):
            return 1
        return len(orders) if isinstance(orders, list) else 1

    def batch_items(payload: Any) -> list[tuple[str, int, Any]]:
        """(order id, subaccount, market ticker) of every entry, all checked before
        any is acted on: a bad entry refuses the whole batch (400)."""
        orders = payload.get("orders") if isinstance(payload, dict) else None
        if not isinstance(orders, list) or not all(isinstance(o, dict) for o in orders):
            # Only reachable with the validate knob off; the exchange's word is a 400.
            raise Refusal(error(400, "orders must be a list of {order_id, subaccount} objects"))
        items = []
        for item in orders:
            order_id = item.get("order_id")
            if not isinstance(order_id, str):  # validate knob off
                raise Refusal(error(400, "each order needs an order_id string"))
            items.append(
                (order_id, subaccount_value(item.get("subaccount", 0)), item.get("market_ticker"))
            )
        return items

    async def cancel_batch(request: Request, body: bytes) -> Response:
        # The whole batch is charged at once (2 tokens per order): one that does not
        # fit the Write bucket is refused whole, as the rate-limit page says.
        arrival, key, payload = await admitted(
            request, body, rates.CANCEL_BATCH, "batch-cancel-orders-v2", batch_units
        )
        entries = []
        effect = False
        for order_id, account, ticker in batch_items(payload):
            order = mine(order_id, key, account)
            if order is not None and not in_market(order, ticker):
                order = None
            if order is None:
                entries.append(failed_entry(order_id, None, "not_found", "order not found"))
                continue
            reduced = remaining(order)
            if book.cancel(order) and order.status != FILLED:
                effect = True
                entries.append(cancelled_entry(order, reduced))
                continue
            # Not resting (or it filled while the cancel was pending: fill_pending).
            word = "executed" if order.status == FILLED else STATUS_WORDS[order.status]
            entries.append(failed_entry(order_id, order, "order_not_resting", f"order is {word}"))
        if effect and arrival.fault(book.knobs.drop_rate, "drops_injected"):
            return common.DropAfterEffect()
        return JSONResponse({"orders": entries})

    def failed_entry(order_id: str, order: Order | None, code: str, message: str) -> dict[str, Any]:
        """A batch entry whose cancel errored: ``reduced_by`` zero, no ``ts_ms``."""
        entry: dict[str, Any] = {"order_id": order_id, "reduced_by": _fp(0)}
        if order is not None and order.client_order_id is not None:
            entry["client_order_id"] = order.client_order_id
        entry["error"] = {"code": code, "message": message}
        return entry

    async def cancel_all(request: Request, body: bytes) -> Response:
        arrival, key, _ = await admitted(request, body, rates.CANCEL_ALL, "cancel-all-orders")
        # No subaccount: every subaccount's resting orders, across every shard.
        account = subaccount_query(request, None)
        effect = False
        for order in member_orders(key, account):
            if order.status == OPEN:
                effect = book.cancel(order) or effect
        if effect and arrival.fault(book.knobs.drop_rate, "drops_injected"):
            return common.DropAfterEffect()
        return Response(status_code=204)

    def member_orders(key: KalshiKey, subaccount: int | None) -> list[Order]:
        with book.lock:
            return [
                o
                for o in book.orders.values()
                if o.owner == key.member
                and (subaccount is None or (o.subaccount or 0) == subaccount)
            ]

    def one(request: Request, name: str) -> str | None:
        values = request.query_params.getlist(name)
        if len(values) > 1:
            raise Refusal(error(400, f"{name} given {len(values)} times"))
        return values[0] if values else None

    def number(request: Request, name: str) -> int | None:
        value = one(request, name)
        if value is None:
            return None
        if not _DIGITS.fullmatch(value):
            raise Refusal(error(400, f"{name} must be an integer"))
        return int(value)

    async def list_orders(request: Request, body: bytes) -> Response:
        _, key, _ = await admitted(request, body, rates.LIST, "get-orders")
        account = subaccount_query(request, None)  # omitted: every subaccount
        status = one(request, "status")
        if status and status not in KALSHI_STATUSES:
            return error(400, f"status must be one of {', '.join(KALSHI_STATUSES)}")
        limit = number(request, "limit")
        limit = 100 if limit is None else limit
        if not 1 <= limit <= 1000:
            return error(400, "limit must be from 1 to 1000")
        ticker = one(request, "ticker")
        events = set(filter(None, (one(request, "event_ticker") or "").split(",")))
        min_ts, max_ts = number(request, "min_ts"), number(request, "max_ts")
        shard = number(request, "exchange_index")
        now = time.monotonic()
        chosen = [
            o
            for o in member_orders(key, account)
            if (not status or status_word(o, now) == status)
            and in_market(o, ticker)
            and (not events or event_of(o.market_slug or DEFAULT_TICKER) in events)
            and (min_ts is None or o.created_at >= min_ts)
            and (max_ts is None or o.created_at <= max_ts)
            and (shard is None or shard == 0)
        ]
        start = after_cursor(chosen, one(request, "cursor") or "")
        page = chosen[start : start + limit]
        more = start + limit < len(chosen)
        cursor = _cursor(page[-1].id) if more and page else ""
        return JSONResponse({"orders": [order_json(o, now) for o in page], "cursor": cursor})

    def after_cursor(chosen: list[Order], cursor: str) -> int:
        """Where the page after ``cursor`` (the last order id of the page before) starts."""
        if not cursor:
            return 0
        try:
            last = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("utf-8")
        except (UnicodeError, binascii.Error, ValueError):
            raise Refusal(error(400, "invalid cursor")) from None
        if len(cursor) > _MAX_CURSOR or _cursor(last) != cursor:
            raise Refusal(error(400, "invalid cursor"))
        for index, order in enumerate(chosen):
            if order.id == last:
                return index + 1
        # The order that ended the last page left the listing (cancelled): the next
        # page starts after the orders seeded before it.
        with book.lock:
            ids = list(book.orders)
        if last not in ids:  # no order of this book ever ended a page with that id
            raise Refusal(error(400, "invalid cursor"))
        before = set(ids[: ids.index(last)])
        return sum(1 for o in chosen if o.id in before)

    async def get_order(request: Request, body: bytes) -> Response:
        order_id = _path_id(_ORDER, request)
        _, key, _ = await admitted(request, body, rates.GET_ORDER, "get-order")
        order = mine(order_id, key, None)  # any subaccount of the member
        if order is None:
            return error(404, "order not found")
        return JSONResponse({"order": order_json(order, time.monotonic())})

    async def trigger(request: Request, body: bytes) -> Response:
        await admitted(request, body, rates.TRIGGER_GROUP, "trigger-order-group")
        return error(404, "order group not found")  # the sandbox has no order groups

    async def legacy(request: Request, body: bytes) -> Response:
        # Signed like any request; then the answer the exchange has given since June
        # 2026 (changelog 2026-06-18). Not charged: no operation of the table.
        common.counting_auth_failures(book, lambda: authenticate(request))
        return error(400, V2_HINT, LEGACY_CODE)

    routes: list[tuple[re.Pattern[bytes], dict[str, Endpoint]]] = [
        (_BATCH, {"DELETE": cancel_batch}),
        (_CANCEL, {"DELETE": cancel}),
        (_CANCEL_ALL, {"DELETE": cancel_all}),
        (_ORDERS, {"GET": list_orders, "POST": legacy}),
        # GET reads an order whose id is "batched" (none is): GetOrder answers it.
        (_LEGACY_BATCH, {"DELETE": legacy, "POST": legacy, "GET": get_order}),
        (_ORDER, {"GET": get_order, "DELETE": legacy}),
        (_LEGACY_CHANGE, {"POST": legacy}),
        (_TRIGGER, {"PUT": trigger}),
    ]

    async def stream_member(ws: WebSocket) -> str:
        if common.raw_path(ws) != WS_PATH.encode():
            raise Refusal(error(404, "Not Found"))
        # The same check as every REST request: the upgrade is a GET of the path.
        key: KalshiKey = common.counting_auth_failures(book, lambda: authenticate(ws, "GET"))
        return key.member

    async def stream(scope: Scope, receive: Receive, send: Send) -> None:
        await hub.serve(WebSocket(scope, receive, send), stream_member)

    admin = common.starlette(common.admin_routes(book), error)
    return common.DateHeader(_RawDispatch(admin, routes, book, stream), book)


def _cursor(order_id: str) -> str:
    return base64.urlsafe_b64encode(order_id.encode("utf-8")).decode("ascii")

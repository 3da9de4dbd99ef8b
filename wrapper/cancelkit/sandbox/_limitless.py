"""The Limitless sandbox: HMAC ``lmts-*`` auth, the cancel family, the published pace.

Served: the combined cancel, the legacy DELETE, batch-cancel (and the legacy
cancel-batch), cancel-all per market, a market's user orders, the status lookup,
the public maintenance status, and the private order stream (``_limitless_ws``).
Every request is validated against the document the client is generated from (the
verbatim pages, and the provisional operations until their pages are in specs/),
then checked by hand where the
exchange's documented answer depends on it (both or neither list: 400).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from datetime import datetime
from typing import Any
from uuid import UUID

import attrs
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp
from starlette.websockets import WebSocket

from . import _common as common
from . import _contract
from ._common import Refusal
from ._limitless_ws import LimitlessStreamHub, polling
from ._state import CANCELLED, FILLED, OPEN, Arrival, Book, Order

DELEGATED = "delegated_signing"
# ISO-8601 UTC with milliseconds and Z, as the exchange documents and nothing looser.
_STAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")
# A profile id: ASCII digits only (str.isdigit() and int() also take superscript
# and Arabic-Indic digits).
_PROFILE = re.compile(r"[0-9]{1,19}")
_MAX_PROFILE = 2**63 - 1
# The one spelling of a UUID that POST /orders/cancel accepts (format: uuid); UUID()
# alone would also take braces, "urn:uuid:" and the hyphen-less form.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
NOT_FOUND = "ORDER_NOT_FOUND"
_NOT_FOUND_MESSAGE = "Order not found or already canceled"
STUCK = "CANCEL_FAILED"  # the cancel_all_stuck knob's reason (the sandbox's own word)
# How the exchange names an order's state in listings (page: user-orders).
_LISTED = {OPEN: "LIVE", CANCELLED: "CANCELED", FILLED: "MATCHED"}
_DIGITS = re.compile(r"[0-9]+")
_BATCH_MAX = 50  # the page's limit, enforced here even with validation off
_CLIENT_ID_MAX = 128


@attrs.frozen
class LimitlessToken:
    """A Limitless scoped token: id, HMAC key, profile, scopes and managed sub-accounts."""

    token_id: str
    secret: bytes = attrs.field(repr=False)
    profile_id: int
    scopes: frozenset[str] = frozenset({"trading"})
    sub_accounts: frozenset[int] = frozenset()


def error(status: int, message: str) -> Response:
    """An error in the shape the Limitless (NestJS) API answers with."""
    return JSONResponse({"message": message, "statusCode": status}, status)


def limitless_app(
    book: Book, tokens: dict[str, LimitlessToken], hub: LimitlessStreamHub | None = None
) -> ASGIApp:
    """Limitless: ``POST /orders/cancel`` (and legacy ``DELETE /orders/{orderId}``), HMAC;
    the private order stream (``hub``'s) at ``/socket.io/``."""
    hub = hub or LimitlessStreamHub(book)

    def authenticate(
        request: HTTPConnection, body: bytes, method: str | None = None
    ) -> LimitlessToken:
        token = tokens.get(common.single_header(request, "lmts-api-key", error))
        if token is None:
            raise Refusal(error(401, "unknown or missing lmts-api-key"))
        stamp = common.single_header(request, "lmts-timestamp", error)
        if not _STAMP.fullmatch(stamp):
            raise Refusal(error(401, "lmts-timestamp is not ISO-8601 UTC with milliseconds"))
        try:
            moment = datetime.fromisoformat(stamp).timestamp()
        except ValueError:  # right shape, impossible date (month 13)
            raise Refusal(error(401, "lmts-timestamp is not a valid time")) from None
        if common.skewed(book, moment):
            raise Refusal(error(401, "lmts-timestamp more than 30 s from server time"))
        signed = b"%s\n%s\n%s\n" % (
            stamp.encode(),
            (method or request.scope["method"]).encode(),
            common.raw_target(request),
        )
        expected = hmac.new(token.secret, signed + body, hashlib.sha256).digest()
        try:
            given = base64.b64decode(
                common.single_header(request, "lmts-signature", error), validate=True
            )
        except (binascii.Error, ValueError):
            given = b""
        if not hmac.compare_digest(expected, given):
            raise Refusal(error(401, "invalid lmts-signature"))
        return token

    def acting_owner(request: Request, token: LimitlessToken) -> int:
        values = request.query_params.getlist("onBehalfOf")
        if not values:
            return token.profile_id
        if len(values) > 1:
            raise Refusal(error(400, f"onBehalfOf given {len(values)} times"))
        if not _PROFILE.fullmatch(values[0]) or not 0 < int(values[0]) <= _MAX_PROFILE:
            raise Refusal(error(400, "onBehalfOf must be a positive integer"))
        profile = int(values[0])
        if DELEGATED not in token.scopes:
            raise Refusal(error(401, "onBehalfOf requires the delegated_signing scope"))
        if profile not in token.sub_accounts:
            raise Refusal(error(401, f"profile {profile} is not a sub-account of this partner"))
        return profile

    async def guarded(request: Request, body: bytes) -> tuple[Arrival, int]:
        # Authenticated first: an unsigned request naming a token must not spend its
        # rate budget (nor grow the limiter's state with made-up token ids).
        token = common.counting_auth_failures(book, lambda: authenticate(request, body))
        arrival = await common.faults(book, request, body, token.token_id, error)
        owner = acting_owner(request, token)
        if book.knobs.maintenance == "disabled" and request.method != "GET":
            raise Refusal(error(503, "Trading is disabled for maintenance"))
        return arrival, owner

    def validated(request: Request, body: bytes) -> Any:
        """The body as the operation's spec unmarshals it (or its 400/401)."""
        path = common.raw_path(request).decode("latin-1")
        page = _contract.page_for("limitless", request.method, path) or "limitless/cancel"
        return common.contract_check(book, page, request, body, error)

    def paced(endpoint: common.Endpoint) -> common.Endpoint:
        """The published pace, per token, counted only for signed requests (an
        unsigned one naming a token must not spend its budget): beyond it, 429."""

        def signed(request: Request, body: bytes) -> bool:
            try:
                authenticate(request, body)
            except Refusal:
                return False
            return True

        async def run(request: Request, body: bytes) -> Response:
            key = request.headers.get("lmts-api-key", "")
            if key not in tokens or not signed(request, body):
                return await endpoint(request, body)  # its 401 comes from the endpoint
            if not book.admit(key):
                return error(429, "Too Many Requests")
            try:
                return await endpoint(request, body)
            finally:
                book.leave(key)

        return run

    def finish(arrival: Arrival, order: Order | None, owner: int) -> Response:
        if arrival.fault(book.knobs.failure_rate, "failures_injected"):
            return error(500, "sandbox: injected internal error")
        if order is None:
            return error(404, "Order not found")
        if order.owner != str(owner):
            return error(401, "Not the order owner")
        return common.take_effect(
            book,
            arrival,
            order,
            not_open=error(400, f"Order cannot be cancelled: it is {order.status}"),
            done=JSONResponse({"message": "Order canceled successfully"}),
        )

    async def cancel(request: Request, body: bytes) -> Response:
        arrival, owner = await guarded(request, body)
        payload = validated(request, body)
        if not isinstance(payload, dict):
            return error(400, "body must be a JSON object")
        field = "orderId" if "orderId" in payload else "clientOrderId"
        value = payload.get(field)
        if not isinstance(value, str | UUID):  # (the contract unmarshals a uuid)
            return error(400, f"{field} must be a string")  # only with validate off
        by_id = field == "orderId"
        order = book.get(str(value)) if by_id else book.by_client_id(str(owner), str(value))
        return finish(arrival, order, owner)

    async def legacy_delete(request: Request, body: bytes) -> Response:
        # Not in the published spec (the page says it still works): checked by hand,
        # with the same id form as POST /orders/cancel.
        arrival, owner = await guarded(request, body)
        order_id = request.path_params["order_id"]
        if not _UUID.fullmatch(order_id):
            return error(400, "orderId must be a UUID")
        return finish(arrival, book.get(order_id.lower()), owner)

    def answer(owner: int, ids: list[str], by_client: bool, stuck: int = 0) -> dict[str, Any]:
        """Cancel each identified order of ``owner``: ``canceled`` (internal ids) and
        ``failed`` (the identifier as given, a reason and a message)."""
        canceled: list[str] = []
        failed: list[dict[str, str]] = []
        for given in ids:
            order = book.by_client_id(str(owner), given) if by_client else book.get(given.lower())
            if order is None or order.owner != str(owner) or order.status != OPEN:
                # Another account's order is as unknown as no order at all.
                failed.append(
                    {"orderId": given, "reason": NOT_FOUND, "message": _NOT_FOUND_MESSAGE}
                )
            elif stuck > 0:
                stuck -= 1
                failed.append(
                    {"orderId": given, "reason": STUCK, "message": "sandbox: could not cancel"}
                )
            elif book.cancel(order):
                canceled.append(order.id)
            else:
                failed.append(
                    {"orderId": given, "reason": NOT_FOUND, "message": _NOT_FOUND_MESSAGE}
                )
        return {
            "message": f"{len(canceled)} order(s) canceled",
            "canceled": canceled,
            "failed": failed,
        }

    def identifiers(payload: Any, legacy: bool) -> tuple[list[str], bool]:
        """The one list the body gives; 400 for both, neither, too many, a bad id."""
        if not isinstance(payload, dict):
            raise Refusal(error(400, "body must be a JSON object"))
        given = [k for k in ("orderIds", "clientOrderIds") if k in payload]
        if legacy and given != ["orderIds"]:
            raise Refusal(error(400, "orderIds must be given"))
        if len(given) != 1:
            raise Refusal(error(400, "Provide exactly one of orderIds or clientOrderIds"))
        # openapi-core unmarshals format: uuid into UUID objects: back to their text.
        ids = [str(i) if isinstance(i, UUID) else i for i in payload[given[0]] or ()]
        if not isinstance(payload[given[0]], list) or not all(isinstance(i, str) for i in ids):
            raise Refusal(error(400, f"{given[0]} must be an array of strings"))
        if len(ids) > _BATCH_MAX:
            raise Refusal(error(400, f"{given[0]} must contain no more than 50 elements"))
        by_client = given[0] == "clientOrderIds"
        for item in ids:
            if by_client and len(item) > _CLIENT_ID_MAX:
                raise Refusal(error(400, "each clientOrderId must be at most 128 characters"))
            if not by_client and not _UUID.fullmatch(item):
                raise Refusal(error(400, "each value in orderIds must be a UUID"))
        return ids, by_client

    def batch_cancel(legacy: bool) -> common.Endpoint:
        async def run(request: Request, body: bytes) -> Response:
            arrival, owner = await guarded(request, body)
            ids, by_client = identifiers(validated(request, body), legacy)
            if arrival.fault(book.knobs.failure_rate, "failures_injected"):
                return error(500, "sandbox: injected internal error")
            return JSONResponse(answer(owner, ids, by_client))

        return run

    async def cancel_all(request: Request, body: bytes) -> Response:
        arrival, owner = await guarded(request, body)
        validated(request, body)
        if arrival.fault(book.knobs.failure_rate, "failures_injected"):
            return error(500, "sandbox: injected internal error")
        slug = request.path_params["slug"]
        ids = [o.id for o in book.owned(str(owner), slug) if o.status == OPEN]
        result = answer(owner, ids, False, stuck=book.knobs.cancel_all_stuck)
        if result["failed"]:
            result["message"] = "Partial success - some orders cancelled, some failed"
            return JSONResponse(result, 207)
        result["message"] = "All orders successfully cancelled"
        return JSONResponse(result)

    def listed(order: Order) -> dict[str, Any]:
        status = "LIVE" if order.on_book() else _LISTED.get(order.status, "UNMATCHED")
        return {
            "id": order.id,
            "clientOrderId": order.client_order_id,
            "marketSlug": order.market_slug,
            "status": status,
        }

    async def user_orders(request: Request, body: bytes) -> Response:
        _, owner = await guarded(request, body)
        validated(request, body)
        wanted = set(request.query_params.getlist("statuses")) or {"LIVE"}
        if not wanted <= set(_LISTED.values()) | {"UNMATCHED"}:
            return error(400, "statuses must be LIVE, MATCHED, CANCELED or UNMATCHED")
        limit_text = request.query_params.get("limit")
        limit: int | None = None
        if limit_text is not None:
            # Any positive integer, however long (a count beyond the book is no limit).
            if not _DIGITS.fullmatch(limit_text) or not limit_text.strip("0"):
                return error(400, "limit must be a positive integer")
            limit = int(limit_text) if len(limit_text) <= 18 else None
        found = [listed(o) for o in book.owned(str(owner), request.path_params["slug"])]
        data = [o for o in found if o["status"] in wanted]
        return JSONResponse({"data": data[:limit] if limit else data})

    async def status_batch(request: Request, body: bytes) -> Response:
        _, owner = await guarded(request, body)
        payload = validated(request, body)
        items = payload.get("items") if isinstance(payload, dict) else None
        if not isinstance(items, list) or not 1 <= len(items) <= _BATCH_MAX:
            return error(400, "items must hold 1 to 50 entries")
        results = []
        for index, item in enumerate(items):
            if not isinstance(item, dict) or len(set(item) & {"orderId", "clientOrderId"}) != 1:
                return error(400, f"items[{index}]: exactly one of orderId or clientOrderId")
            order_id, client_id = item.get("orderId"), item.get("clientOrderId")
            order_id = str(order_id) if isinstance(order_id, UUID) else order_id
            if order_id is not None:
                if not isinstance(order_id, str) or not _UUID.fullmatch(order_id):
                    return error(400, f"items[{index}].orderId must be a UUID")
                order = book.get(order_id.lower())
            else:
                if not isinstance(client_id, str) or len(client_id) > _CLIENT_ID_MAX:
                    return error(400, f"items[{index}].clientOrderId: at most 128 characters")
                order = book.by_client_id(str(owner), client_id)
            if order is None or order.owner != str(owner):
                results.append(
                    {
                        "index": index,
                        "status": "not_found",
                        "error": "Order not found",
                        "orderId": order_id,
                        "clientOrderId": client_id,
                        "data": None,
                    }
                )
                continue
            results.append(
                {
                    "index": index,
                    "status": "found",
                    "error": None,
                    "orderId": order.id,
                    "clientOrderId": order.client_order_id,
                    "data": listed(order),
                }
            )
        return JSONResponse({"results": results})

    async def maintenance(request: Request) -> Response:
        book.count("requests")
        mode = book.knobs.maintenance
        effects = [] if mode == "normal" else [{"mode": mode, "message": f"sandbox: {mode}"}]
        return JSONResponse({"active": effects, "scheduled": []})

    async def stream_owner(ws: WebSocket) -> str:
        # The upgrade is signed as a REST GET of its path and query, empty body.
        token = common.counting_auth_failures(book, lambda: authenticate(ws, b"", "GET"))
        return str(token.profile_id)

    async def stream(ws: WebSocket) -> None:
        await hub.serve(ws, stream_owner)

    def route(path: str, endpoint: common.Endpoint, method: str) -> Route:
        return Route(path, common.handler(book, paced(endpoint)), methods=[method])

    routes = [
        route("/orders/cancel", cancel, "POST"),
        route("/orders/batch-cancel", batch_cancel(legacy=False), "POST"),
        route("/orders/cancel-batch", batch_cancel(legacy=True), "POST"),
        route("/orders/status/batch", status_batch, "POST"),
        route("/orders/all/{slug}", cancel_all, "DELETE"),
        route("/markets/{slug}/user-orders", user_orders, "GET"),
        Route("/maintenance/status", maintenance, methods=["GET"]),
        WebSocketRoute("/socket.io/", stream),
        Route("/socket.io/", polling, methods=["GET", "POST"]),
        route("/orders/{order_id}", legacy_delete, "DELETE"),
        *common.admin_routes(book),
    ]
    return common.DateHeader(common.starlette(routes, error), book)

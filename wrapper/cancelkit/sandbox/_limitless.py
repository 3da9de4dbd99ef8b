"""The Limitless sandbox: HMAC ``lmts-*`` auth, the combined cancel, the legacy DELETE."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from datetime import datetime

import attrs
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from . import _common as common
from ._common import Refusal
from ._state import Arrival, Book, Order

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


def limitless_app(book: Book, tokens: dict[str, LimitlessToken]) -> ASGIApp:
    """Limitless: ``POST /orders/cancel`` (and legacy ``DELETE /orders/{orderId}``), HMAC."""

    def authenticate(request: Request, body: bytes) -> LimitlessToken:
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
            request.method.encode(),
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
        arrival = await common.faults(
            book, request, body, request.headers.get("lmts-api-key", ""), error
        )
        token = common.counting_auth_failures(book, lambda: authenticate(request, body))
        return arrival, acting_owner(request, token)

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
        payload = common.contract_check(book, "limitless/cancel", request, body, error)
        if not isinstance(payload, dict):
            return error(400, "body must be a JSON object")
        if "orderId" in payload:
            order = book.get(str(payload["orderId"]))
        else:
            order = book.by_client_id(str(owner), str(payload.get("clientOrderId")))
        return finish(arrival, order, owner)

    async def legacy_delete(request: Request, body: bytes) -> Response:
        # Not in the published spec (the page says it still works): checked by hand,
        # with the same id form as POST /orders/cancel.
        arrival, owner = await guarded(request, body)
        order_id = request.path_params["order_id"]
        if not _UUID.fullmatch(order_id):
            return error(400, "orderId must be a UUID")
        return finish(arrival, book.get(order_id.lower()), owner)

    routes = [
        Route("/orders/cancel", common.handler(book, cancel), methods=["POST"]),
        Route("/orders/{order_id}", common.handler(book, legacy_delete), methods=["DELETE"]),
        *common.admin_routes(book),
    ]
    return common.DateHeader(common.starlette(routes, error), book)

"""The Polymarket US sandbox: Ed25519 ``X-PM-*`` auth, the cancel endpoint, faults."""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import unquote

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from . import _common as common
from ._common import Refusal
from ._state import Book

_CANCEL = re.compile(rb"/v1/order/([^/]+)/cancel")
# Milliseconds since the epoch in ASCII digits; 16 digits reach the year 2286, so
# nothing longer can be in the window (and int() never sees a 5,000-digit string).
_MILLIS = re.compile(rb"[0-9]{1,16}")


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


class _RawDispatch:
    """Sends every API request to one endpoint that routes on the raw path itself.

    Starlette routes on the decoded path, where %2F becomes a separator and a
    decoded newline defeats the route pattern; the exchange sees the wire path.
    """

    def __init__(self, admin: ASGIApp, endpoint: common.Endpoint, book: Book) -> None:
        self.admin = admin
        self.handle = common.handler(book, endpoint)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox/"):
            await self.admin(scope, receive, send)
            return
        request = Request(scope, receive)
        if request.method != "POST":
            response = error(405, "Method Not Allowed")
        else:
            response = await self.handle(request)
        await response(scope, receive, send)


def polymarket_app(book: Book, keys: dict[str, PolymarketKey]) -> ASGIApp:
    """Polymarket US: ``POST /v1/order/{orderId}/cancel`` with Ed25519 ``X-PM-*`` headers."""

    def authenticate(request: Request) -> PolymarketKey:
        key = keys.get(common.single_header(request, "x-pm-access-key", error))
        if key is None:
            raise Refusal(error(401, "unknown or missing X-PM-Access-Key"))
        stamp = common.single_header(request, "x-pm-timestamp", error).encode("latin-1")
        if not _MILLIS.fullmatch(stamp) or common.skewed(book, int(stamp) / 1000):
            raise Refusal(error(401, "X-PM-Timestamp missing or more than 30 s from server time"))
        signed = stamp + request.method.encode() + common.raw_path(request)
        try:
            signature = base64.b64decode(
                common.single_header(request, "x-pm-signature", error), validate=True
            )
            Ed25519PublicKey.from_public_bytes(key.public_key).verify(signature, signed)
        except (InvalidSignature, binascii.Error, ValueError):
            raise Refusal(error(401, "invalid X-PM-Signature")) from None
        return key

    async def cancel(request: Request, body: bytes) -> Response:
        # Route on the raw path: Starlette's decoded path turns %2F into a separator.
        match = _CANCEL.fullmatch(common.raw_path(request))
        if match is None:
            return error(404, "Not Found")
        order_id = unquote(match[1].decode("latin-1"))
        arrival = await common.faults(
            book, request, body, request.headers.get("x-pm-access-key", ""), error
        )
        key = common.counting_auth_failures(book, lambda: authenticate(request))
        payload = common.contract_check(book, "polymarket_us/cancel-order", request, body, error)
        if arrival.fault(book.knobs.failure_rate, "failures_injected"):
            return error(500, "sandbox: injected internal error")
        order = book.get(order_id)
        if order is None or order.owner != key.account:
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

    admin = common.starlette(common.admin_routes(book), error)
    return common.DateHeader(_RawDispatch(admin, cancel, book), book)

"""Signing: known answers, and captured requests verified as the exchanges verify them."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote
from uuid import UUID

import httpx
import pytest
from cancelkit import InvalidRequest, LimitlessAuth, PolymarketAuth
from helpers import (
    LM_SECRET,
    LM_TOKEN_ID,
    PM_KEY_ID,
    PM_SECRET_32,
    PM_SECRET_64,
    Script,
    call,
    pin_clock,
    verify_limitless,
    verify_polymarket,
)


@pytest.mark.parametrize("secret", [PM_SECRET_32, PM_SECRET_64])
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            "/v1/order/ord-123/cancel",
            "yvziJ6+SrHeya+lzU0/pg3U5Ru9TcECGKUAIYyagq8tD7Dm/xyI+uJgM45y6Pu79fI/TJDtBurMNx4FBOi2nBg==",
        ),
        (
            "/v1/order/a%2Fb%20c/cancel",
            "RRt1I8krcKXh2XXcA5v5I8xR55D6KAduy/3F3HLTcyliIvKnOMEIhumB4/kNr8ApGcae8TXCpDwKJZt6MtfrAw==",
        ),
    ],
)
def test_polymarket_known_answers(secret: str, path: str, expected: str) -> None:
    auth = PolymarketAuth(PM_KEY_ID, secret)
    assert auth.sign("1700000000000", "POST", path) == expected


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        (
            "/orders/cancel",
            b'{"orderId":"6f52b6d2-6c9e-4a5c-8a4f-28ab4b7ff203"}',
            "8IsAoTG5M/82F6a9n9VVQ8f4IXEfFAX1R/6TGZ9OK2A=",
        ),
        (
            "/orders/cancel?onBehalfOf=42",
            b'{"clientOrderId":"partner-order-001"}',
            "QFIt8SC6PcihsSEt2x01PykUGz64/HdpYq2goZx1XwA=",
        ),
    ],
)
def test_limitless_known_answers(path: str, body: bytes, expected: str) -> None:
    auth = LimitlessAuth(LM_TOKEN_ID, LM_SECRET)
    assert auth.sign("2026-11-22T12:00:00.000Z", "POST", path, body) == expected


def test_the_client_sends_the_known_answer_request_byte_for_byte(
    make_lm: Callable[..., Any],
) -> None:
    # Pin the clock to the vector's timestamp: the wire request must carry the vector.
    script = Script()
    client = pin_clock(make_lm(script), lambda: 1795348800.0)  # 2026-11-22T12:00:00Z
    call(client.cancel_order, client_order_id="partner-order-001", on_behalf_of=42)
    (request,) = script.requests
    assert request.url.raw_path == b"/orders/cancel?onBehalfOf=42"
    assert request.content == b'{"clientOrderId":"partner-order-001"}'
    assert request.headers["lmts-timestamp"] == "2026-11-22T12:00:00.000Z"
    assert request.headers["lmts-signature"] == "QFIt8SC6PcihsSEt2x01PykUGz64/HdpYq2goZx1XwA="


ODD_IDS = [
    "ord-123",
    "a/b c",
    "../../v1/orders/open",
    "ord#1",
    "ord?x=1&y=2",
    "100%",
    "%2E%2E",
    "ünïcødé-订单-🚀",
    " padded ",
    "tab\tnew\nline\x00nul",
    "...",
    "x" * 1024,
]


@pytest.mark.parametrize("order_id", ODD_IDS)
def test_polymarket_reaches_exactly_one_segment_and_verifies(
    make_pm: Callable[..., Any], order_id: str
) -> None:
    script = Script()
    call(make_pm(script).cancel_order, order_id, market_slug="nba-lal-bos-2026")
    (request,) = script.requests
    assert request.method == "POST"
    raw = request.url.raw_path.decode()
    assert raw == f"/v1/order/{quote(order_id, safe='')}/cancel"
    segments = raw.split("/")
    assert len(segments) == 5
    assert unquote(segments[3]) == order_id
    verify_polymarket(request)
    assert request.headers["X-PM-Access-Key"] == PM_KEY_ID
    assert json.loads(request.content) == {"marketSlug": "nba-lal-bos-2026"}
    assert "authorization" not in request.headers


def test_polymarket_without_market_slug_sends_an_empty_object(
    make_pm: Callable[..., Any],
) -> None:
    script = Script()
    call(make_pm(script).cancel_order, "ord-1")
    assert json.loads(script.requests[0].content) == {}
    verify_polymarket(script.requests[0])


@pytest.mark.parametrize(
    ("kwargs", "body", "query"),
    [
        (
            {"order_id": "6F52B6D2-6C9E-4A5C-8A4F-28AB4B7FF203"},
            {"orderId": "6f52b6d2-6c9e-4a5c-8a4f-28ab4b7ff203"},
            b"",
        ),
        (
            {"order_id": UUID("6f52b6d2-6c9e-4a5c-8a4f-28ab4b7ff203"), "on_behalf_of": 42},
            {"orderId": "6f52b6d2-6c9e-4a5c-8a4f-28ab4b7ff203"},
            b"onBehalfOf=42",
        ),
        ({"client_order_id": "partner-order-001"}, {"clientOrderId": "partner-order-001"}, b""),
        ({"client_order_id": "ünï/?#&= ✓"}, {"clientOrderId": "ünï/?#&= ✓"}, b""),
        (
            {"client_order_id": "c" * 128, "on_behalf_of": 7},
            {"clientOrderId": "c" * 128},
            b"onBehalfOf=7",
        ),
    ],
)
def test_limitless_requests_verify_with_the_recomputed_hmac(
    make_lm: Callable[..., Any], kwargs: dict[str, Any], body: dict[str, str], query: bytes
) -> None:
    script = Script([httpx.Response(200, json={"message": "Order canceled successfully"})])
    assert call(make_lm(script).cancel_order, **kwargs) == "Order canceled successfully"
    (request,) = script.requests
    assert request.method == "POST"
    assert request.url.path == "/orders/cancel"
    assert request.url.query == query
    assert json.loads(request.content) == body
    verify_limitless(request)
    assert request.headers["lmts-api-key"] == LM_TOKEN_ID
    assert "authorization" not in request.headers


def test_limitless_takes_the_generated_variant_models(make_lm: Callable[..., Any]) -> None:
    from cancelkit._generated.limitless_api.models import CancelByClientOrderId, CancelByOrderId

    script = Script()
    client = make_lm(script)
    call(client.cancel_order, CancelByOrderId(order_id=UUID(int=5)))
    call(client.cancel_order, CancelByClientOrderId(client_order_id="abc"), on_behalf_of=3)
    assert json.loads(script.requests[0].content) == {"orderId": str(UUID(int=5))}
    assert json.loads(script.requests[1].content) == {"clientOrderId": "abc"}
    assert script.requests[1].url.query == b"onBehalfOf=3"
    for request in script.requests:
        verify_limitless(request)


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("not base64!!", "not valid base64"),
        ("AAEC", "decodes to 3 bytes"),
        ("", "non-empty"),
        # 64 bytes whose public half does not belong to the seed
        (base64.b64encode(bytes(range(32)) + bytes(32)).decode(), "not the public key"),
    ],
)
def test_a_bad_polymarket_secret_is_refused_at_construction_without_echo(
    secret: str, problem: str
) -> None:
    with pytest.raises(InvalidRequest, match=problem) as caught:
        PolymarketAuth(PM_KEY_ID, secret)
    if secret:
        assert secret not in str(caught.value)
        assert secret not in repr(caught.value)
    # No chained decoder error that could carry the input into a traceback.
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__


@pytest.mark.parametrize(
    ("secret", "problem"),
    [("%%%%", "not valid base64"), ("c2hvcnQ=", "decodes to 5 bytes")],
)
def test_a_bad_limitless_secret_is_refused_at_construction_without_echo(
    secret: str, problem: str
) -> None:
    with pytest.raises(InvalidRequest, match=problem) as caught:
        LimitlessAuth(LM_TOKEN_ID, secret)
    assert secret not in str(caught.value)


@pytest.mark.parametrize("key_id", ["", "key\nX-Evil: 1", "kéy", " key"])
def test_key_ids_that_cannot_be_a_header_value_are_refused(key_id: str) -> None:
    with pytest.raises(InvalidRequest, match="key id"):
        PolymarketAuth(key_id, PM_SECRET_32)

"""The sandbox answers hostile input with the exchange's 4xx, changes nothing, never 500s.

Every request here goes over real loopback HTTP through uvicorn, so a dropped
connection fails the test as surely as a 500 does.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from cancelkit import LimitlessAuth, PolymarketAuth
from cancelkit.sandbox import Sandbox
from helpers import lm_headers, pm_headers

PM_SHAPE = {"code", "message"}
LM_SHAPE = {"message", "statusCode"}


def refused(response: httpx.Response, status: int, shape: set[str]) -> None:
    assert response.status_code == status, response.text
    assert set(response.json()) == shape
    assert "location" not in response.headers


@pytest.mark.parametrize(
    "stamp",
    ["²".encode(), "١٢".encode(), b"9" * 400, b"9" * 5000, b"1e3", b"+17", b"1 7", b""],
    ids=[
        "superscript",
        "arabic-indic",
        "400-digits",
        "5000-digits",
        "exp",
        "plus",
        "space",
        "empty",
    ],
)
def test_polymarket_timestamps_that_are_not_ascii_milliseconds_are_401(
    cancelkit_sandbox: Sandbox, stamp: bytes
) -> None:
    box = cancelkit_sandbox
    order = box.seed_polymarket("ord-1")
    path = "/v1/order/ord-1/cancel"
    headers: dict[str, Any] = {**pm_headers(box, path), "X-PM-Timestamp": stamp}
    refused(httpx.post(box.polymarket_url + path, json={}, headers=headers), 401, PM_SHAPE)
    assert order.status == "open"


def _limitless_cancel(box: Sandbox, query: str, body: bytes) -> httpx.Response:
    target = "/orders/cancel" + query
    return httpx.post(
        box.limitless_url + target, content=body, headers=lm_headers(box, target, body)
    )


@pytest.mark.parametrize(
    "value",
    ["%C2%B2", "%C2%B9", "%E2%81%B0", "%D9%A1", "9" * 26, "-1", "0", "1.0", "%201", "0x7d1", ""],
)
def test_limitless_on_behalf_of_accepts_only_ascii_digits(
    cancelkit_sandbox: Sandbox, value: str
) -> None:
    box = cancelkit_sandbox
    order = box.seed_limitless(owner=box.credentials.limitless_sub_account)
    body = b'{"orderId":"%s"}' % order.id.encode()
    refused(_limitless_cancel(box, f"?onBehalfOf={value}", body), 400, LM_SHAPE)
    assert order.status == "open"


def test_limitless_on_behalf_of_compares_numbers_not_strings(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    sub = box.credentials.limitless_sub_account
    order = box.seed_limitless(owner=sub)
    body = b'{"orderId":"%s"}' % order.id.encode()
    response = _limitless_cancel(box, f"?onBehalfOf=0{sub}", body)
    assert response.status_code == 200, response.text
    assert order.status == "cancelled"


def test_a_repeated_on_behalf_of_or_auth_header_is_refused(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    sub = box.credentials.limitless_sub_account
    order = box.seed_limitless(owner=sub)
    body = b'{"orderId":"%s"}' % order.id.encode()
    refused(_limitless_cancel(box, f"?onBehalfOf={sub}&onBehalfOf={sub}", body), 400, LM_SHAPE)

    mine = box.seed_limitless()
    body = b'{"orderId":"%s"}' % mine.id.encode()
    signed = lm_headers(box, "/orders/cancel", body)
    for name in ("lmts-api-key", "lmts-timestamp", "lmts-signature"):
        headers = [*signed.items(), (name, signed[name])]
        response = httpx.post(box.limitless_url + "/orders/cancel", content=body, headers=headers)
        refused(response, 401, LM_SHAPE)

    pm_order = box.seed_polymarket("ord-1")
    path = "/v1/order/ord-1/cancel"
    pm_signed = pm_headers(box, path)
    for name in pm_signed:
        headers = [*pm_signed.items(), (name, pm_signed[name])]
        response = httpx.post(box.polymarket_url + path, json={}, headers=headers)
        refused(response, 401, PM_SHAPE)
    assert order.status == mine.status == pm_order.status == "open"


# Each a spelling of "now" (so only its form can be wrong) that the exchange does
# not document: it wants ISO-8601 UTC with milliseconds and Z.
STAMP_FORMS = {
    "no-millis": "%Y-%m-%dT%H:%M:%SZ",
    "micros": "%Y-%m-%dT%H:%M:%S.%fZ",
    "space": "%Y-%m-%d %H:%M:%S.000Z",
    "compact": "%Y%m%dT%H%M%S.000Z",
    "offset": "%Y-%m-%dT%H:%M:%S.000+00:00",
    "no-zone": "%Y-%m-%dT%H:%M:%S.000",
    "arabic-indic-year": "\u0662\u0660\u0662\u0666-%m-%dT%H:%M:%S.000Z",
}


@pytest.mark.parametrize("form", list(STAMP_FORMS))
def test_limitless_timestamps_must_be_utc_with_milliseconds_and_z(
    cancelkit_sandbox: Sandbox, form: str
) -> None:
    box = cancelkit_sandbox
    stamp = datetime.now(UTC).strftime(STAMP_FORMS[form])
    order = box.seed_limitless()
    body = b'{"orderId":"%s"}' % order.id.encode()
    c = box.credentials
    signature = LimitlessAuth(c.limitless_token_id, c.limitless_secret).sign(
        stamp, "POST", "/orders/cancel", body
    )
    headers = {
        "lmts-api-key": c.limitless_token_id,
        "lmts-timestamp": stamp.encode("utf-8"),
        "lmts-signature": signature,
        "content-type": "application/json",
    }
    response = httpx.post(box.limitless_url + "/orders/cancel", content=body, headers=headers)
    refused(response, 401, LM_SHAPE)
    assert order.status == "open"


@pytest.mark.parametrize(
    "form", ["urn:uuid:{}", "{{{}}}", "{}-hyphenless", "{}-upper-braces", " {}", "{} "]
)
def test_legacy_delete_takes_only_the_canonical_uuid(cancelkit_sandbox: Sandbox, form: str) -> None:
    box = cancelkit_sandbox
    order = box.seed_limitless()
    if form == "{}-hyphenless":
        order_id = order.id.replace("-", "")
    elif form == "{}-upper-braces":
        order_id = "{" + order.id.upper() + "}"
    else:
        order_id = form.format(order.id)
    path = "/orders/" + httpx.URL(order_id).raw_path.decode()
    headers = lm_headers(box, path, b"", method="DELETE")
    refused(httpx.delete(box.limitless_url + path, headers=headers), 400, LM_SHAPE)
    assert order.status == "open"
    # The canonical form, even upper-case, still works.
    path = "/orders/" + order.id.upper()
    response = httpx.delete(
        box.limitless_url + path, headers=lm_headers(box, path, b"", method="DELETE")
    )
    assert response.status_code == 200, response.text
    assert order.status == "cancelled"


def test_a_trailing_slash_is_a_404_never_a_redirect(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    order = box.seed_limitless()
    body = b'{"orderId":"%s"}' % order.id.encode()
    target = "/orders/cancel/"
    headers = {**lm_headers(box, target, body), "host": "evil.example"}
    with httpx.Client(follow_redirects=False) as http:
        refused(http.post(box.limitless_url + target, content=body, headers=headers), 404, LM_SHAPE)
        pm = box.seed_polymarket("ord-1")
        path = "/v1/order/ord-1/cancel/"
        response = http.post(box.polymarket_url + path, json={}, headers=pm_headers(box, path))
        refused(response, 404, PM_SHAPE)
        for url in (box.limitless_url, box.polymarket_url):
            response = http.get(url + "/_sandbox/orders/", headers={"host": "evil.example"})
            assert response.status_code == 404
            assert "location" not in response.headers
    assert order.status == pm.status == "open"


@pytest.mark.parametrize(
    "body",
    [
        b'{"clock_offset": NaN}',
        b'{"latency": 0.01, "clock_offset": Infinity}',
        b'{"failure_rate": -Infinity}',
        b'{"clock_offset": 1e300}',
        b'{"rate_limit": 1e300}',
        b'{"latency": 0.01, "seed": true}',
        b'{"latency": "0.5"}',
        b'{"max_fault_streak": 1.5}',
        b'{"seed": ' + b"9" * 5000 + b"}",
        b"{nope",
        b"[1, 2]",
        b"\xff\xfe",
    ],
)
def test_absurd_knobs_are_400_and_nothing_is_kept(cancelkit_sandbox: Sandbox, body: bytes) -> None:
    box = cancelkit_sandbox
    for url in (box.polymarket_url, box.limitless_url):
        before = httpx.get(url + "/_sandbox/knobs").json()
        response = httpx.post(url + "/_sandbox/knobs", content=body)
        assert response.status_code == 400, response.text
        assert "message" in response.json()
        assert httpx.get(url + "/_sandbox/knobs").json() == before
    # The 30 s window still holds: an hour-old signed cancel is refused.
    order = box.seed_polymarket("ord-1")
    path = "/v1/order/ord-1/cancel"
    response = httpx.post(
        box.polymarket_url + path, json={}, headers=pm_headers(box, path, skew=-3600)
    )
    refused(response, 401, PM_SHAPE)
    assert order.status == "open"


@pytest.mark.parametrize(
    "body",
    [
        b"{nope",
        b"\xff",
        b"[1]",
        b'{"owner": "a"}',  # no id (an order without an owner is the demo key's)
        b'{"id": [1], "owner": "a"}',
        b'{"id": "x", "owner": "a", "client_order_id": 5}',
        b'{"id": "x", "status": "gone"}',
        b'[{"id": "x", "owner": "a"}, {"owner": "y"}]',
    ],
)
def test_bad_seed_bodies_are_400_and_seed_nothing(cancelkit_sandbox: Sandbox, body: bytes) -> None:
    box = cancelkit_sandbox
    for url in (box.polymarket_url, box.limitless_url):
        response = httpx.post(url + "/_sandbox/orders", content=body)
        assert response.status_code == 400, response.text
        assert httpx.get(url + "/_sandbox/orders").json() == []


def test_the_sandbox_verifies_what_the_client_library_signs(cancelkit_sandbox: Sandbox) -> None:
    # A cross-check that the hostile cases above fail for their own reason: the same
    # request, well-formed, succeeds.
    box = cancelkit_sandbox
    order = box.seed_polymarket("ord-1")
    c = box.credentials
    stamp = str(int(time.time() * 1000))
    path = "/v1/order/ord-1/cancel"
    signature = PolymarketAuth(c.polymarket_key_id, c.polymarket_secret_key).sign(
        stamp, "POST", path
    )
    headers = {
        "X-PM-Access-Key": c.polymarket_key_id,
        "X-PM-Timestamp": stamp,
        "X-PM-Signature": signature,
    }
    assert httpx.post(box.polymarket_url + path, json={}, headers=headers).status_code == 200
    assert order.status == "cancelled"

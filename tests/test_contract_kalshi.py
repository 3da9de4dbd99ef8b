"""Contract: the Kalshi sandbox answers as its verbatim pages say (schemathesis cases,
positive and negative, signed by our KalshiAuth), and our Kalshi client sends only
requests those pages accept."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from cancelkit.kalshi._auth import KalshiAuth
from cancelkit.kalshi._client import KalshiClient
from cancelkit.sandbox import Sandbox, _contract
from helpers import Script
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    negative_data_rejection,
    positive_data_acceptance,
    status_code_conformance,
)
from test_contract import _cases, _excluded_for, _send

PROSE_LIMITS = ("subaccount must be 0", "status must be one of", "invalid cursor")
KALSHI_SECURITY = {"kalshi-access-key", "kalshi-access-signature", "kalshi-access-timestamp"}


def _excluded(case: Any, response: httpx.Response, documented: set[int]) -> list[Any]:
    excluded = _excluded_for(case)
    data = getattr(case.meta.phase, "data", None)
    parameter = str(getattr(data, "parameter", "") or "").lower()
    if parameter in KALSHI_SECURITY:
        # The signing flow sets these headers on the wire: the request arrives valid.
        excluded.append(negative_data_rejection)
    if response.status_code == 400 and 400 not in documented:
        # A malformed query (`?subaccount=abc`, or 64: "0 for primary, 1-63") answered
        # 400 on an operation whose page lists no 400: the page cannot say otherwise.
        excluded.append(status_code_conformance)
    if response.status_code == 400 and any(
        word in response.json().get("message", "") for word in PROSE_LIMITS
    ):
        # Schema-valid, refused by what the prose says: a subaccount outside 0-63, a
        # status other than resting/canceled/executed, a cursor the listing never gave.
        excluded.append(positive_data_acceptance)
    return excluded


@pytest.mark.parametrize(
    ("page", "documented", "expected"),
    [
        ("cancel-order-v2", {200, 401, 404, 500}, {200, 404}),
        ("batch-cancel-orders-v2", {200, 400, 401, 403, 500}, {200, 400}),
        ("cancel-all-orders", {204, 401, 429, 500}, {204}),
        ("get-orders", {200, 400, 401, 500}, {200, 400}),
        ("get-order", {200, 401, 404, 500}, {200, 404}),
    ],
)
def test_the_kalshi_sandbox_conforms_to_its_verbatim_pages(
    cancelkit_sandbox: Sandbox, page: str, documented: set[int], expected: set[int]
) -> None:
    box = cancelkit_sandbox
    box.set_knobs(published_limits=False)  # the token buckets are tested on their own
    key_id, pem = box.credentials.kalshi_key("ed25519")
    http = httpx.Client(auth=KalshiAuth(key_id, pem))
    statuses: dict[int, int] = {}

    @given(case=_cases(f"kalshi/{page}"))
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        # Orders to find, list and cancel: the ids the case names, half the time.
        order_id = (case.path_parameters or {}).get("order_id")
        if isinstance(order_id, str) and order_id and len(statuses) % 2 == 0:
            box.seed_kalshi(order_id)
        body = case.body if isinstance(case.body, dict) else {}
        entries = body.get("orders") if isinstance(body.get("orders"), list) else []
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("order_id"), str):
                account = entry.get("subaccount", 0)
                if isinstance(account, int) and not isinstance(account, bool):
                    box.seed_kalshi(entry["order_id"], subaccount=min(max(account, 0), 63))
        box.seed_kalshi()
        response = _send(http, case, box.kalshi_url)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, response.text
        assert response.status_code in documented | {400}, response.text
        case.validate_response(response, excluded_checks=_excluded(case, response, documented))

    check()
    assert expected <= set(statuses), statuses


@pytest.mark.parametrize(
    "call",
    [
        lambda k: k.cancel_order("3b23c1c7-f4ef-4f0d-8b9a-9e53c61f1a0d"),
        lambda k: k.cancel_order("ord-1", subaccount=63),
        lambda k: k.get_order("ord-1"),
        lambda k: k.open_orders(ticker="KXBTC-26DEC31-T1", subaccount=0),
        lambda k: k.open_orders(event_ticker=["KXA-1", "KXB-2"]),
        lambda k: k.cancel_orders(["ord-1", "ord-2"], subaccount=2, deadline=0.5),
        lambda k: k.cancel_all(subaccount=5, deadline=0.5),
    ],
)
def test_every_request_our_kalshi_client_sends_validates_against_its_page(
    cancelkit_sandbox: Sandbox, call: Callable[[Any], Any]
) -> None:
    key_id, pem = cancelkit_sandbox.credentials.kalshi_key("rsa")
    script = Script()
    client = KalshiClient(key_id, pem, transport=script.transport, max_retries=0)
    with contextlib.suppress(Exception):  # the script's answer does not matter: the request does
        call(client)
    request = script.requests[0]
    path = request.url.raw_path.decode().partition("?")[0]
    name = _contract.page_for("kalshi", request.method, path.removeprefix("/trade-api/v2"))
    assert name is not None
    _contract.check(
        name,
        request.method,
        path,
        list(request.url.params.multi_items()),
        list(request.headers.items()),
        request.content,
    )

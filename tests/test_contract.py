"""Contract: the sandbox answers as the verbatim specs say, and our clients only send
requests those specs accept."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from uuid import UUID

import httpx
import pytest
import schemathesis
from cancelkit import (
    LimitlessAuth,
    LimitlessClient,
    PolymarketAuth,
    PolymarketUSClient,
)
from cancelkit.sandbox import Sandbox, _contract
from helpers import LM_SECRET, LM_TOKEN_ID, PM_KEY_ID, PM_SECRET_32, Script
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

SPECS = "specs/{}.yaml"
# schemathesis judges auth by the header values it generated; ours are replaced by
# the signing auth flow on the final request, which it cannot see. See _excluded_for.


def _cases(name: str) -> Any:
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    schema = schemathesis.openapi.from_path(str(root / SPECS.format(name)))
    (result,) = list(schema.get_all_operations())
    operation = result.ok()
    return operation.as_strategy(generation_mode=GenerationMode.POSITIVE) | operation.as_strategy(
        generation_mode=GenerationMode.NEGATIVE
    )


SECURITY_HEADERS = {"lmts-api-key", "x-pm-access-key", "x-pm-timestamp", "x-pm-signature"}


def _excluded_for(case: Any) -> list[Any]:
    """Checks that cannot judge this case, because our auth flow rewrites its headers."""
    excluded: list[Any] = [ignored_auth]
    data = getattr(case.meta.phase, "data", None)
    location = str(getattr(data, "parameter_location", "")).lower()
    parameter = str(getattr(data, "parameter", "") or "").lower()
    if location.endswith("header") and parameter in SECURITY_HEADERS | {""}:
        # A negative case whose defect is in the headers: both specs declare only
        # security headers, which the signing flow sets on the wire, so the request
        # is valid when it arrives.
        excluded.append(negative_data_rejection)
    if location.endswith("query") or "query" in str(getattr(data, "description", "")).lower():
        # A query string is text: an item generated as a number or a boolean
        # (`?slugs=true`) arrives as a valid string, so it cannot be told apart.
        excluded.append(negative_data_rejection)
    return excluded


def _send(http: httpx.Client, case: Any, base_url: str) -> httpx.Response:
    kwargs = case.as_transport_kwargs(base_url=base_url)
    wanted = ("method", "url", "headers", "params", "json", "content")
    return http.request(**{k: v for k, v in kwargs.items() if k in wanted})


def test_limitless_sandbox_conforms_to_its_verbatim_spec(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    c = box.credentials
    http = httpx.Client(auth=LimitlessAuth(c.limitless_token_id, c.limitless_secret))
    statuses: dict[int, int] = {}

    @given(case=_cases("limitless/cancel"))
    @settings(
        max_examples=120, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def check(case: Any) -> None:
        body = case.body if isinstance(case.body, dict) else {}
        client_id = body.get("clientOrderId")
        if isinstance(client_id, str) and "orderId" not in body:
            box.seed_limitless(client_order_id=client_id)  # so 200s are exercised too
        response = _send(http, case, box.limitless_url)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code != 500
        case.validate_response(response, excluded_checks=_excluded_for(case))

    check()
    assert {200, 400, 404} <= set(statuses), statuses
    print(f"\nlimitless contract: {sum(statuses.values())} cases, statuses {statuses}")


def test_polymarket_sandbox_conforms_except_where_the_page_says_otherwise(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    c = box.credentials
    http = httpx.Client(auth=PolymarketAuth(c.polymarket_key_id, c.polymarket_secret_key))
    statuses: dict[int, int] = {}

    @given(case=_cases("polymarket_us/cancel-order"))
    @settings(
        max_examples=120, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def check(case: Any) -> None:
        order_id = (case.path_parameters or {}).get("orderId")
        if isinstance(order_id, str) and len(statuses) % 2 == 0:
            slug = case.body.get("marketSlug") if isinstance(case.body, dict) else None
            if isinstance(slug, str) and slug:
                box.seed_polymarket(order_id, market_slug=slug)  # the order is in that market
            else:
                box.seed_polymarket(order_id)
        response = _send(http, case, box.polymarket_url)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        excluded = _excluded_for(case)
        if response.status_code == 200:
            # The page: "Response for order cancellation (empty on success)".
            assert response.content == b""
            excluded += [response_schema_conformance, content_type_conformance]
        if response.status_code == 404:
            # Unknown or no longer open order: undocumented by the spec (see docs/security.md).
            assert json.loads(response.content)["message"]
            excluded.append(status_code_conformance)
        case.validate_response(response, excluded_checks=excluded)

    check()
    assert {200, 400} <= set(statuses), statuses
    print(f"\npolymarket contract: {sum(statuses.values())} cases, statuses {statuses}")


UID = "6f52b6d2-6c9e-4a5c-8a4f-28ab4b7ff203"


@pytest.mark.parametrize(
    "call",
    [
        lambda pm, lm: pm.cancel_order("ord-1"),
        lambda pm, lm: pm.cancel_order("a/b c?#%", market_slug="nba-lal-bos"),
        lambda pm, lm: pm.cancel_order("ünï-🚀", market_slug="ünï"),
        lambda pm, lm: lm.cancel_order(order_id=UID),
        lambda pm, lm: lm.cancel_order(order_id=UUID(UID), on_behalf_of=42),
        lambda pm, lm: lm.cancel_order(client_order_id="c" * 128),
        lambda pm, lm: lm.cancel_order(client_order_id="ünï/?#&= ✓", on_behalf_of=7),
    ],
)
def test_every_request_our_clients_send_validates_against_the_verbatim_spec(
    call: Callable[[Any, Any], Any],
) -> None:
    script = Script()
    pm = PolymarketUSClient(PM_KEY_ID, PM_SECRET_32, transport=script.transport)
    lm = LimitlessClient(LM_TOKEN_ID, LM_SECRET, transport=script.transport)
    call(pm, lm)
    (request,) = script.requests
    venue = "polymarket_us" if request.url.path.startswith("/v1/") else "limitless"
    path = request.url.raw_path.decode().partition("?")[0]
    name = _contract.page_for(venue, request.method, path)
    assert name is not None
    _contract.check(
        name,
        request.method,
        path,
        list(request.url.params.multi_items()),
        list(request.headers.items()),
        request.content,
    )


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        ("cancel-multiple-orders", {200, 400}),
        ("cancel-all-open-orders", {200}),
        ("get-open-orders", {200}),
        ("get-order", {200, 404}),
    ],
)
def test_the_other_polymarket_operations_conform_to_their_pages(
    cancelkit_sandbox: Sandbox, page: str, expected: set[int]
) -> None:
    box = cancelkit_sandbox
    c = box.credentials
    http = httpx.Client(auth=PolymarketAuth(c.polymarket_key_id, c.polymarket_secret_key))
    statuses: dict[int, int] = {}

    @given(case=_cases(f"polymarket_us/{page}"))
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        # Orders to find, list and cancel, in the markets the case names.
        order_id = (case.path_parameters or {}).get("orderId")
        if isinstance(order_id, str) and len(statuses) % 2 == 0:
            box.seed_polymarket(order_id)
        body = case.body if isinstance(case.body, dict) else {}
        entries = body.get("orders") if isinstance(body.get("orders"), list) else []
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("orderId"), str):
                slug = entry.get("marketSlug")
                box.seed_polymarket(entry["orderId"], market_slug=slug or "m")
        box.seed_polymarket(f"listed-{len(statuses)}")
        response = _send(http, case, box.polymarket_url)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, response.text
        case.validate_response(response, excluded_checks=_excluded_for(case))

    check()
    assert expected <= set(statuses), statuses

"""Contract: the Limitless sandbox's provisional operations answer as the document the
client is generated from says, and the client's requests validate against it."""

from __future__ import annotations

import contextlib
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
import schemathesis
import yaml
from cancelkit import LimitlessAuth, LimitlessClient
from cancelkit._generated.limitless_api.models import CancelByClientOrderId, CancelByOrderId
from cancelkit.sandbox import Sandbox, _contract
from helpers import LM_SECRET, LM_TOKEN_ID, Script
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from test_contract import _excluded_for, _send

MARKET = "btc-100k"
OPERATIONS = {
    ("POST", "/orders/batch-cancel"): {200, 400},
    ("POST", "/orders/cancel-batch"): {200, 400},
    ("DELETE", "/orders/all/{slug}"): {200},
    ("GET", "/markets/{slug}/user-orders"): {200},
    ("POST", "/orders/status/batch"): {200, 400},
    ("GET", "/maintenance/status"): {200},
}


def _cases(method: str, path: str) -> Any:
    document = yaml.safe_load(_contract.provisional_text("limitless") or b"")
    schema = schemathesis.openapi.from_dict(document)
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) == (method, path):
            return operation.as_strategy(
                generation_mode=GenerationMode.POSITIVE
            ) | operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
    raise AssertionError(f"{method} {path} is not in the provisional document")


def test_every_provisional_operation_is_covered() -> None:
    document = yaml.safe_load(_contract.provisional_text("limitless") or b"")
    found = {(m.upper(), p) for p, item in document["paths"].items() for m in item}
    assert found == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), sorted(OPERATIONS))
def test_the_sandbox_conforms_to_the_provisional_operations(
    cancelkit_sandbox: Sandbox, method: str, path: str
) -> None:
    box = cancelkit_sandbox
    c = box.credentials
    http = httpx.Client(auth=LimitlessAuth(c.limitless_token_id, c.limitless_secret))
    statuses: dict[int, int] = {}

    @given(case=_cases(method, path))
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        # Orders the case can find: by the ids and client ids it names, in its market.
        body = case.body if isinstance(case.body, dict) else {}
        slug = (case.path_parameters or {}).get("slug")
        named = [body.get("orderIds"), body.get("items")]
        for value in [v for found in named if isinstance(found, list) for v in found]:
            if isinstance(value, dict):
                value = value.get("orderId")
            if isinstance(value, str) and len(statuses) % 2 == 0:
                with contextlib.suppress(ValueError):
                    box.seed_limitless(str(UUID(value)), market_slug=slug)
        if isinstance(slug, str):
            box.seed_limitless(market_slug=slug)
        response = _send(http, case, box.limitless_url)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, response.text
        case.validate_response(response, excluded_checks=_excluded_for(case))

    check()
    assert OPERATIONS[(method, path)] <= set(statuses), statuses


@pytest.mark.parametrize(
    "call",
    [
        lambda lm: lm.cancel_orders([CancelByOrderId(order_id=uuid4())]),
        lambda lm: lm.cancel_orders([CancelByClientOrderId(client_order_id="ünï/?#&= ✓")]),
        lambda lm: lm.cancel_all("btc-100k", on_behalf_of=42),
        lambda lm: lm.open_orders("a/b c"),
        lambda lm: lm.order_status([CancelByClientOrderId(client_order_id="c" * 128)]),
        lambda lm: lm.maintenance_status(),
    ],
)
def test_every_request_the_client_sends_validates(call: Any) -> None:
    script = Script([httpx.Response(500)] * 0)
    answers = {
        "/orders/batch-cancel": {"message": "ok", "canceled": [], "failed": []},
        "/orders/status/batch": {"results": [{"index": 0, "status": "not_found"}]},
        "/maintenance/status": {"active": []},
    }

    def reply(request: httpx.Request) -> httpx.Response:
        script(request)
        path = request.url.path
        if path.startswith("/markets/"):
            return httpx.Response(200, json={"data": []})
        return httpx.Response(200, json=answers.get(path, {"message": "ok", "canceled": []}))

    with LimitlessClient(
        LM_TOKEN_ID, LM_SECRET, transport=httpx.MockTransport(reply), max_retries=0
    ) as lm:
        call(lm)
    assert script.requests
    for request in script.requests:
        path = request.url.raw_path.decode().partition("?")[0]
        name = _contract.page_for("limitless", request.method, path)
        assert name is not None
        _contract.check(
            name,
            request.method,
            path,
            list(request.url.params.multi_items()),
            list(request.headers.items()),
            request.content,
        )

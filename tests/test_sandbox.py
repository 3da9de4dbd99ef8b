"""The sandbox accepts exactly what the specs and signing rules accept; its knobs work."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import httpx
import pytest
from cancelkit import (
    AuthenticationError,
    OrderNotFound,
    OrderNotOpen,
)
from cancelkit.sandbox import Sandbox
from helpers import lm_headers, pm_headers


def test_clients_cancel_over_real_loopback_http(cancelkit_sandbox: Sandbox, flavour: str) -> None:
    box = cancelkit_sandbox
    c = box.credentials
    pm_order = box.seed_polymarket("ord-a/b c", market_slug="m-1")
    lm_id = box.seed_limitless()
    lm_client = box.seed_limitless(client_order_id="cli-1")
    lm_sub = box.seed_limitless(client_order_id="cli-1", owner=c.limitless_sub_account)

    async def run_async() -> list[Any]:
        async with box.async_polymarket_client() as pm, box.async_limitless_client() as lm:
            return [
                await pm.cancel_order(pm_order.id, market_slug="m-1"),
                await lm.cancel_order(order_id=lm_id.id),
                await lm.cancel_order(client_order_id="cli-1"),
                await lm.cancel_order(
                    client_order_id="cli-1", on_behalf_of=c.limitless_sub_account
                ),
            ]

    if flavour == "sync":
        with box.polymarket_client() as pm, box.limitless_client() as lm:
            results = [
                pm.cancel_order(pm_order.id, market_slug="m-1"),
                lm.cancel_order(order_id=lm_id.id),
                lm.cancel_order(client_order_id="cli-1"),
                lm.cancel_order(client_order_id="cli-1", on_behalf_of=c.limitless_sub_account),
            ]
    else:
        results = asyncio.run(run_async())
    assert results == [None] + ["Order canceled successfully"] * 3
    assert [o.status for o in (pm_order, lm_id, lm_client, lm_sub)] == ["cancelled"] * 4
    assert box.open_orders() == []
    assert box.polymarket.stats.auth_failures == box.limitless.stats.auth_failures == 0


def test_polymarket_refuses_tampering_wrong_keys_and_stale_timestamps(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    box.seed_polymarket("ord-1")
    url = box.polymarket_url
    good = "/v1/order/ord-1/cancel"
    other_seed = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
    # Headers are made right before each request: made all at once, a loaded machine
    # could spend the "future" case's margin before it is sent.
    cases: dict[str, tuple[str, Callable[[], dict[str, str]]]] = {
        "tampered path": (good, lambda: pm_headers(box, "/v1/order/ord-2/cancel")),
        "wrong key": (good, lambda: pm_headers(box, good, key=other_seed)),
        "stale": (good, lambda: pm_headers(box, good, skew=-60)),
        "future": (good, lambda: pm_headers(box, good, skew=60)),
        "missing signature": (
            good,
            lambda: {k: v for k, v in pm_headers(box, good).items() if k != "X-PM-Signature"},
        ),
        "unknown key": (good, lambda: {**pm_headers(box, good), "X-PM-Access-Key": str(uuid4())}),
    }
    for name, (path, headers) in cases.items():
        response = httpx.post(url + path, json={}, headers=headers())
        assert response.status_code == 401, name
        assert response.json()["message"], name
    assert box.open_orders()[0].id == "ord-1", "nothing refused may take effect"
    # Within the window, and correctly signed: accepted.
    response = httpx.post(url + good, json={}, headers=pm_headers(box, good, skew=-25))
    assert (response.status_code, response.content) == (200, b"")


def test_polymarket_schema_violations_are_400(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    box.seed_polymarket("ord-1")
    path = "/v1/order/ord-1/cancel"
    response = httpx.post(
        box.polymarket_url + path, json={"marketSlug": 5}, headers=pm_headers(box, path)
    )
    assert response.status_code == 400
    assert "marketSlug" in response.text or "string" in response.text
    assert box.polymarket.stats.schema_failures == 1


def test_limitless_refuses_tampered_body_and_query(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    order = box.seed_limitless()
    body = json.dumps({"orderId": order.id}, separators=(",", ":")).encode()
    url = box.limitless_url
    signed_for_other = lm_headers(
        box, "/orders/cancel", json.dumps({"orderId": str(uuid4())}).encode()
    )
    assert (
        httpx.post(url + "/orders/cancel", content=body, headers=signed_for_other).status_code
        == 401
    )
    spaced = json.dumps({"orderId": order.id}).encode()  # same JSON, other bytes
    assert (
        httpx.post(
            url + "/orders/cancel", content=spaced, headers=lm_headers(box, "/orders/cancel", body)
        ).status_code
        == 401
    )
    # Query not signed: refused.
    headers = lm_headers(box, "/orders/cancel", body)
    assert (
        httpx.post(
            url + "/orders/cancel?onBehalfOf=2001", content=body, headers=headers
        ).status_code
        == 401
    )
    wrong = lm_headers(
        box, "/orders/cancel", body, secret="AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
    )
    assert httpx.post(url + "/orders/cancel", content=body, headers=wrong).status_code == 401
    for skew in (-60, 60):
        stale = lm_headers(box, "/orders/cancel", body, skew=skew)
        assert httpx.post(url + "/orders/cancel", content=body, headers=stale).status_code == 401
    assert order.status == "open"
    ok = httpx.post(
        url + "/orders/cancel", content=body, headers=lm_headers(box, "/orders/cancel", body)
    )
    assert ok.status_code == 200
    assert ok.json() == {"message": "Order canceled successfully"}


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ({}, "not valid under any of the given schemas"),
        (
            {"orderId": "6f52b6d2-6c9e-4a5c-8a4f-28ab4b7ff203", "clientOrderId": "x"},
            "is valid under each of",
        ),
        ({"orderId": "nope"}, "uuid"),
        ({"clientOrderId": "c" * 129}, "too long"),
    ],
)
def test_limitless_contract_violations_are_400_error_response_dto(
    cancelkit_sandbox: Sandbox, payload: dict[str, str], needle: str
) -> None:
    box = cancelkit_sandbox
    body = json.dumps(payload).encode()
    response = httpx.post(
        box.limitless_url + "/orders/cancel",
        content=body,
        headers=lm_headers(box, "/orders/cancel", body),
    )
    assert response.status_code == 400
    assert needle in response.json()["message"]


def test_limitless_ownership_scopes_and_legacy_delete(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    c = box.credentials
    other_account = box.seed_limitless(owner=c.limitless_other_profile_id)
    foreign_sub = box.seed_limitless(owner=9999)
    with box.limitless_client(max_retries=0) as lm:
        with pytest.raises(OrderNotFound):
            lm.cancel_order(order_id=uuid4())
        with pytest.raises(AuthenticationError, match="owner"):
            lm.cancel_order(order_id=other_account.id)
        with pytest.raises(AuthenticationError, match="not a sub-account"):
            lm.cancel_order(order_id=foreign_sub.id, on_behalf_of=9999)
    from cancelkit import LimitlessClient

    with LimitlessClient(
        c.limitless_other_token_id, c.limitless_other_secret, base_url=box.limitless_url
    ) as other:
        with pytest.raises(AuthenticationError, match="delegated_signing"):
            other.cancel_order(order_id=foreign_sub.id, on_behalf_of=c.limitless_sub_account)
        assert other.cancel_order(order_id=other_account.id) == "Order canceled successfully"
        with pytest.raises(OrderNotOpen, match="cannot be cancelled"):
            other.cancel_order(order_id=other_account.id)
    # The legacy route the official SDK uses.
    legacy = box.seed_limitless()
    path = f"/orders/{legacy.id}"
    response = httpx.delete(
        box.limitless_url + path, headers=lm_headers(box, path, b"", method="DELETE")
    )
    assert response.status_code == 200
    assert legacy.status == "cancelled"


@pytest.mark.cancelkit_sandbox(rate_limit=5)
@pytest.mark.faults
def test_rate_limit_knob_gives_documented_429(cancelkit_sandbox: Sandbox) -> None:
    # 5/s rather than 20/s: 30 requests cannot spread over 6 s, however loaded the machine.
    box = cancelkit_sandbox
    path = "/v1/order/none/cancel"
    with httpx.Client() as http:
        codes = [
            http.post(box.polymarket_url + path, json={}, headers=pm_headers(box, path))
            for _ in range(30)
        ]
    limited = [r for r in codes if r.status_code == 429]
    assert len(limited) >= 15
    assert all(r.status_code in (404, 429) for r in codes)
    assert limited[0].json() == {"status": 429, "message": "Too Many Requests"}
    assert "retry-after" not in limited[0].headers


@pytest.mark.faults
def test_failure_drop_latency_and_clock_knobs(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    # 500s before taking effect: the client retries and gives up with ServerError.
    box.set_knobs(failure_rate=1.0)
    order = box.seed_polymarket("ord-500")
    from cancelkit import RetryPolicy, ServerError

    retry = RetryPolicy(max_retries=1, base_delay=0.01)
    with box.polymarket_client(retry=retry) as pm, pytest.raises(ServerError):
        pm.cancel_order(order.id)
    assert order.status == "open"

    # Dropped after effect: the retry meets "not found"; missing_ok makes it a success.
    box.set_knobs(failure_rate=0.0, drop_rate=1.0)
    dropped = box.seed_polymarket("ord-drop")
    with box.polymarket_client() as pm:
        pm.cancel_order(dropped.id, missing_ok=True)
    assert dropped.status == "cancelled"
    assert dropped.cancel_count == 1
    assert box.polymarket.stats.drops_injected == 1

    # Latency.
    box.set_knobs(drop_rate=0.0, latency=0.2)
    slow = box.seed_polymarket("ord-slow")
    started = time.perf_counter()
    with box.polymarket_client() as pm:
        pm.cancel_order(slow.id)
    assert time.perf_counter() - started >= 0.2

    # Clock offset: the first attempt is refused, the client learns the offset and succeeds.
    box.set_knobs(latency=0.0, clock_offset=120.0)
    skewed = box.seed_limitless()
    with box.limitless_client() as lm:
        assert lm.cancel_order(order_id=skewed.id) == "Order canceled successfully"
    assert box.limitless.stats.auth_failures == 1


def test_admin_routes_seed_list_and_set_knobs(cancelkit_sandbox: Sandbox) -> None:
    url = cancelkit_sandbox.limitless_url
    created = httpx.post(url + "/_sandbox/orders", json={"id": str(uuid4()), "owner": "1001"})
    assert created.status_code == 201
    listed = httpx.get(url + "/_sandbox/orders").json()
    assert [o["status"] for o in listed] == ["open"]
    assert httpx.post(url + "/_sandbox/knobs", json={"latency": 0.01}).json()["latency"] == 0.01
    assert httpx.post(url + "/_sandbox/knobs", json={"bogus": 1}).status_code == 400
    assert httpx.post(url + "/_sandbox/knobs", json={"failure_rate": 2}).status_code == 400


def test_every_odd_id_reaches_exactly_its_own_order(cancelkit_sandbox: Sandbox) -> None:
    from test_signing import ODD_IDS

    box = cancelkit_sandbox
    decoy = box.seed_polymarket("open")  # what "../../v1/orders/open" must never touch
    orders = [box.seed_polymarket(order_id) for order_id in ODD_IDS]
    with box.polymarket_client(max_retries=0) as pm:
        for order in orders:
            pm.cancel_order(order.id)
    assert [o.status for o in orders] == ["cancelled"] * len(orders)
    assert decoy.status == "open"
    assert box.polymarket.stats.auth_failures == 0


def test_admin_route_seeds_many_orders_at_once(cancelkit_sandbox: Sandbox) -> None:
    url = cancelkit_sandbox.polymarket_url
    batch = [{"id": f"b-{i}", "owner": "pm-demo", "market_slug": "m"} for i in range(50)]
    assert httpx.post(url + "/_sandbox/orders", json=batch).status_code == 201
    assert len(cancelkit_sandbox.open_orders()) == 50
    # An order without an owner is the demo key's; without an id it is refused.
    assert httpx.post(url + "/_sandbox/orders", json=[{"owner": "x"}]).status_code == 400


def test_set_knobs_types_every_knob_and_only_knobs() -> None:
    """``Sandbox.set_knobs`` is typed by ``KnobChanges`` (issue 31): a knob added to
    ``Knobs`` without it there would be refused by type checkers, a key there without
    a knob accepted by them and refused at run time."""
    import typing

    import attrs
    from cancelkit.sandbox import KnobChanges, Knobs
    from cancelkit.sandbox._state import MAINTENANCE_MODES

    hints = typing.get_type_hints(KnobChanges)
    assert set(hints) == set(attrs.fields_dict(Knobs))
    assert typing.get_args(hints["maintenance"]) == MAINTENANCE_MODES
    with Sandbox() as box, pytest.raises(ValueError, match="unknown knob 'failure_rat'"):
        box.set_knobs(**{"failure_rat": 0.5})


def test_every_knob_has_a_sandbox_flag() -> None:
    """``cancelkit sandbox`` sets every knob from a flag of the same name (its help
    says so): a knob without one could only be reached through the admin route."""
    import attrs
    import click
    from cancelkit._cli import main
    from cancelkit.sandbox import Knobs

    with click.Context(main) as ctx:
        command = main.get_command(ctx, "sandbox")
    assert command is not None
    flags = {p.name for p in command.params} - {
        "host",
        "polymarket_port",
        "limitless_port",
        "kalshi_port",
    }
    assert flags == set(attrs.fields_dict(Knobs))
    # Kalshi's keep-alive flags default to the knobs' (the page's 10 s; not hung).
    defaults = {p.name: p.default for p in command.params}
    assert defaults["stream_ping_every"] == Knobs().stream_ping_every == 10.0
    assert defaults["stream_silent"] is Knobs().stream_silent is False

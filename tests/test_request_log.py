"""Sandbox.requests: what each exchange received, for a bot's tests to assert on (#24)."""

from __future__ import annotations

import time

import httpx
from cancelkit import CancelByClientOrderId
from cancelkit.sandbox import RecordedRequest, Sandbox


def test_the_log_has_every_request_in_order_with_bodies_signatures_and_statuses(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    for i in range(3):
        box.seed_polymarket(f"log-{i}")
    box.seed_limitless(client_order_id="bot-1", owner=2001)  # a sub-account
    with box.polymarket_client() as pm:
        pm.cancel_orders([f"log-{i}" for i in range(3)])
    with box.limitless_client() as lm:
        lm.cancel_order(CancelByClientOrderId(client_order_id="bot-1"), on_behalf_of=2001)
    httpx.post(f"{box.polymarket_url}/v1/order/log-0/cancel", json={})  # unsigned

    log = box.requests
    assert all(isinstance(r, RecordedRequest) for r in log)
    batched = [r for r in log if r.path == "/v1/orders/batched/cancel"]
    assert len(batched) == 1
    assert batched[0].method == "POST"
    assert batched[0].verified
    assert batched[0].status == 200
    assert sorted(o["orderId"] for o in batched[0].body["orders"]) == ["log-0", "log-1", "log-2"]
    assert log[0].venue == "polymarket"
    assert log[0].method == "GET"  # the listing comes first

    limitless = [r for r in log if r.venue == "limitless"]
    assert [(r.method, r.path, r.query, r.body, r.verified, r.status) for r in limitless] == [
        ("POST", "/orders/cancel", (("onBehalfOf", "2001"),), {"clientOrderId": "bot-1"}, True, 200)
    ]
    assert log.index(limitless[0]) > log.index(batched[0])  # in order of arrival

    unsigned = log[-1]
    assert (unsigned.path, unsigned.verified, unsigned.status) == (
        "/v1/order/log-0/cancel",
        False,
        401,
    )
    box.clear_requests()
    assert box.requests == []


def test_each_request_carries_its_monotonic_arrival_instant(cancelkit_sandbox: Sandbox) -> None:
    # Another process on the machine reads the same clock (the benchmarks time a cold
    # CLI's first cancel with it): the instant lies between the call's start and end.
    box = cancelkit_sandbox
    box.seed_polymarket("arr-1")
    box.seed_polymarket("arr-2")
    box.clear_requests()
    with box.polymarket_client() as pm:
        before = time.monotonic()
        pm.cancel_order("arr-1")
        between = time.monotonic()
        pm.cancel_order("arr-2")
        after = time.monotonic()
    first, second = box.requests
    assert before <= first.arrived <= between <= second.arrived <= after

"""Timestamps and replays: what the 30-second window lets through and what it stops."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from cancelkit import LimitlessAuth, PolymarketAuth
from cancelkit._clock import iso_millis
from cancelkit.sandbox import Sandbox

pytestmark = pytest.mark.faults


def _pm_signed(box: Sandbox, order_id: str, at: float) -> tuple[str, dict[str, str]]:
    c = box.credentials
    path = f"/v1/order/{order_id}/cancel"
    stamp = str(int(at * 1000))
    signature = PolymarketAuth(c.polymarket_key_id, c.polymarket_secret_key).sign(
        stamp, "POST", path
    )
    headers = {
        "X-PM-Access-Key": c.polymarket_key_id,
        "X-PM-Timestamp": stamp,
        "X-PM-Signature": signature,
    }
    return box.polymarket_url + path, headers


def test_a_replay_after_30_seconds_is_refused(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    first, second = box.seed_polymarket("r-1"), box.seed_polymarket("r-2")
    url, headers = _pm_signed(box, "r-1", time.time())
    assert httpx.post(url, json={}, headers=headers).status_code == 200
    box.set_knobs(clock_offset=31.0)  # the same bytes, 31 s later
    replay = httpx.post(url, json={}, headers=headers)
    assert replay.status_code == 401
    assert "30 s" in replay.json()["message"]
    # Nor can captured headers be pointed at another order: the path is signed.
    other = httpx.post(url.replace("r-1", "r-2"), json={}, headers=headers)
    assert other.status_code == 401
    assert (first.status, second.status) == ("cancelled", "open")


def test_a_limitless_replay_after_30_seconds_is_refused(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    c = box.credentials
    order = box.seed_limitless()
    body = json.dumps({"orderId": order.id}).encode()
    stamp = iso_millis(time.time())
    headers = {
        "lmts-api-key": c.limitless_token_id,
        "lmts-timestamp": stamp,
        "lmts-signature": LimitlessAuth(c.limitless_token_id, c.limitless_secret).sign(
            stamp, "POST", "/orders/cancel", body
        ),
        "content-type": "application/json",
    }
    box.set_knobs(clock_offset=31.0)
    response = httpx.post(box.limitless_url + "/orders/cancel", content=body, headers=headers)
    assert response.status_code == 401
    assert order.status == "open"


@pytest.mark.parametrize(("skew", "status"), [(-29.0, 200), (29.0, 200), (-31.0, 401), (31.0, 401)])
def test_the_window_is_30_seconds_either_way(
    cancelkit_sandbox: Sandbox, skew: float, status: int
) -> None:
    box = cancelkit_sandbox
    box.seed_polymarket("w-1")
    url, headers = _pm_signed(box, "w-1", time.time() + skew)
    assert httpx.post(url, json={}, headers=headers).status_code == status


@pytest.mark.parametrize("offset", [-300.0, 45.0, 3600.0])
def test_the_client_corrects_its_clock_against_a_skewed_exchange(
    cancelkit_sandbox: Sandbox, offset: float
) -> None:
    box = cancelkit_sandbox
    box.set_knobs(clock_offset=offset)
    orders = [box.seed_polymarket(f"c-{i}") for i in range(3)]
    with box.polymarket_client() as pm:
        for order in orders:
            pm.cancel_order(order.id)
    # One refused attempt teaches the client the offset; the rest are signed right first time.
    assert box.polymarket.stats.auth_failures == 1
    assert all(o.status == "cancelled" for o in orders)

"""Issue 32, item 6: Kalshi on loopback. Signatures checked as the exchange checks
them (RSA-PSS and Ed25519, the official SDK's signer included), the verbatim specs,
books per subaccount, the documented shapes, the token buckets, the legacy
endpoints' V2 hint, and hostile input answered 4xx, never 500."""

from __future__ import annotations

import asyncio
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import types
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from cancelkit import OrderNotFound
from cancelkit.kalshi import _rates as rates
from cancelkit.kalshi._auth import KalshiAuth
from cancelkit.kalshi._client import KalshiClient
from cancelkit.sandbox import Sandbox, _contract, _state
from cancelkit.sandbox._kalshi import V2_HINT
from helpers import fast_retry

FP = re.compile(r"[0-9]+\.[0-9]{2}")
JSON = {"content-type": "application/json"}
SHAPE = {"code", "message"}  # Kalshi's ErrorResponse


def root(box: Sandbox) -> str:
    """The Kalshi server's root (the base URL without /trade-api/v2)."""
    return box.kalshi_url.removesuffix(urlsplit(box.kalshi_url).path)


def signed(
    box: Sandbox,
    method: str,
    target: str,
    *,
    key: str = "rsa",
    skew: float = 0.0,
    sign_as: str | None = None,
) -> dict[str, str]:
    """Headers signing ``method`` and ``target`` (under /trade-api/v2, query allowed)
    with a demo key; ``sign_as``: sign another target than the one sent."""
    key_id, pem = box.credentials.kalshi_key(key)  # type: ignore[arg-type]
    stamp = str(int((time.time() + skew) * 1000))
    path = urlsplit(box.kalshi_url).path + (sign_as or target).partition("?")[0]
    return {
        "KALSHI-ACCESS-KEY": key_id,
        "KALSHI-ACCESS-TIMESTAMP": stamp,
        "KALSHI-ACCESS-SIGNATURE": KalshiAuth(key_id, pem).sign(stamp, method, path),
    }


def send(
    box: Sandbox, method: str, target: str, body: bytes | None = None, **how: Any
) -> httpx.Response:
    headers = signed(box, method, target, **how) | (JSON if body is not None else {})
    return httpx.request(method, box.kalshi_url + target, content=body, headers=headers)


def use(box: Sandbox, kind: str, key: str, work: Callable[[Any], Any]) -> Any:
    """Run ``work(client)`` with a sync or async client of the demo ``key``."""
    if kind == "sync":
        with box.kalshi_client(key=key, retry=fast_retry()) as client:  # type: ignore[arg-type]
            return work(client)

    async def main() -> Any:
        async with box.async_kalshi_client(key=key, retry=fast_retry()) as client:  # type: ignore[arg-type]
            return await work(client)

    return asyncio.run(main())


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["rsa", "ed25519"])
def key(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def resting_ids(box: Sandbox) -> set[str]:
    return {o.id for o in box.kalshi.orders.values() if o.on_book()}


# --- our client, both key types, both twins ---------------------------------------


def test_our_client_cancels_batch_cancels_cancels_all_and_lists(
    cancelkit_sandbox: Sandbox, kind: str, key: str
) -> None:
    box = cancelkit_sandbox
    one, two, three = (box.seed_kalshi() for _ in range(3))
    other = box.seed_kalshi(ticker="KXOTHER-26DEC31-T1", subaccount=2)
    listed = use(box, kind, key, lambda c: c.open_orders())
    assert {o.order_id for o in listed} == {one.id, two.id, three.id, other.id}
    assert [o.order_id for o in use(box, kind, key, lambda c: c.open_orders(subaccount=2))] == [
        other.id
    ]
    by_ticker = use(box, kind, key, lambda c: c.open_orders(ticker="KXOTHER-26DEC31-T1"))
    assert [o.order_id for o in by_ticker] == [other.id]

    answer = use(box, kind, key, lambda c: c.cancel_order(one.id))
    assert answer.order_id == one.id
    assert FP.fullmatch(answer.reduced_by)
    assert float(answer.reduced_by) >= 1
    results = use(box, kind, key, lambda c: c.cancel_orders([two.id, three.id, "no-such"]))
    assert [r.status for r in results] == ["cancelled", "cancelled", "not_found"]
    assert resting_ids(box) == {other.id}
    results = use(box, kind, key, lambda c: c.cancel_all())  # every subaccount
    assert [(r.target, r.status) for r in results] == [(other.id, "not_open")]
    assert resting_ids(box) == set()
    assert use(box, kind, key, lambda c: c.open_orders()) == []
    assert box.requests
    assert all(r.verified and r.venue == "kalshi" for r in box.requests)
    assert box.kalshi.stats.rate_limited == 0


def test_get_order_and_a_second_cancel_are_the_exchanges_word(
    cancelkit_sandbox: Sandbox, kind: str
) -> None:
    box = cancelkit_sandbox
    order = box.seed_kalshi(client_order_id="mine-1")
    found = use(box, kind, "ed25519", lambda c: c.get_order(order.id))
    assert (found.order_id, found.client_order_id, found.status.value) == (
        order.id,
        "mine-1",
        "resting",
    )
    use(box, kind, "ed25519", lambda c: c.cancel_order(order.id))
    assert use(box, kind, "ed25519", lambda c: c.get_order(order.id)).status.value == "canceled"
    with pytest.raises(Exception, match="not open: it is cancelled"):
        use(box, kind, "ed25519", lambda c: c.cancel_order(order.id))
    assert use(box, kind, "ed25519", lambda c: c.cancel_order(order.id, missing_ok=True)) is None
    with pytest.raises(OrderNotFound):
        use(box, kind, "ed25519", lambda c: c.cancel_order("never-seeded"))


# --- signatures ------------------------------------------------------------------


def test_a_request_signed_by_the_official_sdk_is_accepted(cancelkit_sandbox: Sandbox) -> None:
    official = pytest.importorskip(
        "kalshi_python_async.auth",
        reason="kalshi-python-async 3.2.0 (the bench group) is not installed",
    )
    box = cancelkit_sandbox
    order = box.seed_kalshi()
    key_id, pem = box.credentials.kalshi_key("rsa")  # 3.2.0 signs with RSA keys only
    auth = official.KalshiAuth(key_id, pem)
    url = f"{box.kalshi_url}/portfolio/orders/{order.id}"
    answer = httpx.get(url, headers=auth.create_auth_headers("GET", url))
    assert answer.status_code == 200, answer.text
    assert answer.json()["order"]["order_id"] == order.id
    url = f"{box.kalshi_url}/portfolio/events/orders/{order.id}"
    answer = httpx.delete(url, headers=auth.create_auth_headers("DELETE", url))
    assert answer.status_code == 200, answer.text
    assert resting_ids(box) == set()


@pytest.mark.parametrize("tamper", ["path", "method", "timestamp", "key_id", "signature"])
def test_a_tampered_official_signature_is_refused(cancelkit_sandbox: Sandbox, tamper: str) -> None:
    official = pytest.importorskip(
        "kalshi_python_async.auth",
        reason="kalshi-python-async 3.2.0 (the bench group) is not installed",
    )
    box = cancelkit_sandbox
    order = box.seed_kalshi()
    key_id, pem = box.credentials.kalshi_key("rsa")
    url = f"{box.kalshi_url}/portfolio/events/orders/{order.id}"
    headers = official.KalshiAuth(key_id, pem).create_auth_headers("DELETE", url)
    method = "DELETE"
    if tamper == "path":  # signed for one order, sent for another
        other = box.seed_kalshi()
        url = url.replace(order.id, other.id)
    elif tamper == "method":
        method = "GET"
        url = f"{box.kalshi_url}/portfolio/orders/{order.id}"
    elif tamper == "timestamp":
        headers["KALSHI-ACCESS-TIMESTAMP"] = str(int(headers["KALSHI-ACCESS-TIMESTAMP"]) + 1)
    elif tamper == "key_id":  # the other demo key (Ed25519) of the same member
        headers["KALSHI-ACCESS-KEY"] = box.credentials.kalshi_key("ed25519")[0]
    else:
        signature = bytearray(headers["KALSHI-ACCESS-SIGNATURE"].encode())
        signature[10] = ord("A") if signature[10] != ord("A") else ord("B")
        headers["KALSHI-ACCESS-SIGNATURE"] = signature.decode()
    answer = httpx.request(method, url, headers=headers)
    assert answer.status_code == 401
    assert set(answer.json()) == SHAPE
    assert len(resting_ids(box)) == len(box.kalshi.orders)  # nothing cancelled
    assert box.kalshi.stats.auth_failures == 1
    assert box.requests[-1].verified is False


@pytest.mark.parametrize("skew", [-31.0, 31.0, -3600.0])
def test_a_stale_or_future_timestamp_is_refused(
    cancelkit_sandbox: Sandbox, key: str, skew: float
) -> None:
    box = cancelkit_sandbox
    order = box.seed_kalshi()
    target = f"/portfolio/events/orders/{order.id}"
    answer = send(box, "DELETE", target, key=key, skew=skew)
    assert answer.status_code == 401
    assert "KALSHI-ACCESS-TIMESTAMP" in answer.json()["message"]
    assert send(box, "DELETE", target, key=key).status_code == 200  # fresh: accepted


def test_the_signature_covers_the_path_from_the_host_not_the_query(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    order = box.seed_kalshi(subaccount=4)
    target = f"/portfolio/events/orders/{order.id}"
    # Signed without the /trade-api/v2 prefix: refused.
    headers = signed(box, "DELETE", target)
    key_id, pem = box.credentials.kalshi_key("rsa")
    stamp = headers["KALSHI-ACCESS-TIMESTAMP"]
    headers["KALSHI-ACCESS-SIGNATURE"] = KalshiAuth(key_id, pem).sign(stamp, "DELETE", target)
    assert httpx.delete(box.kalshi_url + target, headers=headers).status_code == 401
    # The query is not signed (docs/security.md): one signature, any subaccount.
    headers = signed(box, "DELETE", target)
    answer = httpx.delete(box.kalshi_url + target + "?subaccount=4", headers=headers)
    assert answer.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"KALSHI-ACCESS-KEY": "unknown-key", "KALSHI-ACCESS-TIMESTAMP": "1"},
        {"KALSHI-ACCESS-TIMESTAMP": "9" * 5000},
        {"KALSHI-ACCESS-TIMESTAMP": "\uff11\uff12\uff13".encode()},  # fullwidth digits
        {"KALSHI-ACCESS-SIGNATURE": "not base64!"},
        {"KALSHI-ACCESS-SIGNATURE": ""},
    ],
)
def test_bad_auth_headers_are_401_in_the_exchanges_shape(
    cancelkit_sandbox: Sandbox, headers: dict[str, str | bytes]
) -> None:
    box = cancelkit_sandbox
    good = signed(box, "GET", "/portfolio/orders")
    sent: dict[str, str | bytes] = {**good, **headers} if headers else {}
    answer = httpx.get(box.kalshi_url + "/portfolio/orders", headers=sent)
    assert answer.status_code == 401
    assert set(answer.json()) == SHAPE


def test_a_header_sent_twice_is_refused(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    good = list(signed(box, "GET", "/portfolio/orders").items())
    twice = [*good, ("KALSHI-ACCESS-KEY", box.credentials.kalshi_key("ed25519")[0])]
    answer = httpx.get(box.kalshi_url + "/portfolio/orders", headers=twice)
    assert answer.status_code == 401


# --- the documented shapes ---------------------------------------------------------


def test_a_batch_answers_one_entry_per_order_errors_included(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    live = box.seed_kalshi(client_order_id="c-live")
    done = box.seed_kalshi(status="canceled")
    filled = box.seed_kalshi(status="executed")
    elsewhere = box.seed_kalshi(subaccount=7)
    orders = [
        {"order_id": live.id},
        {"order_id": done.id},
        {"order_id": filled.id},
        {"order_id": "unknown"},
        {"order_id": elsewhere.id},  # no subaccount: the primary's, not this one
    ]
    answer = send(
        box,
        "DELETE",
        "/portfolio/events/orders/batched",
        httpx.Request("GET", "/", json={"orders": orders}).content,
    )
    assert answer.status_code == 200
    entries = answer.json()["orders"]
    assert [e["order_id"] for e in entries] == [o["order_id"] for o in orders]
    first, *failed = entries
    assert first["client_order_id"] == "c-live"
    assert FP.fullmatch(first["reduced_by"])
    assert first["reduced_by"] != "0.00"
    assert isinstance(first["ts_ms"], int)
    assert "error" not in first
    assert [e["error"]["code"] for e in failed] == [
        "order_not_resting",
        "order_not_resting",
        "not_found",
        "not_found",
    ]
    for entry in failed:
        assert entry["reduced_by"] == "0.00"
        assert "ts_ms" not in entry
        assert set(entry["error"]) == SHAPE
    assert resting_ids(box) == {elsewhere.id}


def test_an_empty_batch_is_answered_with_no_entries(cancelkit_sandbox: Sandbox) -> None:
    # No minItems on `orders`, and the exchange's `validate: required` takes [].
    box = cancelkit_sandbox
    order = box.seed_kalshi()
    answer = send(box, "DELETE", "/portfolio/events/orders/batched", b'{"orders": []}')
    assert (answer.status_code, answer.json()) == (200, {"orders": []})
    assert resting_ids(box) == {order.id}


def test_unknown_orders_are_404_and_another_members_are_unknown(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    seeded = httpx.post(
        root(box) + "/_sandbox/orders", json={"id": "theirs-1", "owner": "someone-else"}
    )
    assert seeded.status_code == 201
    for order_id in ("no-such-order", "theirs-1"):
        for method, target in (
            ("DELETE", f"/portfolio/events/orders/{order_id}"),
            ("GET", f"/portfolio/orders/{order_id}"),
        ):
            answer = send(box, method, target)
            assert answer.status_code == 404, (method, target)
            assert answer.json()["code"] == "not_found"
    assert box.kalshi.orders["theirs-1"].status == "open"
    # GET on the legacy batch path is GetOrder of an order "batched": unknown.
    assert send(box, "GET", "/portfolio/orders/batched").status_code == 404


def test_cancel_all_is_204_with_no_body_and_clears_every_subaccount(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    for account in (0, 1, 17, 63):
        box.seed_kalshi(subaccount=account)
    answer = send(box, "DELETE", "/portfolio/events/orders?subaccount=17")
    assert (answer.status_code, answer.content) == (204, b"")
    assert {box.kalshi.orders[i].subaccount for i in resting_ids(box)} == {0, 1, 63}
    answer = send(box, "DELETE", "/portfolio/events/orders")
    assert (answer.status_code, answer.content) == (204, b"")
    assert resting_ids(box) == set()
    assert box.open_orders() == []


def test_books_are_kept_per_subaccount(cancelkit_sandbox: Sandbox, kind: str) -> None:
    box = cancelkit_sandbox
    primary = box.seed_kalshi()
    second = box.seed_kalshi(subaccount=2)
    third = box.seed_kalshi(subaccount=3)
    listed = use(box, kind, "rsa", lambda c: c.open_orders(subaccount=0))
    assert [o.order_id for o in listed] == [primary.id]
    assert {o.subaccount_number for o in use(box, kind, "rsa", lambda c: c.open_orders())} == {
        0,
        2,
        3,
    }
    # A cancel reaches the subaccount it names (the primary's without one).
    answer = send(box, "DELETE", f"/portfolio/events/orders/{second.id}")
    assert answer.status_code == 404
    use(box, kind, "rsa", lambda c: c.cancel_order(second.id, subaccount=2))
    results = use(box, kind, "rsa", lambda c: c.cancel_all(subaccount=3))
    assert [(r.target, r.status) for r in results] == [(third.id, "not_open")]
    assert resting_ids(box) == {primary.id}


def test_the_listing_pages_with_its_cursor(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    seeded = [box.seed_kalshi().id for _ in range(250)]
    seen: list[str] = []
    cursor = ""
    for _ in range(5):
        answer = send(
            box, "GET", "/portfolio/orders?limit=100" + (f"&cursor={cursor}" * bool(cursor))
        )
        assert answer.status_code == 200
        page = answer.json()
        seen += [o["order_id"] for o in page["orders"]]
        cursor = page["cursor"]
        if not cursor:
            break
        # An order of the page just read leaves the listing meanwhile: nothing skipped.
        box.kalshi.cancel(box.kalshi.orders[seen[-1]])
    assert seen == seeded


# --- token buckets -----------------------------------------------------------------


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The sandbox's monotonic clock, stopped (buckets refill only when moved)."""
    now = [time.monotonic()]
    clock = types.SimpleNamespace(monotonic=lambda: now[0], time=time.time)
    monkeypatch.setattr(_state, "time", clock)
    return now


def test_the_tiers_write_bucket_answers_429_as_documented(
    cancelkit_sandbox: Sandbox, frozen: list[float]
) -> None:
    box = cancelkit_sandbox
    write = rates.KALSHI_TIERS["basic"].write_capacity
    size = rates.batch_size("basic")
    ids = [box.seed_kalshi().id for _ in range(size + 1)]

    def batch(chosen: list[str]) -> httpx.Response:
        body = httpx.Request("GET", "/", json={"orders": [{"order_id": i} for i in chosen]})
        return send(box, "DELETE", "/portfolio/events/orders/batched", body.content)

    # One more order than the bucket holds: refused whole, nothing cancelled.
    too_big = batch(ids)
    assert too_big.status_code == 429
    assert too_big.json() == {"error": "too many requests"}
    assert "retry-after" not in too_big.headers
    assert not any(h.lower().startswith("x-ratelimit") for h in too_big.headers)
    assert len(resting_ids(box)) == size + 1
    # A full bucket's worth at once, then nothing until it refills.
    assert batch(ids[:size]).status_code == 200
    answer = send(box, "DELETE", f"/portfolio/events/orders/{ids[-1]}")
    assert answer.status_code == 429
    assert answer.json() == {"error": "too many requests"}
    # Reads have their own bucket.
    assert send(box, "GET", "/portfolio/orders").status_code == 200
    # Refilled: one cancel's cost (and a hair more: (t + d) - t is not always d in
    # floating point, and a refill a few ulps short is a 429 that depends on the clock).
    frozen[0] += rates.COSTS[rates.CANCEL][1] / (write / 1.0) * (1 + 1e-9)
    assert send(box, "DELETE", f"/portfolio/events/orders/{ids[-1]}").status_code == 200
    assert box.kalshi.stats.rate_limited == 2


def test_tokens_are_charged_as_a_request_arrives_not_after_its_validation(
    cancelkit_sandbox: Sandbox, frozen: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A page's first request in a process compiles its spec: the sandbox's own work
    # must not move the moment the exchange counts the tokens.
    box = cancelkit_sandbox
    size = rates.batch_size("basic")
    ids = [box.seed_kalshi().id for _ in range(2 * size)]
    real = _contract.check
    slow = [0.5]

    def check(*args: Any) -> Any:
        frozen[0] += slow.pop() if slow else 0.0  # the first check takes half a second
        return real(*args)

    monkeypatch.setattr(_contract, "check", check)

    def batch(chosen: list[str]) -> httpx.Response:
        body = httpx.Request("GET", "/", json={"orders": [{"order_id": i} for i in chosen]})
        return send(box, "DELETE", "/portfolio/events/orders/batched", body.content)

    start = frozen[0]
    assert batch(ids[:size]).status_code == 200  # a full bucket's worth
    frozen[0] = start + 1.0  # a whole refill after it arrived
    assert batch(ids[size:]).status_code == 200
    assert box.kalshi.stats.rate_limited == 0


def test_a_higher_tier_holds_a_bigger_batch(
    cancelkit_sandbox: Sandbox, frozen: list[float]
) -> None:
    box = cancelkit_sandbox
    box.set_knobs(tier="advanced")
    size = rates.batch_size("advanced")
    assert size > rates.batch_size("basic")
    ids = [box.seed_kalshi().id for _ in range(size)]
    body = httpx.Request("GET", "/", json={"orders": [{"order_id": i} for i in ids]}).content
    assert send(box, "DELETE", "/portfolio/events/orders/batched", body).status_code == 200
    assert resting_ids(box) == set()
    with box.kalshi_client() as client:
        assert client._tier == "advanced"  # the factory's client paces at the knob's tier
    with box.kalshi_client(tier="expert") as client:
        assert client._tier == "expert"  # unless told otherwise


def test_published_limits_off_turns_the_buckets_off(
    cancelkit_sandbox: Sandbox, frozen: list[float]
) -> None:
    box = cancelkit_sandbox
    box.set_knobs(published_limits=False)
    ids = [box.seed_kalshi().id for _ in range(rates.batch_size("basic") * 3)]
    body = httpx.Request("GET", "/", json={"orders": [{"order_id": i} for i in ids]}).content
    assert send(box, "DELETE", "/portfolio/events/orders/batched", body).status_code == 200


# --- legacy endpoints ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("DELETE", "/portfolio/orders/{id}"),
        ("DELETE", "/portfolio/orders/batched"),
        ("POST", "/portfolio/orders/batched"),
        ("POST", "/portfolio/orders"),
        ("POST", "/portfolio/orders/{id}/decrease"),
        ("POST", "/portfolio/orders/{id}/amend"),
    ],
)
def test_the_legacy_mutation_endpoints_say_switch_to_v2(
    cancelkit_sandbox: Sandbox, method: str, target: str
) -> None:
    box = cancelkit_sandbox
    order = box.seed_kalshi()
    target = target.format(id=order.id)
    body = b'{"ids": ["%s"]}' % order.id.encode() if method == "POST" else None
    answer = send(box, method, target, body)
    assert 400 <= answer.status_code < 500
    assert answer.json()["message"] == V2_HINT
    assert resting_ids(box) == {order.id}
    unsigned = httpx.request(method, box.kalshi_url + target)
    assert unsigned.status_code == 401


# --- hostile input -------------------------------------------------------------------

DEEP = b'{"orders": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
HOSTILE_BATCHES = [
    DEEP,
    b"not json",
    b"\xff\xfe",
    b"{}",
    b"[]",
    b'{"orders": 5}',
    b'{"orders": [1]}',
    b'{"orders": [{"order_id": 5}]}',
    b'{"orders": [{"order_id": "a", "subaccount": "x"}]}',
    b'{"orders": [{"order_id": "a", "subaccount": 64}]}',
    b'{"orders": [{"order_id": "a", "subaccount": -1}]}',
    b'{"orders": [{"order_id": "a", "subaccount": 1' + b"0" * 400 + b"}]}",
    b'{"orders": [{"order_id": "a", "subaccount": true}]}',
]


@pytest.mark.parametrize("validate", [True, False])
@pytest.mark.parametrize("body", HOSTILE_BATCHES, ids=range(len(HOSTILE_BATCHES)))
def test_hostile_batch_bodies_are_4xx(
    cancelkit_sandbox: Sandbox, validate: bool, body: bytes
) -> None:
    box = cancelkit_sandbox
    box.set_knobs(validate=validate)
    order = box.seed_kalshi()
    answer = send(box, "DELETE", "/portfolio/events/orders/batched", body)
    assert 400 <= answer.status_code < 500, answer.text
    assert set(answer.json()) == SHAPE
    assert resting_ids(box) == {order.id}


HOSTILE_TARGETS = [
    "/portfolio/events/orders/%00",
    "/portfolio/events/orders/..%2F..%2Fportfolio",
    "/portfolio/events/orders/%ff%fe",
    "/portfolio/events/orders/" + "a" * 20_000,
    "/portfolio/events/orders/x?subaccount=abc",
    "/portfolio/events/orders/x?subaccount=99",
    "/portfolio/events/orders/x?subaccount=-1",
    "/portfolio/events/orders/x?subaccount=1&subaccount=2",
    "/portfolio/events/orders/x?subaccount=" + "9" * 400,
    "/portfolio/events/orders/x?exchange_index=zz",
    "/portfolio/events/orders?subaccount=%F0%9F%92%A5",
    "/portfolio/events/orders?subaccount=64",
    "/portfolio/orders?limit=0",
    "/portfolio/orders?limit=1001",
    "/portfolio/orders?limit=" + "9" * 400,
    "/portfolio/orders?limit=%EF%BC%91",
    "/portfolio/orders?cursor=%%%",
    "/portfolio/orders?cursor=" + "QQ" * 5000,
    "/portfolio/orders?cursor=bm90LWFuLWlk",  # base64 of an id never listed
    "/portfolio/orders?status=open",
    "/portfolio/orders?min_ts=yesterday",
    "/portfolio/orders?status=resting&status=canceled",
    "/portfolio/orders/%2e%2e",
    "/portfolio/orders/",
    "/portfolio/events/orders/",
    "/portfolio/order_groups/g-1/trigger",
    "/nothing/here",
]


@pytest.mark.parametrize("validate", [True, False])
@pytest.mark.parametrize("target", HOSTILE_TARGETS, ids=range(len(HOSTILE_TARGETS)))
def test_hostile_ids_and_queries_are_4xx(
    cancelkit_sandbox: Sandbox, validate: bool, target: str
) -> None:
    box = cancelkit_sandbox
    box.set_knobs(validate=validate)
    order = box.seed_kalshi()
    method = "GET" if target.startswith("/portfolio/orders") else "DELETE"
    if "trigger" in target:
        method = "PUT"
    answer = send(box, method, target)
    assert 400 <= answer.status_code < 500, answer.text
    assert set(answer.json()) == SHAPE
    assert resting_ids(box) == {order.id}


@pytest.mark.parametrize("value", ["64", "-1", "9" * 19, "184514242138208735330304"])
def test_a_subaccount_out_of_range_is_named_so_however_long(
    cancelkit_sandbox: Sandbox, value: str
) -> None:
    # Schema-valid (the page says only "integer"), refused by the prose's 0-63: an
    # integer past int64 is out of range too, not "not an integer" (found by the
    # contract test).
    box = cancelkit_sandbox
    order = box.seed_kalshi()
    answer = send(box, "DELETE", f"/portfolio/events/orders?subaccount={value}")
    assert answer.status_code == 400, answer.text
    assert "subaccount must be 0 (primary) to 63" in answer.json()["message"]
    assert resting_ids(box) == {order.id}


def test_the_kalshi_book_is_in_the_sandbox_views(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    order = box.seed_kalshi(ticker="KXVIEW-26DEC31-T1", subaccount=9, client_order_id="v-1")
    assert box.open_orders() == [order]
    env = box.env()
    assert env["KALSHI_API_URL"] == box.kalshi_url
    assert env["KALSHI_API_KEY_ID"] == box.credentials.kalshi_key("ed25519")[0]
    assert env["KALSHI_PRIVATE_KEY"].startswith("-----BEGIN PRIVATE KEY-----")
    assert "PRIVATE KEY" not in repr(box.credentials)
    send(box, "GET", "/portfolio/orders?subaccount=9")
    (recorded,) = box.requests
    assert (recorded.venue, recorded.method, recorded.status, recorded.verified) == (
        "kalshi",
        "GET",
        200,
        True,
    )
    assert recorded.query == (("subaccount", "9"),)
    box.clear_requests()
    assert box.requests == []
    with pytest.raises(ValueError, match="status"):
        box.seed_kalshi(status="open")
    with pytest.raises(ValueError, match="subaccount"):
        box.seed_kalshi(subaccount=64)


# --- the kill switch end to end: every signature verified, the buckets enforced ------


def test_an_order_answered_cancelled_but_still_listed_is_failed_not_cancelled(
    cancelkit_sandbox: Sandbox, kind: str
) -> None:
    box = cancelkit_sandbox
    box.set_knobs(cancel_delay=30)  # the cancel is answered; the order stays listed resting
    order = box.seed_kalshi().id
    (result,) = use(box, kind, "rsa", lambda c: c.cancel_orders([order], deadline=1.5))
    assert result.status == "failed"
    assert "still listed resting" in (result.message or "")


def test_an_order_that_fills_while_its_cancel_is_pending_is_filled(
    cancelkit_sandbox: Sandbox, kind: str
) -> None:
    box = cancelkit_sandbox
    box.set_knobs(fill_pending=1.0)
    order = box.seed_kalshi().id
    (result,) = use(box, kind, "rsa", lambda c: c.cancel_orders([order], deadline=10))
    assert result.status == "filled"
    assert box.kalshi.orders[order].status == "filled"


def test_a_cancel_answered_about_another_order_is_confirmed_by_asking_the_order(
    cancelkit_sandbox: Sandbox, kind: str
) -> None:
    # Kalshi's changelog (2026-05-21): the cancel runs, the answer describes another order.
    box = cancelkit_sandbox
    box.set_knobs(wrong_answer_rate=1.0)
    order = box.seed_kalshi(client_order_id="asked-for")
    answer = use(box, kind, "ed25519", lambda c: c.cancel_order(order.id))
    assert answer.order_id != order.id  # the exchange's (wrong) word, kept as it came
    assert resting_ids(box) == set()
    methods = [(r.method, r.path.rsplit("/", 2)[-2]) for r in box.requests]
    assert methods == [("DELETE", "orders"), ("GET", "orders")]  # then one GetOrder
    assert box.kalshi.stats.wrong_answers == 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_sandbox_command_serves_kalshi_with_the_credentials_it_prints() -> None:
    port = _free_port()
    command = [sys.executable, "-m", "cancelkit", "sandbox", "--kalshi-port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines: list[str] = []
        for line in process.stdout:  # the banner, up to its last line
            lines.append(line)
            if line.startswith("Press Ctrl+C"):
                break
        text = "".join(lines)
        assert f"Kalshi         http://127.0.0.1:{port}/trade-api/v2\n" in text
        exports = text[text.index("\nexport ") : text.index("\nSeed an open order")]
        env = dict(token.split("=", 1) for token in shlex.split(exports) if token != "export")
        assert env["KALSHI_API_URL"] == f"http://127.0.0.1:{port}/trade-api/v2"
        seeded = httpx.post(f"http://127.0.0.1:{port}/_sandbox/orders", json={"id": "cli-k1"})
        assert seeded.status_code == 201
        with KalshiClient(
            env["KALSHI_API_KEY_ID"], env["KALSHI_PRIVATE_KEY"], base_url=env["KALSHI_API_URL"]
        ) as client:
            assert [o.order_id for o in client.open_orders()] == ["cli-k1"]
            assert client.cancel_order("cli-k1").order_id == "cli-k1"
            assert client.open_orders() == []
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


@pytest.mark.parametrize("offset", [-120.0, 600.0])
def test_a_client_whose_clock_is_off_corrects_it_from_the_date_header(
    cancelkit_sandbox: Sandbox, kind: str, offset: float
) -> None:
    box = cancelkit_sandbox
    box.set_knobs(clock_offset=offset)  # the exchange's clock (and its Date) moved
    order = box.seed_kalshi()
    answer = use(box, kind, "ed25519", lambda c: c.cancel_order(order.id))
    assert answer.order_id == order.id
    statuses = [r.status for r in box.requests]
    assert statuses == [401, 200]  # refused once, then re-signed by the corrected clock
    assert box.kalshi.stats.auth_failures == statuses.count(401)

"""The Kalshi clients' single calls (sync and async): the exchange's word only, every
request signed as the exchange verifies it, hostile ids refused before any I/O."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cancelkit import InvalidRequest, OrderNotFound, OrderNotOpen, UnexpectedResponse
from cancelkit._generated.kalshi_api.models import CancelOrderV2Response, Order
from cancelkit.kalshi._client import AsyncKalshiClient, KalshiClient
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from helpers import Script, call, fast_retry, secret_pem
from test_kalshi_signing import verify

KEY_ID = "a952bcbe-ec3b-4b5b-b8f9-11dae589608c"
BASE = "https://external-api.kalshi.com/trade-api/v2"
OID = "3b23c1c7-f4ef-4f0d-8b9a-9e53c61f1a0d"
PEM = serialization.Encoding.PEM


@pytest.fixture(scope="module", params=["rsa", "ed25519"])
def key(request: pytest.FixtureRequest) -> tuple[str, bytes]:
    """(private PEM, public PEM as the exchange holds it), each key type."""
    private: Any = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if request.param == "rsa"
        else ed25519.Ed25519PrivateKey.generate()
    )
    text = private.private_bytes(
        PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = private.public_key().public_bytes(PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return secret_pem(text), public  # the secret scan looks for every line of it


@pytest.fixture(params=["sync", "async"])
def make(
    request: pytest.FixtureRequest, key: tuple[str, bytes]
) -> Iterator[Callable[[Script], KalshiClient | AsyncKalshiClient]]:
    cls = KalshiClient if request.param == "sync" else AsyncKalshiClient
    made: list[Any] = []

    def build(script: Script) -> KalshiClient | AsyncKalshiClient:
        client = cls(KEY_ID, key[0], base_url=BASE, transport=script.transport, retry=fast_retry())
        made.append(client)
        return client

    yield build
    for client in made:
        if isinstance(client, KalshiClient):
            client.close()


def cancelled(order_id: str = OID, reduced_by: str = "10.00") -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "order_id": order_id,
            "client_order_id": "c-1",
            "reduced_by": reduced_by,
            "ts_ms": 1715793660456,
        },
    )


def order(status: str, order_id: str = OID) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "user_id": "u-1",
        "client_order_id": "c-1",
        "ticker": "KXBTC-26DEC31-T100000",
        "outcome_side": "yes",
        "book_side": "bid",
        "type": "limit",
        "status": status,
        "yes_price_dollars": "0.5600",
        "no_price_dollars": "0.4400",
        "fill_count_fp": "0.00",
        "remaining_count_fp": "10.00",
        "initial_count_fp": "10.00",
        "taker_fees_dollars": "0.0000",
        "maker_fees_dollars": "0.0000",
        "taker_fill_cost_dollars": "0.0000",
        "maker_fill_cost_dollars": "0.0000",
    }


def found(status: str, order_id: str = OID) -> httpx.Response:
    return httpx.Response(200, json={"order": order(status, order_id)})


NOT_FOUND = httpx.Response(404, json={"code": "not_found", "message": "order not found"})


def test_a_cancel_is_the_v2_delete_signed_and_its_answer_the_exchanges(
    make: Callable[[Script], Any], key: tuple[str, bytes]
) -> None:
    script = Script([cancelled()])
    answer = call(make(script).cancel_order, OID, subaccount=2)
    assert isinstance(answer, CancelOrderV2Response)
    assert (answer.order_id, answer.reduced_by) == (OID, "10.00")
    (request,) = script.requests
    assert request.method == "DELETE"
    assert (
        request.url.raw_path == f"/trade-api/v2/portfolio/events/orders/{OID}?subaccount=2".encode()
    )
    assert request.headers["KALSHI-ACCESS-KEY"] == KEY_ID
    verify(request, key[1])


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(200, html="<html>captive portal</html>"),
        httpx.Response(200, json={}),
        httpx.Response(200, json={"order_id": OID, "reduced_by": 10, "ts_ms": 1}),
        cancelled(reduced_by="1e3"),
        cancelled(reduced_by="-1.00"),
    ],
)
def test_a_2xx_without_the_documented_body_is_never_a_cancel(
    make: Callable[[Script], Any], reply: httpx.Response
) -> None:
    with pytest.raises(UnexpectedResponse):
        call(make(Script([reply])).cancel_order, OID)


def test_an_answer_about_another_order_is_confirmed_by_asking_the_order(
    make: Callable[[Script], Any], key: tuple[str, bytes]
) -> None:
    # Changelog 2026-05-21: a V2 cancel's answer may describe another order.
    script = Script([cancelled(order_id="someone-else"), found("canceled")])
    answer = call(make(script).cancel_order, OID)
    assert answer.order_id == "someone-else"  # the exchange's word, as given
    assert [r.url.raw_path for r in script.requests] == [
        f"/trade-api/v2/portfolio/events/orders/{OID}".encode(),
        f"/trade-api/v2/portfolio/orders/{OID}".encode(),
    ]
    for request in script.requests:
        verify(request, key[1])
    # Still resting: never reported cancelled.
    with pytest.raises(UnexpectedResponse, match="may still be open"):
        call(make(Script([cancelled(order_id="x"), found("resting")])).cancel_order, OID)


@pytest.mark.parametrize(
    ("lookup", "error", "state", "accepted"),
    [
        (NOT_FOUND, OrderNotFound, None, True),
        (found("canceled"), OrderNotOpen, "cancelled", True),
        (found("executed"), OrderNotOpen, "filled", False),  # a fill is never a cancel
        (found("resting"), UnexpectedResponse, None, False),
    ],
)
def test_a_404_is_told_apart_by_one_lookup(
    make: Callable[[Script], Any],
    lookup: httpx.Response,
    error: type[Exception],
    state: str | None,
    accepted: bool,
) -> None:
    script = Script([NOT_FOUND, lookup])
    with pytest.raises(error) as caught:
        call(make(script).cancel_order, OID)
    assert getattr(caught.value, "state", None) == state
    assert len(script.requests) == 2
    assert script.requests[1].method == "GET"
    again = Script([NOT_FOUND, lookup])
    if accepted:
        assert call(make(again).cancel_order, OID, missing_ok=True) is None
    else:
        with pytest.raises(error):
            call(make(again).cancel_order, OID, missing_ok=True)


@pytest.mark.parametrize(
    ("order_id", "kwargs"),
    [
        ("../../portfolio/events/orders", {}),
        ("a/b", {}),
        ("ord?x=1", {}),
        ("ord#1", {}),
        ("%2E%2E", {}),
        ("..", {}),
        ("", {}),
        (" x", {}),
        ("x\x00", {}),
        ("x" * 129, {}),
        (OID, {"subaccount": 64}),
        (OID, {"subaccount": True}),
    ],
)
def test_hostile_input_is_refused_before_any_request(
    make: Callable[[Script], Any], order_id: str, kwargs: dict[str, Any]
) -> None:
    script = Script()
    client = make(script)
    with pytest.raises(InvalidRequest):
        call(client.cancel_order, order_id, **kwargs)
    with pytest.raises(InvalidRequest):
        call(client.get_order, order_id if not kwargs else "a/b")
    assert script.requests == []


def test_each_attempt_is_signed_afresh(
    make: Callable[[Script], Any], key: tuple[str, bytes]
) -> None:
    script = Script([httpx.Response(503, json={"message": "busy"}), cancelled()])
    call(make(script).cancel_order, OID)
    first, second = script.requests
    for request in script.requests:
        verify(request, key[1])
    assert first.headers["KALSHI-ACCESS-SIGNATURE"] != second.headers["KALSHI-ACCESS-SIGNATURE"]


def test_open_orders_reads_every_page_of_resting_orders(
    make: Callable[[Script], Any], key: tuple[str, bytes]
) -> None:
    script = Script(
        [
            httpx.Response(200, json={"orders": [order("resting", "o-1")], "cursor": "c1"}),
            httpx.Response(200, json={"orders": [order("resting", "o-2")], "cursor": "c2"}),
            httpx.Response(200, json={"orders": [], "cursor": ""}),
        ]
    )
    listed = call(make(script).open_orders, ticker="KXBTC-26DEC31-T100000", subaccount=0)
    assert [o.order_id for o in listed] == ["o-1", "o-2"]
    assert all(isinstance(o, Order) for o in listed)
    queries = [dict(r.url.params) for r in script.requests]
    for query, cursor in zip(queries, [None, "c1", "c2"], strict=True):
        assert query["status"] == "resting"
        assert query["limit"] == "1000"
        assert query["ticker"] == "KXBTC-26DEC31-T100000"
        assert query.get("cursor") == cursor
    for request in script.requests:
        verify(request, key[1])


def test_a_cursor_that_comes_back_ends_the_listing_with_an_error(
    make: Callable[[Script], Any],
) -> None:
    page = {"orders": [order("resting")], "cursor": "again"}
    script = Script([httpx.Response(200, json=page) for _ in range(3)])
    with pytest.raises(UnexpectedResponse, match="cursor it gave before"):
        call(make(script).open_orders)
    assert len(script.requests) == 2


def test_get_order_returns_the_generated_order_asked_for(make: Callable[[Script], Any]) -> None:
    assert call(make(Script([found("executed")])).get_order, OID).status == "executed"
    with pytest.raises(OrderNotFound):
        call(make(Script([NOT_FOUND])).get_order, OID)
    with pytest.raises(UnexpectedResponse, match="without the order asked for"):
        call(make(Script([found("resting", "another")])).get_order, OID)


def test_from_env_reads_the_key_from_a_file_or_the_variable(
    key: tuple[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("KALSHI_API_KEY_ID", "KALSHI_PRIVATE_KEY", "KALSHI_PRIVATE_KEY_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KALSHI_API_URL", "http://127.0.0.1:9/trade-api/v2")
    with pytest.raises(InvalidRequest, match="KALSHI_API_KEY_ID, KALSHI_PRIVATE_KEY_PATH"):
        KalshiClient.from_env()
    monkeypatch.setenv("KALSHI_API_KEY_ID", KEY_ID)
    pem = tmp_path / "kalshi.pem"
    pem.write_text(key[0])
    monkeypatch.setenv("KALSHI_PRIVATE_KEY_PATH", str(pem))
    with KalshiClient.from_env() as client:
        assert client.key_id == KEY_ID
        assert client.base_url == "http://127.0.0.1:9/trade-api/v2"
    monkeypatch.setenv("KALSHI_PRIVATE_KEY", key[0])
    with pytest.raises(InvalidRequest, match="set one"):
        AsyncKalshiClient.from_env()
    monkeypatch.delenv("KALSHI_PRIVATE_KEY_PATH")
    assert AsyncKalshiClient.from_env().key_id == KEY_ID
    assert AsyncKalshiClient.from_env(tier="premier")._tier == "premier"
    with pytest.raises(InvalidRequest, match="Kalshi tier must be"):
        KalshiClient.from_env(tier="gold")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="teir"):
        KalshiClient.from_env(teir="basic")  # type: ignore[call-arg]
    monkeypatch.delenv("KALSHI_PRIVATE_KEY")
    monkeypatch.setenv("KALSHI_PRIVATE_KEY_PATH", str(tmp_path / "missing.pem"))
    with pytest.raises(InvalidRequest, match="cannot read"):
        KalshiClient.from_env()


def test_a_wrong_tier_is_refused_at_construction(key: tuple[str, bytes]) -> None:
    with pytest.raises(InvalidRequest, match="Kalshi tier must be one of basic"):
        KalshiClient(KEY_ID, key[0], tier="gold")  # type: ignore[arg-type]


def test_the_repr_names_the_key_id_only(key: tuple[str, bytes]) -> None:
    client = AsyncKalshiClient(KEY_ID, key[0], base_url=BASE)
    assert repr(client) == f"AsyncKalshiClient(key_id={KEY_ID!r}, base_url={BASE!r})"
    body = [line for line in key[0].splitlines() if not line.startswith("-----")]
    assert not any(line in repr(client) for line in body)
    assert json.dumps(body)  # the key has body lines to look for

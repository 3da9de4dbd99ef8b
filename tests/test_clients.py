"""Client behaviour users depend on: refusals, errors, retries, clock, secrets (sync and async)."""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import cancelkit
import httpx
import pytest
from cancelkit import (
    AuthenticationError,
    BadRequest,
    CancelKitError,
    InvalidRequest,
    NetworkError,
    OrderNotFound,
    OrderNotOpen,
    RateLimited,
    RetryPolicy,
    ServerError,
    UnexpectedResponse,
    WrongEndpoint,
)
from helpers import (
    LM_SECRET,
    LM_TOKEN_ID,
    PM_KEY_ID,
    PM_SECRET_32,
    Script,
    call,
    pin_clock,
    record_waits,
    verify_limitless,
    verify_polymarket,
)

OK = {"message": "Order canceled successfully"}
UID = "6f52b6d2-6c9e-4a5c-8a4f-28ab4b7ff203"


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({}, "got neither"),
        ({"order_id": UID, "client_order_id": "x"}, "got order_id and client_order_id"),
        ({"order_id": "not-a-uuid"}, "is not a UUID"),
        ({"order_id": 12345}, "must be a UUID"),
        ({"client_order_id": ""}, "client_order_id is empty"),
        ({"client_order_id": "c" * 129}, "129 characters long; the limit is 128"),
        ({"client_order_id": "bad\ud800"}, "lone surrogate"),
        ({"order_id": UID, "on_behalf_of": 0}, "positive integer"),
        ({"order_id": UID, "on_behalf_of": -4}, "positive integer"),
        ({"order_id": UID, "on_behalf_of": True}, "must be an integer"),
        ({"order_id": UID, "on_behalf_of": "42"}, "must be an integer"),
    ],
)
def test_limitless_refusals_send_nothing(
    make_lm: Callable[..., Any], kwargs: dict[str, Any], problem: str
) -> None:
    script = Script()
    with pytest.raises(InvalidRequest, match=problem) as caught:
        call(make_lm(script).cancel_order, **kwargs)
    assert script.requests == []
    assert caught.value.attempts == 0


@pytest.mark.parametrize(
    ("order_id", "slug", "problem"),
    [
        ("", None, "order_id is empty"),
        (".", None, "dot-segment"),
        ("..", None, "dot-segment"),
        (None, None, "must be a string"),
        (123, None, "must be a string"),
        ("x" * 1025, None, "the limit is 1024"),
        ("ok\udfff", None, "lone surrogate"),
        ("ord-1", "", "market_slug is empty"),
        ("ord-1", 5, "market_slug must be a string"),
    ],
)
def test_polymarket_refusals_send_nothing(
    make_pm: Callable[..., Any], order_id: Any, slug: Any, problem: str
) -> None:
    script = Script()
    with pytest.raises(InvalidRequest, match=problem):
        call(make_pm(script).cancel_order, order_id, market_slug=slug)
    assert script.requests == []


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, BadRequest),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, OrderNotFound),
        (422, BadRequest),
    ],
)
def test_final_statuses_map_to_errors_without_retry(
    make_lm: Callable[..., Any], status: int, error: type[CancelKitError]
) -> None:
    script = Script(
        [
            httpx.Response(
                status,
                json={"message": ["orderId must be a UUID", "bad"], "statusCode": status},
                headers={"x-request-id": "req-77"},
            )
        ]
    )
    with pytest.raises(error) as caught:
        call(make_lm(script).cancel_order, order_id=UID)
    assert len(script.requests) == 1
    assert caught.value.status == status
    assert caught.value.message == "orderId must be a UUID; bad"  # NestJS list joined
    assert caught.value.request_id == "req-77"
    assert caught.value.attempts == 1
    assert "req-77" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "error"),
    [(429, RateLimited), (500, ServerError), (502, ServerError), (503, ServerError)],
)
def test_retryable_statuses_retry_with_fresh_signatures_and_stop_at_the_limit(
    make_pm: Callable[..., Any], status: int, error: type[CancelKitError]
) -> None:
    body = {"status": status, "message": "Too Many Requests" if status == 429 else "boom"}
    script = Script([httpx.Response(status, json=body) for _ in range(10)])
    # Backoff of a few ms, so each attempt falls in a new millisecond timestamp.
    client = make_pm(script, retry=RetryPolicy(max_retries=2, base_delay=0.004, max_delay=0.008))
    with pytest.raises(error) as caught:
        call(client.cancel_order, "ord-1")
    assert len(script.requests) == 3
    assert caught.value.attempts == 3
    assert caught.value.message == body["message"]
    signatures = {r.headers["X-PM-Signature"] for r in script.requests}
    assert len(signatures) == 3, "every attempt is freshly timestamped and signed"
    stamps = [int(r.headers["X-PM-Timestamp"]) for r in script.requests]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == 3
    for request in script.requests:
        verify_polymarket(request)


def test_a_retry_that_succeeds_returns_normally(make_lm: Callable[..., Any]) -> None:
    script = Script(
        [
            httpx.ConnectError("refused"),
            httpx.Response(503, text="upstream down"),
            httpx.ReadTimeout("slow"),
            httpx.Response(200, json={"message": "Order canceled successfully"}),
        ]
    )
    assert call(make_lm(script).cancel_order, order_id=UID) == "Order canceled successfully"
    assert len(script.requests) == 4
    for request in script.requests:
        verify_limitless(request)


def test_transport_failures_end_as_network_error(make_pm: Callable[..., Any]) -> None:
    script = Script([httpx.ConnectError("refused") for _ in range(5)])
    with pytest.raises(NetworkError, match="ConnectError") as caught:
        call(make_pm(script, max_retries=3).cancel_order, "ord-1")
    assert caught.value.attempts == 4
    assert caught.value.status is None


def test_not_found_after_an_ambiguous_attempt_keeps_its_attempts(
    make_pm: Callable[..., Any],
) -> None:
    gone = {"code": 5, "message": "order not found"}
    # The cancel's 404, then the lookup's: unknown to the exchange.
    replies = [httpx.RemoteProtocolError("dropped"), *[httpx.Response(404, json=gone)] * 2]
    script = Script(replies)
    with pytest.raises(OrderNotFound) as caught:
        call(make_pm(script).cancel_order, "ord-1")
    assert caught.value.attempts == 2
    assert caught.value.may_have_landed

    script = Script(replies)
    assert call(make_pm(script).cancel_order, "ord-1", missing_ok=True) is None


def test_limitless_missing_ok_returns_a_message_that_reads_as_done(
    make_lm: Callable[..., Any],
) -> None:
    script = Script([httpx.Response(404, json={"message": "Order not found"})])
    said = call(make_lm(script).cancel_order, order_id=UID, missing_ok=True)
    assert said == "done: the exchange knows no such order for this token (missing_ok)"


@pytest.mark.parametrize("header", ["0.3", "2"])
def test_retry_after_is_honoured(make_lm: Callable[..., Any], header: str) -> None:
    script = Script(
        [httpx.Response(429, headers={"Retry-After": header}), httpx.Response(200, json=OK)]
    )
    client = make_lm(script)
    waits = record_waits(client)
    call(client.cancel_order, order_id=UID)
    assert waits == [float(header)]


def test_a_retry_after_beyond_the_cap_gives_up_with_it(make_lm: Callable[..., Any]) -> None:
    script = Script([httpx.Response(429, headers={"Retry-After": "3600"})])
    with pytest.raises(RateLimited) as caught:
        call(make_lm(script).cancel_order, order_id=UID)
    assert caught.value.retry_after == 3600.0
    assert len(script.requests) == 1


# Only the documented answer: an object with fields is refused (test_exchange_word).
@pytest.mark.parametrize("body", [b"", b"{}"])
def test_a_polymarket_200_with_an_empty_body_or_object_is_success(
    make_pm: Callable[..., Any], body: bytes
) -> None:
    script = Script([httpx.Response(200, content=body)])
    assert call(make_pm(script).cancel_order, "ord-1") is None


def _http_date(seconds: float) -> str:
    return email.utils.formatdate(seconds, usegmt=True)


def test_a_401_showing_a_skewed_clock_is_corrected_and_retried_once(
    make_pm: Callable[..., Any],
) -> None:
    real = time.time
    script = Script(
        [
            httpx.Response(
                401, json={"message": "timestamp expired"}, headers={"Date": _http_date(real())}
            ),
            httpx.Response(200, json={}, headers={"Date": _http_date(real())}),
        ]
    )
    call(pin_clock(make_pm(script), lambda: real() - 120.0).cancel_order, "ord-1")
    first, second = (int(r.headers["X-PM-Timestamp"]) / 1000 for r in script.requests)
    assert abs(first - (real() - 120)) < 5
    assert abs(second - real()) < 2, "the retry is signed with the server's clock"
    verify_polymarket(script.requests[1])


def test_a_401_with_a_sane_clock_is_not_retried(make_lm: Callable[..., Any]) -> None:
    script = Script(
        [
            httpx.Response(
                401, json={"message": "bad signature"}, headers={"Date": _http_date(time.time())}
            )
        ]
    )
    with pytest.raises(AuthenticationError, match="bad signature"):
        call(make_lm(script).cancel_order, order_id=UID)
    assert len(script.requests) == 1


def test_a_second_skewed_401_is_not_retried_again(make_lm: Callable[..., Any]) -> None:
    real = time.time
    offset = [300.0]

    def skewed_401() -> httpx.Response:
        offset[0] += 300  # the local clock keeps running away
        return httpx.Response(401, headers={"Date": _http_date(real())})

    script = Script([skewed_401(), skewed_401(), skewed_401()])
    client = pin_clock(make_lm(script), lambda: real() - offset[0])
    with pytest.raises(AuthenticationError) as caught:
        call(client.cancel_order, order_id=UID)
    assert caught.value.attempts == 2


def test_the_offset_from_any_response_date_is_used_for_later_requests(
    make_lm: Callable[..., Any],
) -> None:
    real = time.time
    script = Script(
        [httpx.Response(200, json={"message": "ok"}, headers={"Date": _http_date(real())})] * 2
    )
    client = pin_clock(make_lm(script), lambda: real() + 40.0)
    call(client.cancel_order, order_id=UID)
    call(client.cancel_order, order_id=UID)
    from datetime import datetime

    stamp = datetime.fromisoformat(script.requests[1].headers["lmts-timestamp"]).timestamp()
    assert abs(stamp - real()) < 2


def test_debug_log_has_one_line_per_attempt_and_no_secrets(
    make_pm: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    script = Script([httpx.Response(500), httpx.Response(200)])
    with caplog.at_level(logging.DEBUG, logger="cancelkit"):
        call(make_pm(script).cancel_order, "ord-1")
    lines = [r.getMessage() for r in caplog.records if r.name == "cancelkit"]
    assert len(lines) == 2
    assert "POST /v1/order/ord-1/cancel -> 500 (attempt 1," in lines[0]
    assert "-> 200 (attempt 2," in lines[1]
    assert lines[0].endswith(" ms)")
    signatures = [r.headers["X-PM-Signature"] for r in script.requests]
    for line in lines:
        assert PM_SECRET_32 not in line
        assert all(s not in line for s in signatures)


def test_reprs_and_errors_carry_no_secret(flavour: str) -> None:
    pm_cls = (
        cancelkit.PolymarketUSClient if flavour == "sync" else cancelkit.AsyncPolymarketUSClient
    )
    lm_cls = cancelkit.LimitlessClient if flavour == "sync" else cancelkit.AsyncLimitlessClient
    pm = pm_cls(PM_KEY_ID, PM_SECRET_32)
    lm = lm_cls(LM_TOKEN_ID, LM_SECRET)
    for text in (repr(pm), repr(lm), repr(pm._auth), repr(lm._auth), str(vars(pm)), str(vars(lm))):
        assert PM_SECRET_32 not in text
        assert LM_SECRET not in text
    assert PM_KEY_ID in repr(pm)


def test_from_env(monkeypatch: pytest.MonkeyPatch, flavour: str) -> None:
    cls = cancelkit.LimitlessClient if flavour == "sync" else cancelkit.AsyncLimitlessClient
    monkeypatch.delenv("LIMITLESS_TOKEN_ID", raising=False)
    monkeypatch.setenv("LIMITLESS_TOKEN_SECRET", LM_SECRET)
    with pytest.raises(InvalidRequest, match="LIMITLESS_TOKEN_ID is not set"):
        cls.from_env()
    monkeypatch.setenv("LIMITLESS_TOKEN_ID", LM_TOKEN_ID)
    monkeypatch.setenv("LIMITLESS_API_URL", "http://127.0.0.1:9")
    client = cls.from_env()
    assert client.base_url == "http://127.0.0.1:9"

    pm_cls = (
        cancelkit.PolymarketUSClient if flavour == "sync" else cancelkit.AsyncPolymarketUSClient
    )
    monkeypatch.setenv("POLYMARKET_KEY_ID", PM_KEY_ID)
    monkeypatch.setenv("POLYMARKET_SECRET_KEY", "garbage!")
    with pytest.raises(InvalidRequest, match="not valid base64") as caught:
        pm_cls.from_env()
    assert "garbage" not in str(caught.value)


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"base_url": "ftp://x"}, "base_url"),
        ({"timeout": 0}, "timeout"),
        ({"max_retries": -1}, "max_retries"),
    ],
)
def test_bad_settings_are_refused_at_construction(kwargs: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidRequest, match=problem):
        cancelkit.PolymarketUSClient(PM_KEY_ID, PM_SECRET_32, **kwargs)


def test_clients_are_context_managers(flavour: str) -> None:
    script = Script()
    if flavour == "sync":
        with cancelkit.PolymarketUSClient(
            PM_KEY_ID, PM_SECRET_32, transport=script.transport
        ) as pm:
            pm.cancel_order("ord-1")
        assert pm._http.is_closed
    else:
        import asyncio

        async def main() -> Any:
            async with cancelkit.AsyncLimitlessClient(
                LM_TOKEN_ID, LM_SECRET, transport=script.transport
            ) as lm:
                await lm.cancel_order(order_id=UUID(UID))
            return lm

        assert asyncio.run(main())._http.is_closed
    assert len(script.requests) == 1


SNIPPET = """\
from cancelkit import LimitlessClient
lm = LimitlessClient("t", "s")
lm.cancel_order(order_id="6f52b6d2-6c9e-4a5c-8a4f-28ab4b7ff203")
lm.cancel_order(client_order_id="c-1", on_behalf_of=4)
lm.cancel_order()
lm.cancel_order(order_id="6f52b6d2-6c9e-4a5c-8a4f-28ab4b7ff203", client_order_id="c-1")
"""


def test_mypy_rejects_both_or_neither_identifier(tmp_path: Path) -> None:
    from mypy import api

    snippet = tmp_path / "snippet.py"
    snippet.write_text(SNIPPET)
    # The project's cache (warm after `make types`, as the refresh tests' wrapper check
    # uses it): cancelkit's modules are read from it, not checked again (seconds).
    cache = Path(__file__).resolve().parent.parent / ".mypy_cache"
    stdout, _, status = api.run(["--strict", "--cache-dir", str(cache), str(snippet)])
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    assert status == 1
    assert [e.split(":")[1] for e in errors] == ["5", "6"], stdout
    assert all("[call-overload]" in e and "cancel_order" in e for e in errors)


def test_limitless_cannot_be_cancelled_is_not_open(make_lm: Callable[..., Any]) -> None:
    not_open = {"message": "Order cannot be cancelled", "statusCode": 400}
    script = Script([httpx.RemoteProtocolError("dropped"), httpx.Response(400, json=not_open)])
    with pytest.raises(OrderNotOpen, match="may have cancelled it unseen") as caught:
        call(make_lm(script).cancel_order, order_id=UID)
    assert caught.value.attempts == 2
    assert caught.value.status == 400

    script = Script([httpx.Response(400, json=not_open)])
    with pytest.raises(OrderNotOpen) as caught:
        call(make_lm(script).cancel_order, order_id=UID)
    assert "unseen" not in caught.value.message


@pytest.mark.parametrize(
    "reply",
    [
        {"text": "<html>Not Found</html>"},
        {"json": {"message": "Cannot POST /api/orders/cancel", "statusCode": 404}},
        {"json": {"code": 5, "message": "Not Found"}},
        {"json": {}},
    ],
    ids=["html", "nestjs-route", "gateway", "empty"],
)
def test_a_route_level_404_is_a_wrong_endpoint_not_a_missing_order(
    make_lm: Callable[..., Any], reply: dict[str, Any]
) -> None:
    script = Script([httpx.Response(404, **reply)])
    with pytest.raises(WrongEndpoint, match="base URL"):
        call(make_lm(script).cancel_order, order_id=UID, missing_ok=True)


@pytest.mark.parametrize("reply", [{"text": "<html>ok</html>"}, {"json": {"ok": True}}])
def test_a_2xx_without_the_documented_confirmation_is_not_taken_as_one(
    make_lm: Callable[..., Any], reply: dict[str, Any]
) -> None:
    with pytest.raises(UnexpectedResponse, match="documented"):
        call(make_lm(Script([httpx.Response(200, **reply)])).cancel_order, order_id=UID)


@pytest.mark.parametrize(
    "first",
    [lambda: httpx.ConnectError("refused"), lambda: httpx.Response(429)],
    ids=["connect-error-never-sent", "429-not-processed"],
)
def test_a_400_stays_bad_request_when_nothing_may_have_landed(
    make_lm: Callable[..., Any], first: Callable[[], Any]
) -> None:
    script = Script([first(), httpx.Response(400, json={"message": "nope"})])
    with pytest.raises(BadRequest):
        call(make_lm(script).cancel_order, order_id=UID)


def test_polymarket_400_after_a_drop_stays_bad_request(make_pm: Callable[..., Any]) -> None:
    # Polymarket answers "not open" with 404; its 400 is a real refusal (e.g. wrong market).
    script = Script([httpx.ReadError("dropped"), httpx.Response(400, json={"message": "market"})])
    with pytest.raises(BadRequest):
        call(make_pm(script).cancel_order, "ord-1", market_slug="m")


@pytest.mark.parametrize("venue", ["polymarket", "limitless", "kalshi"])
def test_a_sync_clients_bulk_twin_is_built_by_its_constructor_on_the_same_key(
    cancelkit_sandbox: Any, venue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The twin a sync client's kill switch runs on signs with the very key object the
    sync client decoded (and learns the same clock): the secret is decoded once."""
    box = cancelkit_sandbox
    client = {
        "polymarket": box.polymarket_client,
        "limitless": box.limitless_client,
        "kalshi": box.kalshi_client,
    }[venue]()
    built: list[object] = []
    twin_class = type(client)._twin_class
    init = twin_class.__init__

    def recording(self: Any, *args: Any, **kwargs: Any) -> None:
        built.append(self)
        init(self, *args, **kwargs)

    monkeypatch.setattr(twin_class, "__init__", recording)
    with client:
        client.warm()  # starts the twin: warm() serves the kill switch's pool too
        (twin,) = built
        assert isinstance(twin, twin_class)
        assert twin._auth is client._auth
        assert twin._clock is client._clock
        assert (twin.base_url, twin.key_id) == (client.base_url, client.key_id)


def test_a_sync_clients_single_calls_take_its_own_pool_and_bulk_calls_its_loop_thread(
    cancelkit_sandbox: Any,
) -> None:
    """The sync methods are generated from the async ones, yet a single call stays on
    the sync client's direct route (its httpcore pool, in the caller's thread, no
    loop thread started) and a bulk call runs on the twin in the loop thread."""
    box = cancelkit_sandbox
    for i in range(3):
        box.seed_polymarket(f"route-{i}")
    order = str(box.seed_limitless().id)
    with box.polymarket_client() as pm, box.limitless_client(paced=False) as lm:
        assert pm.get_order("route-0").id == "route-0"
        assert {o.id for o in pm.open_orders()} >= {"route-0", "route-1", "route-2"}
        pm.cancel_order("route-0")
        assert lm.cancel_order(order_id=order)
        assert (pm._loop_thread, pm._twin, lm._loop_thread, lm._twin) == (None,) * 4
        results = pm.cancel_orders(["route-1", "route-2"])
        assert [r.status for r in results] == ["cancelled", "cancelled"]
        assert pm._loop_thread is not None
        assert isinstance(pm._twin, cancelkit.AsyncPolymarketUSClient)

"""A single cancel succeeds only on the exchange's word, and every failure is a
CancelKitError a program can act on (issue #24), against a real loopback server."""

from __future__ import annotations

import asyncio
import gzip
import pickle
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import cancelkit
import httpx
import pytest
from cancelkit import (
    AsyncLimitlessClient,
    AsyncPolymarketUSClient,
    CancelKitError,
    InvalidRequest,
    LimitlessClient,
    NetworkError,
    OrderNotFound,
    OrderNotOpen,
    PolymarketUSClient,
    RetryPolicy,
    ServerError,
    UnexpectedResponse,
    WrongEndpoint,
)
from cancelkit._exceptions import MAX_BODY
from cancelkit.sandbox import Sandbox
from helpers import LM_SECRET, LM_TOKEN_ID, PM_KEY_ID, PM_SECRET_32, fast_retry

UID = "0f8fad5b-d9cb-469f-a165-70867728950e"
Reply = tuple[int, dict[str, str], bytes]


class Exchange:
    """A loopback HTTP server answering each request with the next scripted reply."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.seen: list[tuple[str, str]] = []
        exchange = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                exchange.seen.append((self.command, self.path))
                status, headers, body = exchange.replies.pop(0)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_DELETE = _answer  # noqa: N815 (http.server's names)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def answer(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.seen.clear()


@pytest.fixture(scope="module")
def exchange() -> Iterator[Exchange]:
    ex = Exchange()
    ex.thread.start()
    yield ex
    ex.server.shutdown()
    ex.server.server_close()


def pm(flavour: str, url: str, **kwargs: Any) -> Any:
    cls = PolymarketUSClient if flavour == "sync" else AsyncPolymarketUSClient
    kwargs.setdefault("retry", fast_retry(kwargs.pop("max_retries", 3)))
    return cls(PM_KEY_ID, PM_SECRET_32, base_url=url, **kwargs)


def lm(flavour: str, url: str, **kwargs: Any) -> Any:
    cls = LimitlessClient if flavour == "sync" else AsyncLimitlessClient
    kwargs.setdefault("retry", fast_retry(kwargs.pop("max_retries", 3)))
    return cls(LM_TOKEN_ID, LM_SECRET, base_url=url, **kwargs)


def cancel(client: Any, *args: Any, **kwargs: Any) -> Any:
    """``client.cancel_order`` once, then close the client (on the same event loop)."""
    if isinstance(client, PolymarketUSClient | LimitlessClient):
        with client:
            return client.cancel_order(*args, **kwargs)

    async def main() -> Any:
        async with client:
            return await client.cancel_order(*args, **kwargs)

    return asyncio.run(main())


JSON = {"Content-Type": "application/json"}
HTML_PAGE = b"<html><body>Welcome to the hotel wifi</body></html>"
NOT_GZIP = b"this is not a gzip stream"
REFUSED: dict[str, Reply] = {
    "301 to https": (301, {"Location": "https://pm.example/v1/order/ord-1/cancel"}, b""),
    "302 captive portal": (302, {"Location": "http://portal.example/login"}, b""),
    "307 with a JSON body": (307, {"Location": "/elsewhere", **JSON}, b"{}"),
    "200 html": (200, {"Content-Type": "text/html"}, HTML_PAGE),
    "200 html, empty": (200, {"Content-Type": "text/html; charset=utf-8"}, b""),
    "200 not json": (200, {"Content-Type": "text/plain"}, b"OK"),
    "200 json list": (200, JSON, b"[]"),
    "200 bad gzip": (200, {**JSON, "Content-Encoding": "gzip"}, NOT_GZIP),
}


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize("answer", list(REFUSED))
def test_a_polymarket_cancel_is_never_taken_from_a_redirect_or_a_page(
    exchange: Exchange, flavour: str, answer: str
) -> None:
    exchange.answer(REFUSED[answer])
    with pytest.raises(CancelKitError) as caught:
        cancel(pm(flavour, exchange.url), "ord-1")
    error = caught.value
    assert isinstance(error, WrongEndpoint if answer[0] == "3" else UnexpectedResponse)
    assert exchange.seen == [("POST", "/v1/order/ord-1/cancel")]  # no redirect followed
    assert "ord-1" in str(error)
    assert error.method == "POST"
    assert error.path == "/v1/order/ord-1/cancel"
    assert not error.retryable
    if "gzip" in answer:
        assert isinstance(error.__cause__, httpx.DecodingError)
        assert error.may_have_landed


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize("answer", ["301 to https", "302 captive portal", "200 bad gzip"])
def test_a_limitless_cancel_is_never_taken_from_a_redirect_or_a_broken_answer(
    exchange: Exchange, flavour: str, answer: str
) -> None:
    exchange.answer(REFUSED[answer])
    with pytest.raises(WrongEndpoint if answer[0] == "3" else UnexpectedResponse) as caught:
        cancel(lm(flavour, exchange.url), order_id=UID)
    assert exchange.seen == [("POST", "/orders/cancel")]
    assert UID in str(caught.value)


# 2xx answers that are not the cancel page's "200, CancelOrderResponse (empty on
# success)": none of them says the order was cancelled (issue 31).
NOT_THE_DOCUMENTED_SUCCESS: dict[str, Reply] = {
    "202 accepted": (202, JSON, b"{}"),
    "202 empty": (202, {}, b""),
    "204 no content": (204, {}, b""),
    "201 created": (201, JSON, b"{}"),
    "200 with an error": (200, JSON, b'{"error": "order is not cancellable"}'),
    "200 with a message": (200, JSON, b'{"message": "rejected"}'),
    "200 with other fields": (200, JSON, b'{"extra": 1}'),
}


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize("answer", list(NOT_THE_DOCUMENTED_SUCCESS))
def test_a_polymarket_cancel_succeeds_only_on_the_documented_answer(
    exchange: Exchange, flavour: str, answer: str
) -> None:
    status, headers, body = NOT_THE_DOCUMENTED_SUCCESS[answer]
    exchange.answer((status, headers, body))
    with pytest.raises(UnexpectedResponse) as caught:
        cancel(pm(flavour, exchange.url), "ord-1")
    error = caught.value
    assert exchange.seen == [("POST", "/v1/order/ord-1/cancel")]  # not retried
    assert error.status == status
    assert "ord-1" in str(error)
    assert not error.retryable
    if b"error" in body:
        assert "order is not cancellable" in error.message  # the exchange's words kept


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize("body", [b"", b"{}", b" {} "])
def test_the_documented_empty_success_is_success(
    exchange: Exchange, flavour: str, body: bytes
) -> None:
    exchange.answer((200, JSON if body else {}, body))
    assert cancel(pm(flavour, exchange.url), "ord-1") is None


def test_a_gzip_answer_that_is_gzip_still_works(exchange: Exchange) -> None:
    body = gzip.compress(b'{"message": "Order canceled"}')
    exchange.answer((200, {**JSON, "Content-Encoding": "gzip"}, body))
    assert lm("sync", exchange.url).cancel_order(order_id=UID) == "Order canceled"


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_an_error_names_the_order_the_request_and_a_bounded_body(
    exchange: Exchange, flavour: str
) -> None:
    long_message = "x" * 10_000
    exchange.answer(
        *[
            (
                503,
                {**JSON, "X-Request-Id": "req-7"},
                b'{"message": "' + long_message.encode() + b'"}',
            )
        ]
        * 4
    )
    with pytest.raises(ServerError) as caught:
        cancel(pm(flavour, exchange.url), "ord-9")
    error = caught.value
    assert error.retryable
    assert error.may_have_landed
    assert (error.method, error.path, error.order) == ("POST", "/v1/order/ord-9/cancel", "ord-9")
    assert (error.status, error.request_id, error.attempts) == (503, "req-7", 4)
    assert len(error.body or "") == MAX_BODY
    assert str(error).endswith(
        "(order ord-9, POST /v1/order/ord-9/cancel, HTTP 503, request id req-7, 4 attempts,"
        " may have landed)"
    )
    copy = pickle.loads(pickle.dumps(error))  # a worker process gets every detail
    assert (type(copy), copy.order, copy.status, str(copy)) == (
        ServerError,
        "ord-9",
        503,
        str(error),
    )


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_limitless_error_names_the_client_order_id(exchange: Exchange, flavour: str) -> None:
    exchange.answer((404, JSON, b'{"message": "Order not found"}'))
    with pytest.raises(OrderNotFound) as caught:
        cancel(lm(flavour, exchange.url), client_order_id="bot-42")
    assert "order client_order_id=bot-42" in str(caught.value)
    assert not caught.value.retryable


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_network_error_chains_its_cause_and_says_whether_it_may_have_landed(
    flavour: str,
) -> None:
    closed = httpx.URL("http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(NetworkError) as caught:
        cancel(pm(flavour, str(closed), max_retries=0), "ord-1")
    assert isinstance(caught.value.__cause__, httpx.TransportError)
    assert caught.value.retryable
    assert not caught.value.may_have_landed  # the connect failed: never sent


def test_public_errors_report_the_module_users_import() -> None:
    for name in ("CancelKitError", "OrderNotFound", "OrderNotOpen", "NetworkError"):
        cls = getattr(cancelkit, name)
        assert cls.__module__ == "cancelkit"
        assert f"{cls.__module__}.{cls.__qualname__}" == f"cancelkit.{name}"


def test_a_closed_client_refuses_before_sending(exchange: Exchange) -> None:
    exchange.answer()
    client = pm("sync", exchange.url)
    client.close()
    with pytest.raises(InvalidRequest, match="closed"):
        client.cancel_order("ord-1")

    async def main() -> None:
        client = pm("async", exchange.url)
        await client.aclose()
        with pytest.raises(InvalidRequest, match="closed"):
            await client.cancel_order("ord-1")

    asyncio.run(main())
    assert exchange.seen == []


def test_one_async_client_on_two_event_loops_refuses_before_sending(
    exchange: Exchange,
) -> None:
    exchange.answer((200, JSON, b"{}"))
    client = pm("async", exchange.url)
    asyncio.run(client.cancel_order("ord-1"))
    with pytest.raises(InvalidRequest, match="another event loop"):
        asyncio.run(client.cancel_order("ord-2"))
    client._http._transport.client = None  # its session died with the first loop
    assert exchange.seen == [("POST", "/v1/order/ord-1/cancel")]


# ---------------------------------------------------------------------------
# Not found, not open, and missing_ok never hiding a fill (on the sandbox).
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        yield sandbox


@pytest.mark.parametrize("missing_ok", [False, True])
def test_polymarket_tells_unknown_cancelled_and_filled_apart(
    box: Sandbox, missing_ok: bool
) -> None:
    box.seed_polymarket(f"done-{missing_ok}", status="cancelled")
    box.seed_polymarket(f"fill-{missing_ok}", status="filled")

    def check(cancel: Any) -> None:
        with pytest.raises(OrderNotOpen) as filled:
            cancel(f"fill-{missing_ok}", missing_ok=missing_ok)
        assert filled.value.state == "filled"  # whatever missing_ok says
        assert f"fill-{missing_ok}" in str(filled.value)
        if missing_ok:
            assert cancel(f"done-{missing_ok}", missing_ok=True) is None
            assert cancel(f"none-{missing_ok}", missing_ok=True) is None
            return
        with pytest.raises(OrderNotOpen) as cancelled:
            cancel(f"done-{missing_ok}")
        assert cancelled.value.state == "cancelled"
        with pytest.raises(OrderNotFound) as unknown:
            cancel(f"none-{missing_ok}")
        assert not isinstance(unknown.value, OrderNotOpen)

    with box.polymarket_client() as client:
        check(client.cancel_order)
    check(lambda *a, **k: asyncio.run(_async_cancel(box, *a, **k)))


async def _async_cancel(box: Sandbox, *args: Any, **kwargs: Any) -> Any:
    async with box.async_polymarket_client() as client:
        return await client.cancel_order(*args, **kwargs)


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_limitless_missing_ok_never_hides_an_order_that_is_not_open(
    box: Sandbox, flavour: str
) -> None:
    from cancelkit.sandbox import Order

    order_id = f"{UID[:-4]}{'ab12' if flavour == 'sync' else 'cd34'}"
    box.limitless.seed(Order(order_id, "1001", status="filled"))
    client = box.limitless_client() if flavour == "sync" else box.async_limitless_client()
    with pytest.raises(OrderNotOpen) as caught:
        cancel(client, order_id=order_id, missing_ok=True)
    assert order_id in str(caught.value)
    # Limitless's 400 does not say which; one status lookup does.
    assert caught.value.state == "filled"


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_limitless_missing_ok_accepts_an_order_already_cancelled(
    box: Sandbox, flavour: str
) -> None:
    from cancelkit.sandbox import Order

    order_id = f"{UID[:-4]}{'ef56' if flavour == 'sync' else '7a89'}"
    box.limitless.seed(Order(order_id, "1001", status="cancelled"))
    client = box.limitless_client() if flavour == "sync" else box.async_limitless_client()
    with pytest.raises(OrderNotOpen) as caught:
        cancel(client, order_id=order_id)
    assert caught.value.state == "cancelled"
    assert "CANCELED" in caught.value.message
    client = box.limitless_client() if flavour == "sync" else box.async_limitless_client()
    # A success that reads as one in a log, not the 400's "cannot be cancelled".
    said = cancel(client, order_id=order_id, missing_ok=True)
    assert said.startswith("done: already cancelled")
    assert "cannot" not in said


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_limitless_missing_ok_on_an_unknown_order_reads_as_done(box: Sandbox, flavour: str) -> None:
    order_id = f"{UID[:-4]}{'0a0b' if flavour == 'sync' else '0c0d'}"  # never seeded
    client = box.limitless_client() if flavour == "sync" else box.async_limitless_client()
    said = cancel(client, order_id=order_id, missing_ok=True)
    assert said.startswith("done: ")
    assert "not found" not in said.lower()


# Errors a program can act on (issue 31): the request's own id, the server's wait,
# the cause of warm()'s failure, DeadlinePassed in the public hierarchy.


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_an_error_carries_its_correlation_id_and_a_5xx_its_retry_after(
    exchange: Exchange, flavour: str, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    busy: Reply = (503, {**JSON, "Retry-After": "7"}, b'{"message": "maintenance"}')
    exchange.answer(busy, busy)
    with caplog.at_level(logging.DEBUG, logger="cancelkit"), pytest.raises(ServerError) as caught:
        # Retry-After 7 s is over this policy's cap: the 503 is final at once.
        cancel(lm(flavour, exchange.url, retry=RetryPolicy(max_retry_after=1.0)), order_id=UID)
    first = caught.value
    assert first.retry_after == 7.0
    assert first.correlation_id
    logged = [r.getMessage() for r in caplog.records if r.name == "cancelkit"]
    assert [line for line in logged if f"id {first.correlation_id}," in line]
    with pytest.raises(ServerError) as again:
        cancel(lm(flavour, exchange.url, retry=RetryPolicy(max_retry_after=1.0)), order_id=UID)
    assert again.value.correlation_id not in (None, first.correlation_id)  # one per request
    assert pickle.loads(pickle.dumps(first)).correlation_id == first.correlation_id


def test_an_error_built_from_another_keeps_its_correlation_id() -> None:
    error = OrderNotFound("order not found", status=404, correlation_id="ab12cd34-5")
    assert OrderNotOpen("not open", **error.context()).correlation_id == "ab12cd34-5"


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_warm_keeps_the_cause_of_its_network_error(flavour: str) -> None:
    import socket

    with socket.socket() as probe:  # a loopback port nothing listens on any more
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    client = pm(flavour, url)

    def warm() -> None:
        if flavour == "sync":
            with client:
                client.warm()
            return

        async def main() -> None:
            async with client:
                await client.warm()

        asyncio.run(main())

    with pytest.raises(NetworkError) as caught:
        warm()
    assert isinstance(caught.value.__cause__, httpx.TransportError)


def test_deadline_passed_is_public_and_part_of_the_hierarchy() -> None:
    from cancelkit import DeadlinePassed, _limiter

    assert _limiter.DeadlinePassed is DeadlinePassed  # a result's error: users can catch it
    assert issubclass(DeadlinePassed, CancelKitError)
    assert "DeadlinePassed" in cancelkit.__all__
    name = f"{DeadlinePassed.__module__}.{DeadlinePassed.__qualname__}"
    assert name == "cancelkit.DeadlinePassed"
    assert DeadlinePassed("not sent").retryable

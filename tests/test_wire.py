"""The lean send path (_wire, _fastpath): the request it builds is the one httpx would
have built, byte for byte, and on the default routes it is the path taken, keeping
what the httpx path kept (signatures, clock, bound, no cookies)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cancelkit import (
    AsyncLimitlessClient,
    AsyncPolymarketUSClient,
    CancelKitError,
    LimitlessClient,
    PolymarketUSClient,
    ResponseTooLarge,
    _bounded,
    _wire,
)
from cancelkit._generated.limitless_api.api.trading import (
    market_order_controller_get_user_orders as user_orders,
)
from cancelkit._generated.limitless_api.api.trading import (
    order_controller_cancel_order_combined as lm_cancel,
)
from cancelkit._generated.limitless_api.models import CancelByOrderId, OrderStatus
from cancelkit._generated.polymarket_us_api.api.orders import (
    orders_service_cancel_order as pm_cancel,
)
from cancelkit._generated.polymarket_us_api.api.orders import (
    orders_service_get_open_orders as pm_open,
)
from cancelkit._generated.polymarket_us_api.models import CancelOrderRequest
from cancelkit._retry import json_of
from cancelkit._wire import Wire
from cancelkit.limitless._auth import LimitlessAuth
from cancelkit.sandbox import Sandbox
from cancelkit.sandbox._server import BackgroundServer
from helpers import LM_SECRET, LM_TOKEN_ID
from hypothesis import given, settings
from hypothesis import strategies as st

ODD = ["a;b=c", "it's", "x%3By", "(paren)", "star*", "plus+sign", "at@sign", "é", "a b", "a/b"]
UID = "0b0e1c3a-8a5e-4d7e-9a52-1f0c8e0a9c11"


def _requests() -> list[dict[str, Any]]:
    out = [pm_cancel._get_kwargs(i, body=CancelOrderRequest(market_slug="m-é")) for i in ODD]
    out.append(pm_open._get_kwargs(slugs=["a b", "c&d=e"]))
    out.append(lm_cancel._get_kwargs(body=CancelByOrderId(order_id=UID), on_behalf_of=42))
    out.append(user_orders._get_kwargs("m;1", statuses=[OrderStatus("LIVE")]))
    out.append(user_orders._get_kwargs("m", statuses=[]))  # a query of nothing: no "?"
    return out


@pytest.mark.parametrize("base_url", ["https://api.example", "http://127.0.0.1:8080/api/v2"])
def test_the_wire_request_is_httpx_own_byte_for_byte(base_url: str) -> None:
    auth = LimitlessAuth(LM_TOKEN_ID, LM_SECRET)
    wire = Wire(base_url, {"User-Agent": "ua", "Accept": "application/json"}, auth)
    with httpx.Client(base_url=base_url, headers={"User-Agent": "ua"}) as http:
        for request in _requests():
            prepared = wire.prepare(request)
            assert prepared is not None
            built = http.build_request(**request)
            # httpx keeps the "?" of a query of nothing; aiohttp (yarl) drops it. Neither
            # lean path makes one, so the target signed is the one sent on both.
            assert prepared.target == built.url.raw_path.decode("ascii").removesuffix("?")
            assert not prepared.target.endswith("?")
            assert prepared.body == built.read()
            assert prepared.method == built.method
            headers = dict(prepared.wire_headers())
            assert headers["Host"] == built.headers["host"]
            if prepared.body:
                assert headers["Content-Length"] == built.headers["content-length"]
                assert headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_parameters_that_encode_to_nothing_are_signed_as_sent(
    flavour: str, cancelkit_sandbox: Sandbox
) -> None:
    # statuses=[] makes no query: were "?" signed but not sent (yarl drops an empty
    # query), the sandbox, recomputing the HMAC over what arrived, would answer 401.
    box = cancelkit_sandbox
    c = box.credentials
    if flavour == "sync":
        with LimitlessClient(
            c.limitless_token_id, c.limitless_secret, base_url=box.limitless_url
        ) as lm:
            assert lm.open_orders("no-such-market", statuses=[]) == []
        return

    async def main() -> None:
        async with AsyncLimitlessClient(
            c.limitless_token_id, c.limitless_secret, base_url=box.limitless_url
        ) as lm:
            assert await lm.open_orders("no-such-market", statuses=[]) == []

    asyncio.run(main())


def test_an_unknown_request_shape_or_auth_goes_through_httpx() -> None:
    wire = Wire("https://api.example", {}, LimitlessAuth(LM_TOKEN_ID, LM_SECRET))
    assert wire.prepare({"method": "post", "url": "/x", "content": b"raw"}) is None
    assert wire.prepare({"method": "get", "url": "/x", "auth": httpx.BasicAuth("u", "p")}) is None
    unsigned = wire.prepare({"method": "get", "url": "/x", "auth": None})
    assert unsigned is not None
    assert "lmts-signature" not in dict(unsigned.wire_headers())


def _no_httpx_request(client: Any) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the default route should not go through httpx.Client.request")

    client._http.request = refuse


def test_default_routes_take_the_lean_path_and_keep_the_clock(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    # The sandbox runs 120 s ahead: the first attempt is refused, the Date of the 401
    # teaches the clock, the re-signed attempt lands (on the lean path: see refuse).
    box.set_knobs(clock_offset=120.0)
    pm_order, lm_order = box.seed_polymarket("lean-1"), box.seed_limitless()
    with box.polymarket_client() as pm:
        _no_httpx_request(pm)
        pm.cancel_order("lean-1")
    with box.limitless_client() as lm:
        _no_httpx_request(lm)
        assert lm.cancel_order(order_id=lm_order.id) == "Order canceled successfully"
    apm, alm = box.seed_polymarket("lean-2"), box.seed_limitless()

    async def main() -> None:
        async with box.async_polymarket_client() as pm:
            _no_httpx_request(pm)
            await pm.cancel_order("lean-2")
        async with box.async_limitless_client() as lm:
            _no_httpx_request(lm)
            await lm.cancel_order(order_id=alm.id)

    asyncio.run(main())
    assert {o.status for o in (pm_order, lm_order, apm, alm)} == {"cancelled"}
    assert box.polymarket.stats.auth_failures == 2  # one per new client, then learned
    assert box.limitless.stats.auth_failures == 2
    assert all(r.verified for r in box.requests if r.status == 200)


def test_a_given_transport_is_never_bypassed() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json={"message": "ok"}))
    assert LimitlessClient(LM_TOKEN_ID, LM_SECRET, transport=transport)._lean is None
    asyncs = httpx.MockTransport(lambda r: httpx.Response(200, json={"message": "ok"}))
    assert AsyncLimitlessClient(LM_TOKEN_ID, LM_SECRET, transport=asyncs)._lean is None


class Recorder:
    """Answers every request with a cookie and a chunked body; records request headers."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.seen: list[dict[bytes, bytes]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.seen.append(dict(scope["headers"]))
        headers = [(b"content-type", b"application/json"), (b"set-cookie", b"s=stolen; Path=/")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        half = len(self.body) // 2  # two parts: chunked, no Content-Length
        await send({"type": "http.response.body", "body": self.body[:half], "more_body": True})
        await send({"type": "http.response.body", "body": self.body[half:]})


@pytest.fixture
def recorder() -> Iterator[Any]:
    servers: list[BackgroundServer] = []

    def start(body: bytes) -> tuple[Recorder, str]:
        app = Recorder(body)
        server = BackgroundServer(app)  # type: ignore[arg-type]
        server.start()
        servers.append(server)
        return app, server.url

    yield start
    for server in servers:
        server.stop()


def _two_cancels(flavour: str, url: str) -> None:
    if flavour == "sync":
        with LimitlessClient(LM_TOKEN_ID, LM_SECRET, base_url=url) as lm:
            lm.cancel_order(client_order_id="a")
            lm.cancel_order(client_order_id="b")
        return

    async def main() -> None:
        async with AsyncLimitlessClient(LM_TOKEN_ID, LM_SECRET, base_url=url) as lm:
            await lm.cancel_order(client_order_id="a")
            await lm.cancel_order(client_order_id="b")

    asyncio.run(main())


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_no_cookie_is_sent_back_and_a_chunked_answer_reads(flavour: str, recorder: Any) -> None:
    app, url = recorder(b'{"message": "ok"}')
    url = url.replace("127.0.0.1", "localhost")  # aiohttp keeps no cookie for an IP
    _two_cancels(flavour, url)
    assert len(app.seen) == 2
    assert b"cookie" not in app.seen[1]


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_chunked_answer_past_the_bound_is_refused(
    flavour: str, recorder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_bounded, "MAX_ANSWER", 1 << 12)
    _, url = recorder(b'{"message": "ok"' + b" " * (1 << 13) + b"}")
    with pytest.raises(ResponseTooLarge, match="larger than 4096 bytes"):
        _two_cancels(flavour, url)


def test_polymarket_clients_share_the_lean_path() -> None:
    # Both venues' clients, sync and async, get one on the default route.
    key, secret = "k", "A" * 43 + "="
    assert PolymarketUSClient(key, secret)._lean is not None
    assert AsyncPolymarketUSClient(key, secret)._lean is not None
    assert issubclass(ResponseTooLarge, CancelKitError)


TEXT = st.text(st.characters(exclude_categories=()), max_size=30)


@given(st.one_of(st.dictionaries(TEXT, TEXT, max_size=4), st.dictionaries(TEXT, st.integers())))
@settings(max_examples=200, deadline=None, database=None)
def test_a_body_is_httpx_own_bytes(data: dict[str, Any]) -> None:
    # The flat-strings shortcut and the encoder both give what httpx.Request(json=) sends.
    try:
        expected = httpx.Request("POST", "https://x", json=data).content
    except UnicodeEncodeError:  # a lone surrogate: neither path can send it
        with pytest.raises(UnicodeEncodeError):
            _wire._json(data)
        return
    assert _wire._json(data) == expected


def test_request_headers_replace_fixed_ones_whatever_was_kept_before() -> None:
    wire = Wire("https://api.example", {"Accept": "application/json"}, None)  # type: ignore[arg-type]
    plain = {"method": "get", "url": "/x", "auth": None}
    for _ in range(2):  # the second request alike, after the first
        own = wire.prepare({**plain, "headers": {"accept": "text/csv", "X-A": 1}})
        assert own is not None
        assert [h for h in own.headers if h[0].lower() == "accept"] == [("accept", "text/csv")]
        assert own.headers[-1] == ("X-A", "1")
        posted = wire.prepare({**plain, "method": "post", "headers": {"X-A": "2"}})
        assert posted is not None
        assert posted.headers[-2:] == [("Content-Length", "0"), ("X-A", "2")]
    assert wire.prepare({**plain, "headers": {"X-B": ["un", "hashable"]}}) is not None
    for value, sent in ((True, "True"), (1, "1"), (True, "True")):  # equal keys, not values
        typed = wire.prepare({**plain, "headers": {"X-C": value}})
        assert typed is not None
        assert typed.headers[-1] == ("X-C", sent)


@pytest.mark.parametrize(
    "origin", ["http://127.0.0.1:8080", "https://api.example", "http://[::1]:9"]
)
@pytest.mark.parametrize(
    "target", ["/v1/order/a%3Bb/cancel", "/orders/cancel?onBehalfOf=4", "/x?a=%20&b=c?d"]
)
def test_the_async_url_is_the_target_as_signed(origin: str, target: str) -> None:
    from cancelkit._fastpath import AsyncSender
    from cancelkit._transport import AiohttpTransport
    from yarl import URL

    wire = Wire(origin, {}, LimitlessAuth(LM_TOKEN_ID, LM_SECRET))
    sender = AsyncSender(wire, AiohttpTransport(), httpx.Timeout(5.0))
    for _ in range(2):  # the second time from the last URL kept
        url = sender._url_of(target)
        assert url == URL(origin + target, encoded=True)
        assert url.raw_path_qs == target


def test_the_lean_answer_is_httpx_own_but_built_lazily() -> None:
    from cancelkit._bounded import Reader
    from cancelkit._fastpath import _Answer
    from cancelkit._wire import Prepared

    raw = [
        (b"Date", b"Tue, 01 Jan 2030 00:00:00 GMT"),
        (b"Content-Length", b"17"),
        (b"Content-Encoding", b"identity"),
        (b"X-Request-Id", b"r-1"),
        (b"Set-Cookie", b"a=1"),
        (b"Set-Cookie", b"b=2"),
    ]
    body = b'{"message": "ok"}'
    answer = _Answer(200, raw, body, b"OK")
    made = httpx.Response(200, headers=[raw[0], *raw[3:]], content=body)
    assert answer.headers.multi_items() == made.headers.multi_items()[:-1]  # no length
    assert answer.headers is answer.headers
    assert answer.content == answer.read() == body
    assert (answer.text, answer.json(), answer.reason_phrase) == (made.text, made.json(), "OK")
    assert (answer.status_code, answer.is_success, answer.http_version) == (200, True, "HTTP/1.1")
    assert repr(answer) == "<Response [200 OK]>"
    assert b"".join(answer.stream) == body
    # Nothing of the request (nor its signer, which holds the key) lives on in it.
    held = (Reader, Prepared, Wire, LimitlessAuth)
    assert not any(isinstance(v, held) for v in vars(answer).values())
    answer.headers = httpx.Headers({"a": "b"})
    assert answer.headers["a"] == "b"


def test_a_lean_answers_headers_read_while_they_are_built_are_never_empty() -> None:
    # Another thread reading the headers while the first builds them (here: a read from
    # inside the build, the same interleaving, deterministically) gets them all.
    from cancelkit._fastpath import _Answer

    seen: list[httpx.Headers] = []
    interleaved = [False]

    class Interleaved(list[tuple[bytes, bytes]]):
        def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
            if not interleaved[0]:
                interleaved[0] = True
                seen.append(answer.headers)  # the "other thread", mid-build
            return super().__iter__()

    raw = Interleaved([(b"Content-Type", b"text/html"), (b"Retry-After", b"5")])
    answer = _Answer(429, raw, b"", b"Too Many Requests")
    assert answer.headers["retry-after"] == "5"
    assert seen[0]["content-type"] == "text/html"


ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32-be"])


@given(
    st.one_of(
        st.binary(max_size=12),
        st.binary(max_size=12).map(lambda b: b"{" + b),
        st.builds(
            lambda data, encoding: json.dumps(data).encode(encoding),
            st.dictionaries(TEXT, TEXT, max_size=3),
            ENCODINGS,
        ),
    )
)
@settings(max_examples=300, deadline=None, database=None)
def test_an_answer_is_read_as_json_loads_reads_it(content: bytes) -> None:
    try:
        expected = json.loads(content)
    except ValueError:
        with pytest.raises(ValueError):  # noqa: PT011 (what callers catch, whichever kind)
            json_of(content)
        return
    assert json_of(content) == expected


@pytest.mark.parametrize(
    "raw",
    [
        [(b"Content-Type", b"text/html; charset=utf-8")],
        [(b"content-type", b"a"), (b"X", b"y"), (b"CONTENT-TYPE", b"b")],
        [(b"Content-Type", "tëxt/html".encode())],
        [(b"Content-Type", "tëxt/html".encode("latin-1")), (b"X", "é".encode())],
        [(b"X", b"y")],
        [(b"Content-Length", b"2"), (b"Content-Encoding", b"identity")],
    ],
)
def test_a_header_read_without_the_model_is_the_models(raw: list[tuple[bytes, bytes]]) -> None:
    from cancelkit._fastpath import _Answer, header

    def answer() -> _Answer:
        return _Answer(200, raw, b"{}", b"OK")

    for name in ("content-type", "x", "content-length", "content-encoding", "absent"):
        expected = answer().headers.get(name)
        assert header(answer(), name) == expected
        built = answer()
        _ = built.headers  # the model first, then the helper reads it
        assert header(built, name) == expected

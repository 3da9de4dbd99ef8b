"""Kalshi's kill switch by ids against the sandbox and a fake exchange, both verifying
every signature: batches the Write bucket holds, each order's entry read, the listing
confirming."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from cancelkit import AuthenticationError, Control, OnResultFailed
from cancelkit._bulk import GRACE
from cancelkit.kalshi._client import AsyncKalshiClient, KalshiClient
from cancelkit.sandbox import Sandbox
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from helpers import call, fast_retry, secret_pem
from test_kalshi_client import order
from test_kalshi_signing import verify

KEY_ID = "kill-switch-key"
BASE = "https://external-api.kalshi.com/trade-api/v2"
PREFIX = "/trade-api/v2"


class FakeKalshi:
    """The documented shapes, a book of orders, a signature check on every request."""

    def __init__(self, public_pem: bytes, book: dict[str, str]) -> None:
        self.public_pem = public_pem
        self.book = dict(book)
        self.requests: list[httpx.Request] = []
        self.batches: list[list[str]] = []
        self.lie: set[str] = set()  # answered cancelled, left resting
        self.skip: set[str] = set()  # no entry in the batch answer
        self.refuse_all = False
        self.listings_down = False  # every listing answered 503 until a cancel-all
        self.bad_signatures = 0
        self.cancel_alls: list[dict[str, str]] = []
        self.placed_after: list[str] = []  # resting orders that appear after a cancel-all
        self.cancel_all_answer = httpx.Response(204)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        try:
            verify(request, self.public_pem)
        except (InvalidSignature, KeyError):
            self.bad_signatures += 1
            return httpx.Response(401, json={"code": "unauthorized", "message": "bad signature"})
        if self.refuse_all:
            return httpx.Response(401, json={"code": "unauthorized", "message": "key revoked"})
        path = request.url.path.removeprefix(PREFIX)
        if request.method == "DELETE" and path == "/portfolio/events/orders/batched":
            return self._batch(json.loads(request.content)["orders"])
        if request.method == "DELETE" and path == "/portfolio/events/orders":
            self.cancel_alls.append(dict(request.url.params))
            for order_id, state in self.book.items():
                if state == "resting" and order_id not in self.lie:
                    self.book[order_id] = "canceled"
            self.book.update(dict.fromkeys(self.placed_after, "resting"))
            return self.cancel_all_answer
        listing = request.method == "GET" and path == "/portfolio/orders"
        if listing and self.listings_down and not self.cancel_alls:
            return httpx.Response(503, json={"code": "unavailable", "message": "try later"})
        if request.method == "GET" and path == "/portfolio/orders":
            assert request.url.params["status"] == "resting"
            resting = [order("resting", i) for i, s in self.book.items() if s == "resting"]
            return httpx.Response(200, json={"orders": resting, "cursor": ""})
        if request.method == "GET" and path.startswith("/portfolio/orders/"):
            order_id = path.rsplit("/", 1)[1]
            if order_id not in self.book:
                return httpx.Response(404, json={"code": "not_found", "message": "order not found"})
            return httpx.Response(200, json={"order": order(self.book[order_id], order_id)})
        return httpx.Response(404, text="no such route")

    def _batch(self, items: list[dict[str, Any]]) -> httpx.Response:
        ids = [item["order_id"] for item in items]
        self.batches.append(ids)
        if 2 * len(ids) > 100:  # Basic: the whole batch must fit the Write bucket
            return httpx.Response(429, json={"error": "too many requests"})
        entries = []
        for order_id in ids:
            if order_id in self.skip:
                continue
            state = self.book.get(order_id)
            if state == "resting":
                if order_id not in self.lie:
                    self.book[order_id] = "canceled"
                entries.append({"order_id": order_id, "reduced_by": "10.00", "ts_ms": 1})
            else:
                code = "not_found" if state is None else "order_not_resting"
                entries.append(
                    {
                        "order_id": order_id,
                        "reduced_by": "0.00",
                        "error": {"code": code, "message": code.replace("_", " ")},
                    }
                )
        return httpx.Response(200, json={"orders": entries})


@pytest.fixture(scope="module")
def key() -> tuple[str, bytes]:
    private = ed25519.Ed25519PrivateKey.generate()
    text = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return secret_pem(text), public  # the secret scan looks for every line of it


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def client(kind: str, key: tuple[str, bytes], fake: FakeKalshi) -> Any:
    cls = KalshiClient if kind == "sync" else AsyncKalshiClient
    return cls(
        KEY_ID, key[0], base_url=BASE, transport=httpx.MockTransport(fake), retry=fast_retry()
    )


def test_an_order_answered_cancelled_but_still_listed_is_never_cancelled(
    kind: str, key: tuple[str, bytes]
) -> None:
    fake = FakeKalshi(key[1], {"liar": "resting", "ok": "resting"})
    fake.lie.add("liar")
    results = call(client(kind, key, fake).cancel_orders, ["liar", "ok"], deadline=1.5)
    assert [r.status for r in results] == ["failed", "cancelled"]
    assert "still listed resting" in (results[0].message or "")
    assert fake.book["liar"] == "resting"


def test_an_order_the_answer_leaves_out_is_asked_never_guessed(
    kind: str, key: tuple[str, bytes]
) -> None:
    fake = FakeKalshi(key[1], {"left-out": "resting", "ok": "resting"})
    fake.skip.add("left-out")  # no entry: and the order is in fact still resting
    results = call(client(kind, key, fake).cancel_orders, ["left-out", "ok"], deadline=10)
    assert [r.status for r in results] == ["failed", "cancelled"]
    assert "no entry" in (results[0].message or "")
    lookups = [r for r in fake.requests if r.url.path.endswith("/portfolio/orders/left-out")]
    assert len(lookups) == 1


def test_a_revoked_key_stops_the_run_at_the_first_answer(kind: str, key: tuple[str, bytes]) -> None:
    fake = FakeKalshi(key[1], {f"r-{i}": "resting" for i in range(200)})
    fake.refuse_all = True
    results = call(
        client(kind, key, fake).cancel_orders, list(fake.book), deadline=20, concurrency=1
    )
    assert {r.status for r in results} <= {"failed", "not_sent"}
    assert results[0].status == "failed"
    deletes = [r for r in fake.requests if r.method == "DELETE"]
    assert len(deletes) == 1  # the other three batches were never sent
    assert fake.bad_signatures == 0


def test_cancel_all_reports_what_is_still_resting_at_the_deadline(
    kind: str, key: tuple[str, bytes]
) -> None:
    fake = FakeKalshi(key[1], {"stays": "resting", "goes": "resting"})
    fake.lie.add("stays")
    fake.placed_after.append("new-one")  # placed after, and not cancelled
    seen: list[Any] = []
    results = call(client(kind, key, fake).cancel_all, deadline=1.5, on_result=seen.append)
    # Every result returned reached on_result once (the order found still resting too).
    assert sorted(map(id, seen)) == sorted(map(id, results))
    by_id = {r.target: r for r in results}
    assert by_id["goes"].status == "not_open"
    assert by_id["stays"].status == "failed"
    assert by_id["new-one"].status == "failed"
    assert by_id["new-one"].index == -1  # not requested: found still open


def test_cancel_all_without_the_documented_204_is_never_a_cancel(
    kind: str, key: tuple[str, bytes]
) -> None:
    fake = FakeKalshi(key[1], {"a": "resting", "b": "resting"})
    fake.cancel_all_answer = httpx.Response(200, html="<html>portal</html>")
    results = call(client(kind, key, fake).cancel_all, deadline=10)
    assert [r.status for r in results] == ["failed", "failed"]
    assert "not the documented 204" in (results[0].message or "")


def test_cancel_all_whose_first_listing_fails_says_so_never_an_empty_success(
    kind: str, key: tuple[str, bytes]
) -> None:
    fake = FakeKalshi(key[1], {"a": "resting", "b": "resting"})
    fake.refuse_all = True  # the first listing is answered 401
    seen: list[Any] = []
    results = call(client(kind, key, fake).cancel_all, deadline=10, on_result=seen.append)
    assert [r.status for r in results] == ["not_sent"]
    assert not all(r.ok for r in results)
    assert "the first listing failed" in (results[0].message or "")
    assert isinstance(results[0].error, AuthenticationError)
    assert seen == results
    assert not [r for r in fake.requests if r.method == "DELETE"]  # nothing cancelled
    assert fake.book == {"a": "resting", "b": "resting"}


def test_cancel_all_is_sent_even_when_the_first_listing_is_down(
    kind: str, key: tuple[str, bytes]
) -> None:
    # A listing endpoint failing (5xx after every retry) must not keep the kill
    # switch from cancelling: the cancel-all goes, is confirmed by the listing once
    # it answers, and the run says it cannot name what it cancelled (non-zero).
    fake = FakeKalshi(key[1], {"a": "resting", "b": "resting"})
    fake.listings_down = True  # every attempt, retries included, until the cancel-all
    seen: list[Any] = []
    results = call(client(kind, key, fake).cancel_all, deadline=4, on_result=seen.append)
    assert len(fake.cancel_alls) == 1
    assert fake.book == {"a": "canceled", "b": "canceled"}
    assert [r.status for r in results] == ["unknown"]
    assert "which orders it cancelled is unknown" in (results[0].message or "")
    assert not all(r.ok for r in results)
    assert seen == results


class HungListings:
    """``fake``, except that every listing after the first ``answered`` is never answered."""

    def __init__(self, fake: FakeKalshi, answered: int = 0) -> None:
        self.fake = fake
        self.answered = answered
        self.listings = 0
        self.hung = asyncio.Event()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path == PREFIX + "/portfolio/orders":
            self.listings += 1
            if self.listings > self.answered:
                self.hung.set()
                await asyncio.Event().wait()  # held until the run cancels it
        return self.fake(request)


def _hung_client(key: tuple[str, bytes], handler: HungListings) -> AsyncKalshiClient:
    transport = httpx.MockTransport(handler)
    return AsyncKalshiClient(KEY_ID, key[0], base_url=BASE, transport=transport, retry=fast_retry())


def test_an_abort_reaches_a_hung_confirming_listing(key: tuple[str, bytes]) -> None:
    fake = FakeKalshi(key[1], {"a": "resting", "b": "resting"})
    hung = HungListings(fake)
    control = Control(deadline=60)

    async def run() -> list[Any]:
        async with _hung_client(key, hung) as kalshi:
            task = asyncio.create_task(kalshi.cancel_orders(["a", "b"], control=control))
            await asyncio.wait_for(hung.hung.wait(), 10)  # the confirmation's listing
            control.abort()
            async with asyncio.timeout(10):  # not the 60 s deadline: the abort reached it
                return await task

    results = asyncio.run(run())
    assert [r.status for r in results] == ["failed", "failed"]  # answered, not confirmed
    assert all("aborted" in (r.message or "") for r in results)


def test_an_abort_reaches_a_hung_first_listing(key: tuple[str, bytes]) -> None:
    fake = FakeKalshi(key[1], {"a": "resting"})
    hung = HungListings(fake)
    control = Control(deadline=60)

    async def run() -> list[Any]:
        async with _hung_client(key, hung) as kalshi:
            task = asyncio.create_task(kalshi.cancel_all(control=control))
            await asyncio.wait_for(hung.hung.wait(), 10)
            control.abort()
            async with asyncio.timeout(10):
                return await task

    results = asyncio.run(run())
    assert [r.status for r in results] == ["not_sent"]
    assert "aborted" in (results[0].message or "")
    assert fake.cancel_alls == []


@pytest.mark.parametrize("answered", [0, 1], ids=["first", "confirming"])
def test_a_slow_listing_ends_the_cancel_all_by_its_deadline_and_grace(
    key: tuple[str, bytes], answered: int
) -> None:
    fake = FakeKalshi(key[1], {"a": "resting"})
    hung = HungListings(fake, answered)
    control = Control(deadline=0.5)

    async def run() -> list[Any]:
        async with _hung_client(key, hung) as kalshi:
            async with asyncio.timeout(30):  # a guard: the old code waited out its 10 s timeout
                return await kalshi.cancel_all(control=control)

    results = asyncio.run(run())
    assert time.monotonic() <= control.ends_at + GRACE + 2.0  # generous
    # A hung first listing does not hold the cancel-all back: it goes at half the
    # time, and the run cannot name what it cancelled (the confirmation hangs too).
    assert [r.status for r in results] == ["unknown" if answered == 0 else "failed"]
    assert len(fake.cancel_alls) == 1
    assert not all(r.ok for r in results)


# On the sandbox: the exchange on loopback, every signature verified with the demo
# key's public half, the Basic buckets enforced. The fake above stays for what the
# exchange does not do on demand (an answer that lies or leaves an order out, a
# revoked key, a hung listing, an answer that is not the documented 204).


def on_the_sandbox(kind: str, box: Sandbox, method: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``method`` of a sync or async client of the demo key, closed after."""
    if kind == "sync":
        with box.kalshi_client(retry=fast_retry()) as kalshi:
            return getattr(kalshi, method)(*args, **kwargs)

    async def run() -> Any:
        async with box.async_kalshi_client(retry=fast_retry()) as kalshi:
            return await getattr(kalshi, method)(*args, **kwargs)

    return asyncio.run(run())


def answered_batches(box: Sandbox) -> list[list[str]]:
    """The order ids of every batch cancel the sandbox answered 200, in order."""
    return [
        [entry["order_id"] for entry in r.body["orders"]]
        for r in box.requests
        if r.path.endswith("/portfolio/events/orders/batched") and r.status == 200
    ]


def still_resting(box: Sandbox) -> set[str]:
    return {o.id for o in box.kalshi.orders.values() if o.on_book()}


def test_a_kill_switch_cancels_in_bucket_sized_batches_each_as_the_exchange_says(
    cancelkit_sandbox: Sandbox, kind: str
) -> None:
    box = cancelkit_sandbox
    for i in range(120):
        box.seed_kalshi(f"r-{i}")
    box.seed_kalshi("done-1", status="canceled")
    box.seed_kalshi("filled-1", status="executed")
    ids = [*box.kalshi.orders, "gone-1", "bad/id", "r-0"]
    seen: list[Any] = []
    results = on_the_sandbox(kind, box, "cancel_orders", ids, deadline=20, on_result=seen.append)
    by_id = {r.target: r for r in results if r.duplicate_of is None}
    assert [r.target for r in results] == ids  # one result each, in input order
    assert all(by_id[f"r-{i}"].status == "cancelled" for i in range(120))
    assert by_id["done-1"].status == "not_open"
    assert by_id["filled-1"].status == "filled"
    assert by_id["gone-1"].status == "not_found"
    assert by_id["bad/id"].status == "not_sent"
    assert results[-1].duplicate_of == 0
    assert len(seen) == len(ids)
    # Batches of at most 50 (Basic: 100 tokens at 2 per order); no id sent twice (a
    # batch the bucket refused with 429 was answered nothing, and sent again).
    batches = answered_batches(box)
    assert sorted(len(b) for b in batches) == [23, 50, 50]
    sent = [i for b in batches for i in b]
    assert len(sent) == len(set(sent)) == 123
    assert "bad/id" not in sent
    assert still_resting(box) == set()
    assert all(r.verified for r in box.requests)  # every request verified with the public key


def test_cancel_all_is_one_request_confirmed_by_the_listing(
    cancelkit_sandbox: Sandbox, kind: str
) -> None:
    box = cancelkit_sandbox
    for i in range(30):
        box.seed_kalshi(f"r-{i}", subaccount=i % 3)
    box.seed_kalshi("old", status="canceled")
    results = on_the_sandbox(kind, box, "cancel_all", deadline=10)
    assert sorted(r.target for r in results) == sorted(f"r-{i}" for i in range(30))
    assert {r.status for r in results} == {"not_open"}
    assert all(r.ok for r in results)
    deletes = [r for r in box.requests if r.method == "DELETE"]
    # Every subaccount: no subaccount in the query.
    assert [(r.path, r.query) for r in deletes] == [("/trade-api/v2/portfolio/events/orders", ())]
    assert all(r.verified for r in box.requests)
    assert still_resting(box) == set()
    box.clear_requests()
    box.seed_kalshi("r-1", subaccount=3)
    on_the_sandbox(kind, box, "cancel_all", subaccount=3, deadline=10)
    deletes = [r for r in box.requests if r.method == "DELETE"]
    assert [r.query for r in deletes] == [(("subaccount", "3"),)]


def test_an_on_result_that_raises_stops_the_run(cancelkit_sandbox: Sandbox, kind: str) -> None:
    box = cancelkit_sandbox
    for i in range(120):
        box.seed_kalshi(f"r-{i}")
    seen: list[Any] = []

    def boom(result: Any) -> None:
        seen.append(result)
        raise RuntimeError("the caller's sink broke")

    # "bad/id" is refused before any batch: its result is the first one handed over.
    with pytest.raises(OnResultFailed, match="sink broke") as info:
        on_the_sandbox(
            kind,
            box,
            "cancel_orders",
            ["bad/id", *box.kalshi.orders],
            deadline=20,
            on_result=boom,
        )
    results = info.value.results
    assert len(results) == 121  # every outcome, in .results
    assert len(seen) == 1  # not called again after it raised
    assert {r.status for r in results} == {"not_sent"}  # the run stopped, as an interrupt
    assert [r for r in box.requests if r.method == "DELETE"] == []
    assert len(still_resting(box)) == 120


def test_an_on_result_that_raises_in_cancel_all_is_raised_at_the_end(
    cancelkit_sandbox: Sandbox, kind: str
) -> None:
    box = cancelkit_sandbox
    box.seed_kalshi("a")
    box.seed_kalshi("b")

    def boom(result: Any) -> None:
        raise RuntimeError("the caller's sink broke")

    with pytest.raises(OnResultFailed, match="sink broke") as info:
        on_the_sandbox(kind, box, "cancel_all", deadline=10, on_result=boom)
    assert sorted(r.target for r in info.value.results) == ["a", "b"]


class MarketFake(FakeKalshi):
    """FakeKalshi whose orders each rest in a market, and whose listing takes
    ``ticker`` as the exchange's does."""

    def __init__(self, public_pem: bytes, book: dict[str, tuple[str, str]]) -> None:
        super().__init__(public_pem, {i: state for i, (state, _) in book.items()})
        self.market = {i: ticker for i, (_, ticker) in book.items()}
        self.listed_tickers: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix(PREFIX)
        answer = super().__call__(request)
        if answer.status_code != 200 or request.method != "GET":
            return answer
        body = json.loads(answer.content)
        if path == "/portfolio/orders":
            ticker = request.url.params.get("ticker")
            self.listed_tickers.append(ticker)
            orders = [
                {**o, "ticker": self.market[o["order_id"]]}
                for o in body["orders"]
                if ticker is None or self.market[o["order_id"]] == ticker
            ]
            return httpx.Response(200, json={"orders": orders, "cursor": ""})
        body["order"]["ticker"] = self.market[body["order"]["order_id"]]
        return httpx.Response(200, json=body)


def test_with_tickers_only_the_orders_resting_in_those_markets_are_sent(
    kind: str, key: tuple[str, bytes]
) -> None:
    """``tickers`` (the CLI's --market with ids): the others are looked up, and one
    resting in another market is left alone, never cancelled."""
    fake = MarketFake(
        key[1],
        {
            "in-1": ("resting", "M-ONE"),
            "in-2": ("resting", "M-TWO"),
            "elsewhere": ("resting", "M-OTHER"),
            "done": ("canceled", "M-ONE"),
            "filled": ("executed", "M-OTHER"),
        },
    )
    ids = ["in-1", "elsewhere", "done", "filled", "gone", "in-2"]
    results = call(
        client(kind, key, fake).cancel_orders, ids, tickers=["M-ONE", "M-TWO"], deadline=20
    )
    assert [r.status for r in results] == [
        "cancelled",
        "not_sent",
        "not_open",
        "filled",
        "not_found",
        "cancelled",
    ]
    assert "resting in market M-OTHER, left alone" in (results[1].message or "")
    assert fake.batches == [["in-1", "in-2"]]  # nothing outside the markets was sent
    assert fake.book["elsewhere"] == "resting"
    assert fake.listed_tickers[:2] == ["M-ONE", "M-TWO"]
    assert fake.bad_signatures == 0


def test_with_tickers_a_failed_listing_sends_nothing(kind: str, key: tuple[str, bytes]) -> None:
    fake = MarketFake(key[1], {"in-1": ("resting", "M-ONE")})
    fake.refuse_all = True
    results = call(client(kind, key, fake).cancel_orders, ["in-1"], tickers="M-ONE", deadline=5)
    assert [r.status for r in results] == ["not_sent"]
    assert fake.batches == []
    assert fake.book["in-1"] == "resting"

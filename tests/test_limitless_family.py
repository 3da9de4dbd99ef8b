"""Limitless as a first-class venue: the cancel family, its published pace, its answers."""

from __future__ import annotations

import asyncio
import inspect
import json
import typing
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import cancelkit
import httpx
import pytest
from cancelkit import LimitlessAuth
from cancelkit._cli import main
from cancelkit._generated.limitless_api import constraints
from cancelkit._generated.limitless_api.api.trading import (
    order_controller_batch_cancel_orders as batch_endpoint,
)
from cancelkit._generated.limitless_api.models import (
    BatchCancelByClientOrderIds,
    BatchCancelByOrderIds,
    CancelByClientOrderId,
    CancelByOrderId,
)
from cancelkit._limiter import GLOBAL, Budget, Limiter
from cancelkit.limitless._rates import LIMITLESS
from cancelkit.sandbox import Sandbox
from cancelkit.sandbox._state import Book
from click.testing import CliRunner
from helpers import Script, call

MARKET = "btc-100k"


def http(box: Sandbox) -> httpx.Client:
    c = box.credentials
    return httpx.Client(
        base_url=box.limitless_url, auth=LimitlessAuth(c.limitless_token_id, c.limitless_secret)
    )


# --- the generated types and constraints -----------------------------------------------


def test_the_batch_body_is_a_two_variant_union_with_the_pages_limits() -> None:
    hints = typing.get_type_hints(batch_endpoint._get_kwargs)
    assert set(typing.get_args(hints["body"])) == {
        BatchCancelByOrderIds,
        BatchCancelByClientOrderIds,
    }
    assert constraints.BATCH_CANCEL_ORDERS_DTO_BY_ORDER_IDS_ORDER_IDS_MAX_ITEMS == 50
    assert (
        constraints.BATCH_CANCEL_ORDERS_DTO_BY_CLIENT_ORDER_IDS_CLIENT_ORDER_IDS_ITEMS_MAX_LENGTH
        == (128)
    )
    from cancelkit.limitless import _kill as _limitless_kill

    assert (
        _limitless_kill.BATCH
        == constraints.BATCH_CANCEL_ORDERS_DTO_BY_ORDER_IDS_ORDER_IDS_MAX_ITEMS
    )


def test_each_variant_takes_exactly_its_one_list() -> None:
    # What mypy checks (make types): one required field, nothing else accepted.
    for variant, field in (
        (BatchCancelByOrderIds, "order_ids"),
        (BatchCancelByClientOrderIds, "client_order_ids"),
    ):
        parameters = inspect.signature(variant).parameters
        assert list(parameters) == [field]
        assert parameters[field].default is inspect.Parameter.empty
    with pytest.raises(TypeError):
        BatchCancelByOrderIds(order_ids=[uuid4()], client_order_ids=["a"])  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        BatchCancelByClientOrderIds()  # type: ignore[call-arg]


# --- the pace: one table, the limiter, the sandbox --------------------------------------


def test_the_budgets_table_has_the_published_limitless_pace() -> None:
    assert LIMITLESS[GLOBAL] == Budget.paced(in_flight=2, spacing=0.3)
    assert LIMITLESS[GLOBAL].limit == 2
    assert LIMITLESS[GLOBAL].spacing == 0.3


def test_the_limiter_starts_each_call_300_ms_after_the_last_answer() -> None:
    starts: list[float] = []
    answers: list[float] = []
    in_flight = [0, 0]  # now, most

    async def main() -> None:
        import anyio

        limiter = Limiter({GLOBAL: [Budget.paced(2, 0.05)]})

        async def one() -> None:
            async with limiter.slot():
                in_flight[0] += 1
                in_flight[1] = max(in_flight)
                starts.append(anyio.current_time())
                await anyio.sleep(0.01)
                in_flight[0] -= 1
                # Before the slot is released: the limiter's own "answered" is later.
                answers.append(anyio.current_time())

        async with anyio.create_task_group() as group:
            for _ in range(6):
                group.start_soon(one)

    asyncio.run(main())
    assert in_flight[1] == 1  # a spaced call never overlaps: its arrival is unknown
    for answered, started in zip(sorted(answers), sorted(starts)[1:], strict=False):
        assert started >= answered + 0.05


def test_a_timed_wait_never_ends_before_its_moment() -> None:
    # The limiter's timed waits sleep most of the way, then yield until the moment:
    # never early (a call sent before the published spacing would draw a 429).
    from cancelkit._limiter import _sleep_until

    async def main() -> list[float]:
        import anyio

        late = []
        for delay in (0.0, 0.0004, 0.002, 0.011, 0.03):
            moment = anyio.current_time() + delay
            await _sleep_until(moment)
            late.append(anyio.current_time() - moment)
        return late

    assert all(lag >= 0 for lag in asyncio.run(main()))


def test_a_paused_window_admits_nothing_before_the_pause_ends() -> None:
    async def main() -> tuple[float, float]:
        import anyio

        limiter = Limiter({GLOBAL: [Budget.paced(2, 0.01)]})
        limiter.refused(GLOBAL, 0.05)  # Retry-After: 0.05 s (the minimum pause is longer)
        (window,) = limiter._for(GLOBAL)
        async with limiter.slot():
            return window._paused_until, anyio.current_time()

    paused_until, admitted = asyncio.run(main())
    assert admitted >= paused_until


def test_a_429_doubles_the_spacing_and_halves_the_cap() -> None:
    async def main() -> tuple[float, int]:
        limiter = Limiter({GLOBAL: [Budget.paced(2, 0.3)]})
        limiter.refused(GLOBAL, 0.0)
        (window,) = limiter._for(GLOBAL)
        return window.spacing, window.limit

    assert asyncio.run(main()) == (0.6, 1)


def test_the_sandbox_pace_refuses_a_third_in_flight_and_a_call_too_soon(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [100.0]
    monkeypatch.setattr("cancelkit.sandbox._state.time.monotonic", lambda: clock[0])
    book = Book(pace=LIMITLESS[GLOBAL])
    assert book.admit("tok")
    clock[0] += 0.29
    assert not book.admit("tok")  # 290 ms after the last arrival
    clock[0] += 0.02
    assert book.admit("tok")
    clock[0] += 0.3
    assert not book.admit("tok")  # two in flight
    book.leave("tok")
    clock[0] += 0.05
    assert book.admit("tok")
    assert book.admit("other")  # per token
    assert book.stats.rate_limited == 2
    book.set_knobs(published_limits=False)
    assert all(book.admit("tok") for _ in range(5))


@pytest.mark.cancelkit_sandbox(published_limits=True, latency=1.0)
def test_the_sandbox_answers_429_beyond_the_pace(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    c = box.credentials

    async def burst() -> list[httpx.Response]:
        auth = LimitlessAuth(c.limitless_token_id, c.limitless_secret)
        async with httpx.AsyncClient(base_url=box.limitless_url, auth=auth) as client:
            return list(
                await asyncio.gather(
                    *(client.get(f"/markets/{MARKET}/user-orders") for _ in range(4))
                )
            )

    # Each admitted request stays in flight for 1 s: four sent at once cannot all fit.
    answers = asyncio.run(burst())
    refused = [a for a in answers if a.status_code == 429]
    assert refused
    assert refused[0].json() == {"message": "Too Many Requests", "statusCode": 429}
    assert box.limitless.stats.rate_limited == len(refused)


@pytest.mark.cancelkit_sandbox(published_limits=True)
def test_the_client_keeps_the_pace_across_calls_and_twins(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    ids = [box.seed_limitless(market_slug=MARKET).id for _ in range(60)]
    with box.limitless_client() as lm:
        results = lm.cancel_orders([CancelByOrderId(order_id=UUID(i)) for i in ids])
        assert lm.open_orders(MARKET) == []
        assert lm.cancel_all(MARKET) == []
    assert [r.status for r in results] == ["cancelled"] * 60
    assert box.limitless.stats.rate_limited == 0


# --- the sandbox's documented behaviour -------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"orderIds": [str(uuid4())], "clientOrderIds": ["a"]},
        {},
        {"orderIds": [str(uuid4()) for _ in range(51)]},
        {"orderIds": ["not-a-uuid"]},
        {"clientOrderIds": ["x" * 129]},
    ],
    ids=["both", "neither", "51", "bad-uuid", "long-client-id"],
)
def test_batch_cancel_refuses_bad_bodies_with_400_and_cancels_nothing(
    cancelkit_sandbox: Sandbox, body: dict[str, Any]
) -> None:
    box = cancelkit_sandbox
    order = box.seed_limitless(client_order_id="a")
    if "orderIds" in body and len(body["orderIds"]) == 1 and body["orderIds"][0] != "not-a-uuid":
        body["orderIds"] = [order.id]
    with http(box) as client:
        response = client.post("/orders/batch-cancel", json=body)
    assert response.status_code == 400
    assert isinstance(response.json()["message"], str)
    assert order.status == "open"


def test_batch_cancel_answers_per_order(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    mine = box.seed_limitless()
    theirs = box.seed_limitless(owner=box.credentials.limitless_other_profile_id)
    unknown = str(uuid4())
    with http(box) as client:
        answer = client.post(
            "/orders/batch-cancel", json={"orderIds": [mine.id, theirs.id, unknown]}
        ).json()
    assert answer["canceled"] == [mine.id]
    assert [(f["orderId"], f["reason"]) for f in answer["failed"]] == [
        (theirs.id, "ORDER_NOT_FOUND"),
        (unknown, "ORDER_NOT_FOUND"),
    ]
    assert theirs.status == "open"


def test_cancel_all_answers_207_when_some_could_not_be_cancelled(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    orders = [box.seed_limitless(market_slug=MARKET) for _ in range(3)]
    elsewhere = box.seed_limitless(market_slug="eth-5k")
    box.limitless.set_knobs(cancel_all_stuck=1)
    with http(box) as client:
        response = client.delete(f"/orders/all/{MARKET}")
        assert response.status_code == 207
        answer = response.json()
        assert len(answer["canceled"]) == 2
        assert [f["orderId"] for f in answer["failed"]] == [orders[0].id]
        live = client.get(f"/markets/{MARKET}/user-orders").json()["data"]
        assert [o["id"] for o in live] == [orders[0].id]
        gone = client.get(
            f"/markets/{MARKET}/user-orders", params={"statuses": ["CANCELED", "MATCHED"]}
        ).json()["data"]
        assert {o["id"] for o in gone} == {orders[1].id, orders[2].id}
        box.limitless.set_knobs(cancel_all_stuck=0)
        assert client.delete(f"/orders/all/{MARKET}").status_code == 200
    assert elsewhere.status == "open"


def test_status_batch_answers_per_item(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    order = box.seed_limitless(client_order_id="c-1", status="filled")
    with http(box) as client:
        results = client.post(
            "/orders/status/batch",
            json={"items": [{"clientOrderId": "c-1"}, {"orderId": str(uuid4())}]},
        ).json()["results"]
        assert client.post("/orders/status/batch", json={"items": []}).status_code == 400
    assert results[0]["status"] == "found"
    assert results[0]["data"]["status"] == "MATCHED"
    assert results[0]["orderId"] == order.id
    assert results[1]["status"] != "found"


def test_maintenance_is_public_and_disabled_blocks_cancels_with_503(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    order = box.seed_limitless()
    box.limitless.set_knobs(maintenance="disabled")
    with httpx.Client(base_url=box.limitless_url) as public:
        status = public.get("/maintenance/status").json()
    assert status["active"][0]["mode"] == "disabled"
    with http(box) as client:
        assert client.post("/orders/batch-cancel", json={"orderIds": [order.id]}).status_code == 503
    assert order.status == "open"


# --- the client ---------------------------------------------------------------------------


def test_cancel_orders_maps_every_order_to_the_exchanges_word(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    open_ids = [box.seed_limitless(market_slug=MARKET).id for _ in range(120)]
    filled = box.seed_limitless(status="filled")
    theirs = box.seed_limitless(owner=box.credentials.limitless_other_profile_id)
    box.seed_limitless(client_order_id="cli-1")
    targets: list[Any] = [CancelByOrderId(order_id=UUID(i)) for i in open_ids]
    targets += [
        CancelByOrderId(order_id=UUID(filled.id)),
        CancelByOrderId(order_id=UUID(theirs.id)),
        CancelByClientOrderId(client_order_id="cli-1"),
        CancelByClientOrderId(client_order_id="nobody"),
        CancelByOrderId(order_id=UUID(open_ids[0])),  # a duplicate
        CancelByClientOrderId(client_order_id="x" * 129),  # invalid
    ]
    with box.limitless_client() as lm:
        results = lm.cancel_orders(targets)
    statuses = [r.status for r in results]
    assert statuses[:120] == ["cancelled"] * 120
    assert statuses[120:] == [
        "filled",  # a fill is its own outcome, never "not open"
        "not_found",
        "cancelled",
        "not_found",
        "cancelled",
        "not_sent",
    ]
    assert results[120].message.startswith("MATCHED")
    assert results[124].duplicate_of == 0
    assert theirs.status == "open"
    # 3 batches of ids, 1 of client ids, 1 lookup of what the answers did not settle.
    assert box.limitless.stats.requests == 5


def _answer(canceled: list[str], failed: list[dict[str, str]]) -> httpx.Response:
    return httpx.Response(200, json={"message": "ok", "canceled": canceled, "failed": failed})


def _found(index: int, order_id: str, status: str) -> dict[str, Any]:
    return {
        "index": index,
        "status": "found",
        "orderId": order_id,
        "data": {"id": order_id, "status": status},
    }


def test_absent_from_both_lists_is_asked_never_guessed(make_lm: Callable[..., Any]) -> None:
    a, b, c, d = (str(uuid4()) for _ in range(4))
    script = Script(
        [
            _answer([a], [{"orderId": d, "reason": "MARKET_HALTED", "message": "halted"}]),
            httpx.Response(200, json={"results": [_found(0, b, "CANCELED"), _found(1, c, "LIVE")]}),
        ]
    )
    lm = make_lm(script)
    results = call(lm.cancel_orders, [CancelByOrderId(order_id=UUID(i)) for i in (a, b, c, d)])
    assert [r.status for r in results] == ["cancelled", "not_open", "failed", "failed"]
    assert "still LIVE" in results[2].message
    assert results[3].message == "MARKET_HALTED: halted"
    assert [r.url.path for r in script.requests] == ["/orders/batch-cancel", "/orders/status/batch"]
    assert json.loads(script.requests[1].content) == {"items": [{"orderId": b}, {"orderId": c}]}


def test_an_order_still_live_after_a_cancel_all_reaches_on_result(
    make_lm: Callable[..., Any],
) -> None:
    """An order the cancel-all did not name and the confirming listing shows LIVE is
    ``failed``, returned and handed to on_result like every other result (it was
    returned only)."""
    gone, stays = str(uuid4()), str(uuid4())
    listing = {"data": [{"id": stays, "status": "LIVE"}]}
    script = Script([_answer([gone], []), httpx.Response(200, json=listing)])
    seen: list[Any] = []
    results = call(make_lm(script).cancel_all, MARKET, on_result=seen.append)
    assert [(r.target, r.status) for r in results] == [(gone, "cancelled"), (stays, "failed")]
    assert "still LIVE after cancel-all" in results[1].message
    assert sorted(map(id, seen)) == sorted(map(id, results))


def test_a_503_is_retried_until_the_deadline_and_says_maintenance(
    make_lm: Callable[..., Any],
) -> None:
    blocked = httpx.Response(503, json={"message": "Service Unavailable", "statusCode": 503})
    maintenance = httpx.Response(
        200, json={"active": [{"mode": "disabled", "endsAt": "2026-11-28T18:00:00Z"}]}
    )

    class ByPath(Script):
        def __call__(self, request: httpx.Request) -> httpx.Response:
            request.read()
            self.requests.append(request)
            return maintenance if request.url.path == "/maintenance/status" else blocked

    script = ByPath()
    lm = make_lm(script)
    (result,) = call(lm.cancel_orders, [CancelByOrderId(order_id=uuid4())], deadline=0.5)
    assert result.status == "failed"
    assert "maintenance: disabled until 2026-11-28T18:00:00Z; cancels are blocked" in (
        result.message
    )
    assert result.attempts > 1
    assert "lmts-signature" not in script.requests[-1].headers  # public: sent unsigned


@pytest.mark.cancelkit_sandbox(published_limits=True)
def test_cancel_all_is_read_order_by_order_and_confirmed_by_the_listing(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    orders = [box.seed_limitless(market_slug=MARKET) for _ in range(4)]
    box.limitless.set_knobs(cancel_all_stuck=1)
    with box.limitless_client() as lm:
        results = lm.cancel_all(MARKET)
    by_id = {r.target: r for r in results}
    assert by_id[orders[0].id].status == "failed"
    assert "CANCEL_FAILED" in by_id[orders[0].id].message
    assert [by_id[o.id].status for o in orders[1:]] == ["cancelled"] * 3
    assert box.limitless.stats.rate_limited == 0


def test_cancel_all_for_a_sub_account_says_it_cannot_confirm(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    sub = box.credentials.limitless_sub_account
    order = box.seed_limitless(market_slug=MARKET, owner=sub)
    seen: list[Any] = []
    with box.limitless_client() as lm:
        results = lm.cancel_all(MARKET, on_behalf_of=sub, on_result=seen.append)
    assert [(r.target, r.status) for r in results] == [(order.id, "cancelled"), (MARKET, "unknown")]
    assert seen == results  # the market's own outcome reaches on_result too, once
    assert order.status == "cancelled"


def test_open_orders_and_order_status(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    live = box.seed_limitless(market_slug=MARKET, client_order_id="k")
    box.seed_limitless(market_slug=MARKET, status="cancelled")
    with box.limitless_client() as lm:
        assert [o.id for o in lm.open_orders(MARKET)] == [live.id]
        found = lm.order_status(
            [CancelByClientOrderId(client_order_id="k")] * 51 + [CancelByOrderId(order_id=uuid4())]
        )
    assert [r.index for r in found] == list(range(52))
    assert found[0].order_id == live.id
    assert found[51].status != "found"
    assert box.limitless.stats.requests == 3  # 50 per lookup


@pytest.mark.parametrize("name", ["cancel_orders", "cancel_all", "open_orders", "order_status"])
def test_sync_and_async_twins_have_identical_signatures(name: str) -> None:
    sync = getattr(cancelkit.LimitlessClient, name)
    asynchronous = getattr(cancelkit.AsyncLimitlessClient, name)
    assert inspect.signature(sync) == inspect.signature(asynchronous)
    assert inspect.iscoroutinefunction(asynchronous)
    assert sync.__doc__
    assert asynchronous.__doc__


# --- the CLI ------------------------------------------------------------------------------


def invoke(box: Sandbox, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=box.env(), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.cancelkit_sandbox(published_limits=True)
def test_the_cli_kills_300_orders_batched_at_the_published_limit(
    cancelkit_sandbox: Sandbox, tmp_path: Any
) -> None:
    box = cancelkit_sandbox
    ids = [box.seed_limitless(market_slug=MARKET).id for _ in range(300)]
    kill = tmp_path / "kill.txt"
    kill.write_text("".join(f"order:{i}\n" for i in ids))
    code, out, err = invoke(box, "cancel", "limitless", "--from-file", str(kill), "--json")
    assert code == 0, err
    assert [json.loads(line)["status"] for line in out.splitlines()] == ["cancelled"] * 300
    assert "published limit (2 in flight, 300 ms apart)" in err
    assert box.limitless.stats.requests == 6
    assert box.limitless.stats.rate_limited == 0
    assert box.open_orders() == []


def test_the_cli_cancels_all_in_each_market_and_lists_orders(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    a = box.seed_limitless(market_slug="m-a", client_order_id="ca")
    b = box.seed_limitless(market_slug="m-b")
    c = box.seed_limitless(market_slug="m-c")
    code, out, _ = invoke(box, "orders", "limitless", "--market", "m-a")
    assert code == 0
    assert "1 order(s)" in out
    code, out, _ = invoke(box, "orders", "limitless", "--market", "m-a", "--json")
    (listed,) = [json.loads(line) for line in out.splitlines()]
    assert (listed["id"], listed["clientOrderId"], listed["status"]) == (a.id, "ca", "LIVE")
    code, out, err = invoke(
        box, "cancel", "limitless", "--all", "--market", "m-a", "--market", "m-b"
    )
    assert code == 0, err
    assert a.status == b.status == "cancelled"
    assert c.status == "open"
    code, _, err = invoke(box, "cancel", "limitless", "--all")
    assert code == 2
    assert "--market" in err


def test_maintenance_reaches_the_operator(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    order = box.seed_limitless()
    box.limitless.set_knobs(maintenance="disabled")
    code, out, _ = invoke(box, "cancel", "limitless", "--order-id", order.id, "--deadline", "0.5")
    assert code == 1
    assert "maintenance: disabled" in out
    assert order.status == "open"

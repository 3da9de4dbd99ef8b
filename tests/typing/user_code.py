"""Realistic user code, type-checked by `mypy --strict` and pyright strict (`make types`).

Every main result is pinned with assert_type: a change that makes one of them Any,
or another type, fails the check. Never run; only checked.
"""

from __future__ import annotations

import asyncio
import logging
from typing import assert_type
from uuid import UUID

import cancelkit
import httpx
from cancelkit import (
    AsyncKalshiClient,
    AsyncLimitlessClient,
    AsyncPolymarketUSClient,
    CancelByClientOrderId,
    CancelByOrderId,
    CancelKitError,
    CancelResult,
    KalshiClient,
    LimitlessClient,
    NetworkError,
    OrderNotFound,
    OrderNotOpen,
    Outcome,
    PolymarketUSClient,
    RateLimited,
    kalshi,
)
from cancelkit.limitless import OrderStatus, UserOrderDto
from cancelkit.polymarket import Order, OrderState
from cancelkit.sandbox import Sandbox

log = logging.getLogger("bot")


def kill_polymarket(order_ids: list[str]) -> list[str]:
    """Cancel, and return the ids that may still be open."""
    with PolymarketUSClient.from_env(timeout=httpx.Timeout(5, connect=1), max_retries=2) as pm:
        results = pm.cancel_orders(order_ids, deadline=30)
        assert_type(results, list[CancelResult[str]])
        status: Outcome = results[0].status
        log.info("first: %s", status)
        return [r.target for r in results if not r.ok]


def kill_limitless_by_client_id(ids: list[str]) -> list[str]:
    targets = [CancelByClientOrderId(client_order_id=i) for i in ids]
    with LimitlessClient.from_env(proxy="http://egress.internal:3128") as lm:
        results = lm.cancel_orders(targets)
        assert_type(results, list[CancelResult[CancelByClientOrderId]])
        return [r.target.client_order_id for r in results if not r.ok]


def one_cancel(pm: PolymarketUSClient, order_id: str) -> bool:
    try:
        pm.cancel_order(order_id, missing_ok=True)
    except OrderNotOpen as e:
        state: str | None = e.state
        log.warning("%s is %s", e.order, state)
        return state == "filled"
    except RateLimited as e:
        wait: float | None = e.retry_after
        log.warning("slow down %s", wait)
    except NetworkError as e:
        landed: bool = e.may_have_landed
        log.error("%s landed=%s retryable=%s", e, landed, e.retryable)
    except CancelKitError as e:
        log.error("%s %s %s %s", e.method, e.path, e.status, e.request_id)
    return False


def open_ones(pm: PolymarketUSClient) -> list[Order]:
    orders = pm.open_orders(market_slugs=["nba-lal-bos"])
    assert_type(orders, list[Order])
    assert_type(pm.get_order(orders[0].id if isinstance(orders[0].id, str) else "x"), Order)
    return orders


def still_open(pm: PolymarketUSClient, lm: LimitlessClient) -> list[str]:
    """Each venue's models from its own package: no name stands for two venues."""
    pm_orders: list[Order] = pm.open_orders()
    live = [o for o in pm_orders if o.state == OrderState.ORDER_STATE_NEW]
    lm_orders = lm.open_orders("nba-lal-bos", statuses=[OrderStatus.LIVE])
    assert_type(lm_orders, list[UserOrderDto])
    return [str(o.id) for o in live] + [str(o.id) for o in lm_orders]


def old_names(order: cancelkit.Order) -> cancelkit.OrderState | None:
    """The moved names keep their types for their last release (a warning at run time)."""
    assert_type(order, Order)
    return order.state if isinstance(order.state, cancelkit.OrderState) else None


def limitless_one(lm: LimitlessClient) -> str:
    message = lm.cancel_order(order_id="0f8fad5b-d9cb-469f-a165-70867728950e")
    assert_type(message, str)
    by_body = lm.cancel_order(
        CancelByOrderId(order_id=UUID("0f8fad5b-d9cb-469f-a165-70867728950e"))
    )
    assert_type(by_body, str)
    return message


def kill_kalshi(order_ids: list[str]) -> list[str]:
    """Kalshi: the key's tier paces every call; each venue's Order from its package."""
    with KalshiClient.from_env(tier="advanced", timeout=5.0) as ks:
        answer = ks.cancel_order(order_ids[0], subaccount=0, missing_ok=True)
        assert_type(answer, kalshi.CancelOrderV2Response | None)
        listed = ks.open_orders(ticker="KXBTC-26DEC31-T100000")
        assert_type(listed, list[kalshi.Order])
        resting = [o.order_id for o in listed if o.status == kalshi.OrderStatus.RESTING]
        results = ks.cancel_orders([*order_ids, *resting], tickers=["KXBTC-26DEC31-T100000"])
        assert_type(results, list[CancelResult[str]])
        everything = ks.cancel_all(subaccount=None)  # every subaccount
        assert_type(everything, list[CancelResult[str]])
        return [r.target for r in results if not r.ok]


async def async_kalshi(tier: kalshi.Tier) -> None:
    async with AsyncKalshiClient.from_env(tier=tier, base_url=kalshi.DEMO_BASE_URL) as ks:
        assert_type(await ks.get_order("3b23c1c7-f4ef-4f0d-8b9a-9e53c61f1a0d"), kalshi.Order)


async def async_bot() -> None:
    async with AsyncPolymarketUSClient.from_env(trust_env=False) as pm:
        try:
            await pm.cancel_order("ord-1")
        except OrderNotFound as e:
            log.info("gone: %s", e.order)
        results = await pm.cancel_all(market_slugs=["nba-lal-bos"])
        assert_type(results, list[CancelResult[str]])
    lm = AsyncLimitlessClient.from_env(verify=False)
    assert_type(await lm.cancel_order(client_order_id="c-1"), str)
    await lm.aclose()


def test_my_bot() -> None:
    with Sandbox() as box:
        box.seed_polymarket("ord-1")
        box.set_knobs(failure_rate=0.1, maintenance="cancel_only", seed=None, validate=True)
        pm = box.polymarket_client(timeout=2.0)
        assert_type(pm, PolymarketUSClient)
        with pm:
            pm.cancel_order("ord-1")
        assert_type(box.limitless_client(), LimitlessClient)
        assert_type(box.async_polymarket_client(), AsyncPolymarketUSClient)
        assert_type(box.async_limitless_client(), AsyncLimitlessClient)
        box.seed_kalshi(ticker="KXBTC-26DEC31-T100000", subaccount=2)
        assert_type(box.kalshi_client(key="rsa"), KalshiClient)
        assert_type(box.async_kalshi_client(), AsyncKalshiClient)


def kill_the_desk() -> bool:
    """Every account on every venue: True only when each is confirmed empty."""
    accounts = cancelkit.load_accounts()
    assert_type(accounts, tuple[cancelkit.Account, ...])
    runs = cancelkit.cancel_everywhere(
        accounts, deadline=30, on_result=lambda a, r: log.info("%s %s", a.name, r.status)
    )
    assert_type(runs, list[cancelkit.AccountRun])
    with cancelkit.Desk(accounts, timeout=2.0) as desk:
        refused = [name for name, error in desk.prove().items() if error is not None]
        assert_type(desk.open_orders(), dict[str, list[str] | BaseException])
    return not refused and all(run.ok for run in runs)


async def arm_the_desk() -> None:
    async with cancelkit.AsyncDesk(cancelkit.load_accounts("accounts.toml")) as desk:
        assert_type(await desk.prove(), dict[str, BaseException | None])
        runs = await desk.cancel_everywhere(accounts=["desk-pm-1"])
        assert_type(runs[0].left, int | None)


if __name__ == "__main__":
    asyncio.run(async_bot())

"""The async clients' default transport (aiohttp under httpx) keeps every promise."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import httpx_aiohttp
import pytest
from cancelkit import AsyncLimitlessClient, NetworkError, OrderNotOpen
from cancelkit._transport import AiohttpTransport
from cancelkit.sandbox import Sandbox
from helpers import fast_retry

# Ids whose percent-encoding yarl would "normalize" (%3B -> ;, %27 -> ', %3D -> =).
ODD = ["a;b=c", "it's", "x%3By", "semi;colon", "(paren)", "star*", "plus+sign", "at@sign"]


def test_it_is_the_default_for_async_clients(cancelkit_sandbox: Sandbox) -> None:
    client = cancelkit_sandbox.async_polymarket_client()
    assert isinstance(client._http._transport, AiohttpTransport)


def _cancel_all(box: Sandbox, transport: Any) -> list[str]:
    async def main() -> list[str]:
        outcomes = []
        async with box.async_polymarket_client(transport=transport) as pm:
            for order_id in ODD:
                try:
                    await pm.cancel_order(order_id)
                    outcomes.append("cancelled")
                except Exception as exc:
                    outcomes.append(type(exc).__name__)
        return outcomes

    return asyncio.run(main())


def test_the_signed_path_is_the_path_sent(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    orders = [box.seed_polymarket(i) for i in ODD]
    assert _cancel_all(box, None) == ["cancelled"] * len(ODD)
    assert all(o.status == "cancelled" for o in orders)


def test_the_stock_library_transport_would_break_signatures(cancelkit_sandbox: Sandbox) -> None:
    # Why cancelkit sends the URL itself: the library's yarl re-quoting changes the path.
    box = cancelkit_sandbox
    for order_id in ODD:
        box.seed_polymarket(order_id)
    outcomes = _cancel_all(box, httpx_aiohttp.AiohttpTransport())
    assert "AuthenticationError" in outcomes


@pytest.mark.cancelkit_sandbox(drop_rate=1.0, max_fault_streak=1)
def test_a_drop_after_the_request_went_out_may_have_landed(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    order = box.seed_limitless()

    async def main() -> None:
        async with box.async_limitless_client() as lm:
            await lm.cancel_order(order_id=order.id)

    with pytest.raises(OrderNotOpen, match="may have cancelled it unseen"):
        asyncio.run(main())
    assert order.status == "cancelled"


def test_a_refused_connection_was_never_sent() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    lm = AsyncLimitlessClient(
        "tok",
        "bGltaXRsZXNzLXNhbmRib3gtc2VjcmV0",
        base_url=f"http://127.0.0.1:{port}",
        retry=fast_retry(max_retries=1),
    )

    async def main() -> None:
        async with lm:
            await lm.cancel_order(client_order_id="x")

    with pytest.raises(NetworkError, match="ConnectError") as caught:
        asyncio.run(main())
    assert caught.value.attempts == 2


@pytest.mark.cancelkit_sandbox(latency=0.5)
def test_the_timeout_holds(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    order = box.seed_limitless()

    async def main() -> None:
        async with box.async_limitless_client(timeout=0.1, max_retries=0) as lm:
            await lm.cancel_order(order_id=order.id)

    with pytest.raises(NetworkError, match="ReadTimeout"):
        asyncio.run(main())


def test_httpx_mock_transports_still_override_it() -> None:
    seen: list[httpx.Request] = []
    transport = httpx.MockTransport(
        lambda r: seen.append(r) or httpx.Response(200, json={"message": "ok"})
    )
    lm = AsyncLimitlessClient("tok", "bGltaXRsZXNzLXNhbmRib3gtc2VjcmV0", transport=transport)
    assert asyncio.run(lm.cancel_order(client_order_id="x")) == "ok"
    assert len(seen) == 1


def test_warm_opens_the_connection_the_first_cancel_then_reuses(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    order = box.seed_polymarket("w-1")
    before = box.polymarket.stats.requests
    with box.polymarket_client() as pm:
        assert pm.warm() > 0
        pm.cancel_order("w-1")
    assert order.status == "cancelled"
    assert box.polymarket.stats.requests == before + 1  # GET / is no API request

    async def main() -> float:
        async with box.async_limitless_client() as lm:
            return await lm.warm()

    assert asyncio.run(main()) > 0


def test_warm_says_when_the_exchange_is_unreachable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    lm = AsyncLimitlessClient(
        "tok", "bGltaXRsZXNzLXNhbmRib3gtc2VjcmV0", base_url=f"http://u:pw@127.0.0.1:{port}"
    )

    async def main() -> None:
        async with lm:
            await lm.warm()

    with pytest.raises(NetworkError, match="unreachable") as caught:
        asyncio.run(main())
    assert "pw" not in str(caught.value)


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_cookie_set_by_a_server_or_proxy_is_never_sent_back(flavour: str) -> None:
    from cancelkit import LimitlessClient
    from helpers import LM_SECRET, LM_TOKEN_ID, Script, call

    ok = {"message": "ok"}
    script = Script(
        [
            httpx.Response(200, json=ok, headers={"set-cookie": "session=stolen; Path=/"}),
            httpx.Response(200, json=ok),
        ]
    )
    cls = LimitlessClient if flavour == "sync" else AsyncLimitlessClient
    lm = cls(LM_TOKEN_ID, LM_SECRET, transport=script.transport, base_url="https://lm.test")
    call(lm.cancel_order, client_order_id="a")
    call(lm.cancel_order, client_order_id="b")
    assert "cookie" not in script.requests[1].headers

"""One set of HTTP settings for every path: a recording proxy on loopback is reached
by the single, bulk and async paths of both venues, from the environment and from
``proxy=`` (#24)."""

from __future__ import annotations

import asyncio
import http.client
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest
from cancelkit import CancelByOrderId, InvalidRequest, PolymarketUSClient
from cancelkit._oneshot import one_shot
from cancelkit.sandbox import Sandbox
from helpers import PM_SECRET_32

_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "proxy-authorization"}


class RecordingProxy:
    """A forward HTTP proxy on loopback that records the absolute URL of every request."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                target = urlsplit(self.path)  # absolute form: http://host:port/path
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                proxy.seen.append(f"{self.command} {target.path}")
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                upstream = http.client.HTTPConnection(target.netloc, timeout=10)
                path = target.path + (f"?{target.query}" if target.query else "")
                upstream.request(self.command, path, body or None, headers)
                answer = upstream.getresponse()
                content = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in _HOP | {"content-length"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)
                upstream.close()

            do_GET = do_POST = do_DELETE = _forward  # noqa: N815 (http.server's names)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture(scope="module")
def proxy() -> Iterator[RecordingProxy]:
    recording = RecordingProxy()
    thread = threading.Thread(
        target=recording.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield recording
    recording.server.shutdown()
    recording.server.server_close()


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        yield sandbox


def _sync(make: Callable[[], Any], work: Callable[[Any], Any]) -> Any:
    with make() as client:
        return work(client)


def _async(make: Callable[[], Any], work: Callable[[Any], Any]) -> Any:
    async def main() -> Any:
        async with make() as client:
            return await work(client)

    return asyncio.run(main())


def _lm_target(box: Sandbox) -> CancelByOrderId:
    return CancelByOrderId(order_id=box.seed_limitless().id)  # type: ignore[arg-type]


T = TypeVar("T")


def _one_shot(build: Callable[[], T]) -> T:
    with one_shot():
        return build()


# Each path: (how to run it, the request the proxy must have seen).
PATHS: dict[str, Callable[[Sandbox, dict[str, Any]], str]] = {
    "polymarket single sync": lambda box, kw: (
        box.seed_polymarket("p-s1"),
        _sync(lambda: box.polymarket_client(**kw), lambda c: c.cancel_order("p-s1")),
        "POST /v1/order/p-s1/cancel",
    )[-1],
    "polymarket bulk sync": lambda box, kw: (
        box.seed_polymarket("p-b1"),
        _sync(lambda: box.polymarket_client(**kw), lambda c: c.cancel_orders(["p-b1"])),
        "POST /v1/orders/batched/cancel",
    )[-1],
    "polymarket single async": lambda box, kw: (
        box.seed_polymarket("p-a1"),
        _async(lambda: box.async_polymarket_client(**kw), lambda c: c.cancel_order("p-a1")),
        "POST /v1/order/p-a1/cancel",
    )[-1],
    "polymarket bulk async": lambda box, kw: (
        box.seed_polymarket("p-ab1"),
        _async(lambda: box.async_polymarket_client(**kw), lambda c: c.cancel_orders(["p-ab1"])),
        "POST /v1/orders/batched/cancel",
    )[-1],
    # The command line's route (one_shot: httpx's own transport, no aiohttp).
    "polymarket bulk async one-shot": lambda box, kw: (
        box.seed_polymarket("p-ob1"),
        _async(
            lambda: _one_shot(lambda: box.async_polymarket_client(**kw)),
            lambda c: c.cancel_orders(["p-ob1"]),
        ),
        "POST /v1/orders/batched/cancel",
    )[-1],
    "limitless single sync": lambda box, kw: (
        _sync(lambda: box.limitless_client(**kw), lambda c: c.cancel_order(_lm_target(box))),
        "POST /orders/cancel",
    )[-1],
    "limitless bulk sync": lambda box, kw: (
        _sync(lambda: box.limitless_client(**kw), lambda c: c.cancel_orders([_lm_target(box)])),
        "POST /orders/batch-cancel",
    )[-1],
    "limitless single async": lambda box, kw: (
        _async(lambda: box.async_limitless_client(**kw), lambda c: c.cancel_order(_lm_target(box))),
        "POST /orders/cancel",
    )[-1],
    "limitless bulk async one-shot": lambda box, kw: (
        _async(
            lambda: _one_shot(lambda: box.async_limitless_client(**kw)),
            lambda c: c.cancel_orders([_lm_target(box)]),
        ),
        "POST /orders/batch-cancel",
    )[-1],
    "limitless bulk async": lambda box, kw: (
        _async(
            lambda: box.async_limitless_client(**kw),
            lambda c: c.cancel_orders([_lm_target(box)]),
        ),
        "POST /orders/batch-cancel",
    )[-1],
}


def _clear_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("how", ["environment", "proxy="])
def test_every_path_goes_through_the_proxy(
    box: Sandbox,
    proxy: RecordingProxy,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    how: str,
) -> None:
    _clear_proxy_env(monkeypatch)
    if how == "environment":
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        kwargs: dict[str, Any] = {}
    else:
        kwargs = {"proxy": proxy.url}
    proxy.seen.clear()
    expected = PATHS[path](box, kwargs)
    assert expected in proxy.seen


@pytest.mark.parametrize(
    "path", ["polymarket bulk sync", "limitless single async", "limitless bulk async one-shot"]
)
def test_trust_env_false_ignores_the_environment(
    box: Sandbox, proxy: RecordingProxy, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    _clear_proxy_env(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    proxy.seen.clear()
    PATHS[path](box, {"trust_env": False})
    assert proxy.seen == []


@pytest.mark.parametrize(
    "path", ["polymarket single sync", "limitless bulk async", "polymarket bulk async one-shot"]
)
def test_no_proxy_is_honoured(
    box: Sandbox, proxy: RecordingProxy, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    _clear_proxy_env(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    proxy.seen.clear()
    PATHS[path](box, {})
    assert proxy.seen == []


def test_a_timeout_object_is_accepted_and_a_bad_one_refused() -> None:
    PolymarketUSClient("k", PM_SECRET_32, timeout=httpx.Timeout(5, connect=1)).close()
    with pytest.raises(InvalidRequest, match="timeout"):
        PolymarketUSClient("k", PM_SECRET_32, timeout=httpx.Timeout(5, connect=-1))
    with pytest.raises(InvalidRequest, match="proxy= or transport="):
        PolymarketUSClient("k", PM_SECRET_32, proxy="http://p:1", transport=httpx.HTTPTransport())
    with pytest.raises(InvalidRequest, match="proxy"):
        PolymarketUSClient("k", PM_SECRET_32, proxy="ftp://p:1")

"""One set of HTTP settings for every path: a recording proxy on loopback is reached
by the single, bulk and async paths of both venues, from the environment and from
``proxy=`` (#24)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import socket
import threading
import warnings
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest
from cancelkit import (
    AsyncLimitlessClient,
    AsyncPolymarketUSClient,
    CancelByOrderId,
    CancelKitError,
    HTTPSettings,
    InvalidRequest,
    LimitlessClient,
    PolymarketUSClient,
)
from cancelkit._oneshot import one_shot
from cancelkit.sandbox import Sandbox
from helpers import LM_SECRET, LM_TOKEN_ID, PM_KEY_ID, PM_SECRET_32

_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "proxy-authorization"}


class RecordingProxy:
    """A forward HTTP proxy on loopback that records the absolute URL of every request;
    given ``credential`` (a ``Proxy-Authorization`` value), it answers 407 to any
    request without it (recorded in ``refused``) and forwards none of those."""

    def __init__(self, credential: str | None = None) -> None:
        self.seen: list[str] = []
        self.refused: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                target = urlsplit(self.path)  # absolute form: http://host:port/path
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if credential is not None and self.headers["Proxy-Authorization"] != credential:
                    proxy.refused.append(f"{self.command} {target.path}")
                    self.send_response(407)
                    self.send_header("Proxy-Authenticate", 'Basic realm="test"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
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


PROXY_USER, PROXY_PASSWORD = "trader", "hunter2"
PROXY_CREDENTIAL = "Basic " + base64.b64encode(f"{PROXY_USER}:{PROXY_PASSWORD}".encode()).decode()


@contextlib.contextmanager
def credentials_asked() -> Iterator[RecordingProxy]:
    """A proxy that asks for ``trader:hunter2``, running."""
    asking = RecordingProxy(PROXY_CREDENTIAL)
    thread = threading.Thread(
        target=asking.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield asking
    finally:
        asking.server.shutdown()
        asking.server.server_close()


def deprecated_proxy_auth(caught: list[warnings.WarningMessage]) -> list[str]:
    """aiohttp 3.14's deprecations of ``proxy_auth`` and ``BasicAuth`` among ``caught``."""
    return [
        str(w.message)
        for w in caught
        if issubclass(w.category, DeprecationWarning)
        and ("proxy_auth" in str(w.message) or "BasicAuth" in str(w.message))
    ]


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("how", ["environment", "proxy="])
def test_a_proxy_asking_for_credentials_gets_them_on_every_path(
    box: Sandbox, monkeypatch: pytest.MonkeyPatch, path: str, how: str
) -> None:
    """Through aiohttp, without its deprecated ``proxy_auth`` (whose suggested
    replacement, ``proxy_headers``, reaches a plain-HTTP proxy on no request)."""
    _clear_proxy_env(monkeypatch)
    with credentials_asked() as asking, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        url = asking.url.replace("://", f"://{PROXY_USER}:{PROXY_PASSWORD}@")
        if how == "environment":
            monkeypatch.setenv("HTTP_PROXY", url)
            kwargs: dict[str, Any] = {}
        else:
            kwargs = {"proxy": url}
        expected = PATHS[path](box, kwargs)
    assert expected in asking.seen
    assert asking.refused == []
    # Before: aiohttp's DeprecationWarning for proxy_auth (and BasicAuth) on every
    # aiohttp request through a proxy with credentials.
    assert deprecated_proxy_auth(caught) == []


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


# ALL_PROXY names a proxy for every scheme; aiohttp ignored it (#29, item 10).
@pytest.mark.parametrize("path", list(PATHS))
def test_all_proxy_is_honoured_on_every_path(
    box: Sandbox, proxy: RecordingProxy, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    _clear_proxy_env(monkeypatch)
    monkeypatch.setenv("ALL_PROXY", proxy.url)
    proxy.seen.clear()
    expected = PATHS[path](box, {})
    assert expected in proxy.seen


class Listener:
    """A TCP listener on loopback that records, per connection, its first bytes (a
    TLS ClientHello starts with 0x16), then closes it: where a client went, and how."""

    def __init__(self) -> None:
        self.first_bytes: list[bytes] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.1)
        self.port = self._server.getsockname()[1]
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._done.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    self.first_bytes.append(conn.recv(16))
                except OSError:
                    self.first_bytes.append(b"")

    def stop(self) -> None:
        self._done.set()
        self._thread.join(5)
        self._server.close()


@pytest.fixture
def listeners() -> Iterator[tuple[Listener, Listener]]:
    """(an https:// proxy, the https:// exchange it should be asked to tunnel to)."""
    pair = (Listener(), Listener())
    yield pair
    for listener in pair:
        listener.stop()


_UUID = "0d9b6f3e-2b7a-4c1e-9f3d-5a6b7c8d9e0f"


def _pm(url: str, **kw: Any) -> PolymarketUSClient:
    return PolymarketUSClient(PM_KEY_ID, PM_SECRET_32, base_url=url, max_retries=0, **kw)


def _lm(url: str, **kw: Any) -> LimitlessClient:
    return LimitlessClient(LM_TOKEN_ID, LM_SECRET, base_url=url, max_retries=0, **kw)


def _apm(url: str, **kw: Any) -> AsyncPolymarketUSClient:
    return AsyncPolymarketUSClient(PM_KEY_ID, PM_SECRET_32, base_url=url, max_retries=0, **kw)


def _alm(url: str, **kw: Any) -> AsyncLimitlessClient:
    return AsyncLimitlessClient(
        LM_TOKEN_ID, LM_SECRET, base_url=url, max_retries=0, paced=False, **kw
    )


_LM_TARGETS = [CancelByOrderId(order_id=_UUID)]  # type: ignore[arg-type]

# Every path once more, to an https:// exchange that does not exist: each must try the
# proxy (and fail there), never the exchange directly.
TLS_PATHS: dict[str, Callable[[str], Any]] = {
    "polymarket single sync": lambda url: _sync(lambda: _pm(url), lambda c: c.cancel_order("x")),
    "polymarket bulk sync": lambda url: _sync(
        lambda: _pm(url), lambda c: c.cancel_orders(["x"], deadline=1)
    ),
    "polymarket single async": lambda url: _async(lambda: _apm(url), lambda c: c.cancel_order("x")),
    "polymarket bulk async": lambda url: _async(
        lambda: _apm(url), lambda c: c.cancel_orders(["x"], deadline=1)
    ),
    "polymarket bulk async one-shot": lambda url: _async(
        lambda: _one_shot(lambda: _apm(url)), lambda c: c.cancel_orders(["x"], deadline=1)
    ),
    "limitless single sync": lambda url: _sync(
        lambda: _lm(url), lambda c: c.cancel_order(order_id=_UUID)
    ),
    "limitless bulk sync": lambda url: _sync(
        lambda: _lm(url), lambda c: c.cancel_orders(_LM_TARGETS, deadline=1)
    ),
    "limitless single async": lambda url: _async(
        lambda: _alm(url), lambda c: c.cancel_order(order_id=_UUID)
    ),
    "limitless bulk async": lambda url: _async(
        lambda: _alm(url), lambda c: c.cancel_orders(_LM_TARGETS, deadline=1)
    ),
    "limitless bulk async one-shot": lambda url: _async(
        lambda: _one_shot(lambda: _alm(url)), lambda c: c.cancel_orders(_LM_TARGETS, deadline=1)
    ),
}


@pytest.mark.parametrize("path", list(TLS_PATHS))
def test_an_https_proxy_from_the_environment_is_used_on_every_path(
    listeners: tuple[Listener, Listener], monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """HTTPS_PROXY=https://... and an https:// exchange: the async clients and the sync
    Limitless client connected to the exchange directly, around the proxy."""
    tls_proxy, exchange = listeners
    _clear_proxy_env(monkeypatch)
    monkeypatch.setenv("HTTPS_PROXY", f"https://127.0.0.1:{tls_proxy.port}")
    with contextlib.suppress(CancelKitError):
        TLS_PATHS[path](f"https://127.0.0.1:{exchange.port}")
    assert exchange.first_bytes == []
    assert tls_proxy.first_bytes
    assert all(first[:1] == b"\x16" for first in tls_proxy.first_bytes)  # TLS to the proxy


_BUILDERS: dict[str, Callable[..., Any]] = {
    "PolymarketUSClient": _pm,
    "LimitlessClient": _lm,
    "AsyncPolymarketUSClient": _apm,
    "AsyncLimitlessClient": _alm,
}


@pytest.mark.parametrize("client", list(_BUILDERS))
@pytest.mark.parametrize("variable", ["ALL_PROXY", "HTTPS_PROXY", "all_proxy"])
def test_a_socks_proxy_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, client: str, variable: str
) -> None:
    """ALL_PROXY=socks5://... made the sync clients fail with an ImportError."""
    _clear_proxy_env(monkeypatch)
    monkeypatch.setenv(variable, "socks5://user:hunter2@127.0.0.1:1080")
    with pytest.raises(InvalidRequest, match=f"{variable.upper()} .*SOCKS") as caught:
        _BUILDERS[client]("https://api.example")
    assert "hunter2" not in str(caught.value)
    with pytest.raises(InvalidRequest, match=r"proxy .*SOCKS"):
        _BUILDERS[client]("https://api.example", proxy="socks5://127.0.0.1:1080", trust_env=False)
    # Not the route to this host, or the environment not trusted: nothing to refuse.
    monkeypatch.setenv("NO_PROXY", "api.example")
    _close(_BUILDERS[client]("https://api.example"))
    monkeypatch.delenv("NO_PROXY")
    _close(_BUILDERS[client]("https://api.example", trust_env=False))


def _close(client: Any) -> None:
    if hasattr(client, "_loop_thread"):  # sync; an async client never used has nothing open
        client.close()


def test_the_command_refuses_a_socks_proxy_before_sending(
    box: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cancelkit._cli import main
    from click.testing import CliRunner

    _clear_proxy_env(monkeypatch)
    box.seed_polymarket("p-socks")
    box.clear_requests()
    env = box.env() | {"ALL_PROXY": "socks5://127.0.0.1:1080"}
    result = CliRunner().invoke(main, ["cancel", "polymarket", "p-socks"], env=env)
    assert result.exit_code == 2, result.output
    assert "ALL_PROXY" in result.stderr
    assert "SOCKS" in result.stderr
    assert not isinstance(result.exception, ImportError)
    assert box.requests == []


def test_a_proxy_password_never_shows_in_the_settings_repr() -> None:
    """#29, item 12."""
    client = _pm("https://api.example", proxy="http://trader:hunter2@127.0.0.1:3128")
    try:
        shown = [repr(client._settings), repr(client._shared()), repr(client)]
    finally:
        client.close()
    settings = HTTPSettings(proxy="https://trader:hunter2@proxy.example:3128")
    shown += [repr(settings), str(settings)]
    assert not [text for text in shown if "hunter2" in text]
    assert "proxy='https://***@proxy.example:3128'" in repr(settings)


@pytest.mark.parametrize("flavour", ["sync", "async", "sync bulk"])
def test_a_proxy_password_never_shows_in_an_error_or_log(
    listeners: tuple[Listener, Listener],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    flavour: str,
) -> None:
    """A proxy that hangs up: the error, its traceback and the log name no password."""
    import logging
    import traceback

    proxy_at, exchange = listeners
    _clear_proxy_env(monkeypatch)
    caplog.set_level(logging.DEBUG)
    url = f"http://127.0.0.1:{exchange.port}"
    given = {"proxy": f"http://trader:hunter2@127.0.0.1:{proxy_at.port}"}
    error: BaseException | None = None
    try:
        if flavour == "sync":
            _sync(lambda: _pm(url, **given), lambda c: c.cancel_order("x"))
        elif flavour == "async":
            _async(lambda: _apm(url, **given), lambda c: c.cancel_order("x"))
        else:
            bulk = _sync(lambda: _pm(url, **given), lambda c: c.cancel_orders(["x"], deadline=1))
            error = bulk[0].error
    except CancelKitError as exc:
        error = exc
    assert isinstance(error, CancelKitError)
    assert proxy_at.first_bytes  # it went to the proxy
    text = "".join(traceback.format_exception(error)) + repr(error) + caplog.text
    assert "hunter2" not in text

"""Base URLs at construction: ports in range, passwords never shown nor sent (#21)."""

from __future__ import annotations

import logging

import pytest
from cancelkit import (
    AsyncLimitlessClient,
    AsyncPolymarketUSClient,
    InvalidRequest,
    LimitlessClient,
    PolymarketUSClient,
)
from cancelkit.sandbox import Sandbox
from helpers import LM_SECRET, LM_TOKEN_ID, PM_KEY_ID, PM_SECRET_32

CLIENTS = [PolymarketUSClient, AsyncPolymarketUSClient, LimitlessClient, AsyncLimitlessClient]
PASSWORD = "s3cr/et-Pa55word"


def build(cls: type, url: str) -> object:
    if cls in (PolymarketUSClient, AsyncPolymarketUSClient):
        return cls(PM_KEY_ID, PM_SECRET_32, base_url=url)
    return cls(LM_TOKEN_ID, LM_SECRET, base_url=url)


@pytest.mark.parametrize("cls", CLIENTS)
@pytest.mark.parametrize("port", [65536, 70000, 99999])
def test_a_port_above_65535_is_refused_at_construction(cls: type, port: int) -> None:
    with pytest.raises(InvalidRequest, match=f"port {port}"):
        build(cls, f"http://127.0.0.1:{port}")


@pytest.mark.parametrize("cls", CLIENTS)
@pytest.mark.parametrize(
    "url",
    [
        f"https://trader:{PASSWORD}@api.example:70000",  # bad port
        f"https://trader:{PASSWORD}@api.example/?x=1",  # a query
        f"ftp://trader:{PASSWORD}@api.example",  # a scheme
        f"https://trader:{PASSWORD}@[::1",  # not a URL
    ],
)
def test_a_password_with_a_slash_is_never_echoed(cls: type, url: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        build(cls, url)
    text = f"{caught.value}\n{caught.value!r}"
    assert "***@" in text
    for part in PASSWORD.split("/"):
        assert part not in text


def test_user_info_never_reaches_httpx_nor_its_log(caplog: pytest.LogCaptureFixture) -> None:
    with Sandbox() as box:
        box.seed_polymarket("ord-u")
        url = box.polymarket_url.replace("://", f"://trader:{PASSWORD}@")
        c = box.credentials
        caplog.set_level(logging.DEBUG)
        with PolymarketUSClient(c.polymarket_key_id, c.polymarket_secret_key, base_url=url) as pm:
            assert PASSWORD not in repr(pm)
            assert pm.base_url == box.polymarket_url
            assert pm._http.base_url.userinfo == b""
            pm.cancel_order("ord-u")
    # Lines that say where the request went were there to leak it: the connection's
    # (httpcore) and the attempt's (cancelkit; the lean path has no httpx INFO line).
    assert "connect_tcp.started host='127.0.0.1'" in caplog.text
    assert "POST /v1/order/ord-u/cancel -> 200" in caplog.text
    for part in PASSWORD.split("/"):
        assert part not in caplog.text

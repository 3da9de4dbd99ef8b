"""The TLS context clients get (``cancelkit._tls``): the CA bundle loaded once per
process, not at all for a client that cannot open a TLS connection, and a caller's
``verify`` always theirs."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import pytest
from cancelkit import AsyncLimitlessClient, LimitlessClient, PolymarketUSClient, _tls
from helpers import LM_SECRET, LM_TOKEN_ID, PM_KEY_ID, PM_SECRET_32

_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _PROXY_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def bundle_loads(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Every CA-bundle load (httpx's ``create_ssl_context`` with ``verify=True``),
    from a clean cache."""
    monkeypatch.setattr(_tls, "_SHARED", {})
    loads: list[bool] = []
    real = httpx.create_ssl_context

    def counting(verify: Any = True, *args: Any, **kwargs: Any) -> ssl.SSLContext:
        if verify is True:
            loads.append(True)
        return real(verify, *args, **kwargs)

    monkeypatch.setattr(httpx, "create_ssl_context", counting)
    return loads


def test_https_clients_share_one_context_loaded_once(bundle_loads: list[bool]) -> None:
    first = _tls.context(True, "https://api.limitless.exchange", None, True)
    second = _tls.context(True, "https://api.polymarket.us", None, True)
    assert isinstance(first, ssl.SSLContext)
    assert first is second
    assert first.cert_store_stats()["x509_ca"] > 0  # the bundle is in it
    assert first.verify_mode == ssl.CERT_REQUIRED
    assert first.check_hostname
    assert len(bundle_loads) == 1


def test_clients_of_every_kind_load_the_bundle_once(bundle_loads: list[bool]) -> None:
    clients = [
        LimitlessClient(LM_TOKEN_ID, LM_SECRET, base_url="https://lm.example"),
        PolymarketUSClient(PM_KEY_ID, PM_SECRET_32, base_url="https://pm.example"),
        AsyncLimitlessClient(LM_TOKEN_ID, LM_SECRET, base_url="https://lm.example"),
    ]
    sync = [c for c in clients if not isinstance(c, AsyncLimitlessClient)]
    try:
        assert len(bundle_loads) == 1
    finally:
        for client in sync:
            client.close()


def test_a_plain_http_client_loads_no_bundle_and_its_context_trusts_nothing(
    bundle_loads: list[bool],
) -> None:
    client = LimitlessClient(LM_TOKEN_ID, LM_SECRET, base_url="http://127.0.0.1:9")
    client.close()
    assert bundle_loads == []
    unused = _tls.context(True, "http://127.0.0.1:9", None, True)
    assert isinstance(unused, ssl.SSLContext)
    # Were it ever used, the handshake would fail: verification on, no CA trusted.
    assert unused.verify_mode == ssl.CERT_REQUIRED
    assert unused.check_hostname
    assert unused.cert_store_stats()["x509_ca"] == 0


@pytest.mark.parametrize(
    ("proxy", "env", "trust_env"),
    [
        ("https://proxy.example:3128", {}, True),  # a TLS proxy, given
        (None, {"HTTPS_PROXY": "https://proxy.example:3128"}, True),
        (None, {"ALL_PROXY": "https://proxy.example:3128"}, True),
    ],
)
def test_a_plain_http_client_through_a_tls_proxy_gets_the_bundle(
    monkeypatch: pytest.MonkeyPatch,
    bundle_loads: list[bool],
    proxy: str | None,
    env: dict[str, str],
    trust_env: bool,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    chosen = _tls.context(True, "http://gateway.internal", proxy, trust_env)
    assert isinstance(chosen, ssl.SSLContext)
    assert chosen.cert_store_stats()["x509_ca"] > 0
    assert len(bundle_loads) == 1


def test_an_ignored_environment_proxy_needs_no_bundle(
    monkeypatch: pytest.MonkeyPatch, bundle_loads: list[bool]
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "https://proxy.example:3128")
    _tls.context(True, "http://gateway.internal", None, False)
    _tls.context(True, "http://gateway.internal", "http://plain-proxy:3128", True)
    assert bundle_loads == []


def test_ssl_cert_file_gets_a_context_of_its_own(
    monkeypatch: pytest.MonkeyPatch, bundle_loads: list[bool]
) -> None:
    import certifi

    default = _tls.context(True, "https://a.example", None, True)
    monkeypatch.setenv("SSL_CERT_FILE", certifi.where())
    own = _tls.context(True, "https://a.example", None, True)
    ignored = _tls.context(True, "https://a.example", None, False)
    assert own is not default
    assert ignored is not own  # trust_env=False reads no SSL_CERT_FILE
    assert len(bundle_loads) == 3


@pytest.mark.parametrize("verify", [False, "/etc/ssl/certs/ca.pem", ssl.create_default_context()])
def test_a_callers_verify_is_theirs(
    verify: bool | str | ssl.SSLContext, bundle_loads: list[bool]
) -> None:
    assert _tls.context(verify, "https://a.example", None, True) is verify
    assert bundle_loads == []

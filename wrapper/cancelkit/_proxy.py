"""The one proxy a client uses, decided once when it is built, for its base URL.

A client only ever talks to its base URL, so the route is one decision: ``proxy=``,
else (with ``trust_env``) the environment as httpx reads it (``HTTP_PROXY``,
``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``), else direct. Every path is then handed
that decision explicitly (the sync pool, the async twin's aiohttp session, the CLI's
httpx transport): aiohttp reads the environment differently (it ignores ``ALL_PROXY``
and every ``https://`` proxy, and would connect around them), and httpx builds a
transport for every variable set, even one for another scheme (``ALL_PROXY=socks5://``
made every client fail with an ImportError).

Only http and https proxies are supported; any other (SOCKS) is refused when the client
is built, naming where it came from, before anything is sent.
"""

from __future__ import annotations

import httpx
from httpx._utils import URLPattern, get_environment_proxies  # httpx pinned < 0.29

from ._exceptions import InvalidRequest
from ._urls import redacted

_SUPPORTED = ("http", "https")


def _variable(pattern: str) -> str:
    """The environment variable a pattern of httpx's proxy table came from."""
    return f"{pattern.partition('://')[0].upper()}_PROXY"


def _supported(proxy: str, source: str) -> str:
    try:
        scheme = httpx.URL(proxy).scheme
    except httpx.InvalidURL:
        raise InvalidRequest(f"{source} {redacted(proxy)!r} is not a valid proxy URL") from None
    if scheme not in _SUPPORTED:
        kind = "a SOCKS proxy" if scheme.startswith("socks") else f"a {scheme}:// proxy"
        raise InvalidRequest(
            f"{source} {redacted(proxy)!r} is {kind}; cancelkit supports http:// and"
            " https:// proxies only (give one, list the host in NO_PROXY, or build the"
            " client with trust_env=False)"
        )
    return proxy


def check(proxy: str) -> str:
    """``proxy=`` as given: an http(s) URL, else InvalidRequest without its password."""
    return _supported(proxy, "proxy")


def route(base_url: str, proxy: str | None, trust_env: bool) -> str | None:
    """The proxy URL every request to ``base_url`` goes through, or None (direct)."""
    if proxy is not None:
        return check(proxy)
    if not trust_env:
        return None
    url = httpx.URL(base_url)
    # Most specific pattern first, as httpx orders its mounts.
    proxies = get_environment_proxies()
    table = sorted((URLPattern(key), key, value) for key, value in proxies.items())
    for pattern, key, value in table:
        if pattern.matches(url):
            return None if value is None else _supported(value, _variable(key))
    return None

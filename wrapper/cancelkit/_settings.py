"""HTTPSettings: what every path of a client sends with, checked when it is made.

Below both the send loops (``_base``) and the CLI's one-shot route (``_oneshot``),
which read it; ``cancelkit`` and ``_base`` re-export it.
"""

from __future__ import annotations

import ssl

import attrs
import httpx

from ._exceptions import InvalidRequest
from ._urls import redacted


@attrs.frozen
class HTTPSettings:
    """The HTTP settings every path of a client uses alike: the single cancel, the bulk
    paths (which run on an async twin), and the async clients whatever their transport.

    Attributes:
        timeout: seconds for each attempt, or an ``httpx.Timeout``.
        proxy: a proxy URL for every request; None: as ``trust_env`` says.
        trust_env: honour ``HTTP(S)_PROXY``/``ALL_PROXY``/``NO_PROXY`` (and ``SSL_CERT_FILE``),
            as httpx does by default.
        verify: TLS verification: True, False, a CA bundle path or an ``ssl.SSLContext``.
    """

    timeout: float | httpx.Timeout = 10.0
    proxy: str | None = None
    trust_env: bool = True
    verify: bool | str | ssl.SSLContext = True

    def __attrs_post_init__(self) -> None:
        if self.proxy is not None:
            check_proxy(self.proxy)
        if not isinstance(self.trust_env, bool):
            raise InvalidRequest(f"trust_env must be True or False, got {self.trust_env!r}")
        if not isinstance(self.verify, bool | str | ssl.SSLContext):
            raise InvalidRequest(
                "verify must be True, False, a CA bundle path or an ssl.SSLContext,"
                f" got {type(self.verify).__name__}"
            )


def check_proxy(proxy: object) -> str:
    """A proxy URL (http, https or socks5), else InvalidRequest without its password."""
    if not isinstance(proxy, str):
        raise InvalidRequest(f"proxy must be a URL string, not {type(proxy).__name__}")
    try:
        url = httpx.URL(proxy)
    except httpx.InvalidURL:
        raise InvalidRequest(f"proxy {redacted(proxy)!r} is not a valid URL") from None
    if url.scheme not in ("http", "https", "socks5", "socks5h") or not url.host:
        raise InvalidRequest(f"proxy {redacted(proxy)!r} must be an http(s) or socks5 URL")
    return proxy

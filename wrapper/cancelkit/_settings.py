"""HTTPSettings: what every path of a client sends with, checked when it is made.

Below both the send loops (``_base``) and the CLI's one-shot route (``_oneshot``),
which read it; ``cancelkit`` and ``_base`` re-export it.
"""

from __future__ import annotations

import ssl

import attrs
import httpx

from . import _proxy
from ._exceptions import InvalidRequest
from ._urls import redacted


def shown(proxy: str | None) -> str:
    """A proxy URL as reprs show it: without its user info (a password)."""
    return repr(proxy if proxy is None else redacted(proxy))


@attrs.frozen
class HTTPSettings:
    """The HTTP settings every path of a client uses alike: the single cancel, the bulk
    paths (which run on an async twin), and the async clients whatever their transport.

    Attributes:
        timeout: seconds for each attempt, in total (connecting, sending and the
            whole answer: a server that sends a byte a second does not hold it), or
            an ``httpx.Timeout``: each part bounds its own step, and the attempt
            ends within its pool, connect and read parts together.
        proxy: an http(s) proxy URL for every request (shown without its password);
            None: as ``trust_env`` says.
        trust_env: honour ``HTTP(S)_PROXY``/``ALL_PROXY``/``NO_PROXY`` (and ``SSL_CERT_FILE``),
            as httpx does by default; the proxy is chosen once, for the base URL, when the
            client is built, and a SOCKS one is refused then.
        verify: TLS verification: True, False, a CA bundle path or an ``ssl.SSLContext``.
    """

    timeout: float | httpx.Timeout = 10.0
    proxy: str | None = attrs.field(default=None, repr=shown)
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
    """A proxy URL (http or https), else InvalidRequest without its password."""
    if not isinstance(proxy, str):
        raise InvalidRequest(f"proxy must be a URL string, not {type(proxy).__name__}")
    try:
        url = httpx.URL(proxy)
    except httpx.InvalidURL:
        raise InvalidRequest(f"proxy {redacted(proxy)!r} is not a valid URL") from None
    if not url.host:
        raise InvalidRequest(f"proxy {redacted(proxy)!r} has no host")
    return _proxy.check(proxy)

"""The TLS context a client's transports get: loading the CA bundle costs 15-20 ms,
as much as a dozen cancels, so it is done once per process, and not at all for a
client that cannot open a TLS connection.

httpx (and httpx-aiohttp) build a new context, the bundle loaded, for every client
that leaves ``verify=True``, even one whose every request goes to ``http://``: the
sandbox, a local gateway. Here:

- a ``verify`` the caller chose (False, a CA path, an ``ssl.SSLContext``) is theirs;
- a client whose base URL and every proxy it may use are ``http://`` gets a context
  with verification on and no CA at all, never used: were a TLS connection opened
  through it after all, its handshake would fail (closed, not open);
- every other client shares one context made as httpx makes it (``SSL_CERT_FILE`` and
  ``SSL_CERT_DIR`` read when ``trust_env``), one per such setting. A context is meant
  to be shared; our clients all speak HTTP/1.1, so the ALPN httpcore sets on it per
  connection is the same for all of them.
"""

from __future__ import annotations

import os
import ssl
import threading
from urllib.request import getproxies

import httpx

_LOCK = threading.Lock()
# Held across fork(): a child never inherits it held by a thread it does not have
# (clients are renewed in the child, and make their context here).
os.register_at_fork(
    before=_LOCK.acquire, after_in_parent=_LOCK.release, after_in_child=_LOCK.release
)
_SHARED: dict[tuple[bool, str | None, str | None], ssl.SSLContext] = {}


def _plain(url: str | None) -> bool:
    return url is None or url.lower().startswith("http://")


def _may_use_tls(base_url: str, proxy: str | None, trust_env: bool) -> bool:
    if not _plain(base_url) or not _plain(proxy):
        return True
    if proxy is None and trust_env:
        # As httpx reads the environment: a proxy without a scheme is http://.
        return any("://" in url and not _plain(url) for url in getproxies().values() if url)
    return False


def context(
    verify: bool | str | ssl.SSLContext, base_url: str, proxy: str | None, trust_env: bool
) -> bool | str | ssl.SSLContext:
    """What to hand httpx as ``verify`` for a client of ``base_url``."""
    if verify is not True:
        return verify
    if not _may_use_tls(base_url, proxy, trust_env):
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies; trusts no CA
    key = (
        trust_env,
        os.environ.get("SSL_CERT_FILE") if trust_env else None,
        os.environ.get("SSL_CERT_DIR") if trust_env else None,
    )
    with _LOCK:
        shared = _SHARED.get(key)
        if shared is None:
            shared = _SHARED[key] = httpx.create_ssl_context(True, trust_env=trust_env)
    return shared

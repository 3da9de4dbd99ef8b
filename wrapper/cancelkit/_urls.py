"""Base URLs: checked once at construction, shown without user info, sent without it."""

from __future__ import annotations

import httpx

from ._exceptions import InvalidRequest


def redacted(url: str) -> str:
    """``url`` without its userinfo (``user:password@``), for reprs, messages and logs.

    Everything up to the last ``@`` goes, even past a ``/``: a password may hold a
    ``/`` (which no parser reads as userinfo) and must never be shown.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    if "@" in rest:
        return f"{scheme}{sep}***@{rest.rpartition('@')[2]}"
    return url


def check_base_url(base_url: object) -> str:
    """An http(s) URL with a host and a valid port, and no query or fragment; returned
    without user info (which cancelkit never sends: requests are authenticated by
    their signature), so that neither httpx nor its log ever sees a password.
    Otherwise :class:`InvalidRequest`, without the password.

    A query or fragment would be pasted in front of every endpoint's path
    (``/?x=1/v1/order/...``), and a URL without a host has nowhere to go.
    """
    if not isinstance(base_url, str):
        raise InvalidRequest(f"base_url must be a string, not {type(base_url).__name__}")
    shown = redacted(base_url)
    scheme, sep, rest = base_url.partition("://")
    if sep and "@" in rest:
        base_url = f"{scheme}{sep}{rest.rpartition('@')[2]}"
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL:
        # httpx's message may quote the URL: only the redacted form is shown.
        raise InvalidRequest(f"base_url {shown!r} is not a valid URL") from None
    if url.scheme not in ("http", "https"):  # httpx lower-cases the scheme
        raise InvalidRequest(f"base_url must be an http(s) URL, got {shown!r}")
    if not url.host:
        raise InvalidRequest(f"base_url {shown!r} has no host")
    if url.port is not None and not 0 < url.port <= 65535:
        raise InvalidRequest(f"base_url {shown!r} has port {url.port}, outside 1-65535")
    if url.query or "?" in base_url:
        raise InvalidRequest(f"base_url {shown!r} has a query; give the API root only")
    if url.fragment or "#" in base_url:
        raise InvalidRequest(f"base_url {shown!r} has a fragment; give the API root only")
    return base_url

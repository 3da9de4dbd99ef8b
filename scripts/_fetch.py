"""Fetch one documentation page, bounded in time, size and where it may lead.

httpx's timeouts are per operation: a server that sends one byte a second never
trips them (a ``--timeout 2`` fetch was held 19 s). Here the whole fetch, headers
and redirects included, runs against one deadline in a worker thread that the
caller stops waiting for; the body is read in chunks up to :data:`MAX_PAGE_BYTES`;
redirects are followed by hand, only on the same host and never from https to
http; the body must be UTF-8 (no silent U+FFFD).
"""

from __future__ import annotations

import threading
import time
from urllib.parse import urljoin

import attrs
import httpx

MAX_PAGE_BYTES = 2_000_000
MAX_REDIRECTS = 5


class FetchError(Exception):
    """The page could not be had within the limits; the message names it."""


@attrs.frozen
class Page:
    """A fetched page: its text and the URL it was finally read from."""

    text: str
    final_url: str


def _get(url: str, deadline: float, transport: httpx.BaseTransport | None = None) -> Page:
    location = url
    # identity: a compressed body could expand past any cap before it is counted.
    headers = {"Accept-Encoding": "identity"}
    client = httpx.Client(
        follow_redirects=False, trust_env=False, headers=headers, transport=transport
    )
    with client:
        for _ in range(MAX_REDIRECTS + 1):
            remaining = max(deadline - time.monotonic(), 0.001)
            with client.stream("GET", location, timeout=remaining) as response:
                if response.is_redirect:
                    target = httpx.URL(urljoin(location, response.headers["location"]))
                    here = httpx.URL(location)
                    if target.host != here.host:
                        raise FetchError(f"{url}: redirected to another host ({target})")
                    if here.scheme == "https" and target.scheme != "https":
                        raise FetchError(f"{url}: redirected from https to {target.scheme}")
                    if target.scheme not in ("http", "https"):
                        raise FetchError(f"{url}: redirected to a {target.scheme} URL")
                    location = str(target)
                    continue
                response.raise_for_status()
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > MAX_PAGE_BYTES:
                    raise FetchError(f"{url}: {declared} bytes; the limit is {MAX_PAGE_BYTES}")
                body = bytearray()
                for chunk in response.iter_raw():
                    body += chunk
                    if len(body) > MAX_PAGE_BYTES:
                        raise FetchError(f"{url}: larger than {MAX_PAGE_BYTES} bytes")
                    if time.monotonic() > deadline:
                        raise FetchError(f"{url}: not read within the deadline")
                encoding = response.headers.get("content-encoding", "identity").lower()
                if encoding not in ("identity", ""):
                    raise FetchError(f"{url}: content-encoding {encoding!r} is not accepted")
                try:
                    return Page(bytes(body).decode("utf-8", errors="strict"), location)
                except UnicodeDecodeError as exc:
                    raise FetchError(f"{url}: the page is not UTF-8 ({exc})") from None
        raise FetchError(f"{url}: more than {MAX_REDIRECTS} redirects")


def fetch(url: str, timeout: float) -> Page:
    """The page at ``url`` (http or https), read completely within ``timeout`` seconds."""
    if not url.startswith(("http://", "https://")):
        raise FetchError(f"{url}: only http(s) pages are fetched")
    deadline = time.monotonic() + timeout
    result: list[Page | BaseException] = []

    def work() -> None:
        try:
            result.append(_get(url, deadline))
        except BaseException as exc:  # handed to the caller's thread
            result.append(exc)

    # A daemon thread: if the server holds the connection past the deadline, the
    # caller moves on (and the process can exit) without waiting for it.
    worker = threading.Thread(target=work, name=f"fetch {url}", daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    if not result:
        raise FetchError(f"{url}: not fetched within {timeout:g} s")
    outcome = result[0]
    if isinstance(outcome, FetchError):
        raise outcome
    if isinstance(outcome, httpx.HTTPError):
        raise FetchError(f"{url}: cannot fetch the page ({outcome})") from None
    if isinstance(outcome, BaseException):
        raise FetchError(f"{url}: cannot fetch the page ({type(outcome).__name__}: {outcome})")
    return outcome

"""Requests as they go on the wire, built from the generated request builders'
keyword dicts without an ``httpx.Request``: the bytes that are signed are the bytes
that are sent.

Everything that is the same for every request of a client (the origin, the base
path, the fixed headers) is worked out once, in :class:`Wire`; per request only the
target, the body and the signature are made.
"""

from __future__ import annotations

import json
import re
from typing import Any, Protocol

import httpx

# What a target may hold as it is (RFC 3986 pchar, "/" and "%"): the generated
# builders percent-encode every path parameter (quote(safe="")), so their paths
# are made of these. Anything else goes through httpx's own encoding.
_PLAIN_PATH = re.compile(r"[A-Za-z0-9\-._~%!$&'()*+,;=:@/]*")
# The keys of a generated request dict the wire path knows; any other (content,
# files, cookies...) goes through httpx.
_KNOWN_KEYS = frozenset(("method", "url", "params", "json", "headers", "auth"))
_UNSET = object()
_EMPTY_BODY_LENGTH = ("POST", "PUT", "PATCH")  # as httpx sends Content-Length: 0
# httpx's JSON encoding, so that either path sends the same bytes; one encoder for
# all (json.dumps with these options builds a new one on every call).
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
# The string escaping that encoder uses (ensure_ascii=False: the C one when present).
_QUOTE = json.encoder.encode_basestring


def _json(data: Any) -> bytes:
    """``data`` as httpx encodes it; a flat object of strings (a cancel's body) is
    joined here, the same bytes for a third of the encoder's set-up cost."""
    if type(data) is dict:
        parts: list[str] = []
        for key, value in data.items():
            if type(key) is not str or type(value) is not str:
                break
            parts.append(_QUOTE(key) + ":" + _QUOTE(value))
        else:
            return ("{" + ",".join(parts) + "}").encode("utf-8")
    return _ENCODE(data).encode("utf-8")


class Signer(Protocol):
    """A venue's signing (``_auth``): the signature headers of a request line and body."""

    def signed(self, method: str, target: str, body: bytes) -> list[tuple[str, str]]:
        """The signature headers."""
        ...

    def observe(self, date: str | None) -> None:
        """Learn the server's clock from an answer's ``Date``."""
        ...


class Prepared:
    """One request, ready to sign and send: method, target (path and query as on the
    request line, percent-encoded), body bytes and the unsigned headers."""

    __slots__ = ("body", "headers", "method", "signer", "target")

    def __init__(
        self,
        method: str,
        target: str,
        body: bytes,
        headers: list[tuple[str, str]],
        signer: Signer | None,
    ) -> None:
        self.method = method
        self.target = target
        self.body = body
        self.headers = headers
        self.signer = signer

    @property
    def what(self) -> str:
        """``METHOD /path`` for errors (made only when one is raised)."""
        return f"{self.method} {self.target.partition('?')[0]}"

    def wire_headers(self) -> list[tuple[str, str]]:
        """The headers of one attempt: signed now (each attempt with the clock as
        learned so far), over exactly ``target`` and ``body``."""
        if self.signer is None:
            return self.headers
        return self.headers + self.signer.signed(self.method, self.target, self.body)


class Wire:
    """A client's fixed request parts, from its base URL (checked, without user
    info) and its default headers; :meth:`prepare` makes each request."""

    def __init__(self, base_url: str, headers: dict[str, str], signer: Signer) -> None:
        url = httpx.URL(base_url)
        self.scheme = url.raw_scheme
        self.host = url.raw_host
        self.port = url.port
        self.origin = f"{url.scheme}://{url.netloc.decode('ascii')}"
        # httpx's merge: the base path with one trailing slash, then the relative
        # path without its leading one.
        base_path = url.raw_path.decode("ascii")
        self.base_path = base_path if base_path.endswith("/") else base_path + "/"
        self.signer = signer
        # The headers httpx would send, in its order (Host first).
        fixed = {
            "Host": url.netloc.decode("ascii"),
            "Accept": "*/*",
            "Accept-Encoding": "gzip, deflate",  # only what _bounded decodes
            "Connection": "keep-alive",
            "User-Agent": f"python-httpx/{httpx.__version__}",
        }
        fixed.update(headers)
        self._fixed = list(fixed.items())
        self._fixed_names = {name.lower() for name in fixed}

    def prepare(self, request: dict[str, Any]) -> Prepared | None:
        """``request`` (a generated ``_get_kwargs`` dict) for the wire; None if it
        has anything the wire path does not know (httpx sends it then)."""
        if not _KNOWN_KEYS.issuperset(request):
            return None
        auth = request.get("auth", _UNSET)
        if auth is _UNSET:
            signer: Signer | None = self.signer
        elif auth is None:
            signer = None
        else:
            return None  # another auth than the client's: httpx runs its flow
        method = str(request["method"]).upper()
        # The request line's target (inline, as every step here: a call per step cost
        # more than the step).
        path = str(request["url"])
        if not _PLAIN_PATH.fullmatch(path):
            path = httpx.URL(path).raw_path.decode("ascii")
        target = self.base_path + path.lstrip("/")
        params = request.get("params")
        if params:
            # Parameters that encode to nothing (an empty list) make no "?": yarl and
            # the exchange drop an empty query, and the signature must be over what
            # is sent.
            query = str(httpx.QueryParams(params))
            if query:
                target += "?" + query
        data = request.get("json")
        body = b"" if data is None else _json(data)
        extra: dict[str, Any] = request.get("headers") or {}
        headers = self._fixed
        length = bool(body) or method in _EMPTY_BODY_LENGTH
        if extra or length:
            # As httpx merges them: the fixed headers less those the request's own
            # replace, Content-Length, then the request's own.
            fixed = self._fixed
            names = {name.lower() for name in extra}
            if names & self._fixed_names:
                fixed = [(k, v) for k, v in fixed if k.lower() not in names]
            sized = [("Content-Length", str(len(body)))] if length else []
            headers = [*fixed, *sized, *((str(k), str(v)) for k, v in extra.items())]
        return Prepared(method, target, body, headers, signer)

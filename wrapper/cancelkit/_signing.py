"""What every venue's signing shares: base64 secrets, header values, the wire path,
and the auth flow around a venue's ``signed`` headers."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Generator

import httpx

from ._clock import RESIGN_SKEW, Clock
from ._exceptions import InvalidRequest

# Called with every signature computed in this process, before it is used: the test
# suite's secret scan registers here (it must see them all); empty otherwise.
on_signature: list[Callable[[str], None]] = []


def reported(signature: str) -> str:
    """``signature``, once every :data:`on_signature` hook has seen it (each venue's
    ``sign`` returns through here, whichever send path asked)."""
    for hook in on_signature:
        hook(signature)
    return signature


def b64decode(value: object, what: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"{what} must be a non-empty base64 string")
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        # `from None`: the decoder's context is no business of a traceback reader.
        raise InvalidRequest(f"{what} is not valid base64") from None


def header_value(value: object, what: str) -> str:
    if not isinstance(value, str) or not value or not value.isascii() or not value.isprintable():
        raise InvalidRequest(f"{what} must be a non-empty printable ASCII string")
    if value != value.strip():
        raise InvalidRequest(f"{what} has leading or trailing whitespace")
    return value


def wire_path(request: httpx.Request) -> str:
    # raw_path is exactly what goes on the request line: percent-encoded, with query.
    return request.url.raw_path.decode("ascii")


class SigningAuth(httpx.Auth):
    """A venue's signing: :meth:`signed` gives the signature headers of a request line
    and body; the httpx auth flow and the lean send path (``_wire``) both use it, so
    either way the bytes signed are the bytes sent. Each answer's ``Date`` teaches
    the clock."""

    requires_request_body = True
    _clock: Clock

    def signed(self, method: str, target: str, body: bytes) -> list[tuple[str, str]]:
        """The signature headers for ``method``, ``target`` (path and query as on the
        request line, percent-encoded) and the exact ``body`` bytes."""
        raise NotImplementedError

    def observe(self, date: str | None) -> None:
        """Learn the server's clock from an answer's ``Date`` header."""
        self._clock.observe(date)

    @property
    def offset(self) -> float:
        """Seconds the learned clock adds to the local one: what the next signature uses."""
        return self._clock.offset

    def resign(self, date: str | None, signed_offset: float) -> bool:
        """Learn from a 401's ``Date``; True when the clock has moved so far from
        ``signed_offset`` (the offset the refused request was signed with) that the
        refusal was likely our clock, and one re-signed attempt is worth it."""
        self.observe(date)
        return abs(self._clock.offset - signed_offset) > RESIGN_SKEW

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign the final request; learn the server's clock from the response."""
        for name, value in self.signed(request.method, wire_path(request), request.content):
            request.headers[name] = value
        response = yield request
        self.observe(response.headers.get("date"))

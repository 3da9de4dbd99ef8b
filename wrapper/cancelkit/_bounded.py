"""Answers read to a bound: no server, proxy or gzip bomb makes a client read without end.

httpx inflates a ``Content-Encoding: gzip`` answer with no limit: a 1 MB answer
that inflates to 1 GiB took ``cancelkit orders polymarket`` to 2.1 GB. The
transports cancelkit builds decode the answer here instead, with zlib's
``max_length`` so that no single step inflates more than the bound allows, and hand
httpx plain bytes (``Content-Encoding`` removed, so nothing is decoded twice).
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Protocol

import httpx

from ._exceptions import ResponseTooLarge

# The largest answer read, decoded: a listing of 100,000 orders is about 75 MB.
MAX_ANSWER = 128 * 1024 * 1024
_GZIP = zlib.MAX_WBITS | 16
_KNOWN = ("gzip", "x-gzip", "deflate", "identity", "")


class _Inflater:
    """Decodes one Content-Encoding and counts the bytes produced, to ``limit``."""

    def __init__(self, encoding: str, limit: int, what: str) -> None:
        self.encoding = encoding
        self.limit = limit
        self.what = what
        self.total = 0
        self._zlib: zlib._Decompress | None = None
        if encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(_GZIP)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj()
        self._raw_deflate_tried = False

    def _count(self, data: bytes) -> bytes:
        self.total += len(data)
        if self.total > self.limit:
            raise ResponseTooLarge(
                f"the answer to {self.what} is larger than {self.limit} bytes"
                f"{' once decoded' if self._zlib else ''}; not read further"
            )
        return data

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self.encoding not in _KNOWN:
            # We ask for gzip or deflate only; anything else is not decoded blind. Raised
            # while reading, so that httpx closes the connection as for any read error.
            raise httpx.DecodingError(
                f"{self.what} answered with Content-Encoding {self.encoding[:40]!r}"
            )
        if self._zlib is None:
            yield self._count(data)
            return
        while data:
            # Never more than one byte past the bound in one step.
            room = self.limit - self.total + 1
            try:
                out = self._zlib.decompress(data, room)
            except zlib.error as exc:
                if self.encoding == "deflate" and not self._raw_deflate_tried and not self.total:
                    # Some servers send raw deflate without the zlib header (as httpx allows).
                    self._raw_deflate_tried = True
                    self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise httpx.DecodingError(f"{self.encoding} answer does not decode: {exc}") from exc
            self._raw_deflate_tried = True
            yield self._count(out)
            data = self._zlib.unconsumed_tail
            if self._zlib.eof:
                return


class Named(Protocol):
    """What an answer answers, for errors (``_wire.Prepared``): made only if one is raised."""

    @property
    def what(self) -> str:
        """``METHOD /path``."""
        ...


_BODY_HEADERS = (b"content-encoding", b"content-length")


class Reader:
    """One answer's body, read to :data:`MAX_ANSWER` by a send path that reads the
    body itself (``_fastpath``): an unencoded answer whose ``Content-Length`` is past
    the bound is refused before a byte of it is read, an unencoded one is only
    counted, and only an encoded one is stream-decoded (:class:`_Inflater`).

    :func:`other_headers` are the answer's headers for the body handed on: it is
    decoded, so neither its encoding nor its length on the wire applies to it.
    """

    __slots__ = ("_about", "_encoding", "_inflater", "_limit", "date", "length", "plain")

    def __init__(self, raw_headers: Sequence[tuple[bytes, bytes]], about: Named) -> None:
        encodings: list[bytes] = []
        length: bytes | None = None
        date: bytes | None = None  # for the clock, without a header lookup
        for name, value in raw_headers:
            lower = name.lower()
            if lower == b"content-encoding":
                encodings.append(value)
            elif lower == b"content-length":
                length = value
            elif lower == b"date":
                date = value
        self.date = None if date is None else date.decode("latin-1")
        # As httpx joins repeated headers: "gzip, gzip" is not decoded blind.
        encoding = b", ".join(encodings).decode("latin-1").strip().lower() if encodings else ""
        limit = MAX_ANSWER
        self._about = about
        self._encoding = encoding
        self._limit = limit
        # Made on the first chunk fed: an answer read whole by its length needs none.
        self._inflater: _Inflater | None = None
        self.plain = encoding in ("", "identity")
        self.length = int(length) if length is not None and length.isdigit() else None
        if self.plain and self.length is not None and self.length > limit:
            raise ResponseTooLarge(
                f"the answer to {about.what} is larger than {limit} bytes"
                f" (Content-Length {self.length}); not read"
            )

    def feed(self, chunk: bytes) -> Iterator[bytes]:
        """``chunk`` of the body as read, decoded and counted against the bound."""
        inflater = self._inflater
        if inflater is None:
            inflater = self._inflater = _Inflater(self._encoding, self._limit, self._about.what)
        return inflater.feed(chunk)


def other_headers(raw_headers: Sequence[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """An answer's headers but its encoding and length, for its body as a
    :class:`Reader` hands it on (decoded)."""
    return [(name, value) for name, value in raw_headers if name.lower() not in _BODY_HEADERS]


def header_values(raw_headers: Sequence[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    """The values of header ``name`` (lower case) among :func:`other_headers`."""
    if name in _BODY_HEADERS:
        return []
    return [value for key, value in raw_headers if key.lower() == name]


class _SyncBody(httpx.SyncByteStream):
    def __init__(self, raw: httpx.SyncByteStream, inflater: _Inflater) -> None:
        self._raw = raw
        self._inflater = inflater

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._raw:
            yield from self._inflater.feed(chunk)

    def close(self) -> None:
        self._raw.close()


class _AsyncBody(httpx.AsyncByteStream):
    def __init__(self, raw: httpx.AsyncByteStream, inflater: _Inflater) -> None:
        self._raw = raw
        self._inflater = inflater

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._raw:
            for out in self._inflater.feed(chunk):
                yield out

    async def aclose(self) -> None:
        await self._raw.aclose()


def bounded(
    request: httpx.Request, response: httpx.Response, limit: int | None = None
) -> httpx.Response:
    """The answer to ``request``, its body decoded here and read to ``limit`` bytes at
    most (:data:`MAX_ANSWER` by default): past it, :class:`ResponseTooLarge`."""
    what = f"{request.method} {request.url.path}"
    encoding = response.headers.get("content-encoding", "").strip().lower()
    inflater = _Inflater(encoding, MAX_ANSWER if limit is None else limit, what)
    headers = httpx.Headers(
        [
            (k, v)
            for k, v in response.headers.multi_items()
            if k.lower() not in ("content-encoding", "content-length")
        ]
    )
    stream: httpx.SyncByteStream | httpx.AsyncByteStream
    if isinstance(response.stream, httpx.AsyncByteStream):
        stream = _AsyncBody(response.stream, inflater)
    else:
        assert isinstance(response.stream, httpx.SyncByteStream)
        stream = _SyncBody(response.stream, inflater)
    return httpx.Response(
        response.status_code,
        headers=headers,
        stream=stream,
        request=request,
        extensions=response.extensions,
    )


def accept_encoding(request: httpx.Request) -> None:
    """Ask only for the encodings :func:`bounded` decodes."""
    request.headers["Accept-Encoding"] = "gzip, deflate"


class Bounded(httpx.BaseTransport):
    """Any sync transport, its answers read to a bound (see :func:`bounded`)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the wrapped transport; the answer's body is
        decoded here, bounded."""
        accept_encoding(request)
        return bounded(request, self._inner.handle_request(request))

    def close(self) -> None:
        """Close the wrapped transport."""
        self._inner.close()

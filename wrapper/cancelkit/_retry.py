"""When to retry a cancel, how long to wait, and which error to raise at the end.

Repeating a cancel is safe, so connection errors, timeouts, 429 and 5xx are
retried. The decisions live here once; the sync and async clients only loop.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import random
import re
import secrets
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import attrs
import httpx

from ._clock import RESIGN_SKEW, Clock
from ._exceptions import (
    MAX_BODY,
    AuthenticationError,
    BadRequest,
    CancelKitError,
    NetworkError,
    OrderNotFound,
    OrderNotOpen,
    RateLimited,
    ServerError,
    UnexpectedResponse,
    WrongEndpoint,
)
from ._urls import redacted

logger = logging.getLogger("cancelkit")

_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-amzn-requestid", "x-correlation-id")
_NOT_OPEN = re.compile(r"cannot be cancel", re.IGNORECASE)


# A request's correlation id: this process's random prefix and a count. Neither
# exchange documents a request id header a client may send, so it is not sent: it
# ties an error to its attempts' log lines and to the journal. A count, not a
# random id per request: a few hundred nanoseconds of the lean path, not a syscall.
_ids = itertools.count(1)
_prefix = secrets.token_hex(4)


def _new_prefix() -> None:
    global _ids, _prefix
    _ids, _prefix = itertools.count(1), secrets.token_hex(4)


os.register_at_fork(after_in_child=_new_prefix)  # a forked child's ids are its own


def correlation_id() -> str:
    """A new id for one request, unique to this process (``3f9a1c2e-17``)."""
    return f"{_prefix}-{next(_ids)}"


@attrs.frozen
class RetryPolicy:
    """Retry limits: exponential backoff with jitter, ``Retry-After`` honoured up to a cap."""

    max_retries: int = 3
    base_delay: float = 0.25
    max_delay: float = 8.0
    max_retry_after: float = 60.0

    def backoff(self, retry: int) -> float:
        """Delay before retry number ``retry`` (1-based): capped doubling, minus up to 25 %."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (retry - 1))
        return ceiling * (1.0 - 0.25 * random.random())  # noqa: S311 (jitter, not crypto)


_M = TypeVar("_M")
_DECODE = json.JSONDecoder().decode  # what json.loads(text) calls


def json_of(content: bytes) -> Any:
    """``json.loads(content)``: an object's UTF-8 (its first byte ``{``, its second
    not NUL, which is what ``json.detect_encoding`` reads as UTF-8) is decoded here,
    as ``json.loads`` would, without working out its encoding in Python first."""
    if content[:1] == b"{" and content[1:2] != b"\x00":
        return _DECODE(content.decode("utf-8", "surrogatepass"))
    return json.loads(content)


def parse_answer(response: httpx.Response, model: Callable[[dict[str, Any]], _M], what: str) -> _M:
    """A 2xx answer's JSON body as the generated ``model``; a body without the spec's
    shape is :class:`UnexpectedResponse`, never a half-read success."""
    try:
        return model(json_of(response.content))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise UnexpectedResponse(
            f"{what} answered {response.status_code} with a body that is not the spec's"
            f" shape ({type(exc).__name__}: {exc})",
            status=response.status_code,
        ) from None


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def server_message(response: httpx.Response) -> str:
    """The server's error message: ``message`` (NestJS lists joined), else the body text."""
    try:
        data = json.loads(response.content)
    except ValueError:
        data = None
    if isinstance(data, dict):
        message = data.get("message", data.get("error"))
        if isinstance(message, list):
            return "; ".join(str(m) for m in message)
        if message is not None:
            return str(message)
    text = response.text.strip()
    return text[:500] if text else (response.reason_phrase or f"HTTP {response.status_code}")


def _from_endpoint(response: httpx.Response) -> bool:
    """Whether a 404 is the endpoint's word about an order rather than a route miss.

    A route miss is an HTML or text page (a proxy, a wrong host) or the framework's
    own JSON ("Cannot POST /api/orders/cancel" from NestJS, "Not Found" from a
    gateway): only a JSON object with another message is taken as the endpoint's.
    """
    try:
        data = json.loads(response.content)
    except ValueError:
        return False
    message = data.get("message") if isinstance(data, dict) else None
    if isinstance(message, list):  # NestJS lists validation messages
        message = "; ".join(str(m) for m in message)
    return (
        isinstance(message, str)
        and not message.startswith("Cannot ")
        and message.strip().lower() not in ("not found", "")
    )


def _body_text(response: httpx.Response) -> str | None:
    """The start of a read response body as text, for an error; None if unread."""
    try:
        content = response.content
    except httpx.ResponseNotRead:
        return None
    return content[:MAX_BODY].decode("utf-8", "replace")


def _request_id(response: httpx.Response) -> str | None:
    for name in _REQUEST_ID_HEADERS:
        if name in response.headers:
            return response.headers[name]
    return None


class Attempts:
    """The attempts of one cancel call: each outcome in, a decision out."""

    __slots__ = (
        "_clock_retried",
        "_offset",
        "_started",
        "ambiguous",
        "clock",
        "correlation_id",
        "count",
        "deadline",
        "method",
        "not_open_status",
        "order",
        "path",
        "policy",
        "retries",
    )

    def __init__(
        self,
        policy: RetryPolicy,
        clock: Clock,
        method: str,
        path: str,
        *,
        not_open_status: int | None = None,
        deadline: float | None = None,
        order: str | None = None,
    ) -> None:
        # not_open_status: the status a venue documents for "order cannot be
        # cancelled" (Limitless: 400). After an attempt that may have cancelled the
        # order unseen, that answer means the order is gone, not a bad request.
        # deadline (time.monotonic()): retry until then instead of max_retries times,
        # as a kill switch must; backoff stays capped so that retries keep coming.
        self.not_open_status = not_open_status
        self.deadline = deadline
        self.policy = policy
        self.clock = clock
        self.method = method.upper()
        self.path = path
        self.order = order  # named in log lines and errors
        self.correlation_id = correlation_id()  # in log lines, errors and the journal
        self.count = 0
        self.retries = 0
        self.ambiguous = False  # an attempt may have reached the exchange unanswered
        self._clock_retried = False
        self._offset = 0.0
        self._started = 0.0

    def begin(self) -> None:
        """Call before sending each attempt."""
        self.count += 1
        self._offset = self.clock.offset
        self._started = time.perf_counter()

    def _log(self, status: object) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            elapsed = (time.perf_counter() - self._started) * 1000
            logger.debug(
                "%s %s%s -> %s (attempt %d, id %s, %.1f ms)",
                self.method,
                self.path,
                "" if self.order is None or self.order in self.path else f" [order {self.order}]",
                status,
                self.count,
                self.correlation_id,
                elapsed,
            )

    def _retry(self, delay: float) -> float | None:
        if self.deadline is not None:
            if time.monotonic() + delay >= self.deadline:
                return None
        elif self.retries >= self.policy.max_retries:
            return None
        self.retries += 1
        return delay

    def delay(self, outcome: httpx.Response | httpx.TransportError) -> float | None:
        """Seconds to wait before the next attempt, or None when this outcome is final."""
        if isinstance(outcome, httpx.TransportError):
            self._log(type(outcome).__name__)
            # A failed connect never sent the request; anything later may have landed.
            self.ambiguous = self.ambiguous or not isinstance(
                outcome, httpx.ConnectError | httpx.ConnectTimeout
            )
            return self._retry(self.policy.backoff(self.retries + 1))
        status = outcome.status_code
        self._log(status)
        if status < 400:
            return None
        if status == 401 and not self._clock_retried:
            # The auth flow has just learned the server's time from this 401's Date.
            if abs(self.clock.offset - self._offset) > RESIGN_SKEW:
                self._clock_retried = True
                return 0.0
            return None
        if status == 429 or status >= 500:
            self.ambiguous = self.ambiguous or status >= 500
            wait = retry_after(outcome)
            if wait is None:
                return self._retry(self.policy.backoff(self.retries + 1))
            if wait > self.policy.max_retry_after:
                return None
            return self._retry(wait)
        return None

    def final(self, outcome: httpx.Response | httpx.TransportError) -> httpx.Response:
        """The response of a successful (2xx) final outcome; otherwise raise its error,
        with the transport error chained as its cause."""
        if isinstance(outcome, httpx.Response) and 200 <= outcome.status_code < 300:
            return outcome
        error = self.error(outcome)
        raise error from (outcome if isinstance(outcome, Exception) else None)

    def context(self, response: httpx.Response | None = None) -> dict[str, Any]:
        """What every error about this request carries."""
        details: dict[str, Any] = {
            "attempts": self.count,
            "method": self.method,
            "path": self.path,
            "order": self.order,
            "may_have_landed": self.ambiguous,
            "correlation_id": self.correlation_id,
        }
        if response is not None:
            details["status"] = response.status_code
            details["request_id"] = _request_id(response)
            details["body"] = _body_text(response)
        return details

    def undecodable(self, exc: httpx.HTTPError) -> UnexpectedResponse:
        """The error for an answer whose body could not be read or decoded (a body
        that says gzip and is not): it came from somewhere, so the request may have
        landed."""
        self.ambiguous = True
        return UnexpectedResponse(
            f"{self.method} {self.path}: the answer could not be decoded"
            f" ({type(exc).__name__}: {exc})",
            **self.context(),
        )

    def error(self, outcome: httpx.Response | httpx.TransportError) -> CancelKitError:
        """The error for a final failed outcome."""
        if isinstance(outcome, httpx.TransportError):
            return NetworkError(
                f"{self.method} {self.path} failed: {type(outcome).__name__}: {outcome}",
                **self.context(),
            )
        status = outcome.status_code
        context = self.context(outcome)
        if status < 400:
            # Redirects are never followed for a signed request (the signature covers
            # the path, and a Location may point anywhere), and never mean success.
            location = redacted(outcome.headers.get("location", ""))[:200]
            return WrongEndpoint(
                f"{self.method} {self.path} answered {status}"
                + (f" (redirect to {location!r})" if location else "")
                + ", not the exchange's answer: redirects are not followed for signed"
                " requests; is the base URL right (https)?",
                **context,
            )
        message = server_message(outcome)
        if status == 429:
            return RateLimited(message, retry_after=retry_after(outcome), **context)
        if status == self.not_open_status and _NOT_OPEN.search(message):
            # The venue's "cannot be cancelled" for an input validated before sending
            # (after an unanswered attempt, perhaps because that attempt cancelled it).
            # Only when it says so: the same status also means "invalid input", and
            # an order refused for that may well be open.
            note = " (an earlier attempt may have cancelled it unseen)" if self.ambiguous else ""
            return OrderNotOpen(message + note, **context)
        if status in (401, 403):
            kind: type[CancelKitError] = AuthenticationError
        elif status == 404 and not _from_endpoint(outcome):
            return WrongEndpoint(
                f"{self.method} {self.path} answered 404 {message[:200]!r}, which is not the"
                " exchange's answer about an order: is the base URL right?",
                **context,
            )
        elif status == 404:
            kind = OrderNotFound
        elif 400 <= status < 500:
            kind = BadRequest
        else:
            return ServerError(message, retry_after=retry_after(outcome), **context)
        return kind(message, **context)

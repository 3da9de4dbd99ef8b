"""One exception hierarchy for every failure a cancel can meet.

::

    CancelKitError                 every error cancelkit raises
    ├── InvalidRequest (ValueError) refused before any request was sent
    ├── BadRequest                 HTTP 400 the exchange gave for this request
    ├── AuthenticationError        HTTP 401/403
    ├── OrderNotFound              the exchange knows no such order for this key
    ├── OrderNotOpen               the order exists and is not open (``state`` says why)
    ├── WrongEndpoint              not the exchange's answer: redirect, route miss, HTML page
    ├── UnexpectedResponse         an answer without the spec's shape, or undecodable
    ├── RateLimited                HTTP 429 after the last retry (retryable)
    ├── ServerError                HTTP 5xx after the last retry (retryable)
    ├── NetworkError               no answer: connect failed, timed out, dropped (retryable)
    │   └── ResponseTooLarge       an answer larger than cancelkit reads
    ├── DeadlinePassed             not sent: a deadline passed before it could leave
    └── OnResultFailed             a bulk run's on_result raised: the run stopped
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

MAX_BODY = 2000
"""Characters of a response body an error keeps (the rest is cut)."""


# Called with every CancelKitError built in this process: the test suite's secret
# scan registers here (no error's text may hold a secret); empty otherwise.
on_error: list[Callable[[CancelKitError], None]] = []


def _restore(cls: type[CancelKitError], state: dict[str, Any]) -> CancelKitError:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("message", ""))
    error.__dict__.update(state)
    for hook in on_error:  # an unpickled error is one built here too
        hook(error)
    return error


class CancelKitError(Exception):
    """Base of every error cancelkit raises.

    Attributes:
        message: what went wrong; for HTTP errors, the exchange's own message.
        status: the HTTP status of the last response, or None if there was none.
        request_id: the exchange's request id header of the last response, if it sent one.
        correlation_id: cancelkit's own id of the request (neither exchange documents a
            request id header a client may send): in the debug log line of every
            attempt and in the CLI's journal, so that an error, its log lines and its
            record can be found together. None for refusals before any request.
        attempts: how many requests were sent (0 for refusals before any I/O).
        method: the HTTP method of the request (``POST``), if one was made.
        path: the request's path and query, with the order id where the path has one.
        order: the order the call was about (its id, or ``client_order_id=...``), if any.
        body: the start of the response body (at most :data:`MAX_BODY` characters).
        may_have_landed: True when a request may have reached the exchange without an
            answer saying what it did (a dropped connection, a timeout after sending, a
            5xx): the order may already be cancelled.
        retryable: True when the same call, made again later, may succeed (429, 5xx,
            network failures); False when repeating it would repeat the answer.

    ``str(e)`` names the order and the request. Never carries a secret, a signature
    or request headers.
    """

    _retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        attempts: int = 0,
        method: str | None = None,
        path: str | None = None,
        order: str | None = None,
        body: str | None = None,
        may_have_landed: bool = False,
        retryable: bool | None = None,
        correlation_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.request_id = request_id
        self.correlation_id = correlation_id
        self.attempts = attempts
        self.method = method
        self.path = path
        self.order = order
        self.body = None if body is None else body[:MAX_BODY]
        self.may_have_landed = may_have_landed
        self.retryable = type(self)._retryable if retryable is None else retryable
        for hook in on_error:
            hook(self)

    def context(self) -> dict[str, Any]:
        """The request details as keyword arguments, to raise another error about
        the same request."""
        return {
            "status": self.status,
            "request_id": self.request_id,
            "attempts": self.attempts,
            "method": self.method,
            "path": self.path,
            "order": self.order,
            "body": self.body,
            "may_have_landed": self.may_have_landed,
            "correlation_id": self.correlation_id,
        }

    def __str__(self) -> str:
        details = []
        if self.order is not None:
            details.append(f"order {self.order}")
        if self.method and self.path:
            details.append(f"{self.method} {self.path}")
        if self.status is not None:
            details.append(f"HTTP {self.status}")
        if self.request_id:
            details.append(f"request id {self.request_id}")
        if self.attempts:
            details.append(f"{self.attempts} attempt{'s' if self.attempts != 1 else ''}")
        if self.may_have_landed:
            details.append("may have landed")
        return f"{self.message} ({', '.join(details)})" if details else self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, order={self.order!r},"
            f" status={self.status!r}, request_id={self.request_id!r},"
            f" attempts={self.attempts!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only details survive pickling (a worker process, a task queue).
        return (_restore, (type(self), dict(self.__dict__)))


class InvalidRequest(CancelKitError, ValueError):
    """Refused on the client side, before any request was sent: a bad argument or
    setting, a closed client, an async client used from a second event loop."""


class BadRequest(CancelKitError):
    """HTTP 400: the exchange rejected the request."""


class AuthenticationError(CancelKitError):
    """HTTP 401/403: unknown key, bad signature, stale timestamp, or not the order's owner."""


class OrderNotFound(CancelKitError):
    """The exchange knows no such order for this key (HTTP 404, and on Polymarket a
    lookup that finds nothing either). ``missing_ok=True`` accepts it."""


class OrderNotOpen(CancelKitError):
    """The order exists and is not open, so it cannot be cancelled.

    Attributes:
        state: its final state as the exchange reports it: ``cancelled``, ``filled``,
            ``expired``, ``rejected``, ``replaced``, or None when the exchange did not
            say (Limitless's 400 "cannot be cancelled" names no state).

    ``missing_ok=True`` accepts only ``state == "cancelled"``: a filled order always
    raises, so a fill is never mistaken for a cancel.
    """

    def __init__(self, message: str, *, state: str | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.state = state


class WrongEndpoint(CancelKitError):
    """The answer did not come from the exchange's endpoint: a redirect (never followed
    for a signed request), a route-level 404, an HTML page, a proxy's answer. Check the
    base URL; a kill switch stops on it."""


class UnexpectedResponse(CancelKitError):
    """The exchange answered with a body that does not have the spec's shape, or one
    that could not be decoded (a broken gzip stream)."""


class RateLimited(CancelKitError):
    """HTTP 429 after the last retry.

    Attributes:
        retry_after: seconds the server asked to wait, if it said.
    """

    _retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.retry_after = retry_after


class ServerError(CancelKitError):
    """HTTP 5xx (or another unexpected status) after the last retry.

    Attributes:
        retry_after: seconds the server asked to wait (``Retry-After``), if it said.
    """

    _retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.retry_after = retry_after


class NetworkError(CancelKitError):
    """No answer: the connection failed, timed out or dropped on every attempt.

    ``may_have_landed`` tells a failed connect (never sent) from a later failure.
    """

    _retryable = True


class ResponseTooLarge(NetworkError):
    """An answer larger than cancelkit reads (a gzip bomb, a runaway proxy): not read
    further, not retried. The request may have taken effect."""

    _retryable = False


class DeadlinePassed(CancelKitError):
    """Not sent: a deadline passed before the request could leave (it never did).

    In a bulk run, the run's deadline (the order's outcome is ``not_sent``, with this
    error); for a single call made while a bulk run uses the same client, the wait
    for a slot in that run's rate limits, which is bounded by the call's timeout.
    Repeating the call later may succeed.
    """

    _retryable = True


class OnResultFailed(CancelKitError):
    """A bulk run's ``on_result`` callback raised: the run stopped as an interrupt
    stops it, and ``cancel_orders`` / ``cancel_all`` raise this at its end, with the
    callback's exception as ``__cause__``.

    Why stop rather than log and go on: ``on_result`` is where a program keeps its
    own record of what happened to its orders (a ledger, a risk system, a hedge). A
    run that went on past a failed record would cancel orders the program never
    hears of; one that raises at its end leaves no doubt, and the run's work is not
    lost: nothing new is sent once it fails (``Control.stop_reason`` is
    ``StopReason.CALLBACK``), what is in flight is answered and confirmed within the
    deadline and its grace, and every requested order's outcome is in ``results``
    (what was never sent is ``not_sent``: cancelling those again is safe). A program
    that prefers a run that goes on catches its own exceptions in the callback.

    The callback is not called again after it raised. On a sync client it runs on
    the client's ``cancelkit-bulk`` thread (the async run's), not the caller's: it
    must be quick, must not block, and must be safe to call from that thread.

    Attributes:
        results: one ``CancelResult`` per requested order, in input order, as
            ``cancel_orders`` would have returned them.
    """

    def __init__(self, message: str, *, results: list[Any] | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.results: list[Any] = [] if results is None else results


PUBLIC = (
    CancelKitError,
    InvalidRequest,
    BadRequest,
    AuthenticationError,
    OrderNotFound,
    OrderNotOpen,
    WrongEndpoint,
    UnexpectedResponse,
    RateLimited,
    ServerError,
    NetworkError,
    ResponseTooLarge,
    DeadlinePassed,
    OnResultFailed,
)
for _cls in PUBLIC:
    # Tracebacks and reprs show the name users import: cancelkit.OrderNotFound.
    _cls.__module__ = "cancelkit"

"""One exception hierarchy for every failure a cancel can meet."""

from __future__ import annotations


class CancelKitError(Exception):
    """Base of every error cancelkit raises.

    Attributes:
        message: what went wrong; for HTTP errors, the server's own message.
        status: the HTTP status of the last response, or None if there was none.
        request_id: the server's request id header of the last response, if any.
        attempts: how many requests were sent (0 for refusals before any I/O).

    Never carries a secret, a signature or request headers.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        attempts: int = 0,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.request_id = request_id
        self.attempts = attempts

    def __str__(self) -> str:
        details = []
        if self.status is not None:
            details.append(f"HTTP {self.status}")
        if self.request_id:
            details.append(f"request id {self.request_id}")
        if self.attempts:
            details.append(f"{self.attempts} attempt{'s' if self.attempts != 1 else ''}")
        return f"{self.message} ({', '.join(details)})" if details else self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, status={self.status!r},"
            f" request_id={self.request_id!r}, attempts={self.attempts!r})"
        )


class InvalidRequest(CancelKitError, ValueError):
    """Refused on the client side, before any request was sent."""


class BadRequest(CancelKitError):
    """HTTP 400: the exchange rejected the request (including an order it cannot cancel)."""


class AuthenticationError(CancelKitError):
    """HTTP 401: unknown key, bad signature, stale timestamp, or not the order's owner."""


class OrderNotFound(CancelKitError):
    """HTTP 404: the exchange knows no such order for this key."""


class OrderNotOpen(CancelKitError):
    """The exchange says the order exists and is not open (cancelled before, filled,
    expired; Limitless: a 400 "cannot be cancelled" for an input cancelkit validated)."""


class WrongEndpoint(CancelKitError):
    """The answer did not come from the exchange's endpoint: a route-level 404, an HTML
    page, a proxy's answer. Check the base URL; a kill switch stops on it."""


class UnexpectedResponse(CancelKitError):
    """The exchange answered with a body that does not have the spec's shape."""


class RateLimited(CancelKitError):
    """HTTP 429 after the last retry.

    Attributes:
        retry_after: seconds the server asked to wait, if it said.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        attempts: int = 0,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, request_id=request_id, attempts=attempts)
        self.retry_after = retry_after


class ServerError(CancelKitError):
    """HTTP 5xx (or another unexpected status) after the last retry."""


class NetworkError(CancelKitError):
    """The connection failed or timed out on every attempt."""


class ResponseTooLarge(NetworkError):
    """An answer larger than cancelkit reads (a gzip bomb, a runaway proxy): not read
    further, not retried. The request may have taken effect."""

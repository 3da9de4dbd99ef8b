"""Bulk cancel: outcomes that mean what they say, a run that can stop cleanly.

Every requested order ends as exactly one :data:`Outcome`, reported once, as
soon as it is known (``on_result``), and in input order at the end. An
``on_result`` that raises stops the run as an interrupt would, and the bulk call
raises :class:`OnResultFailed` at its end, every outcome in it (see there why). A run stops
taking new work when told (a signal, or a failure that retrying would only
repeat: a 401/403, a wrong endpoint); what was never sent is *not sent*, what
was in flight when it was aborted is *unknown*.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Generic, Literal, TypeVar

import anyio
import attrs

from ._exceptions import (
    AuthenticationError,
    CancelKitError,
    InvalidRequest,
    OnResultFailed,
    OrderNotFound,
    OrderNotOpen,
    UnexpectedResponse,
    WrongEndpoint,
)
from ._limiter import DeadlinePassed, Limiter

T = TypeVar("T")
logger = logging.getLogger("cancelkit")

Outcome = Literal[
    "cancelled", "filled", "not_open", "not_found", "not_listed", "failed", "not_sent", "unknown"
]
OUTCOMES: tuple[Outcome, ...] = (
    "cancelled",
    "filled",
    "not_open",
    "not_found",
    "not_listed",
    "failed",
    "not_sent",
    "unknown",
)
FINAL: frozenset[Outcome] = frozenset({"cancelled", "filled", "not_open"})
"""Outcomes after which the order is certainly not open (a resumed run verifies them)."""

DEFAULT_DEADLINE = 60.0
GRACE = 3.0
"""Seconds past the deadline (or a stop) by which a run is over: the first half for
answers in flight, the rest for one last confirmation (a listing, a lookup)."""


def _about_every_order(error: CancelKitError) -> bool:
    return False


# Set by a bulk run around one request: called once, right before its first attempt
# leaves the process (so "sent" is known exactly, and journaled before it happens).
_ON_SEND: ContextVar[Callable[[], None] | None] = ContextVar("cancelkit_on_send", default=None)
# The request sent before the run (``Presend``) that this flight carries, if any.
_PRESENT: ContextVar[Presend | None] = ContextVar("cancelkit_present", default=None)
# The Control of the run this task belongs to (for its counters), if any.
_CONTROL: ContextVar[Control | None] = ContextVar("cancelkit_control", default=None)


def current_run() -> Control | None:
    """The Control of the bulk run this task belongs to (see :func:`running`), if any."""
    return _CONTROL.get()


def about_to_send() -> None:
    """Called by the HTTP loop before a request's first attempt (see ``_ON_SEND``)."""
    hook = _ON_SEND.get()
    if hook is not None:
        _ON_SEND.set(None)  # once per request, not once per retry
        hook()


def answered(status: int, retry_after: float | None) -> None:
    """Called by the HTTP loop on every answer: counts 429s and pauses, and whether
    the key was accepted at least once (for the per-order 401 rule)."""
    control = _CONTROL.get()
    if control is None:
        return
    if status == 429:
        control.throttle(retry_after)
    elif status not in (401, 403):
        control.key_accepted = True


@attrs.define
class Presend:
    """A bulk run's first request, sent by its caller before the run began, and that
    attempt's outcome: the CLI sends a cold command's one cancel before it loads the
    event loop (``_cli._first``). The run's request for the same orders (``indices``)
    takes ``outcome`` as its first attempt's instead of sending again: retried,
    classified and confirmed as any attempt. It was counted and journaled as it left.
    """

    indices: frozenset[int]
    request: Mapping[str, Any]  # the generated request dict that was sent
    outcome: Any  # the attempt's httpx.Response, or its httpx.TransportError
    answered: float  # time.monotonic() when the attempt ended (a pace keeps its distance)
    taken: bool = False


def presented(request: Mapping[str, Any]) -> Presend | None:
    """The outcome of ``request`` sent before the run, if this flight carries it (once)."""
    present = _PRESENT.get()
    if present is None or present.taken or present.request != request:
        return None
    present.taken = True
    return present


@contextmanager
def sending(hook: Callable[[], None]) -> Iterator[None]:
    """Within this block, the next request's first attempt calls ``hook`` first."""
    token = _ON_SEND.set(hook)
    try:
        yield
    finally:
        _ON_SEND.reset(token)


class Unanswered(CancelKitError):
    """A request of a bulk run got no whole answer in time: the deadline (or the
    stop) plus its share of the grace passed, or the run was aborted. It may have
    been sent; a listing or lookup that ends so has said nothing."""


class StopReason(enum.Enum):
    """Why a bulk cancel stopped before its deadline (:attr:`Control.stop_reason`)."""

    STOPPED = "stopped"
    """:meth:`Control.stop` was called (by the caller)."""
    INTERRUPTED = "interrupted"
    """A signal (the CLI's SIGINT, SIGTERM, SIGHUP)."""
    ABORTED = "aborted"
    """:meth:`Control.abort`: what was in flight was cancelled too."""
    FAILED = "failed"
    """A failure every other order would meet too (a 401/403, a wrong endpoint)."""
    CALLBACK = "callback"
    """The caller's ``on_result`` raised: the bulk call raises :class:`OnResultFailed`
    at the end."""


@contextmanager
def running(control: Control) -> Iterator[Control]:
    """The block in which a bulk run's requests count against ``control`` (429s,
    pauses, whether the key was accepted): every venue's kill switch runs in one."""
    token = _CONTROL.set(control)
    try:
        yield control
    finally:
        _CONTROL.reset(token)


class Flight:
    """One request of a bulk run (see :func:`flight`): whether it left the process."""

    def __init__(self, scope: anyio.CancelScope) -> None:
        self.scope = scope
        self.sent = False

    @property
    def cut(self) -> bool:
        """True when an abort or the grace cut it off before it was answered."""
        return self.scope.cancelled_caught


@contextmanager
def flight(
    control: Control, indices: Sequence[int], on_sent: Callable[[], None] | None = None
) -> Iterator[Flight]:
    """The block around one request for the orders at ``indices`` (none: a cancel-all,
    which names no order before it leaves): right before its first attempt leaves,
    it is counted and journaled (``Control.on_sent``) and ``on_sent`` is called;
    :meth:`Control.abort` cancels it; no answer is awaited past the deadline (or the
    stop) plus the grace."""
    present = control.take_presend(indices)
    with bounded(control) as scope:
        state = Flight(scope)

        def leaving() -> None:
            state.sent = True
            if on_sent is not None:
                on_sent()
            if present is None:  # a request sent before the run was counted then
                control.mark_sent(indices)

        token = _PRESENT.set(present)
        try:
            with sending(leaving):
                yield state
        finally:
            _PRESENT.reset(token)


@contextmanager
def bounded(
    control: Control, *, final: bool = False, seconds: float | None = None
) -> Iterator[anyio.CancelScope]:
    """The block around one request of a bulk run, whatever it is (a cancel, a
    listing, a lookup, a count): :meth:`Control.abort` cancels it, and it is not
    waited for past :meth:`Control.cutoff` (``final``, the run's last confirmation:
    :meth:`Control.end`), nor past ``seconds`` from now if given."""
    ends = control.end() if final else control.cutoff()
    left = max(0.0, ends - time.monotonic())
    if seconds is not None:
        left = min(left, max(0.0, seconds))
    with control.in_flight() as scope:
        scope.deadline = anyio.current_time() + left
        yield scope


async def in_time(
    control: Control,
    request: Callable[[], Awaitable[T]],
    what: str,
    *,
    final: bool = False,
    seconds: float | None = None,
) -> T:
    """``request``'s result, within :func:`bounded`; :class:`Unanswered` if cut off."""
    with bounded(control, final=final, seconds=seconds):
        return await request()
    raise Unanswered(f"{what}: no whole answer before {cut_short(control, seconds)}")


def cut_short(control: Control, seconds: float | None = None) -> str:
    """What ended a request's wait: an abort, a stop, the deadline (or ``seconds``)."""
    if control.stop_reason is StopReason.ABORTED:
        return "the run was aborted"
    if control.stopped:
        return f"the run stopped ({control.reason})"
    return "the deadline" if seconds is None else f"{seconds:.3g} s"


async def beside(call: Callable[[], T], name: str) -> T:
    """``call()`` in a daemon thread of its own, awaited: cancelling the wait leaves
    the thread behind, and the process does not wait for it at exit (a worker thread
    of anyio's would be joined: a read hung on a dead file server would hold the
    process past its deadline)."""
    result: list[T] = []
    error: list[BaseException] = []
    finished = threading.Event()

    def target() -> None:
        try:
            result.append(call())
        except BaseException as exc:  # handed to the waiting task
            error.append(exc)
        finally:
            finished.set()

    threading.Thread(target=target, name=name, daemon=True).start()
    pause = 0.001
    while not finished.is_set():  # polled: no way back into the loop that all backends share
        await anyio.sleep(pause)
        pause = min(pause * 2, 0.05)
    if error:
        raise error[0]
    return result[0]


async def each(
    items: Iterable[T],
    work: Callable[[T], Awaitable[None]],
    concurrency: int,
    *,
    until: Callable[[], bool] | None = None,
) -> None:
    """Run ``work`` on every item, at most ``concurrency`` at a time: the one worker
    pool of every bulk run. With ``until``, no new item is started once it is true."""
    pending = iter(items)  # shared: each item is taken once

    async def worker() -> None:
        for item in pending:
            if until is not None and until():
                return
            await work(item)

    async with anyio.create_task_group() as group:
        for _ in range(concurrency):
            group.start_soon(worker)


class CancelAllTarget(str):
    """The target of a result about a cancel-all request itself, not about one order:
    the market it covered, or ``""`` for all it covered. It equals that text; its type
    tells a record writer that it names no order (a resume must not read it as one)."""

    __slots__ = ()


@attrs.frozen
class CancelResult(Generic[T]):
    """What happened to one requested order.

    Attributes:
        target: the order as it was requested.
        status: ``cancelled`` (this run's request did it, and where the exchange has a
            listing, the listing agrees; a partly filled order's message says how much
            filled first); ``not_open`` (the exchange says it exists and is not open:
            cancelled before, filled, expired; or it left the listing and no word said
            how: "not asked"); ``filled`` (the exchange says it filled, in its order
            stream's execution or a lookup); ``not_found`` (unknown to the exchange for
            this key); ``not_listed`` (absent from a fresh listing, so not open for this
            key, and not looked up in time: not open, or not this key's); ``failed``
            (may still be open); ``not_sent`` (refused before sending, or the run
            stopped first); ``unknown`` (sent, no answer before the run ended).
        message: the exchange's message, or what the run knows (an order's state).
        error: the error behind ``failed``, ``not_found`` or ``not_sent``.
        attempts: requests sent for this order (its share of a batch counts once).
        duplicate_of: index of the earlier identical request this one shares.
        missing_ok: whether the caller accepted ``not_found`` as done.
        index: the request's position in the input (-1: not requested, such as an
            order cancel-all found still open).
    """

    target: T
    status: Outcome
    message: str | None = None
    error: CancelKitError | None = None
    attempts: int = 0
    duplicate_of: int | None = None
    missing_ok: bool = False
    index: int = -1

    @property
    def ok(self) -> bool:
        """True only when the order is certainly not open (or, with ``missing_ok``,
        unknown to the exchange)."""
        missing = self.status in ("not_found", "not_listed")
        return self.status in FINAL or (missing and self.missing_ok)


def told(
    results: Iterable[CancelResult[T]], on_result: Callable[[CancelResult[T]], None] | None
) -> list[CancelResult[T]]:
    """``results`` made outside a :class:`Ledger` (what a cancel-all's end adds: an
    order still open after it, the cancel-all's own outcome), each handed to
    ``on_result`` first: every result a run returns reaches it, once."""
    found = list(results)
    if on_result is not None:
        for result in found:
            on_result(result)
    return found


class Control:
    """How a bulk cancel ends: its deadline, and whether it was told to stop.

    Args:
        deadline: seconds from now during which retryable failures (connection
            errors, timeouts, 429, 5xx) are retried and cancels are confirmed.
    """

    def __init__(self, deadline: float = DEFAULT_DEADLINE) -> None:
        if isinstance(deadline, bool) or not isinstance(deadline, int | float) or not deadline > 0:
            raise InvalidRequest(f"deadline must be a positive number of seconds, got {deadline!r}")
        self.seconds = float(deadline)
        # A clock instant (time.monotonic()), where ``deadline`` arguments are seconds.
        self.ends_at = time.monotonic() + self.seconds
        self.reason: str | None = None
        self.stop_reason: StopReason | None = None
        self._in_flight: set[anyio.CancelScope] = set()
        # Seconds past the deadline (or a stop) for answers in flight and one listing.
        self.grace = GRACE
        # Called with the input indices of a request right before it leaves (the
        # CLI's write-ahead journal; none: a cancel-all); quick, and must not raise.
        self.on_sent: Callable[[Sequence[int]], None] | None = None
        # Called when a cancel-all's answer came (the exchange's word on it: its
        # orders' outcomes follow); the CLI's journal notes it, so that a resume warns
        # only of a cancel-all whose answer never came. Quick, and must not raise.
        self.on_answered: Callable[[], None] | None = None
        # Outcomes a record of an earlier run gives (input index -> outcome): a
        # venue with a listing checks them against it instead of asking again.
        self.recorded: dict[int, Outcome] = {}
        # Inputs such a record (for this venue, URL and key) shows a cancel was sent
        # for: Polymarket sends only what its listing showed open for this key, so
        # one now absent from the listing is this key's and not open.
        self.recorded_sent: set[int] = set()
        # Asked, once, with the inputs a listing showed not open: those that another
        # run on this venue, URL and key recorded a cancel for (input index -> a
        # message naming that run). Blocking (it reads files); must not raise.
        self.sent_elsewhere: Callable[[Sequence[int]], Mapping[int, str]] | None = None
        self.sent = 0  # requests that left the process (a batch counts once)
        self.throttled = 0  # 429 answers
        self.paused_until = 0.0  # time.monotonic() until which a 429 pauses sending
        self.key_accepted = False  # any answer other than 401/403 for this key
        # A venue's failures that are about one order, not the key (set by the venue's
        # client, as for a 401 about another account's order).
        self.about_one_order: Callable[[CancelKitError], bool] = _about_every_order
        self.stopped_at: float | None = None
        # The run's first request, sent before it began (see Presend): its orders'
        # request is sent even after a stop or the deadline (it has left already).
        self.presend: Presend | None = None
        # The answer of the listing the run sends first, sent before it began (a
        # cold command's, ``_cli._first``), as the venue's run takes it for its own
        # first listing's: not sent again. Taken once; None: none.
        self.listed_before: Any = None
        # Requests sent before the run began that the exchange answered 429: each
        # one's limiter operation, its Retry-After (None: not given) and when it was
        # answered. The run's limiter is told (:meth:`refusals_to`) before it sends.
        self.refused_before: list[tuple[str, float | None, float]] = []

    def throttle(self, retry_after: float | None) -> None:
        """A 429: counted, and sending paused for its Retry-After (1 s if none)."""
        self.throttled += 1
        self.paused_until = max(self.paused_until, time.monotonic() + (retry_after or 1.0))

    def refusals_to(self, limiter: Limiter | None) -> None:
        """Tell ``limiter`` of the 429s answered before the run began (once), as the
        run's own 429s tell it: its next request waits out the pause, and the rate
        falls back, so it does not ask again at once."""
        refused, self.refused_before = self.refused_before, []
        if limiter is None:
            return
        for operation, wait, at in refused:
            left = None if wait is None else max(0.0, at + wait - time.monotonic())
            limiter.refused(operation, left)

    def presents(self, indices: Iterable[int]) -> bool:
        """Whether the request for ``indices`` was sent before the run (``presend``)."""
        present = self.presend
        return present is not None and present.indices == frozenset(indices)

    def take_presend(self, indices: Iterable[int]) -> Presend | None:
        """``presend``, once, if it is the request for ``indices``."""
        present = self.presend
        if present is None or present.indices != frozenset(indices):
            return None
        self.presend = None
        return present

    @property
    def expired(self) -> bool:
        """True once the deadline has passed: no new first attempt is made."""
        return time.monotonic() >= self.ends_at

    def end(self) -> float:
        """The monotonic time by which everything, answers in flight too, is over:
        the deadline (or the stop) plus the grace."""
        last = self.ends_at if self.stopped_at is None else min(self.ends_at, self.stopped_at)
        return last + self.grace

    def cutoff(self) -> float:
        """The monotonic time after which no answer in flight is waited for: the
        deadline (or the stop) plus half the grace; the rest of the grace is for the
        run's last confirmation of what was sent."""
        return self.end() - self.grace / 2

    def mark_sent(self, indices: Sequence[int]) -> None:
        """A request for ``indices`` is about to leave: count it, tell ``on_sent``."""
        self.sent += 1
        if self.on_sent is not None:
            try:
                self.on_sent(indices)
            except Exception:  # a broken journal must not stop a kill switch
                logger.exception("on_sent callback failed; the run goes on")

    def mark_answered(self) -> None:
        """A cancel-all's answer came: tell ``on_answered``."""
        if self.on_answered is not None:
            try:
                self.on_answered()
            except Exception:  # a broken journal must not stop a kill switch
                logger.exception("on_answered callback failed; the run goes on")

    @property
    def stopped(self) -> bool:
        """True once :meth:`stop` was called: no new request is sent."""
        return self.reason is not None

    def left(self) -> float:
        """Seconds until the deadline (0 once past it)."""
        return max(0.0, self.ends_at - time.monotonic())

    def stop(self, reason: str, kind: StopReason = StopReason.STOPPED) -> None:
        """Send nothing new; the first reason given (its text and its ``kind``) is the
        one reported."""
        if self.reason is None:
            self.reason = reason
            self.stop_reason = kind
            self.stopped_at = time.monotonic()
            logger.warning("stopping: %s", reason)

    def abort(self) -> None:
        """Stop, and cancel what is in flight (those orders become ``unknown``)."""
        self.stop("aborted", StopReason.ABORTED)
        for scope in list(self._in_flight):
            scope.cancel()

    @contextmanager
    def in_flight(self) -> Iterator[anyio.CancelScope]:
        """A cancel scope that :meth:`abort` cancels."""
        with anyio.CancelScope() as scope:
            self._in_flight.add(scope)
            try:
                yield scope
            finally:
                self._in_flight.discard(scope)


def stops_the_run(error: CancelKitError, control: Control | None = None) -> bool:
    """Failures that every other order would meet too: retrying them is harm.

    A failure the venue calls about one order (``Control.about_one_order``) is that
    order's outcome only, once this key has been accepted at least once.
    """
    if control is not None and control.key_accepted and control.about_one_order(error):
        return False
    return isinstance(error, AuthenticationError | WrongEndpoint | UnexpectedResponse)


def stop_if_fatal(error: CancelKitError, control: Control) -> None:
    """Stop the run if every other order would meet ``error`` too (see
    :func:`stops_the_run`)."""
    if stops_the_run(error, control):
        control.stop(f"{type(error).__name__}: {error}", StopReason.FAILED)


class Ledger(Generic[T]):
    """One result per requested order: recorded once, announced at once, duplicates
    following their original, the unrecorded ones *not sent* at the end."""

    def __init__(
        self,
        targets: Sequence[T],
        *,
        missing_ok: bool,
        on_result: Callable[[CancelResult[T]], None] | None,
    ) -> None:
        self.targets = targets
        self.missing_ok = missing_ok
        self._on_result = on_result
        self._results: list[CancelResult[T] | None] = [None] * len(targets)
        self._first: dict[str, int] = {}
        self._duplicates: dict[int, list[int]] = {}

    def first_of(self, index: int, key: str) -> bool:
        """Register ``index`` under ``key``; False if an earlier index has that key."""
        original = self._first.setdefault(key, index)
        if original != index:
            self._duplicates.setdefault(original, []).append(index)
        return original == index

    def first_of_each(self, keys: Sequence[str]) -> None:
        """:meth:`first_of` for every index, ``keys[index]`` its key (a kill switch's
        targets, registered before its first request: built at C speed when no key
        comes twice and nothing is registered yet)."""
        if not self._first:
            first = dict(zip(keys, range(len(keys)), strict=True))
            if len(first) == len(keys):
                self._first = first
                return
        for index, key in enumerate(keys):
            self.first_of(index, key)

    def done(self, index: int) -> bool:
        """Whether ``index`` has its result."""
        return self._results[index] is not None

    def record(
        self,
        index: int,
        status: Outcome,
        *,
        message: str | None = None,
        error: CancelKitError | None = None,
        attempts: int = 0,
    ) -> None:
        """Set the result of ``index`` (and its duplicates) and announce it."""
        if self._results[index] is not None:
            return
        result = CancelResult(
            self.targets[index],
            status,
            message,
            error,
            attempts,
            missing_ok=self.missing_ok,
            index=index,
        )
        self._announce(index, result)
        for copy in self._duplicates.get(index, []):
            self._announce(
                copy,
                attrs.evolve(
                    result, target=self.targets[copy], attempts=0, duplicate_of=index, index=copy
                ),
            )

    def record_error(self, index: int, error: CancelKitError, control: Control) -> None:
        """The outcome an error means; stop the run if every order would meet it."""
        if isinstance(error, OrderNotFound):
            self.record(
                index, "not_found", message=error.message, error=error, attempts=error.attempts
            )
            return
        if isinstance(error, OrderNotOpen):
            self.record(index, "not_open", message=error.message, attempts=error.attempts)
            return
        if isinstance(error, InvalidRequest | DeadlinePassed):
            self.record(index, "not_sent", message=error.message, error=error)
            return
        stop_if_fatal(error, control)
        self.record(index, "failed", message=error.message, error=error, attempts=error.attempts)

    def _announce(self, index: int, result: CancelResult[T]) -> None:
        self._results[index] = result
        if self._on_result is None:
            return
        try:
            self._on_result(result)
        except Exception:  # the bulk calls hand a Reporter (never raises); other callers
            logger.exception("on_result callback failed; the run goes on")

    def finish(self, control: Control) -> list[CancelResult[T]]:
        """Every result in input order; what has none was never sent."""
        if control.reason:
            why = f"not sent: the run stopped ({control.reason})"
        elif control.expired:
            why = "not sent: the deadline passed first"
        else:
            why = "not sent"
        copies = {i for found in self._duplicates.values() for i in found}
        for index, result in enumerate(self._results):
            if result is None and index not in copies:  # copies follow their original
                self.record(index, "not_sent", message=why)
        return [r for r in self._results if r is not None]


class Reporter(Generic[T]):
    """A bulk call's ``on_result``, as its run calls it: the first exception it raises
    stops the run (``StopReason.CALLBACK``) and is kept; it is not called again; and
    :meth:`settle` raises :class:`OnResultFailed` with every result at the end."""

    def __init__(
        self, on_result: Callable[[CancelResult[T]], None] | None, control: Control
    ) -> None:
        self._on_result = on_result
        self._control = control
        self.error: Exception | None = None

    @property
    def sink(self) -> Callable[[CancelResult[T]], None] | None:
        """What the run calls with each result (None when the caller gave none)."""
        return None if self._on_result is None else self

    def __call__(self, result: CancelResult[T]) -> None:
        """Hand ``result`` to the caller's callback, unless it has failed before."""
        if self._on_result is None or self.error is not None:
            return
        try:
            self._on_result(result)
        except Exception as exc:
            self.error = exc
            self._control.stop(f"on_result raised {type(exc).__name__}: {exc}", StopReason.CALLBACK)

    def settle(self, results: list[CancelResult[T]]) -> list[CancelResult[T]]:
        """``results``; or, if the callback raised, :class:`OnResultFailed` with them."""
        if self.error is None:
            return results
        not_sent = sum(1 for r in results if r.status == "not_sent")
        raise OnResultFailed(
            f"on_result raised {type(self.error).__name__}: {self.error}; the run stopped"
            f" as an interrupt would ({not_sent} order(s) not sent); every outcome is in"
            " .results",
            results=list(results),
        ) from self.error


Prepare = Callable[[T], dict[str, Any]]
Send = Callable[[dict[str, Any], Limiter | None, float], Awaitable[tuple[str | None, int]]]


def check_batch_settings(concurrency: object, max_rate: object) -> None:
    """Refuse batch settings that make no sense, before anything is sent."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidRequest(f"concurrency must be a positive integer, got {concurrency!r}")
    if max_rate is not None and (
        isinstance(max_rate, bool)
        or not isinstance(max_rate, int | float)
        or not 0 < max_rate < float("inf")
    ):
        raise InvalidRequest(f"max_rate must be a positive number or None, got {max_rate!r}")


async def cancel_each(
    targets: Sequence[T],
    prepare: Prepare[T],
    key: Callable[[dict[str, Any]], str],
    send: Send,
    *,
    concurrency: int,
    limiter: Limiter | None,
    missing_ok: bool,
    on_result: Callable[[CancelResult[T]], None] | None,
    control: Control,
) -> list[CancelResult[T]]:
    """Cancel every target once with one request each (and its retries, until the
    deadline); one result per target, in input order."""
    ledger = Ledger(targets, missing_ok=missing_ok, on_result=on_result)
    todo: list[tuple[int, dict[str, Any]]] = []
    for index, target in enumerate(targets):
        try:
            request = prepare(target)
        except InvalidRequest as exc:
            ledger.record(index, "not_sent", message=exc.message, error=exc)
            continue
        if ledger.first_of(index, key(request)):
            todo.append((index, request))

    async def one(item: tuple[int, dict[str, Any]]) -> None:
        index, request = item
        with flight(control, [index]) as sent:
            try:
                message, attempts = await send(request, limiter, control.ends_at)
                ledger.record(index, "cancelled", message=message, attempts=attempts)
            except CancelKitError as exc:
                ledger.record_error(index, exc, control)
            except Exception as exc:
                logger.exception("unexpected error cancelling one order of a batch")
                error = CancelKitError(f"unexpected {type(exc).__name__}: {exc}")
                status: Outcome = "failed" if sent.sent else "not_sent"
                ledger.record(index, status, message=error.message, error=error)
        if not ledger.done(index):  # cut off by an abort, or by the deadline's grace
            why = "the abort" if control.stopped else "the deadline"
            if sent.sent:
                ledger.record(index, "unknown", message=f"sent; no answer before {why}")
            else:
                ledger.record(index, "not_sent", message=f"not sent: waiting to send at {why}")

    with running(control):
        # No new first attempt after a stop or the deadline.
        await each(
            todo, one, min(concurrency, len(todo)), until=lambda: control.stopped or control.expired
        )
    return ledger.finish(control)

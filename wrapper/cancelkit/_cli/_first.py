"""A cold command's one cancel, sent before the event loop is loaded.

When a command's whole cancel is one request (the venue's command says so: see
``First``), that request leaves before asyncio and the async client are imported,
which a cold process otherwise pays before its first request: built by the venue's
sync client from the generated builder, signed over its final bytes, sent on that
client's own route (``_fastpath``), within the run's deadline. It is written ahead
as any request of a run is (the plan, then its ``sent`` line, fsynced), and its
outcome is handed to the normal run (``_bulk.Presend``), which takes it as its own
first attempt's: retried, classified and confirmed (listing, lookups) as always,
and never sent twice.

A signal while it is on its way ends the run at once: its orders are ``unknown``
(the answer never came), and the exit status is that of an interrupted run. A
signal after it has left waits for the run, which stops as on any signal.

When the run lists first to learn its cancel (``Listing``: a venue's ids without
their market), that listing is sent first the same way, and the cancel made from
its answer by the venue's own code; both are handed over (``Control.listed_before``:
the listing's answer, taken by the run as its own first listing's). When its answer
does not make one cancel, nothing more is sent first and the run goes its own way
from that listing; with no usable answer (none in time, a refusal, past the
deadline), it lists again. A signal during the listing, or between it and the
cancel, ends the run with nothing cancelled: its orders are ``not_sent``.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from types import FrameType
from typing import IO, TYPE_CHECKING, Any, Protocol

import attrs

if TYPE_CHECKING:
    import httpx

    from .._bulk import CancelResult, Control, Presend
    from .._fastpath import SyncSender
    from .._wire import Prepared

_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
EXIT_INTERRUPTED = 130
DEADLINE = "the deadline"  # what ended the wait when the run's end cut the send


class SyncClient(Protocol):
    """What is asked of a venue's sync client here."""

    base_url: str
    _lean: SyncSender | None

    @property
    def key_id(self) -> str:
        """The key id."""
        ...

    def close(self) -> None:
        """Close its pool."""
        ...


@attrs.frozen
class Listing:
    """The request a run sends before its cancel to learn it (a listing of the open
    orders): ``request``, its generated request dict; ``then``, from its answer, the
    answer as the run takes it for its own listing's (``Control.listed_before``) and
    the cancel's request dict, None when the cancel is not one request (the run then
    goes its own way from that listing); or None for an answer the run would not act
    on (a refusal, a fault): the run lists again."""

    request: Callable[[], dict[str, Any]]
    then: Callable[[httpx.Response], tuple[Any, dict[str, Any] | None] | None]
    operation: str = "listing"  # its name in the run's limiter (a 429 pauses it there)


@attrs.frozen
class First:
    """A venue command's whole cancel as one request, to send first: ``build`` makes
    the venue's sync client from the same settings as the async one the run uses,
    and ``request`` the generated request dict the run would send for all its
    inputs (the same dict, so that the run knows it as its own); or, when the run
    lists first to learn it, ``listing``: that listing is sent first too."""

    build: Callable[[], SyncClient]
    request: Callable[[], dict[str, Any]] | None = None
    listing: Listing | None = None


class Interrupted(BaseException):
    """A signal came while the first cancel was on its way (BaseException: nothing
    on the way catches it as a failure of its own)."""


class Guard:
    """The run's signals until the event loop's receiver takes them over: one while
    the cancel is being sent interrupts it (:class:`Interrupted`); one before or
    after is kept (:attr:`name`) for the run; a second one exits at once, as in the
    run."""

    forwarded = False  # a parent's signal passed on came (``_processes``)

    def __init__(self) -> None:
        self.name: str | None = None
        self.sending = False
        self._before: dict[int, Any] = {}  # each signal's handler before this one's

    def install(self) -> None:
        """Take the signals (only the main thread can: elsewhere, none is taken)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for number in _SIGNALS:
            self._before[number] = signal.signal(number, self._on_signal)

    def restore(self) -> None:
        """Give each signal back the handler it had before :meth:`install` (at the
        run's end: the event loop's receiver, if it ran, left the defaults)."""
        before, self._before = self._before, {}
        for number, handler in before.items():
            if handler is not None:  # (None: not set from Python; left as it is)
                signal.signal(number, handler)

    def send(
        self, lean: SyncSender, ready: Prepared, within: float
    ) -> httpx.Response | Interrupted:
        """``lean.send(ready)`` with a signal during it raising :class:`Interrupted`
        (once): its answer (a signal that came once the answer was in is kept in
        :attr:`name`, and the answer stands), or the :class:`Interrupted` if none
        came. The sender's own errors are raised."""
        answer: httpx.Response | None = None
        try:
            self.sending = True
            try:
                answer = lean.send(ready, within=within)
            finally:
                self.sending = False
        except Interrupted as exc:
            if answer is None:
                return exc
        return answer

    def _on_signal(self, number: int, frame: FrameType | None) -> None:
        if self.name is not None:
            _say("cancelkit: interrupted again: exiting at once")
            os._exit(EXIT_INTERRUPTED)
        self.name = signal.Signals(number).name
        if self.sending:
            self.sending = False  # raised once: the sender's own handling is not cut
            raise Interrupted(self.name)


def _say(text: str) -> None:
    """The handler's line on stderr, then it exits (see :func:`say_from_handler`)."""
    import sys

    say_from_handler(sys.stderr, text)


def say_from_handler(stream: IO[str], text: str) -> None:
    """A line on ``stream`` from a signal handler: on its descriptor itself (the
    stream's buffer may be in the middle of a write, and a write through it again
    raises "reentrant call": an exit after the line would be skipped, a relay
    ended), never raising; through the stream only where it has no descriptor."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # a stream without one (tests)
        with suppress(Exception):
            stream.write(text + "\n")
            stream.flush()
        return
    encoding = getattr(stream, "encoding", None) or "utf-8"
    with suppress(OSError):
        os.write(fd, (text + "\n").encode(encoding, "backslashreplace"))


def prepared(client: SyncClient, request: dict[str, Any]) -> Prepared | None:
    """``request`` ready for the client's lean route, or None when it has none (a
    transport given, a request the wire path does not know): then nothing is sent
    first, and the run sends it as always."""
    lean = client._lean
    return lean.wire.prepare(request) if lean is not None else None


def look(
    client: SyncClient, listing: Listing, control: Control, guard: Guard
) -> tuple[Any, dict[str, Any] | None] | str | None:
    """Send the listing the cancel is made from, on the client's lean route, within
    the run's deadline (as the run's own listing), and return what ``listing.then``
    makes of its answer; why not, if a signal came before it left or while it was on
    its way (nothing was sent); None when it brought no answer the run can use (none
    in time, a refusal, past the deadline): the run lists again."""
    import httpx

    lean = client._lean
    ready = prepared(client, listing.request())
    if lean is None or ready is None:
        return None
    if guard.name is not None:
        return f"{guard.name}: not sent: the run was interrupted first"
    left = max(0.0, control.cutoff() - time.monotonic())
    try:
        answer = guard.send(lean, ready, left)
        if isinstance(answer, Interrupted):
            return f"{answer}: not sent: the run was interrupted during the listing before it"
    except httpx.HTTPError:  # no answer in time, or none decoded: the run lists itself
        return None
    except Exception:  # a bug below: nothing was cancelled; the run lists itself
        return None
    if guard.name is not None:  # (answered, then a signal: no cancel leaves now)
        return f"{guard.name}: not sent: the run was interrupted first"
    if control.expired:
        return None  # answered after the deadline: the run sends no cancel now
    if answer.status_code == 429:  # the run lists again, after the pause it asks for
        from .._retry import retry_after

        wait = retry_after(answer)
        control.refused_before.append((listing.operation, wait, time.monotonic()))
        control.throttle(wait)  # in the run's count, as its own 429s are
        return None
    try:
        return listing.then(answer)
    except Exception:  # an answer the venue's code could not read: the run reads it
        return None


def send(
    client: SyncClient,
    request: dict[str, Any],
    ready: Prepared,
    indices: Sequence[int],
    control: Control,
    guard: Guard,
) -> Presend | str | None:
    """Send the one cancel (counted and journaled first, ``Control.mark_sent``) and
    return its outcome for the run; why there is none if a signal came while it was
    on its way (its orders are unknown); None if one came before it left (nothing
    was sent)."""
    import httpx

    from .._bulk import Presend

    lean = client._lean
    assert lean is not None
    if guard.name is not None:
        return None
    control.mark_sent(indices)  # the plan and this `sent` line fsynced before it leaves
    if guard.name is not None:
        return None
    outcome: Any
    # No wait past the deadline plus the first half of the grace (an answer in
    # flight is given that much in the run, too).
    left = max(0.0, control.cutoff() - time.monotonic())
    try:
        outcome = guard.send(lean, ready, left)
        if isinstance(outcome, Interrupted):
            return f"the run was interrupted ({outcome})"
    except httpx.TimeoutException as exc:
        if lean.total is None or left < lean.total:
            # Cut by the run's own end, not by the client's timeout: no answer came
            # before the run ended (the run's word for that is unknown).
            return DEADLINE
        outcome = exc  # the attempt's own timeout: the run retries it, in time
    except httpx.HTTPError as exc:  # a transport's error, or an answer not decoded
        outcome = exc
    except Exception as exc:  # a bug below: what became of the cancel is unknown
        return f"the run stopped: unexpected {type(exc).__name__}: {exc}"
    # (Answered, then a signal: the run takes the answer, then stops as on any.)
    return Presend(frozenset(indices), request, outcome, time.monotonic())


def unanswered(
    targets: Sequence[Any], indices: Sequence[int], why: str, status: str
) -> list[CancelResult[Any]]:
    """Each order's result when the run ends without its answer (``unknown``) or
    before its cancel left (``not_sent``)."""
    from .._bulk import CancelResult

    return [
        CancelResult(
            targets[i],
            status,  # type: ignore[arg-type]
            why,
            attempts=1 if status == "unknown" else 0,
            index=i,
        )
        for i in indices
    ]

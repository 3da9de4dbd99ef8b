"""The desk: every account on every venue at once (issue 33's kill switch).

:class:`AsyncDesk` opens one async client per account (through the venue's hook,
``cancelkit.<venue>._desk``) and keeps them for its life, so that a guard fires on
warm connections. Every account runs in parallel, each at its own venue's limits
(its own client, limiter and key); one account failing (a venue down, a key refused)
is that account's :class:`AccountRun` error and never holds the others.
:class:`Desk` is the sync twin: the same desk on a loop thread of its own.

A desk for one run (:func:`one_shot_desk`, :func:`acancel_everywhere`) opens each
account's client in that account's own task instead, as its work starts (its venue's
code imported then): no account waits for the others' clients before its own work
begins, and a client that cannot be built is that account's outcome, learned there.
"""

from __future__ import annotations

import logging
import re
import ssl
import threading
from collections.abc import AsyncIterator, Callable, Collection, Coroutine, Iterable, Mapping
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypedDict, TypeVar, Unpack

import anyio
import attrs
import httpx

from . import _fork
from ._accounts import Account
from ._bulk import DEFAULT_DEADLINE, CancelResult, Control, StopReason
from ._desk_hook import DeskHook, desk_hook
from ._exceptions import InvalidRequest
from ._loop_thread import LoopThread
from ._retry import RetryPolicy
from ._urls import check_base_url

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

T = TypeVar("T")
logger = logging.getLogger("cancelkit")
_FOLLOW_EVERY = 0.01  # seconds between looks at a caller's Control for a stop
MAX_LEARNED = 1000
"""Markets an account may learn (:meth:`AsyncDesk.learn`) at most: a bound on what a
stream can make a kill visit."""
_UNLEARNED_LOGGED = 10  # "not learned" lines per account, at most (a stream sends many)
# What a learned market may be made of: RFC 3986's unreserved characters, so that it
# is one plain path segment of the signed requests (GET /markets/{slug}/user-orders).
# A stream's "a/b" was learned, sent as a%2Fb, answered with a route-level 404, and
# that stopped the whole account's firing: the markets after it were not_sent.
_PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+")


class DeskOptions(TypedDict, total=False):
    """The HTTP settings every client of a desk gets (as the clients' constructors)."""

    timeout: float | httpx.Timeout
    max_retries: int
    retry: RetryPolicy | None
    proxy: str | None
    trust_env: bool
    verify: bool | str | ssl.SSLContext


@attrs.frozen
class AccountRun:
    """What ``cancel_everywhere`` did on one account.

    Attributes:
        account: the account.
        results: every order's outcome, as the venue's kill switch reported it.
        left: orders the run could not confirm gone (None: unknown, the run failed).
        covered: the markets covered where the venue lists per market (Limitless):
            those the account names and those learned (:meth:`AsyncDesk.learn`);
            None where the venue's cancel-all covers the whole account; ``()``: no
            market known, the account was not covered.
        error: why the account's run failed as a whole (a key refused, a venue
            unreachable, a secret unreadable), or None.
        learned: the markets of ``covered`` that the account does not name: learned
            while the desk was open (the guard: from the account's order stream).
    """

    account: Account
    results: tuple[CancelResult[str], ...]
    left: int | None
    covered: tuple[str, ...] | None
    error: BaseException | None
    learned: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True only when the venue's listing confirmed nothing of ours is open."""
        return (
            self.error is None
            and self.covered != ()
            and self.left == 0
            and all(r.ok for r in self.results)
        )


OnResult = Callable[[Account, CancelResult[str]], None]
OnUnusable = Callable[[Account, BaseException], None]


class AsyncDesk:
    """Every account's async client, open for the desk's life. An async context
    manager: ``async with AsyncDesk(load_accounts()) as desk: await
    desk.cancel_everywhere()``.

    Args:
        accounts: the accounts (:func:`cancelkit.load_accounts`); names must differ.
        **options: HTTP settings for every client (timeout, retries, proxy, TLS).
    """

    def __init__(self, accounts: Iterable[Account], **options: Unpack[DeskOptions]) -> None:
        self._accounts = tuple(accounts)
        names = [a.name for a in self._accounts]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise InvalidRequest(f"account name(s) given twice: {', '.join(twice)}")
        if not self._accounts:
            raise InvalidRequest("a desk needs at least one account")
        self._options = options
        self._clients: dict[str, Any] = {}
        self._hooks: dict[str, DeskHook] = {}  # each open account's venue hook
        self._broken: dict[str, BaseException] = {}  # accounts whose client could not be built
        self._learned: dict[str, list[str]] = {}  # account -> markets learned, in order
        self._unlearned: dict[str, int] = {}  # account -> markets not learned so far
        # Each client opened in its account's task (a desk for one run), not up front.
        self._in_task = False
        self._one_shot = False  # built inside _oneshot.one_shot (the command's transport)
        self._opening: dict[str, anyio.Event] = {}  # account -> set once its client is open
        self._closed = False

    @classmethod
    def _for_one_run(
        cls, accounts: Iterable[Account], one_shot: bool, **options: Unpack[DeskOptions]
    ) -> AsyncDesk:
        """A desk whose clients open in their accounts' tasks (see the module)."""
        desk = cls(accounts, **options)
        desk._in_task, desk._one_shot = True, one_shot
        return desk

    @property
    def accounts(self) -> tuple[Account, ...]:
        """The desk's accounts, in the order given."""
        return self._accounts

    @property
    def unusable(self) -> Mapping[str, BaseException]:
        """The accounts whose client could not be built (a secret unreadable or
        malformed, a bad setting), each with why; their runs report that error. (A
        desk for one run learns it as each account's work starts.)"""
        return dict(self._broken)

    def base_url(self, name: str) -> str | None:
        """The API root account ``name``'s client sends to: its open client's, or,
        not opened yet, the one it will be built with (the account's own, else its
        venue's default); None where the client could not be built (or the URL
        would be refused). KeyError for an unknown name."""
        account = self._named(name)
        if name in self._clients:
            return str(self._clients[name].base_url)
        if name in self._broken:
            return None
        try:
            return check_base_url(account.base_url or desk_hook(account.venue).DEFAULT_BASE_URL)
        except (InvalidRequest, KeyError):
            return None

    def client(self, name: str) -> Any:
        """The open async client of account ``name`` (KeyError if it has none: its
        client could not be built, see :meth:`prove`)."""
        return self._clients[name]

    def learn(self, name: str, market: str) -> bool:
        """Add ``market`` to what account ``name``'s listings and kills cover, where its
        venue lists per market (its hook takes ``markets``): a market seen on the
        account's order stream. Whether it was new to the account; False for a venue
        that covers the whole account, a market the venue would refuse or that is not
        one plain path segment (letters, digits, ``-._~``), or past
        :data:`MAX_LEARNED` markets (each logged). KeyError for an unknown name."""
        account = self._named(name)
        learned = self._learned.setdefault(name, [])
        if market in account.markets or market in learned:
            return False
        try:
            hook = desk_hook(account.venue)
            if "markets" not in hook.SETTINGS:
                return False
            hook.check(attrs.evolve(account, markets=(market,)))
            if not isinstance(market, str) or _PLAIN_SEGMENT.fullmatch(market) is None:
                raise InvalidRequest("a learned market must be letters, digits, '-._~' only")
        except (InvalidRequest, KeyError) as exc:
            self._not_learned(name, market, str(exc))
            return False
        if len(learned) >= MAX_LEARNED:
            self._not_learned(name, market, f"{MAX_LEARNED} learned already")
            return False
        learned.append(market)
        return True

    def _not_learned(self, name: str, market: str, why: str) -> None:
        """Say so in the log, for the first few of an account only: a stream (or a
        kept file) showing a million markets is not a million lines."""
        count = self._unlearned[name] = self._unlearned.get(name, 0) + 1
        if count <= _UNLEARNED_LOGGED:
            logger.warning("%s: market %r not learned: %s", name, str(market)[:80], why)
        elif count == _UNLEARNED_LOGGED + 1:
            logger.warning("%s: more markets not learned; not logged", name)

    def learned(self, name: str) -> tuple[str, ...]:
        """The markets learned for account ``name`` (:meth:`learn`), in order."""
        return tuple(self._learned.get(name, ()))

    def covering(self, account: Account) -> Account:
        """``account`` with the markets learned for it after its own: what its
        listings and kills cover."""
        learned = self._learned.get(account.name)
        if not learned:
            return account
        return attrs.evolve(account, markets=(*account.markets, *learned))

    def _named(self, name: str) -> Account:
        for account in self._accounts:
            if account.name == name:
                return account
        raise KeyError(name)

    async def __aenter__(self) -> Self:
        self._closed = False  # entered (again): its clients may open
        if not self._in_task:  # every client open and kept before any work (a guard's)
            for account in self._accounts:
                await self._open(account)
        return self

    async def _open(self, account: Account) -> BaseException | None:
        """Open ``account``'s client, unless it is open or could not be built: why it
        could not be (that account's error; the others still open), or None."""
        name = account.name
        # Another task of this account's opening it (a prove beside a kill): wait, and
        # look again (it may have been cancelled before it could).
        while (opening := self._opening.get(name)) is not None:
            await opening.wait()
        if name in self._clients or name in self._broken:
            return self._broken.get(name)
        if self._closed:
            raise RuntimeError("the desk is closed")
        # Nothing here waits when no other task opens it: an account's work starts
        # in the same step as its client is built.
        done = self._opening[name] = anyio.Event()
        client: Any = None
        try:
            hook = desk_hook(account.venue)
            with self._building():
                client = hook.client(account, account.secret.read(), dict(self._options))  # type: ignore[arg-type]
            self._clients[name] = await client.__aenter__()
            self._hooks[name] = hook
        except Exception as exc:
            self._broken[name] = exc
            return exc
        except BaseException:  # cancelled while it opened: nothing of it left open
            if client is not None and name not in self._clients:
                with anyio.CancelScope(shield=True):
                    await _close(client)
            raise
        finally:
            if self._opening.get(name) is done:
                del self._opening[name]
            done.set()
        return None

    def _building(self) -> AbstractContextManager[None]:
        """Where a client is built: inside ``one_shot`` for the command's desk (a
        task's context is its own, copied when it started: set it there)."""
        if not self._one_shot:
            return nullcontext()
        from ._oneshot import one_shot

        return one_shot()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every client."""
        self._closed = True  # a desk for one run opens no client after this
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await _close(client)

    def select(self, names: Collection[str] | None) -> list[Account]:
        """The accounts named (all if None), in the desk's order; InvalidRequest
        naming any unknown name."""
        if names is None:
            return list(self._accounts)
        known = {a.name for a in self._accounts}
        unknown = sorted(set(names) - known)
        if unknown:
            raise InvalidRequest(
                f"no account named {', '.join(unknown)} (accounts: {', '.join(sorted(known))})"
            )
        wanted = set(names)
        return [a for a in self._accounts if a.name in wanted]

    async def _each(
        self,
        accounts: list[Account],
        work: Callable[[DeskHook, Any, Account], Any],
        seconds: float | None = None,
        beside: Callable[[], Coroutine[Any, Any, None]] | None = None,
        on_unusable: OnUnusable | None = None,
    ) -> dict[str, Any]:
        """``work`` for every account at once; each one's result or its exception
        (a TimeoutError for one still waiting after ``seconds``). ``beside`` runs
        with them, started after them (their first steps, up to their first
        requests, come first), and is cancelled once every account's work is done.
        ``on_unusable`` is told of each account whose client could not be built."""
        found: dict[str, Any] = {}
        left = len(accounts)

        async def one(account: Account, group: TaskGroup) -> None:
            nonlocal left
            try:
                found[account.name] = await self._one(account, work, seconds, on_unusable)
            finally:
                left -= 1
                if not left and beside is not None:  # only ``beside`` is still running
                    group.cancel_scope.cancel()

        async with anyio.create_task_group() as group:
            for account in accounts:
                group.start_soon(one, account, group)
            if beside is not None and accounts:
                group.start_soon(beside)
        return {a.name: found[a.name] for a in accounts}

    async def _one(
        self,
        account: Account,
        work: Callable[[DeskHook, Any, Account], Any],
        seconds: float | None,
        on_unusable: OnUnusable | None = None,
    ) -> Any:
        """One account's ``work``: its result, or its exception (this account's
        outcome, not the desk's). Its client is opened first if it is not yet (a
        desk for one run)."""
        try:
            broken = await self._open(account) if self._in_task else self._broken.get(account.name)
        except Exception as exc:  # a desk closed under it: this account's outcome
            return exc
        if broken is not None:
            if on_unusable is not None:
                try:
                    on_unusable(account, broken)
                except Exception:  # the caller's callback must not end the others' runs
                    logger.warning("on_unusable raised", exc_info=True)
            return broken
        try:
            hook, client = self._hooks[account.name], self._clients[account.name]
            if seconds is None:  # no scope to enter (a firing's kills: none)
                return await work(hook, client, self.covering(account))
            with anyio.move_on_after(seconds):
                return await work(hook, client, self.covering(account))
            # Only reached when the scope cancelled the work.
            return TimeoutError(f"no answer within {seconds} s")
        except Exception as exc:
            return exc

    async def warm(self, deadline: float | None = None) -> dict[str, BaseException | None]:
        """Open each client's connection now (one unsigned request each), so that the
        first cancel does not pay for it; each account's error, or None. ``deadline``:
        seconds after which an account still waiting is a TimeoutError."""
        done = await self._each(list(self._accounts), lambda _, client, __: client.warm(), deadline)
        return _errors(done)

    async def prove(self, deadline: float | None = None) -> dict[str, BaseException | None]:
        """One cheap signed read per account: None where the venue accepted the key,
        else the error (an :class:`AuthenticationError` for a refused key; a
        TimeoutError for one still unanswered after ``deadline`` seconds)."""
        done = await self._each(list(self._accounts), lambda h, c, a: h.prove(c, a), deadline)
        return _errors(done)

    async def open_orders(
        self, deadline: float | None = None
    ) -> dict[str, list[str] | BaseException]:
        """The ids of each account's open orders (in its markets, where the venue
        lists per market), or the error that kept it from being listed (a
        TimeoutError after ``deadline`` seconds)."""
        done = await self._each(list(self._accounts), lambda h, c, a: h.open_orders(c, a), deadline)
        return dict(done)

    async def cancel_everywhere(
        self,
        *,
        deadline: float = DEFAULT_DEADLINE,
        on_result: OnResult | None = None,
        control: Control | None = None,
        accounts: Collection[str] | None = None,
        make_control: Callable[[Account], Control] | None = None,
        on_unusable: OnUnusable | None = None,
    ) -> list[AccountRun]:
        """Cancel every open order of every account (or of ``accounts``, by name), all
        at once: one :class:`AccountRun` per account, in the desk's order.

        ``on_result`` sees each order's outcome as it is known, with its account.
        ``control`` stops or aborts every account's run (its deadline replaces
        ``deadline``); each account runs under a :class:`Control` of its own
        (``make_control(account)`` if given: the CLI's journal hooks in there).
        ``on_unusable`` is told of each account whose client could not be built (see
        :attr:`unusable`), once its work would have started."""
        chosen = self.select(accounts)
        if control is None:
            control = Control(deadline)
        controls = {a.name: _child(control, a, make_control) for a in chosen}

        async def kill(hook: DeskHook, client: Any, account: Account) -> Any:
            def told(result: CancelResult[str]) -> None:
                if on_result is not None:
                    on_result(account, result)

            return await hook.kill(client, account, controls[account.name], told)

        # The stop's follower starts after every account's kill, and ends with them.
        children = list(controls.values())
        done = await self._each(
            chosen, kill, beside=lambda: _follow(control, children), on_unusable=on_unusable
        )
        runs = []
        for account in chosen:
            value = done[account.name]
            failed = isinstance(value, BaseException)
            covered = _covered(self.covering(account)) if failed else value.covered
            learned = tuple(m for m in covered or () if m not in account.markets)
            if failed:
                runs.append(AccountRun(account, (), None, covered, value, learned))
            else:
                runs.append(
                    AccountRun(account, value.results, value.left, covered, value.error, learned)
                )
        return runs


async def _close(client: Any) -> None:
    try:
        await client.__aexit__(None, None, None)
    except Exception:  # closing one must not leave the others open
        logger.debug("closing a desk client failed", exc_info=True)


def _errors(done: dict[str, Any]) -> dict[str, BaseException | None]:
    """Each account's error, or None where its work returned."""
    return {n: v if isinstance(v, BaseException) else None for n, v in done.items()}


def _covered(account: Account) -> tuple[str, ...] | None:
    """What a failed run covered: nothing it could confirm (its markets stay named)."""
    return account.markets or None


def _child(parent: Control, account: Account, make: Callable[[Account], Control] | None) -> Control:
    """An account's Control: the caller's deadline and grace."""
    child = make(account) if make is not None else Control(max(parent.left(), 1e-3))
    child.ends_at, child.seconds, child.grace = parent.ends_at, parent.seconds, parent.grace
    return child


async def _follow(parent: Control, children: list[Control]) -> None:
    """Pass the caller's stop, and its abort, on to every account's run."""
    # parent.abort() cancels the scopes in flight on it: this one too, which is how an
    # abort (after a stop, when its reason no longer changes) is seen here at once.
    with parent.in_flight():
        while not parent.stopped:
            await anyio.sleep(_FOLLOW_EVERY)
        for child in children:
            child.stop(parent.reason or "stopped", parent.stop_reason or StopReason.STOPPED)
        if parent.stop_reason is not StopReason.ABORTED:
            await anyio.sleep_forever()
    for child in children:  # aborted (the run's own end cancels this task instead)
        child.abort()


class Desk:
    """The sync desk: an :class:`AsyncDesk` on a loop thread of its own (as the sync
    clients run their bulk calls), the same methods, called without ``await``, from
    any thread. A context manager. After ``os.fork()`` the child opens a desk of its
    own on first use (fresh clients, never its parent's connections)."""

    def __init__(self, accounts: Iterable[Account], **options: Unpack[DeskOptions]) -> None:
        self._desk = AsyncDesk(accounts, **options)
        self._lock = threading.Lock()
        self._closed = False
        self._thread: LoopThread | None = None
        self._open()
        _fork.track(self)

    def _open(self) -> LoopThread:
        """The loop thread with the desk open in it (opened again in a forked child)."""
        with self._lock:
            if self._closed:
                raise InvalidRequest("this Desk is closed")
            if self._thread is None:
                thread = LoopThread("cancelkit-desk")
                try:
                    thread.call(self._desk.__aenter__)
                except BaseException:
                    thread.close()
                    raise
                self._thread = thread
            return self._thread

    def _after_fork(self) -> None:
        # The parent's thread, loop and pools stay theirs: left unclosed and unused.
        _fork.leave(self._thread, self._desk)
        self._lock = threading.Lock()
        self._thread = None
        self._desk = AsyncDesk(self._desk.accounts, **self._desk._options)

    @property
    def accounts(self) -> tuple[Account, ...]:
        """The desk's accounts, in the order given."""
        return self._desk.accounts

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close every client and the loop thread."""
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.close(self._desk.aclose)

    def warm(self, deadline: float | None = None) -> dict[str, BaseException | None]:
        """As :meth:`AsyncDesk.warm`."""
        return self._open().call(lambda: self._desk.warm(deadline))

    def prove(self, deadline: float | None = None) -> dict[str, BaseException | None]:
        """As :meth:`AsyncDesk.prove`."""
        return self._open().call(lambda: self._desk.prove(deadline))

    def learn(self, name: str, market: str) -> bool:
        """As :meth:`AsyncDesk.learn` (on the desk's loop thread)."""

        async def learn() -> bool:
            return self._desk.learn(name, market)

        return self._open().call(learn)

    def open_orders(self, deadline: float | None = None) -> dict[str, list[str] | BaseException]:
        """As :meth:`AsyncDesk.open_orders`."""
        return self._open().call(lambda: self._desk.open_orders(deadline))

    def cancel_everywhere(
        self,
        *,
        deadline: float = DEFAULT_DEADLINE,
        on_result: OnResult | None = None,
        control: Control | None = None,
        accounts: Collection[str] | None = None,
        make_control: Callable[[Account], Control] | None = None,
        on_unusable: OnUnusable | None = None,
    ) -> list[AccountRun]:
        """As :meth:`AsyncDesk.cancel_everywhere` (``on_result`` and ``on_unusable``
        are called on the desk's loop thread)."""
        return self._open().call(
            lambda: self._desk.cancel_everywhere(
                deadline=deadline,
                on_result=on_result,
                control=control,
                accounts=accounts,
                make_control=make_control,
                on_unusable=on_unusable,
            )
        )

    def base_url(self, name: str) -> str | None:
        """As :meth:`AsyncDesk.base_url`."""
        return self._desk.base_url(name)


@asynccontextmanager
async def one_shot_desk(accounts: Iterable[Account]) -> AsyncIterator[AsyncDesk]:
    """A desk for one command's run: its clients built on httpx's own transport
    (``_oneshot``: one run per process), each in its account's task (see the
    module), closed when the block ends."""
    desk = AsyncDesk._for_one_run(accounts, one_shot=True)
    try:
        yield desk
    finally:
        await desk.aclose()


async def acancel_everywhere(
    accounts: Iterable[Account],
    *,
    deadline: float = DEFAULT_DEADLINE,
    on_result: OnResult | None = None,
    control: Control | None = None,
    **options: Unpack[DeskOptions],
) -> list[AccountRun]:
    """One call: open a desk on ``accounts``, cancel every open order everywhere,
    close it. One :class:`AccountRun` per account (each client opened in its
    account's task: see the module)."""
    async with AsyncDesk._for_one_run(accounts, False, **options) as desk:
        return await desk.cancel_everywhere(deadline=deadline, on_result=on_result, control=control)


def cancel_everywhere(
    accounts: Iterable[Account],
    *,
    deadline: float = DEFAULT_DEADLINE,
    on_result: OnResult | None = None,
    control: Control | None = None,
    **options: Unpack[DeskOptions],
) -> list[AccountRun]:
    """The sync :func:`acancel_everywhere` (its own event loop; from a thread
    without a running loop)."""
    return anyio.run(
        lambda: acancel_everywhere(
            accounts, deadline=deadline, on_result=on_result, control=control, **options
        )
    )

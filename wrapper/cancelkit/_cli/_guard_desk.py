"""What an armed guard keeps up between firings, on its warm desk: each account's
connection open, its key proven, its clock corrected, its open orders known.

While the guard is idle, each account sends its venue one request every *gap*
seconds: :data:`WARM_EVERY`, or longer where that would spend more than
:data:`UPKEEP_SHARE` of the key's published budget (one call per 300 ms:
one request a minute), counting every request, signed or not. The
request is a signed read when ``--prove-every`` seconds (:data:`READ_EVERY`) have
passed since the last one (a listing of its open orders, one per market where the
venue lists per market, else the venue's cheapest signed read, which is also the read
while the account's order stream is live and reconciled): that read proves
the key (a revoked key shows in the status within a minute or two), and its
``Date`` header keeps the clock correction fresh. Otherwise it is an unsigned
``GET /`` that only keeps the connection open (the pools' keep-alive outlives the
longest gap). Where the client offers a private order stream (``order_events``),
the account's open orders are learned live from it (a WebSocket: no request
counted), and every market it shows orders in is added to what the account's
listing covers; where the venue lists per market (a stream without a snapshot: its
open orders stay the listing's), that market is learned by the desk
(``AsyncDesk.learn``), so its listings and a firing's kill cover it too. A network
error is never the guard's end: the account is marked unreachable, tried again
after :data:`RETRY_EVERY` seconds, and the status says so.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio

from .._exceptions import AuthenticationError
from ._guard_state import utc_iso

if TYPE_CHECKING:
    from .._account import Account
    from .._desk import AsyncDesk

logger = logging.getLogger("cancelkit")

WARM_EVERY = 20.0  # seconds: the shortest gap between an idle account's requests
UPKEEP_SHARE = 0.005  # of a key's published budget: half the 1 % an idle guard may spend
READ_EVERY = 60.0  # seconds between an account's signed reads
RETRY_EVERY = 10.0  # seconds before an unreachable account is tried again
STREAM_RETRY = 10.0  # seconds before a stream that gave up is opened again
ANSWER_WAIT = 20.0  # seconds one read or warm-up may take before it counts as unreachable
MAX_SEEN = 1000  # markets a stream showed, kept per account for the status at most
MAX_ORDERS = 200_000  # open orders a stream showed, kept per account for the status at most
# What an execution on a private order stream says ended the order (the others,
# a partial fill or a replace, leave it open).
_ENDED = frozenset({"fill", "cancelled", "rejected", "expired", "done_for_day"})


def refused(error: BaseException | None) -> bool:
    """Whether a read's error says the venue refused the key (not a network fault)."""
    return isinstance(error, AuthenticationError)


def _text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:300]


def _in(order: Any, subaccount: int) -> bool:
    """Whether a stream's order is in ``subaccount`` (not known: counted, as it may be)."""
    found = getattr(order, "subaccount", None)
    return found is None or found == subaccount


class Upkeep:
    """The guard's upkeep of one desk; :meth:`status` is what ``cancelkit status``
    shows of it."""

    def __init__(
        self,
        desk: AsyncDesk,
        read_every: float = READ_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.desk = desk
        self.read_every = read_every
        self.clock = clock
        self.keys: dict[str, str] = {}  # account -> "accepted" / "REFUSED: ..." / "unproven"
        self.proven_at: dict[str, float] = {}  # time.time() of the last accepted read
        self.unreachable: dict[str, str] = {}  # account -> the network error
        self.orders: dict[str, set[str]] = {}  # account -> open order ids known
        self.orders_from: dict[str, str] = {}  # account -> "stream" / "listing"
        self.markets: dict[str, set[str]] = {}  # account -> markets seen on its stream
        self.streams: dict[str, str] = {}  # account -> "live" / why not
        self._wake = anyio.Event()  # set: every account reads now (after a firing)
        self._turns: dict[str, int] = {}  # account -> its reads so far (the market's turn)
        self._by_market: dict[str, dict[str, set[str]]] = {}  # account -> market -> ids
        self.on_learned: Callable[[], None] | None = None  # a market was learned
        self._capped: set[str] = set()  # accounts whose stream showed more than MAX_ORDERS

    def refresh(self) -> None:
        """Every account's signed read now, not at its next turn: after a firing, the
        status shows what is left and which venues answered (one read per account)."""
        self._wake.set()
        self._wake = anyio.Event()

    # -- at start ------------------------------------------------------------------------

    async def prove(self) -> dict[str, BaseException | None]:
        """Every key proven at once (the guard refuses to start on a refused one)."""
        proofs = await self.desk.prove(ANSWER_WAIT)
        for name, error in proofs.items():
            self._proof(name, error)
        return proofs

    def _proof(self, name: str, error: BaseException | None) -> None:
        if error is None:
            self.keys[name] = "accepted"
            self.proven_at[name] = time.time()
            self.unreachable.pop(name, None)
        elif refused(error):
            self.keys[name] = f"REFUSED: {_text(error)}"
            self.unreachable.pop(name, None)
            logger.warning("%s: the key was refused: %s", name, _text(error))
        else:
            self.keys.setdefault(name, "unproven")
            if name not in self.unreachable:
                logger.warning("%s: unreachable, trying again: %s", name, _text(error))
            self.unreachable[name] = _text(error)

    # -- while armed -----------------------------------------------------------------------

    async def run(self) -> None:
        """Every account's upkeep, forever (each on its own: one venue down holds no
        other)."""
        async with anyio.create_task_group() as group:
            for account in self.desk.accounts:
                group.start_soon(self._account, account)
                if callable(getattr(self._client(account), "order_events", None)):
                    group.start_soon(self._stream, account)

    def _client(self, account: Account) -> Any:
        try:
            return self.desk.client(account.name)
        except KeyError:  # its client could not be built: prove() said why
            return None

    def gap(self, account: Account) -> float:
        """Seconds between the account's idle requests: :data:`WARM_EVERY`, or
        longer where that would spend more than :data:`UPKEEP_SHARE` of its key's
        budget; at most ``--prove-every``."""
        from .._desk_hook import desk_hook

        rate = desk_hook(account.venue).upkeep_rate(account)
        # A --prove-every shorter than that is the operator's choice, and is kept.
        return min(max(WARM_EVERY, 1.0 / (UPKEEP_SHARE * rate)), self.read_every)

    async def _account(self, account: Account) -> None:
        client = self._client(account)
        if client is None:
            return
        gap = self.gap(account)
        last_read = -float("inf")
        next_request = self.clock()  # its open orders known from the start
        while True:
            wake = self._wake
            with anyio.move_on_after(max(0.0, next_request - self.clock())):
                await wake.wait()
            now = self.clock()
            if wake.is_set() or now - last_read >= self.read_every:
                ok = await self._read(account, client, every_market=wake.is_set())
                last_read = now if ok else now - self.read_every + RETRY_EVERY
                next_request = now + (gap if ok else min(RETRY_EVERY, gap))
            else:
                try:
                    with anyio.fail_after(ANSWER_WAIT):
                        await client.warm()
                except Exception as exc:  # the venue down: said in the status, tried again
                    self._proof(account.name, exc)
                    last_read = -float("inf")  # the next request reads, after the pause
                    next_request = now + min(RETRY_EVERY, gap)
                    continue
                next_request = now + gap

    async def _read(self, account: Account, client: Any, every_market: bool = False) -> bool:
        """One signed read: the listing where it covers the account, else the proof.
        Where the venue lists per market, one market a read, in turn (one request
        proves the key as well as many, and the idle cost stays one request a
        gap however many markets the account names); ``every_market`` (after a
        firing: the status shows what is left) lists them all. While the account's
        order stream is live and reconciled, its open orders are the stream's word and
        a listing's answer would be thrown away: the read is the venue's cheapest
        signed read (its hook's ``prove``: where that is a lookup, a fifth of a
        listing's tokens), which proves the key as well; an interrupted stream
        (reconnecting, ended, down) brings the listing back."""
        import attrs

        from .._desk_hook import desk_hook

        hook = desk_hook(account.venue)
        per_market = "markets" in hook.SETTINGS
        account = self.desk.covering(account)  # with the markets its stream showed
        market: str | None = None
        ids: list[str] | None = None
        try:
            with anyio.fail_after(ANSWER_WAIT):
                if self.streams.get(account.name) == "live" or (per_market and not account.markets):
                    await hook.prove(client, account)
                elif per_market and not every_market:
                    turn = self._turns.get(account.name, 0)
                    self._turns[account.name] = turn + 1
                    market = account.markets[turn % len(account.markets)]
                    ids = await hook.open_orders(client, attrs.evolve(account, markets=(market,)))
                else:
                    ids = await hook.open_orders(client, account)
                    self._by_market.pop(account.name, None)
            if ids is not None and self.streams.get(account.name) != "live":
                self._listed(account, market, ids)
        except Exception as exc:  # refused, or unreachable: the status says which
            self._proof(account.name, exc)
            return False
        self._proof(account.name, None)
        return True

    def _listed(self, account: Account, market: str | None, ids: list[str]) -> None:
        """A listing's answer: the account's open orders (in ``market`` only, where
        the venue lists per market: the others' last listings stand)."""
        name = account.name
        if market is None:
            self.orders[name] = set(ids)
        else:
            by_market = self._by_market.setdefault(name, {})
            by_market[market] = set(ids)
            self.orders[name] = set().union(*by_market.values())
        self.orders_from[name] = "listing"

    async def _stream(self, account: Account) -> None:
        """The account's private order stream: its open orders, live."""
        name = account.name
        client = self._client(account)
        while True:
            try:
                events = client.order_events()
                async with contextlib.aclosing(events):
                    async for event in events:
                        self._event(name, event, account.subaccount)
                self.streams[name] = "ended"
            except Exception as exc:  # refused or given up: opened again later
                self.streams[name] = f"down: {_text(exc)}"
                if refused(exc):
                    self._proof(name, exc)
            await anyio.sleep(STREAM_RETRY)

    def _event(self, name: str, event: Any, subaccount: int | None = None) -> None:
        orders = getattr(event, "orders", None)
        order = getattr(event, "order", None)
        if subaccount is not None:  # a stream of every subaccount: only the account's
            if orders is not None:
                orders = [o for o in orders if _in(o, subaccount)]
            elif order is not None and not _in(order, subaccount):
                return
        if orders is not None:  # a snapshot (possibly in parts, until eof)
            known = self.orders.setdefault(name, set())
            if self.orders_from.get(name) != "stream-snapshot":
                known.clear()
                self._capped.discard(name)
                self.orders_from[name] = "stream-snapshot"
            for item in orders:
                self._known(name, known, str(item.id))
                self._market(name, getattr(item, "market_slug", None))
            if getattr(event, "eof", False):
                self.orders_from[name] = "stream"
                self.streams[name] = "live"
        elif order is not None:
            known = self.orders.setdefault(name, set())
            if getattr(event, "kind", None) in _ENDED:
                known.discard(str(order.id))
            else:
                self._known(name, known, str(order.id))
            self._market(name, getattr(order, "market_slug", None))
        elif getattr(event, "reason", None) is not None:  # interrupted: it reconnects
            self.streams[name] = f"reconnecting: {event.reason}"[:300]
        elif hasattr(event, "market_slug"):  # an event naming its market, not its order's state
            self._market(name, event.market_slug)
        elif hasattr(event, "attempt"):  # subscribed to a stream without a snapshot
            self.streams[name] = "subscribed (no snapshot: open orders from the listing)"

    def _known(self, name: str, known: set[str], order_id: str) -> None:
        """One open order the stream showed, kept up to :data:`MAX_ORDERS` (a stream
        inventing orders for days costs bounded memory; the status says so)."""
        if len(known) < MAX_ORDERS:
            known.add(order_id)
        elif order_id not in known and name not in self._capped:
            self._capped.add(name)
            logger.warning("%s: its order stream shows more than %d open orders", name, MAX_ORDERS)

    def _market(self, name: str, slug: Any) -> None:
        if isinstance(slug, str) and slug:
            seen = self.markets.setdefault(name, set())
            if len(seen) < MAX_SEEN:  # a stream naming endless markets: memory bounded
                seen.add(slug)
            if self.desk.learn(name, slug):
                logger.info(
                    "%s: market %s seen on its order stream: its listings and kill cover it",
                    name,
                    slug,
                )
                if self.on_learned is not None:
                    self.on_learned()

    def coverage(self, account: Account) -> list[dict[str, str]] | None:
        """The markets the account's listings and kill cover, each with where it came
        from (``configured``, or ``order stream``); None where the venue's cancel-all
        covers the whole account."""
        from .._desk_hook import desk_hook

        if "markets" not in desk_hook(account.venue).SETTINGS:
            return None
        return [
            {"market": m, "from": "configured" if m in account.markets else "order stream"}
            for m in self.desk.covering(account).markets
        ]

    def _from(self, name: str) -> str | None:
        said = self.orders_from.get(name)
        if said is not None and said.startswith("stream") and name in self._capped:
            return f"{said}; more than {MAX_ORDERS}, counted to there"
        return said

    def status(self) -> dict[str, Any]:
        """Per account: its venue, key, open orders known and where from; and the
        venues unreachable now."""
        accounts = []
        for account in self.desk.accounts:
            name = account.name
            proven = self.proven_at.get(name)
            accounts.append(
                {
                    "name": name,
                    "venue": account.venue,
                    "key_id": account.key_id,
                    "key": self.keys.get(name, "unproven"),
                    "key_proven": None if proven is None else utc_iso(proven),
                    "open_orders": len(self.orders[name]) if name in self.orders else None,
                    "orders_from": self._from(name),
                    "stream": self.streams.get(name),
                    "markets_seen": sorted(self.markets.get(name, ())),
                    "markets_covered": self.coverage(account),
                    "unreachable": self.unreachable.get(name),
                }
            )
        venues = sorted({a.venue for a in self.desk.accounts if a.name in self.unreachable})
        return {"accounts": accounts, "venues_unreachable": venues}

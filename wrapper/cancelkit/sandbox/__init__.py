"""A local sandbox of the exchanges, for running and testing cancel logic offline.

It verifies signatures as the exchanges describe, validates every request against
the verbatim specs with openapi-core, keeps an in-memory order book per account,
and can inject the faults a kill switch must survive. Routes under ``/_sandbox/``
(seeding and listing orders, knobs, counters) are the sandbox's own, not part of
any exchange's API.

>>> with Sandbox() as sandbox:                                   # doctest: +SKIP
...     sandbox.seed_polymarket("ord-1", market_slug="nba-lal-bos")
...     with sandbox.polymarket_client() as pm:
...         pm.cancel_order("ord-1")
"""

from __future__ import annotations

from ._extra import require

require()  # an ImportError that names the extra, not starlette

# ruff: noqa: E402  (the check above must come before the extra's imports)
import asyncio
import base64
import functools
import json
import os
import secrets
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self, TypedDict, Unpack
from uuid import uuid4

import attrs
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from .._limiter import GLOBAL
from ..kalshi._rates import Tier
from ..limitless._rates import LIMITLESS
from ._frames import FramesProtocol
from ._kalshi import DEFAULT_TICKER, KALSHI_STATUSES, MEMBER, PREFIX, KalshiKey, kalshi_app
from ._kalshi import order_json as kalshi_order_json
from ._kalshi_ws import KalshiStreamHub
from ._limitless import DELEGATED, LimitlessToken, limitless_app
from ._limitless_ws import LimitlessStreamHub
from ._polymarket import DEFAULT_MARKET, PolymarketKey, order_json, polymarket_app, quantity_of
from ._polymarket_ws import StreamHub
from ._requests import RecordedRequest
from ._server import BackgroundServer
from ._state import OPEN, Book, Knobs, Order, Stats

if TYPE_CHECKING:
    from cancelkit import (
        AsyncLimitlessClient,
        AsyncPolymarketUSClient,
        LimitlessClient,
        PolymarketUSClient,
    )
    from cancelkit._base import AsyncOptions as _AsyncOptions
    from cancelkit._base import SyncOptions as _SyncOptions
    from cancelkit.kalshi._client import AsyncKalshiClient, KalshiClient

__all__ = [
    "DEFAULT_MARKET",
    "DEFAULT_TICKER",
    "Credentials",
    "KnobChanges",
    "Knobs",
    "Order",
    "RecordedRequest",
    "Sandbox",
    "Stats",
]


class KnobChanges(TypedDict, total=False):
    """The keyword arguments of :meth:`Sandbox.set_knobs`: one per field of
    :class:`Knobs` (see there what each does), so that a type checker refuses a
    misspelt knob or a value of the wrong type before the sandbox would."""

    rate_limit: float
    latency: float
    failure_rate: float
    drop_rate: float
    throttle_rate: float
    clock_offset: float
    spike_rate: float
    spike_latency: float
    cancel_delay: float
    fill_pending: float
    endpoint_limits: bool
    seed: int | None
    max_fault_streak: int | None
    validate: bool
    published_limits: bool
    maintenance: Literal["normal", "post_only", "cancel_only", "disabled"]
    cancel_all_stuck: int
    stream: bool
    stream_heartbeat: float
    stream_delay: float
    stream_snapshot_delay: float
    stream_drop_every: int
    stream_duplicate_every: int
    stream_reorder_every: int
    stream_close_after: int
    stream_ping_every: float
    stream_silent: bool
    wrong_answer_rate: float
    tier: Tier


POLYMARKET_ACCOUNT = "pm-demo"
PARTNER_PROFILE = 1001
SUB_ACCOUNT = 2001
OTHER_PROFILE = 1002


@attrs.frozen
class Credentials:
    """The demo credentials of a running sandbox (sandbox-only; never real keys)."""

    polymarket_key_id: str
    polymarket_secret_key: str = attrs.field(repr=False)
    polymarket_public_key: str
    limitless_token_id: str
    limitless_secret: str = attrs.field(repr=False)
    limitless_profile_id: int
    limitless_sub_account: int
    limitless_other_token_id: str
    limitless_other_secret: str = attrs.field(repr=False)
    limitless_other_profile_id: int
    # Kalshi: one key of each kind the exchange takes, both the demo member's.
    kalshi_rsa_key_id: str = ""
    kalshi_rsa_private_key: str = attrs.field(default="", repr=False)  # PKCS#8 PEM, 2048-bit
    kalshi_ed25519_key_id: str = ""
    kalshi_ed25519_private_key: str = attrs.field(default="", repr=False)  # PKCS#8 PEM

    def kalshi_key(self, key: KalshiKeyType = "ed25519") -> tuple[str, str]:
        """The Kalshi key id and private key PEM of ``key`` (``rsa`` or ``ed25519``)."""
        if key == "rsa":
            return self.kalshi_rsa_key_id, self.kalshi_rsa_private_key
        if key == "ed25519":
            return self.kalshi_ed25519_key_id, self.kalshi_ed25519_private_key
        raise ValueError(f"key must be 'rsa' or 'ed25519', not {key!r}")

    def env(
        self, polymarket_url: str, limitless_url: str, kalshi_url: str | None = None
    ) -> dict[str, str]:
        """The environment variables ``from_env`` and the CLI read (Kalshi's, with the
        Ed25519 key, when ``kalshi_url`` is given)."""
        found = {
            "POLYMARKET_KEY_ID": self.polymarket_key_id,
            "POLYMARKET_SECRET_KEY": self.polymarket_secret_key,
            "POLYMARKET_API_URL": polymarket_url,
            "LIMITLESS_TOKEN_ID": self.limitless_token_id,
            "LIMITLESS_TOKEN_SECRET": self.limitless_secret,
            "LIMITLESS_API_URL": limitless_url,
        }
        if kalshi_url is not None:
            key_id, pem = self.kalshi_key()
            found |= {
                "KALSHI_API_KEY_ID": key_id,
                "KALSHI_PRIVATE_KEY": pem,
                "KALSHI_API_URL": kalshi_url,
            }
        return found


# Called with the credentials of every sandbox made in this process: the test suite's
# secret scan registers here (their secrets must never show); empty otherwise.
on_credentials: list[Callable[[Credentials], None]] = []


def _credentials() -> Credentials:
    made = _new_credentials()
    for hook in on_credentials:
        hook(made)
    return made


KalshiKeyType = Literal["rsa", "ed25519"]


@functools.cache
def _kalshi_rsa_pem() -> str:
    """One 2048-bit RSA key per process (about 0.1 s to make; sandbox-only)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()


def _pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()


def _kalshi_keys(c: Credentials) -> dict[str, KalshiKey]:
    """The registered public halves of the demo credentials' Kalshi keys."""
    found = {}
    for key_id, pem in (c.kalshi_key("rsa"), c.kalshi_key("ed25519")):
        public = load_pem_private_key(pem.encode(), None).public_key()
        assert isinstance(public, rsa.RSAPublicKey | Ed25519PublicKey)
        found[key_id] = KalshiKey(key_id, public, MEMBER)
    return found


def _new_credentials() -> Credentials:
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes_raw()
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return Credentials(
        polymarket_key_id=str(uuid4()),
        polymarket_secret_key=base64.b64encode(seed + public).decode(),
        polymarket_public_key=base64.b64encode(public).decode(),
        limitless_token_id=f"sbx_{secrets.token_hex(8)}",
        limitless_secret=base64.b64encode(os.urandom(32)).decode(),
        limitless_profile_id=PARTNER_PROFILE,
        limitless_sub_account=SUB_ACCOUNT,
        limitless_other_token_id=f"sbx_{secrets.token_hex(8)}",
        limitless_other_secret=base64.b64encode(os.urandom(32)).decode(),
        limitless_other_profile_id=OTHER_PROFILE,
        kalshi_rsa_key_id=str(uuid4()),
        kalshi_rsa_private_key=_kalshi_rsa_pem(),
        kalshi_ed25519_key_id=str(uuid4()),
        kalshi_ed25519_private_key=_pem(Ed25519PrivateKey.generate()),
    )


class Sandbox:
    """The exchanges on loopback, with demo credentials and direct access to their books.

    Args:
        host: address to listen on (loopback by default).
        polymarket_port: the Polymarket US server's port; 0 for an ephemeral one.
        limitless_port: the Limitless server's port; 0 for an ephemeral one.
        kalshi_port: the Kalshi server's port; 0 for an ephemeral one.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        polymarket_port: int = 0,
        limitless_port: int = 0,
        kalshi_port: int = 0,
    ) -> None:
        self.credentials = _credentials()
        c = self.credentials
        self.polymarket = Book("polymarket", default_owner=POLYMARKET_ACCOUNT)
        self.limitless = Book(
            "limitless", default_owner=str(PARTNER_PROFILE), pace=LIMITLESS[GLOBAL]
        )
        self.kalshi = Book("kalshi", default_owner=MEMBER)
        pm_key = PolymarketKey(
            c.polymarket_key_id, base64.b64decode(c.polymarket_public_key), POLYMARKET_ACCOUNT
        )
        partner = LimitlessToken(
            c.limitless_token_id,
            base64.b64decode(c.limitless_secret),
            PARTNER_PROFILE,
            frozenset({"trading", DELEGATED}),
            frozenset({SUB_ACCOUNT}),
        )
        other = LimitlessToken(
            c.limitless_other_token_id, base64.b64decode(c.limitless_other_secret), OTHER_PROFILE
        )
        self._polymarket_stream = StreamHub(self.polymarket, order_json, DEFAULT_MARKET)
        self._limitless_stream = LimitlessStreamHub(self.limitless)
        # The keys each app knows, kept here so that add_account() can add one.
        self._pm_keys, self._lm_tokens = {pm_key.key_id: pm_key}, {partner.token_id: partner}
        self._lm_tokens[other.token_id] = other
        self._kalshi_keys = _kalshi_keys(c)
        self._kalshi_stream = KalshiStreamHub(self.kalshi, kalshi_order_json)
        self._servers = (
            BackgroundServer(
                polymarket_app(self.polymarket, self._pm_keys, self._polymarket_stream),
                host,
                polymarket_port,
            ),
            BackgroundServer(
                limitless_app(self.limitless, self._lm_tokens, self._limitless_stream),
                host,
                limitless_port,
            ),
            BackgroundServer(
                kalshi_app(self.kalshi, self._kalshi_keys, self._kalshi_stream),
                host,
                kalshi_port,
                ws=FramesProtocol,  # Kalshi's Pings, every stream_ping_every seconds
            ),
        )

    @property
    def polymarket_url(self) -> str:
        """Base URL of the Polymarket US sandbox."""
        return self._servers[0].url

    @property
    def limitless_url(self) -> str:
        """Base URL of the Limitless sandbox."""
        return self._servers[1].url

    @property
    def kalshi_url(self) -> str:
        """Base URL of the Kalshi sandbox, with the API root's path (``/trade-api/v2``,
        which a client signs); its admin routes are at the server's root."""
        return self._servers[2].url + PREFIX

    def start(self) -> Self:
        """Start every venue's server."""
        for server in self._servers:
            server.start()
        return self

    def stop(self) -> None:
        """Stop every venue's server."""
        # Each takes ~0.13 s (uvicorn's 0.1 s tick, then its shutdown): told all at once,
        # they stop together (a test suite stops a sandbox per test).
        for server in self._servers:
            server.ask_to_stop()
        for server in self._servers:
            server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        """Environment variables pointing ``from_env`` and the CLI at this sandbox."""
        return self.credentials.env(self.polymarket_url, self.limitless_url, self.kalshi_url)

    def seed_polymarket(
        self,
        order_id: str,
        *,
        market_slug: str = DEFAULT_MARKET,
        owner: str = POLYMARKET_ACCOUNT,
        status: str = OPEN,
    ) -> Order:
        """Add a Polymarket order: open unless ``status`` is ``cancelled`` or ``filled``."""
        return self.polymarket.seed(Order(order_id, owner, market_slug=market_slug, status=status))

    def fill_polymarket(self, order_id: str, quantity: float | None = None) -> Order:
        """Fill a Polymarket order on the book now: all of it (it leaves the book as
        filled), or ``quantity`` shares of it if fewer than are left (it stays open,
        partly filled). Its execution goes out on the private order stream. KeyError
        if there is no such order; ValueError if it is no longer on the book or
        ``quantity`` is not a positive number."""
        if quantity is not None and (
            isinstance(quantity, bool) or not isinstance(quantity, int | float) or quantity <= 0
        ):
            raise ValueError(f"quantity must be a positive number of shares, not {quantity!r}")
        order = self.polymarket.get(order_id)
        if order is None:
            raise KeyError(order_id)
        if not self.polymarket.fill(order, quantity, quantity_of(order)):
            raise ValueError(f"order {order_id!r} is {order.status} and off the book")
        return order

    def drop_kalshi_stream(self) -> int:
        """Close every open connection of the Kalshi WebSocket (``/trade-api/ws/v2``)
        now, as a restarting gateway would (a client reconnects, resubscribes and
        lists again). Returns how many were open."""
        return self._kalshi_stream.drop()

    @property
    def kalshi_stream_connections(self) -> int:
        """Connections open now on the Kalshi WebSocket."""
        return len(self._kalshi_stream.links)

    def push_polymarket_stream(self, message: str | dict[str, Any]) -> int:
        """Send ``message`` on every open connection of the Polymarket private order
        stream (a hostile or malformed message, for tests): a string as is, once per
        connection; a JSON object once per subscription, with that subscription's
        ``requestId``. Returns how many were queued, once they are."""
        loop = self._polymarket_stream.loop
        if loop is None or loop.is_closed():
            return 0
        future = asyncio.run_coroutine_threadsafe(self._polymarket_stream.push(message), loop)
        return future.result(timeout=10)

    @property
    def limitless_stream_subscribes(self) -> int:
        """How many ``subscribe_order_events`` the Limitless private stream has taken
        (each on a connection that joined ``/markets``): a test waits for it before
        placing an order it expects to be heard."""
        return self._limitless_stream.subscribes

    def seed_limitless(
        self,
        order_id: str | None = None,
        *,
        client_order_id: str | None = None,
        owner: int = PARTNER_PROFILE,
        market_slug: str | None = None,
        status: str = OPEN,
    ) -> Order:
        """Add a Limitless order (a fresh UUID unless ``order_id`` is given), in market
        ``market_slug`` if given: open unless ``status`` is ``cancelled`` or ``filled``;
        the demo token's unless ``owner`` is another profile."""
        order = Order(
            order_id or str(uuid4()),
            str(owner),
            client_order_id=client_order_id,
            market_slug=market_slug,
            status=status,
        )
        return self.limitless.seed(order)

    def seed_kalshi(
        self,
        order_id: str | None = None,
        *,
        ticker: str = DEFAULT_TICKER,
        subaccount: int = 0,
        status: str = "resting",
        client_order_id: str | None = None,
        owner: str = MEMBER,
    ) -> Order:
        """Add a Kalshi order of the demo member (a fresh UUID unless ``order_id`` is
        given) in market ``ticker`` and ``subaccount`` (0, the primary, to 63):
        ``resting`` unless ``status`` is ``canceled`` or ``executed``; another member's
        if ``owner`` names one (``owner=key.owner`` for a key of :meth:`add_account`)."""
        if status not in KALSHI_STATUSES:
            raise ValueError(f"status must be one of {list(KALSHI_STATUSES)}, not {status!r}")
        if isinstance(subaccount, bool) or not isinstance(subaccount, int):
            raise ValueError(f"subaccount must be an integer, not {subaccount!r}")
        if not 0 <= subaccount <= 63:
            raise ValueError(f"subaccount must be 0 (primary) to 63, not {subaccount}")
        order = Order(
            order_id or str(uuid4()),
            owner,
            client_order_id=client_order_id,
            market_slug=ticker,
            status=KALSHI_STATUSES[status],
            subaccount=subaccount,
        )
        return self.kalshi.seed(order)

    @property
    def _books(self) -> tuple[Book, ...]:
        return (self.polymarket, self.limitless, self.kalshi)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request an exchange received (its admin routes aside), in order
        of arrival: venue, method, path, query, parsed body, whether its signature
        verified, and the status answered. :meth:`clear_requests` empties it."""
        every = [entry for book in self._books for entry in book.log.entries()]
        return sorted(every, key=lambda r: r.seq)

    @property
    def stream_snapshots(self) -> list[float]:
        """When each Polymarket stream subscription's snapshot was sent
        (``time.monotonic()``, the clock of :attr:`RecordedRequest.arrived`), in order."""
        return list(self._polymarket_stream.snapshots)

    def clear_requests(self) -> None:
        """Forget the requests received so far."""
        for book in self._books:
            book.log.clear()

    def set_knobs(self, **knobs: Unpack[KnobChanges]) -> None:
        """Set the same knobs on every venue (see :class:`Knobs`), all or none: a
        value the sandbox refuses raises ValueError naming it; a misspelt knob is an
        error for type checkers (and a ValueError at run time)."""
        for book in self._books:
            book.set_knobs(**knobs)

    def open_orders(self) -> list[Order]:
        """Every order on any venue still on the book (open, or its cancel pending)."""
        return [o for book in self._books for o in list(book.orders.values()) if o.on_book()]

    def _polymarket_arguments(self) -> tuple[str, str, str]:
        c = self.credentials
        return c.polymarket_key_id, c.polymarket_secret_key, self.polymarket_url

    def _limitless_arguments(self) -> tuple[str, str, str]:
        c = self.credentials
        return c.limitless_token_id, c.limitless_secret, self.limitless_url

    def kalshi_client(
        self,
        *,
        key: KalshiKeyType = "ed25519",
        tier: Tier | None = None,
        **kwargs: Unpack[_SyncOptions],
    ) -> KalshiClient:
        """A Kalshi client for a demo key: ``key`` ``ed25519`` or ``rsa`` (RSA-PSS);
        ``tier`` the ``tier`` knob's unless given; keyword arguments as the
        constructor's (``base_url`` defaults to this sandbox)."""
        from cancelkit.kalshi._client import KalshiClient

        key_id, pem = self.credentials.kalshi_key(key)
        options: dict[str, Any] = {"base_url": self.kalshi_url} | dict(kwargs)
        return KalshiClient(key_id, pem, tier=tier or self._kalshi_tier(), **options)

    def async_kalshi_client(
        self,
        *,
        key: KalshiKeyType = "ed25519",
        tier: Tier | None = None,
        **kwargs: Unpack[_AsyncOptions],
    ) -> AsyncKalshiClient:
        """An async Kalshi client for a demo key (see :meth:`kalshi_client`)."""
        from cancelkit.kalshi._client import AsyncKalshiClient

        key_id, pem = self.credentials.kalshi_key(key)
        options: dict[str, Any] = {"base_url": self.kalshi_url} | dict(kwargs)
        return AsyncKalshiClient(key_id, pem, tier=tier or self._kalshi_tier(), **options)

    def _kalshi_tier(self) -> Tier:
        tier: Tier = self.kalshi.knobs.tier  # type: ignore[assignment]  # checked by Knobs
        return tier

    def polymarket_client(self, **kwargs: Unpack[_SyncOptions]) -> PolymarketUSClient:
        """A :class:`cancelkit.PolymarketUSClient` for the demo key; keyword arguments
        as the constructor's (``base_url`` defaults to this sandbox)."""
        from cancelkit import PolymarketUSClient

        key, secret, url = self._polymarket_arguments()
        return PolymarketUSClient(key, secret, **({"base_url": url} | kwargs))

    def limitless_client(
        self, *, paced: bool = True, **kwargs: Unpack[_SyncOptions]
    ) -> LimitlessClient:
        """A :class:`cancelkit.LimitlessClient` for the demo partner token (``paced``:
        see the client)."""
        from cancelkit import LimitlessClient

        key, secret, url = self._limitless_arguments()
        return LimitlessClient(key, secret, paced=paced, **({"base_url": url} | kwargs))

    def async_polymarket_client(self, **kwargs: Unpack[_AsyncOptions]) -> AsyncPolymarketUSClient:
        """An :class:`cancelkit.AsyncPolymarketUSClient` for the demo key."""
        from cancelkit import AsyncPolymarketUSClient

        key, secret, url = self._polymarket_arguments()
        return AsyncPolymarketUSClient(key, secret, **({"base_url": url} | kwargs))

    def async_limitless_client(
        self, *, paced: bool = True, **kwargs: Unpack[_AsyncOptions]
    ) -> AsyncLimitlessClient:
        """An :class:`cancelkit.AsyncLimitlessClient` for the demo partner token
        (``paced``: see the client)."""
        from cancelkit import AsyncLimitlessClient

        key, secret, url = self._limitless_arguments()
        return AsyncLimitlessClient(key, secret, paced=paced, **({"base_url": url} | kwargs))

    # -- a desk: more keys per venue (issue 33) ---------------------------------------

    def add_account(
        self,
        venue: Literal["polymarket", "limitless", "kalshi"],
        *,
        key: KalshiKeyType = "ed25519",
    ) -> DeskKey:
        """Another key on ``venue``, acting for an account of its own: its orders are
        its own on the venue's book (seed them with ``owner=key.owner``), as a desk
        with several keys per venue has. Sandbox-only credentials. A Kalshi key is
        ``key``'s kind (``ed25519``, or ``rsa``: 2048-bit, signing RSA-PSS), its secret
        the private key's PKCS#8 PEM, its owner a member of its own."""
        n = len(self._pm_keys) + len(self._lm_tokens) + len(self._kalshi_keys)
        made: DeskKey
        if venue == "polymarket":
            private = Ed25519PrivateKey.generate()
            public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            secret = base64.b64encode(private.private_bytes_raw() + public).decode()
            made = DeskKey(venue, str(uuid4()), secret, f"pm-desk-{n}", self.polymarket_url)
            self._pm_keys[made.key_id] = PolymarketKey(made.key_id, public, made.owner)
        elif venue == "limitless":
            raw = os.urandom(32)
            token = LimitlessToken(f"sbx_{secrets.token_hex(8)}", raw, 3000 + n)
            made = DeskKey(
                venue,
                token.token_id,
                base64.b64encode(raw).decode(),
                str(token.profile_id),
                self.limitless_url,
            )
            self._lm_tokens[token.token_id] = token
        elif venue == "kalshi":
            signer: Ed25519PrivateKey | rsa.RSAPrivateKey
            if key == "ed25519":
                signer = Ed25519PrivateKey.generate()
            elif key == "rsa":
                signer = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            else:
                raise ValueError(f"key must be 'rsa' or 'ed25519', not {key!r}")
            pem = signer.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
            made = DeskKey(venue, str(uuid4()), pem, f"kalshi-desk-{n}", self.kalshi_url)
            # Added to the dict the running app reads: the key works at once.
            self._kalshi_keys[made.key_id] = KalshiKey(made.key_id, signer.public_key(), made.owner)
        else:
            raise ValueError(f"no such sandbox venue: {venue!r}")
        for hook in on_desk_key:
            hook(made)
        return made


@attrs.frozen
class DeskKey:
    """A key :meth:`Sandbox.add_account` made: its venue, id, secret (never in the
    repr), the owner its orders carry on the book, and its sandbox's URL."""

    venue: str
    key_id: str
    secret: str = attrs.field(repr=False)
    owner: str
    base_url: str

    def table(
        self,
        name: str,
        secret_env: str | None = None,
        *,
        secret_file: str | None = None,
        **settings: str | int,
    ) -> str:
        """This key's table in an accounts file, its secret named by ``secret_env`` or
        ``secret_file`` (one of them), with the venue's ``settings`` (``tier``,
        ``subaccount``) if given."""
        if (secret_env is None) == (secret_file is None):
            raise ValueError("give one of secret_env and secret_file")
        reference = (
            ("secret_env", secret_env) if secret_file is None else ("secret_file", secret_file)
        )
        lines = [
            f"[{name}]",
            *(
                f"{setting} = {json.dumps(value)}"
                for setting, value in (
                    ("venue", self.venue),
                    ("key_id", self.key_id),
                    ("base_url", self.base_url),
                    reference,
                    *settings.items(),
                )
            ),
        ]
        return "\n".join(lines) + "\n"

    def env(self) -> dict[str, str]:
        """The venue's standard environment variables for this key (an account from
        the environment, ``from_env``), the secret included."""
        names = _ENV_NAMES[self.venue]
        return dict(zip(names, (self.key_id, self.secret, self.base_url), strict=True))


# The (key id, secret, base URL) variables each venue's ``from_env`` reads.
_ENV_NAMES = {
    "polymarket": ("POLYMARKET_KEY_ID", "POLYMARKET_SECRET_KEY", "POLYMARKET_API_URL"),
    "limitless": ("LIMITLESS_TOKEN_ID", "LIMITLESS_TOKEN_SECRET", "LIMITLESS_API_URL"),
    "kalshi": ("KALSHI_API_KEY_ID", "KALSHI_PRIVATE_KEY", "KALSHI_API_URL"),
}


# Called with every key add_account() makes (the test suite's secret scan).
on_desk_key: list[Callable[[DeskKey], None]] = []

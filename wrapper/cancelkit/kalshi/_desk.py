"""Kalshi's part of the desk (``cancelkit._desk_hook.DeskHook``): its account from the
environment (the PEM by variable or by file), its client at the key's tier, its
whole-account kill (the exchange's cancel-all, in the account's subaccount or in
every one, confirmed by listing) and its cheap signed read (one order lookup)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, cast

from .._accounts import Account, SecretRef, env_account
from .._desk_hook import Killed, client_arguments
from .._exceptions import InvalidRequest, OrderNotFound

if TYPE_CHECKING:
    from .._base import AsyncOptions
    from .._bulk import CancelResult, Control
    from ._async_client import AsyncKalshiClient
    from ._rates import Tier

SETTINGS = frozenset({"tier", "subaccount"})
# The clients' default (_client_base.DEFAULT_BASE_URL, which a test holds equal):
# named here so that a run names it without importing the client code.
DEFAULT_BASE_URL = "https://external-api.kalshi.com/trade-api/v2"
# What its one-run kill imports (``DeskHook.PRELOAD``).
PRELOAD: tuple[str, ...] = (
    "cancelkit.kalshi._client",
    "cancelkit.kalshi._kill",
    "cancelkit.kalshi._events",
)
# An order id no order has: looking it up proves the key (404 from a signed read).
_NO_ORDER = "cancelkit-key-check"


def check(account: Account) -> None:
    """The tier and the subaccount, as the client would check them."""
    from . import _rates
    from . import _validation as valid

    if account.tier is not None and account.tier not in _rates.TIERS:
        raise InvalidRequest(f"unknown tier {account.tier!r} (one of: {', '.join(_rates.TIERS)})")
    if account.subaccount is not None:
        valid.subaccount(account.subaccount)


def from_environ(environ: Mapping[str, str]) -> Account | None:
    """The account of ``KALSHI_API_KEY_ID`` with ``KALSHI_PRIVATE_KEY`` (the PEM) or
    ``KALSHI_PRIVATE_KEY_PATH`` (its file), and ``KALSHI_API_URL``, if set."""
    from ._client_base import KEY_PATH_ENV, _Kalshi, key_path

    key_var, _, url_var = _Kalshi._env
    path = key_path(environ)
    if path is None:
        return env_account("kalshi", environ, _Kalshi._env)
    if not environ.get(key_var):
        raise InvalidRequest(f"{key_var} and {KEY_PATH_ENV} go together: {key_var} is not set")
    return Account(
        "kalshi",
        "kalshi",
        environ[key_var],
        SecretRef(file=path),
        base_url=environ.get(url_var) or None,
    )


def client(account: Account, secret: str, options: AsyncOptions) -> AsyncKalshiClient:
    """The account's async client, at its tier's limits."""
    from . import _rates
    from ._client import AsyncKalshiClient

    key_id, options = client_arguments(account, options)
    tier = cast("Tier", account.tier) if account.tier is not None else _rates.DEFAULT_TIER
    return AsyncKalshiClient(key_id, secret, tier=tier, **options)


async def kill(
    client: AsyncKalshiClient,
    account: Account,
    control: Control,
    on_result: Callable[[CancelResult[str]], None],
) -> Killed:
    """The exchange's cancel-all (the account's subaccount, or all of them), confirmed
    by listing resting orders until none is left. On a guard's client, whose private
    order stream is read and live, the orders it knows are named and the cancel-all
    goes first (``_live``); else they are listed first. When the first listing failed (a key
    refused, the venue down), nothing was sent and nothing is known: the account's
    run fails with that error and what is left is unknown, as on the other venues."""
    results = await client.cancel_all(
        subaccount=account.subaccount, on_result=on_result, control=control
    )
    if len(results) == 1 and _unsent_run(results[0]):
        return Killed(tuple(results), None, None, results[0].error)
    return Killed.counted(results)


def _unsent_run(result: CancelResult[str]) -> bool:
    """The client's one result for a cancel-all never sent (no order id: an order's
    id is never empty), carrying the first listing's error."""
    return result.target == "" and result.status == "not_sent" and result.error is not None


async def prove(client: AsyncKalshiClient, account: Account) -> None:
    """One signed lookup of an order no one has: its 404 says the key was accepted."""
    try:
        await client.get_order(_NO_ORDER)
    except OrderNotFound:
        return


async def open_orders(client: AsyncKalshiClient, account: Account) -> list[str]:
    """The ids of the key's resting orders (in its subaccount, if it names one)."""
    return [o.order_id for o in await client.open_orders(subaccount=account.subaccount)]


def upkeep_rate(account: Account) -> float:
    """The tier's Read budget over a listing's cost (Basic: 200 tokens/s, 10 each): the
    dearest signed read of the upkeep (while the stream is live it is ``prove``, 2)."""
    from . import _rates

    tier = cast("Tier", account.tier) if account.tier is not None else _rates.DEFAULT_TIER
    bucket, cost = _rates.COSTS[_rates.LIST]
    assert bucket == _rates.READ
    return _rates.KALSHI_TIERS[tier].read / cost

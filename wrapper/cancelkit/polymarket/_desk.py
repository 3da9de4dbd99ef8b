"""Polymarket US's part of the desk (``cancelkit._desk_hook.DeskHook``): its account
from the environment, its client, its whole-account kill (the exchange's cancel-all,
confirmed by the listing) and its cheap signed read (one listing)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from .._accounts import Account, env_account
from .._desk_hook import Killed, client_arguments

if TYPE_CHECKING:
    from .._base import AsyncOptions
    from .._bulk import CancelResult, Control
    from ._async_client import AsyncPolymarketUSClient

SETTINGS: frozenset[str] = frozenset()  # one key, one account: no tier, sub-account, markets
# The clients' default (_client_base.DEFAULT_BASE_URL, which a test holds equal):
# named here so that a run names it without importing the client code.
DEFAULT_BASE_URL = "https://api.polymarket.us"
# What its one-run kill imports (``DeskHook.PRELOAD``).
PRELOAD: tuple[str, ...] = (
    "cancelkit.polymarket._client",
    "cancelkit.polymarket._kill",
    "cancelkit.polymarket._stream",
    "cancelkit._transport",
)


def check(account: Account) -> None:
    """Nothing more to check: a Polymarket account is its key."""


def from_environ(environ: Mapping[str, str]) -> Account | None:
    """The account of ``POLYMARKET_KEY_ID``/``POLYMARKET_SECRET_KEY`` (and
    ``POLYMARKET_API_URL``), if set."""
    from ._client_base import _Polymarket

    return env_account("polymarket", environ, _Polymarket._env)


def client(account: Account, secret: str, options: AsyncOptions) -> AsyncPolymarketUSClient:
    """The account's async client."""
    from ._client import AsyncPolymarketUSClient

    key_id, options = client_arguments(account, options)
    return AsyncPolymarketUSClient(key_id, secret, **options)


async def kill(
    client: AsyncPolymarketUSClient,
    account: Account,
    control: Control,
    on_result: Callable[[CancelResult[str]], None],
) -> Killed:
    """The exchange's cancel-all over every market, confirmed by the listing."""
    results = await client.cancel_all(on_result=on_result, control=control)
    return Killed.counted(results)


async def prove(client: AsyncPolymarketUSClient, account: Account) -> None:
    """One signed listing of open orders."""
    await client.open_orders()


async def open_orders(client: AsyncPolymarketUSClient, account: Account) -> list[str]:
    """The ids of the key's open orders."""
    return [str(order.id) for order in await client.open_orders()]


def upkeep_rate(account: Account) -> float:
    """20 requests a second per key: the stricter of the two published pages."""
    from .._limiter import GLOBAL
    from ._rates import POLYMARKET_FLAT

    return POLYMARKET_FLAT[GLOBAL].rate

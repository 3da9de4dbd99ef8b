"""Limitless's part of the desk (``cancelkit._desk_hook.DeskHook``). Limitless lists
an account's orders only per market (``GET /markets/{slug}/user-orders``): an account
names its markets (``markets``; ``LIMITLESS_MARKETS=slug,slug`` for the environment's
account), and one with none is not covered."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING
from uuid import UUID

from .._accounts import Account, env_account
from .._desk_hook import Killed, client_arguments
from .._exceptions import InvalidRequest

if TYPE_CHECKING:
    from .._base import AsyncOptions
    from .._bulk import CancelResult, Control
    from ._async_client import AsyncLimitlessClient

SETTINGS = frozenset({"subaccount", "markets"})  # subaccount: onBehalfOf
# The clients' default (_client_base.DEFAULT_BASE_URL, which a test holds equal):
# named here so that a run names it without importing the client code.
DEFAULT_BASE_URL = "https://api.limitless.exchange"
# What its one-run kill imports (``DeskHook.PRELOAD``).
PRELOAD: tuple[str, ...] = ("cancelkit.limitless._client", "cancelkit.limitless._kill")
MARKETS_ENV = "LIMITLESS_MARKETS"
# An order id no order has (the nil UUID): asking its status proves the token.
_NO_ORDER = UUID(int=0)


def check(account: Account) -> None:
    """The market slugs and the sub-account, as the client would check them."""
    from . import _validation as valid

    if account.subaccount is not None:
        valid.on_behalf_of(account.subaccount)
    for slug in account.markets:
        valid.market_slug(slug)
    if len(set(account.markets)) != len(account.markets):
        raise InvalidRequest("a market is named twice in markets")


def from_environ(environ: Mapping[str, str]) -> Account | None:
    """The account of ``LIMITLESS_TOKEN_ID``/``LIMITLESS_TOKEN_SECRET`` (and
    ``LIMITLESS_API_URL``), its markets from ``LIMITLESS_MARKETS`` (comma-separated)."""
    from ._client_base import _Limitless

    markets = tuple(m.strip() for m in environ.get(MARKETS_ENV, "").split(",") if m.strip())
    return env_account("limitless", environ, _Limitless._env, markets=markets)


def client(account: Account, secret: str, options: AsyncOptions) -> AsyncLimitlessClient:
    """The account's async client, at the published pace."""
    from ._client import AsyncLimitlessClient

    key_id, options = client_arguments(account, options)
    return AsyncLimitlessClient(key_id, secret, **options)


async def kill(
    client: AsyncLimitlessClient,
    account: Account,
    control: Control,
    on_result: Callable[[CancelResult[str]], None],
) -> Killed:
    """Cancel-all in each of the account's markets, one after another (the pace is
    per token), each confirmed by that market's listing."""
    if not account.markets:  # nothing to list: what is open is unknown, not zero
        return Killed((), None, ())
    results: list[CancelResult[str]] = []
    for slug in account.markets:
        results += await client.cancel_all(
            slug, account.subaccount, on_result=on_result, control=control
        )
    return Killed.counted(results, account.markets)


async def prove(client: AsyncLimitlessClient, account: Account) -> None:
    """One signed status lookup (``POST /orders/status/batch``) of an order no one has."""
    from .._generated.limitless_api.models import StatusByOrderId

    await client.order_status([StatusByOrderId(_NO_ORDER)])


async def open_orders(client: AsyncLimitlessClient, account: Account) -> list[str]:
    """The ids of the token's live orders in the account's markets."""
    return [o.id for slug in account.markets for o in await client.open_orders(slug)]


def upkeep_rate(account: Account) -> float:
    """One call per 300 ms per token: the stricter published statement."""
    from .._limiter import GLOBAL
    from ._rates import LIMITLESS

    return LIMITLESS[GLOBAL].rate

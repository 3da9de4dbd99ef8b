"""What the desk asks of a venue: the protocol of ``cancelkit.<venue>._desk`` modules.

The core names no venue: it loads a venue's hook by module path, for the venues of
``cancelkit._VENUES`` (a venue built but not registered there is not loaded).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

import attrs

from ._bulk import CancelResult

if TYPE_CHECKING:
    from ._account import Account
    from ._base import AsyncOptions
    from ._bulk import Control


@attrs.frozen
class Killed:
    """What a whole-account kill returns: every result, how many orders it could not
    confirm gone (None: unknown), the markets covered (None: the whole account, the
    venue's cancel-all reaches every market), and why the kill failed as a whole when
    its venue reported that as a result rather than raising it (None otherwise)."""

    results: tuple[CancelResult[str], ...]
    left: int | None
    covered: tuple[str, ...] | None
    error: BaseException | None = None

    @classmethod
    def counted(
        cls, results: Sequence[CancelResult[str]], covered: tuple[str, ...] | None = None
    ) -> Killed:
        """A kill whose run ended: what is left is every result not confirmed."""
        return cls(tuple(results), sum(1 for r in results if not r.ok), covered)


class DeskHook(Protocol):
    """A venue's part of the desk (its module ``cancelkit.<venue>._desk``)."""

    SETTINGS: frozenset[str]
    """The optional settings its accounts take (of tier, subaccount, markets)."""

    DEFAULT_BASE_URL: str
    """The API root its clients send to when the account names none (known before
    the venue's client code is imported: a run's banner and journal name it)."""

    PRELOAD: tuple[str, ...]
    """The modules its one-run kill imports (its client, its kill, its order stream
    where the kill reads one): a run split across processes loads them once, in the
    venue's process, before it forks the venue's parts."""

    def check(self, account: Account) -> None:
        """Refuse (InvalidRequest) a setting the venue would refuse later."""
        ...

    def from_environ(self, environ: Mapping[str, str]) -> Account | None:
        """The account its standard environment variables describe, if they are set."""
        ...

    def client(self, account: Account, secret: str, options: AsyncOptions) -> Any:
        """An async client for ``account`` (not yet opened)."""
        ...

    async def kill(
        self,
        client: Any,
        account: Account,
        control: Control,
        on_result: Callable[[CancelResult[str]], None],
    ) -> Killed:
        """Cancel every open order of the account, confirmed as the venue can."""
        ...

    async def prove(self, client: Any, account: Account) -> None:
        """One cheap signed read: raises if the venue refuses the key."""
        ...

    async def open_orders(self, client: Any, account: Account) -> list[str]:
        """The ids of the account's open orders (in its markets, where it has them)."""
        ...

    def upkeep_rate(self, account: Account) -> float:
        """The venue's published sustained budget of the key, in the requests an
        armed guard sends while idle (its listing, or its proof), a second."""
        ...


def client_arguments(account: Account, options: AsyncOptions) -> tuple[str, AsyncOptions]:
    """For a hook's ``client``: the account's key id, and ``options`` with its API root
    where it names one."""
    assert account.key_id is not None  # every account the file or environment gives has one
    if account.base_url is not None:
        options = {**options, "base_url": account.base_url}
    return account.key_id, options


def venues() -> tuple[str, ...]:
    """The registered venues (``cancelkit._VENUES``), in its order."""
    from . import _VENUES

    return tuple(_VENUES)


def desk_hook(venue: str) -> DeskHook:
    """The hook module of a registered ``venue`` (a KeyError for any other)."""
    if venue not in venues():
        raise KeyError(venue)
    return cast(DeskHook, importlib.import_module(f"cancelkit.{venue}._desk"))

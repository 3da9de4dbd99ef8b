"""cancelkit: signed, validated, typed order cancels for Polymarket US, Limitless and
Kalshi.

>>> from cancelkit import PolymarketUSClient
>>> with PolymarketUSClient.from_env() as pm:          # doctest: +SKIP
...     pm.cancel_order("ord-123", market_slug="nba-lal-bos")

Public names load on first use, so ``cancelkit --help`` does not pay for httpx
and cryptography. Type checkers see the imports under ``TYPE_CHECKING`` below, not
the lazy ``__getattr__``: a misspelt name is an error, every name has its type.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ._exports import lazy

__version__ = "0.1.0"

# A library logs; the program decides where it goes (nowhere, unless configured).
logging.getLogger("cancelkit").addHandler(logging.NullHandler())

# The venues, one entry each: the one place a venue is listed. Each venue's package
# (``cancelkit.<venue>``) is its public face: its clients, signing and models, under
# names that hold with any number of venues. The names here (name -> package) are
# also re-exported at the top level; its commands are those of ``cancelkit.<venue>._cli``
# (the CLI reads this table; nothing here is imported until used, so
# ``cancelkit --help`` loads no venue).
_VENUES: dict[str, dict[str, str]] = {
    "polymarket": {
        "PolymarketUSClient": ".polymarket",
        "AsyncPolymarketUSClient": ".polymarket",
        "PolymarketAuth": ".polymarket",
        "Execution": ".polymarket",
        "ExecutionKind": ".polymarket",
    },
    "limitless": {
        "LimitlessClient": ".limitless",
        "AsyncLimitlessClient": ".limitless",
        "LimitlessAuth": ".limitless",
        "CancelTarget": ".limitless",
        "CancelByOrderId": ".limitless",
        "CancelByClientOrderId": ".limitless",
    },
    "kalshi": {
        "KalshiClient": ".kalshi",
        "AsyncKalshiClient": ".kalshi",
        "KalshiAuth": ".kalshi",
    },
}

# Names one venue held at the top level that another venue would want too: they work
# for one more release, with a DeprecationWarning naming their home (old -> new).
_MOVED = {
    "Order": "cancelkit.polymarket.Order",
    "OrderState": "cancelkit.polymarket.OrderState",
    # Kalshi's private order stream has events of these names too (cancelkit.kalshi).
    "OrderEvent": "cancelkit.polymarket.OrderEvent",
    "OrderSnapshot": "cancelkit.polymarket.OrderSnapshot",
    "StreamOrder": "cancelkit.polymarket.StreamOrder",
    "StreamInterrupted": "cancelkit.polymarket.StreamInterrupted",
    "OrderStreamError": "cancelkit.polymarket.OrderStreamError",
}

# The public API, one row per name: where it lives. ``__all__``, the lazy exports
# below and (checked by tests/test_layout.py) the TYPE_CHECKING imports agree (those
# also keep the moved names typed).
_EXPORTS = {
    # settings
    "HTTPSettings": "._base",
    "RetryPolicy": "._retry",
    # bulk cancels
    "CancelAllTarget": "._bulk",
    "CancelResult": "._bulk",
    "Control": "._bulk",
    "Outcome": "._bulk",
    "OUTCOMES": "._bulk",
    "StopReason": "._bulk",
    # errors
    "CancelKitError": "._exceptions",
    "InvalidRequest": "._exceptions",
    "BadRequest": "._exceptions",
    "AuthenticationError": "._exceptions",
    "OrderNotFound": "._exceptions",
    "OrderNotOpen": "._exceptions",
    "WrongEndpoint": "._exceptions",
    "UnexpectedResponse": "._exceptions",
    "RateLimited": "._exceptions",
    "ServerError": "._exceptions",
    "NetworkError": "._exceptions",
    "ResponseTooLarge": "._exceptions",
    "DeadlinePassed": "._exceptions",
    "OnResultFailed": "._exceptions",
    # the guard's dead-man's switch, from a bot
    "Heartbeat": "._heartbeat",
    # a desk: every account on every venue
    "Account": "._accounts",
    "SecretRef": "._accounts",
    "AccountsError": "._accounts",
    "load_accounts": "._accounts",
    "AsyncDesk": "._desk",
    "Desk": "._desk",
    "AccountRun": "._desk",
    "cancel_everywhere": "._desk",
    "acancel_everywhere": "._desk",
    # each venue's clients, signing and models
    **{name: module for names in _VENUES.values() for name, module in names.items()},
}

__all__ = ["__version__", *_EXPORTS]


if not TYPE_CHECKING:  # an `Any` __getattr__ would hide every misspelt name
    __getattr__, __dir__ = lazy(__name__, _EXPORTS, _MOVED)


if TYPE_CHECKING:  # `as` re-exports each name for type checkers
    from ._accounts import Account as Account
    from ._accounts import AccountsError as AccountsError
    from ._accounts import SecretRef as SecretRef
    from ._accounts import load_accounts as load_accounts
    from ._base import HTTPSettings as HTTPSettings
    from ._bulk import OUTCOMES as OUTCOMES
    from ._bulk import CancelAllTarget as CancelAllTarget
    from ._bulk import CancelResult as CancelResult
    from ._bulk import Control as Control
    from ._bulk import Outcome as Outcome
    from ._bulk import StopReason as StopReason
    from ._desk import AccountRun as AccountRun
    from ._desk import AsyncDesk as AsyncDesk
    from ._desk import Desk as Desk
    from ._desk import acancel_everywhere as acancel_everywhere
    from ._desk import cancel_everywhere as cancel_everywhere
    from ._exceptions import AuthenticationError as AuthenticationError
    from ._exceptions import BadRequest as BadRequest
    from ._exceptions import CancelKitError as CancelKitError
    from ._exceptions import DeadlinePassed as DeadlinePassed
    from ._exceptions import InvalidRequest as InvalidRequest
    from ._exceptions import NetworkError as NetworkError
    from ._exceptions import OnResultFailed as OnResultFailed
    from ._exceptions import OrderNotFound as OrderNotFound
    from ._exceptions import OrderNotOpen as OrderNotOpen
    from ._exceptions import RateLimited as RateLimited
    from ._exceptions import ResponseTooLarge as ResponseTooLarge
    from ._exceptions import ServerError as ServerError
    from ._exceptions import UnexpectedResponse as UnexpectedResponse
    from ._exceptions import WrongEndpoint as WrongEndpoint
    from ._heartbeat import Heartbeat as Heartbeat
    from ._retry import RetryPolicy as RetryPolicy
    from .kalshi import AsyncKalshiClient as AsyncKalshiClient
    from .kalshi import KalshiAuth as KalshiAuth
    from .kalshi import KalshiClient as KalshiClient
    from .limitless import AsyncLimitlessClient as AsyncLimitlessClient
    from .limitless import CancelByClientOrderId as CancelByClientOrderId
    from .limitless import CancelByOrderId as CancelByOrderId
    from .limitless import CancelTarget as CancelTarget
    from .limitless import LimitlessAuth as LimitlessAuth
    from .limitless import LimitlessClient as LimitlessClient
    from .polymarket import AsyncPolymarketUSClient as AsyncPolymarketUSClient
    from .polymarket import Execution as Execution
    from .polymarket import ExecutionKind as ExecutionKind
    from .polymarket import Order as Order  # moved (_MOVED): typed for its last release
    from .polymarket import OrderEvent as OrderEvent  # moved (_MOVED), likewise
    from .polymarket import OrderSnapshot as OrderSnapshot  # moved (_MOVED), likewise
    from .polymarket import OrderState as OrderState  # moved (_MOVED), likewise
    from .polymarket import OrderStreamError as OrderStreamError  # moved (_MOVED), likewise
    from .polymarket import PolymarketAuth as PolymarketAuth
    from .polymarket import PolymarketUSClient as PolymarketUSClient
    from .polymarket import StreamInterrupted as StreamInterrupted  # moved (_MOVED), likewise
    from .polymarket import StreamOrder as StreamOrder  # moved (_MOVED), likewise

"""cancelkit: signed, validated, typed order cancels for Polymarket US and Limitless.

>>> from cancelkit import PolymarketUSClient
>>> with PolymarketUSClient.from_env() as pm:          # doctest: +SKIP
...     pm.cancel_order("ord-123", market_slug="nba-lal-bos")

Public names load on first use, so ``cancelkit --help`` does not pay for httpx
and cryptography. Type checkers see the imports under ``TYPE_CHECKING`` below, not
the lazy ``__getattr__``: a misspelt name is an error, every name has its type.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# A library logs; the program decides where it goes (nowhere, unless configured).
logging.getLogger("cancelkit").addHandler(logging.NullHandler())

# The venues, one entry each: the one place a venue is listed. Its public names
# (name -> module) join the public API below, and its commands are those of
# ``cancelkit.<venue>._cli`` (the CLI reads this table; nothing here is imported
# until used, so ``cancelkit --help`` loads no venue).
_VENUES: dict[str, dict[str, str]] = {
    "polymarket": {
        "PolymarketUSClient": ".polymarket._client",
        "AsyncPolymarketUSClient": ".polymarket._client",
        "PolymarketAuth": ".polymarket._auth",
        "OrderEvent": ".polymarket._events",
        "OrderSnapshot": ".polymarket._events",
        "Execution": ".polymarket._events",
        "ExecutionKind": ".polymarket._events",
        "StreamOrder": ".polymarket._events",
        "StreamInterrupted": ".polymarket._events",
        "OrderStreamError": ".polymarket._events",
        "Order": "._generated.polymarket_us_api.models",
        "OrderState": "._generated.polymarket_us_api.models",
    },
    "limitless": {
        "LimitlessClient": ".limitless._client",
        "AsyncLimitlessClient": ".limitless._client",
        "LimitlessAuth": ".limitless._auth",
        "CancelTarget": ".limitless._kill",
        "CancelByOrderId": "._generated.limitless_api.models",
        "CancelByClientOrderId": "._generated.limitless_api.models",
    },
}

# The public API, one row per name: where it lives. ``__all__``, the lazy exports
# below and (checked by tests/test_layout.py) the TYPE_CHECKING imports agree.
_EXPORTS = {
    # settings
    "HTTPSettings": "._base",
    "RetryPolicy": "._retry",
    # bulk cancels
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
    # each venue's clients, signing and models
    **{name: module for names in _VENUES.values() for name, module in names.items()},
}

__all__ = ["__version__", *_EXPORTS]


if not TYPE_CHECKING:  # an `Any` __getattr__ would hide every misspelt name

    def __getattr__(name: str) -> object:
        module = _EXPORTS.get(name)
        if module is None:
            raise AttributeError(f"module 'cancelkit' has no attribute {name!r}")
        value = getattr(importlib.import_module(module, __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:  # `as` re-exports each name for type checkers
    from ._base import HTTPSettings as HTTPSettings
    from ._bulk import OUTCOMES as OUTCOMES
    from ._bulk import CancelResult as CancelResult
    from ._bulk import Control as Control
    from ._bulk import Outcome as Outcome
    from ._bulk import StopReason as StopReason
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
    from ._generated.limitless_api.models import CancelByClientOrderId as CancelByClientOrderId
    from ._generated.limitless_api.models import CancelByOrderId as CancelByOrderId
    from ._generated.polymarket_us_api.models import Order as Order
    from ._generated.polymarket_us_api.models import OrderState as OrderState
    from ._retry import RetryPolicy as RetryPolicy
    from .limitless._auth import LimitlessAuth as LimitlessAuth
    from .limitless._client import AsyncLimitlessClient as AsyncLimitlessClient
    from .limitless._client import LimitlessClient as LimitlessClient
    from .limitless._kill import CancelTarget as CancelTarget
    from .polymarket._auth import PolymarketAuth as PolymarketAuth
    from .polymarket._client import AsyncPolymarketUSClient as AsyncPolymarketUSClient
    from .polymarket._client import PolymarketUSClient as PolymarketUSClient
    from .polymarket._events import Execution as Execution
    from .polymarket._events import ExecutionKind as ExecutionKind
    from .polymarket._events import OrderEvent as OrderEvent
    from .polymarket._events import OrderSnapshot as OrderSnapshot
    from .polymarket._events import OrderStreamError as OrderStreamError
    from .polymarket._events import StreamInterrupted as StreamInterrupted
    from .polymarket._events import StreamOrder as StreamOrder

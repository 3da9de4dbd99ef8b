"""cancelkit: signed, validated, typed order cancels for Polymarket US and Limitless.

>>> from cancelkit import PolymarketUSClient
>>> with PolymarketUSClient.from_env() as pm:          # doctest: +SKIP
...     pm.cancel_order("ord-123", market_slug="nba-lal-bos")

Public names load on first use, so ``cancelkit --help`` does not pay for httpx
and cryptography.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# A library logs; the program decides where it goes (no last-resort stderr output).
logging.getLogger("cancelkit").addHandler(logging.NullHandler())

_EXPORTS = {
    "AsyncLimitlessClient": "._limitless",
    "AsyncPolymarketUSClient": "._polymarket",
    "AuthenticationError": "._exceptions",
    "BadRequest": "._exceptions",
    "CancelKitError": "._exceptions",
    "CancelResult": "._batch",
    "CancelTarget": "._limitless",
    "Control": "._batch",
    "InvalidRequest": "._exceptions",
    "LimitlessAuth": "._auth",
    "LimitlessClient": "._limitless",
    "NetworkError": "._exceptions",
    "OrderNotFound": "._exceptions",
    "OrderNotOpen": "._exceptions",
    "PolymarketAuth": "._auth",
    "PolymarketUSClient": "._polymarket",
    "RateLimited": "._exceptions",
    "ResponseTooLarge": "._exceptions",
    "RetryPolicy": "._retry",
    "ServerError": "._exceptions",
    "UnexpectedResponse": "._exceptions",
    "WrongEndpoint": "._exceptions",
}

__all__ = [
    "AsyncLimitlessClient",
    "AsyncPolymarketUSClient",
    "AuthenticationError",
    "BadRequest",
    "CancelKitError",
    "CancelResult",
    "CancelTarget",
    "Control",
    "InvalidRequest",
    "LimitlessAuth",
    "LimitlessClient",
    "NetworkError",
    "OrderNotFound",
    "OrderNotOpen",
    "PolymarketAuth",
    "PolymarketUSClient",
    "RateLimited",
    "ResponseTooLarge",
    "RetryPolicy",
    "ServerError",
    "UnexpectedResponse",
    "WrongEndpoint",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cancelkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:
    from ._auth import LimitlessAuth, PolymarketAuth
    from ._batch import CancelResult, Control
    from ._exceptions import (
        AuthenticationError,
        BadRequest,
        CancelKitError,
        InvalidRequest,
        NetworkError,
        OrderNotFound,
        OrderNotOpen,
        RateLimited,
        ResponseTooLarge,
        ServerError,
        UnexpectedResponse,
        WrongEndpoint,
    )
    from ._limitless import AsyncLimitlessClient, CancelTarget, LimitlessClient
    from ._polymarket import AsyncPolymarketUSClient, PolymarketUSClient
    from ._retry import RetryPolicy

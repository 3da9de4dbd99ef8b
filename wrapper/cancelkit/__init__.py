"""cancelkit: signed, validated, typed order cancels for Polymarket US and Limitless.

>>> from cancelkit import PolymarketUSClient
>>> with PolymarketUSClient.from_env() as pm:          # doctest: +SKIP
...     pm.cancel_order("ord-123", market_slug="nba-lal-bos")
"""

from __future__ import annotations

__version__ = "0.1.0"

from ._auth import LimitlessAuth, PolymarketAuth
from ._exceptions import (
    AuthenticationError,
    BadRequest,
    CancelKitError,
    InvalidRequest,
    NetworkError,
    OrderNotFound,
    RateLimited,
    ServerError,
)
from ._limitless import AsyncLimitlessClient, CancelTarget, LimitlessClient
from ._polymarket import AsyncPolymarketUSClient, PolymarketUSClient
from ._retry import RetryPolicy

__all__ = [
    "AsyncLimitlessClient",
    "AsyncPolymarketUSClient",
    "AuthenticationError",
    "BadRequest",
    "CancelKitError",
    "CancelTarget",
    "InvalidRequest",
    "LimitlessAuth",
    "LimitlessClient",
    "NetworkError",
    "OrderNotFound",
    "PolymarketAuth",
    "PolymarketUSClient",
    "RateLimited",
    "RetryPolicy",
    "ServerError",
    "__version__",
]

"""Kalshi: its clients, signing and models, under names that hold whatever other
venue cancelkit grows.

>>> from cancelkit.kalshi import KalshiClient, Order, OrderStatus

Each name loads on first use (``cancelkit --help`` imports no client); type
checkers read the ``TYPE_CHECKING`` imports below, so a misspelt name is an error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._exports import lazy

_MODELS = ".._generated.kalshi_api.models"
_EXPORTS = {
    "KalshiClient": "._client",
    "AsyncKalshiClient": "._client",
    "KalshiAuth": "._auth",
    # where the clients go: the demo exchange (production is the default)
    "DEMO_BASE_URL": "._client",
    # the key's rate-limit tier (its token buckets pace every call)
    "Tier": "._rates",
    "TIERS": "._rates",
    # what the clients answer with
    "Order": _MODELS,
    "OrderStatus": _MODELS,
    "CancelOrderV2Response": _MODELS,
    # the private order stream (AsyncKalshiClient.order_events)
    "OrderEvent": "._events",
    "OrderSnapshot": "._events",
    "OrderUpdate": "._events",
    "UpdateKind": "._events",
    "StreamOrder": "._events",
    "StreamInterrupted": "._events",
    "OrderStreamError": "._events",
}

__all__ = [*_EXPORTS]

if not TYPE_CHECKING:  # an `Any` __getattr__ would hide every misspelt name
    __getattr__, __dir__ = lazy(__name__, _EXPORTS)

if TYPE_CHECKING:  # `as` re-exports each name for type checkers
    from .._generated.kalshi_api.models import CancelOrderV2Response as CancelOrderV2Response
    from .._generated.kalshi_api.models import Order as Order
    from .._generated.kalshi_api.models import OrderStatus as OrderStatus
    from ._auth import KalshiAuth as KalshiAuth
    from ._client import DEMO_BASE_URL as DEMO_BASE_URL
    from ._client import AsyncKalshiClient as AsyncKalshiClient
    from ._client import KalshiClient as KalshiClient
    from ._events import OrderEvent as OrderEvent
    from ._events import OrderSnapshot as OrderSnapshot
    from ._events import OrderStreamError as OrderStreamError
    from ._events import OrderUpdate as OrderUpdate
    from ._events import StreamInterrupted as StreamInterrupted
    from ._events import StreamOrder as StreamOrder
    from ._events import UpdateKind as UpdateKind
    from ._rates import TIERS as TIERS
    from ._rates import Tier as Tier

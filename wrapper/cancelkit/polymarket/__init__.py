"""Polymarket US: its clients, signing and models, under names that hold whatever
other venue cancelkit grows.

>>> from cancelkit.polymarket import Order, PolymarketUSClient

Each name loads on first use (``cancelkit --help`` imports no client); type
checkers read the ``TYPE_CHECKING`` imports below, so a misspelt name is an error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._exports import lazy

_EXPORTS = {
    "PolymarketUSClient": "._client",
    "AsyncPolymarketUSClient": "._client",
    "PolymarketAuth": "._auth",
    "OrderEvent": "._events",
    "OrderSnapshot": "._events",
    "Execution": "._events",
    "ExecutionKind": "._events",
    "StreamOrder": "._events",
    "StreamInterrupted": "._events",
    "OrderStreamError": "._events",
    "Order": ".._generated.polymarket_us_api.models",
    "OrderState": ".._generated.polymarket_us_api.models",
}

__all__ = [*_EXPORTS]

if not TYPE_CHECKING:  # an `Any` __getattr__ would hide every misspelt name
    __getattr__, __dir__ = lazy(__name__, _EXPORTS)

if TYPE_CHECKING:  # `as` re-exports each name for type checkers
    from .._generated.polymarket_us_api.models import Order as Order
    from .._generated.polymarket_us_api.models import OrderState as OrderState
    from ._auth import PolymarketAuth as PolymarketAuth
    from ._client import AsyncPolymarketUSClient as AsyncPolymarketUSClient
    from ._client import PolymarketUSClient as PolymarketUSClient
    from ._events import Execution as Execution
    from ._events import ExecutionKind as ExecutionKind
    from ._events import OrderEvent as OrderEvent
    from ._events import OrderSnapshot as OrderSnapshot
    from ._events import OrderStreamError as OrderStreamError
    from ._events import StreamInterrupted as StreamInterrupted
    from ._events import StreamOrder as StreamOrder

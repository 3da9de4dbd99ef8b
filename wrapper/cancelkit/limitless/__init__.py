"""Limitless Exchange: its clients, signing, cancel targets and models, under names
that hold whatever other venue cancelkit grows.

>>> from cancelkit.limitless import CancelByOrderId, LimitlessClient, UserOrderDto

Each name loads on first use (``cancelkit --help`` imports no client); type
checkers read the ``TYPE_CHECKING`` imports below, so a misspelt name is an error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._exports import lazy

_MODELS = ".._generated.limitless_api.models"
_EXPORTS = {
    "LimitlessClient": "._client",
    "AsyncLimitlessClient": "._client",
    "LimitlessAuth": "._auth",
    # what a cancel or a status lookup is about: one identifier, saying which it is
    "CancelTarget": "._kill",
    "StatusTarget": "._kill",
    "CancelByOrderId": _MODELS,
    "CancelByClientOrderId": _MODELS,
    "StatusByOrderId": _MODELS,
    "StatusByClientOrderId": _MODELS,
    # what the clients answer with
    "UserOrderDto": _MODELS,
    "OrderStatus": _MODELS,
    "OrderStatusResultDto": _MODELS,
    "MaintenanceStatusDto": _MODELS,
    # the private order stream (provisional shape)
    "LimitlessStreamEvent": "._events",
    "LimitlessOrderEvent": "._events",
    "LimitlessStreamSubscribed": "._events",
    "LimitlessStreamInterrupted": "._events",
    "LimitlessStreamError": "._events",
}

__all__ = [*_EXPORTS]

if not TYPE_CHECKING:  # an `Any` __getattr__ would hide every misspelt name
    __getattr__, __dir__ = lazy(__name__, _EXPORTS)

if TYPE_CHECKING:  # `as` re-exports each name for type checkers
    from .._generated.limitless_api.models import CancelByClientOrderId as CancelByClientOrderId
    from .._generated.limitless_api.models import CancelByOrderId as CancelByOrderId
    from .._generated.limitless_api.models import MaintenanceStatusDto as MaintenanceStatusDto
    from .._generated.limitless_api.models import OrderStatus as OrderStatus
    from .._generated.limitless_api.models import OrderStatusResultDto as OrderStatusResultDto
    from .._generated.limitless_api.models import StatusByClientOrderId as StatusByClientOrderId
    from .._generated.limitless_api.models import StatusByOrderId as StatusByOrderId
    from .._generated.limitless_api.models import UserOrderDto as UserOrderDto
    from ._auth import LimitlessAuth as LimitlessAuth
    from ._client import AsyncLimitlessClient as AsyncLimitlessClient
    from ._client import LimitlessClient as LimitlessClient
    from ._events import LimitlessOrderEvent as LimitlessOrderEvent
    from ._events import LimitlessStreamError as LimitlessStreamError
    from ._events import LimitlessStreamEvent as LimitlessStreamEvent
    from ._events import LimitlessStreamInterrupted as LimitlessStreamInterrupted
    from ._events import LimitlessStreamSubscribed as LimitlessStreamSubscribed
    from ._kill import CancelTarget as CancelTarget
    from ._kill import StatusTarget as StatusTarget

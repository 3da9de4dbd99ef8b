"""The Polymarket US clients: the async one (written in ``_async_client.py``) and the
sync one generated from it (``_sync_client.py``), joined here: a sync client's bulk
calls run on an async twin."""

from .._exports import load_every
from .._generated.polymarket_us_api import models as _models
from .._generated.polymarket_us_api.api.orders import (  # noqa: F401  (see below)
    orders_service_cancel_open_orders,
    orders_service_cancel_order,
    orders_service_get_open_orders,
    orders_service_get_order,
)
from . import _kill  # noqa: F401  (see below)
from ._async_client import AsyncPolymarketUSClient as AsyncPolymarketUSClient
from ._client_base import DEFAULT_BASE_URL as DEFAULT_BASE_URL
from ._client_base import DEFAULT_CONCURRENCY as DEFAULT_CONCURRENCY
from ._client_base import DEFAULT_MAX_RATE as DEFAULT_MAX_RATE
from ._sync_client import PolymarketUSClient as PolymarketUSClient

PolymarketUSClient._twin_class = AsyncPolymarketUSClient  # bulk calls run on it

# A program's clients load now what they load on first use (_client_base): the kill
# switch with the order stream's code, every operation and every model, so that no
# first call of a warm client pays for an import. The cold command sends its first
# cancel on _sync_client alone, before it needs them (polymarket/_cli.py).
load_every(_models)

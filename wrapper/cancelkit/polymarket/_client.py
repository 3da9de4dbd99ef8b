"""The Polymarket US clients: the async one (written in ``_async_client.py``) and the
sync one generated from it (``_sync_client.py``), joined here: a sync client's bulk
calls run on an async twin."""

from ._async_client import AsyncPolymarketUSClient as AsyncPolymarketUSClient
from ._client_base import DEFAULT_BASE_URL as DEFAULT_BASE_URL
from ._client_base import DEFAULT_CONCURRENCY as DEFAULT_CONCURRENCY
from ._client_base import DEFAULT_MAX_RATE as DEFAULT_MAX_RATE
from ._sync_client import PolymarketUSClient as PolymarketUSClient

PolymarketUSClient._twin_class = AsyncPolymarketUSClient  # bulk calls run on it

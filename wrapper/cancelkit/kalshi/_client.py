"""The Kalshi clients: the async one (written in ``_async_client.py``) and the sync
one generated from it (``_sync_client.py``), joined here: a sync client's calls run
on an async twin."""

from ._async_client import AsyncKalshiClient as AsyncKalshiClient
from ._client_base import DEFAULT_BASE_URL as DEFAULT_BASE_URL
from ._client_base import DEFAULT_CONCURRENCY as DEFAULT_CONCURRENCY
from ._client_base import DEMO_BASE_URL as DEMO_BASE_URL
from ._client_base import MAX_PAGES as MAX_PAGES
from ._client_base import PAGE_SIZE as PAGE_SIZE
from ._sync_client import KalshiClient as KalshiClient

KalshiClient._twin_class = AsyncKalshiClient  # its calls run on it

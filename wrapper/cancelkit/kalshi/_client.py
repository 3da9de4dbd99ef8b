"""The Kalshi clients: the async one (written in ``_async_client.py``) and the sync
one generated from it (``_sync_client.py``), joined here: a sync client's calls run
on an async twin."""

from .._exports import load_every
from .._generated.kalshi_api import models as _models
from ._async_client import AsyncKalshiClient as AsyncKalshiClient
from ._client_base import DEFAULT_BASE_URL as DEFAULT_BASE_URL
from ._client_base import DEFAULT_CONCURRENCY as DEFAULT_CONCURRENCY
from ._client_base import DEMO_BASE_URL as DEMO_BASE_URL
from ._client_base import MAX_PAGES as MAX_PAGES
from ._client_base import PAGE_SIZE as PAGE_SIZE
from ._sync_client import KalshiClient as KalshiClient

KalshiClient._twin_class = AsyncKalshiClient  # its calls run on it

# Every model loaded now, as a program's clients always have (each loads on first
# use since scripts/generator/templates/models_init.py.jinja): a warm client's
# first answer pays for no import.
load_every(_models)

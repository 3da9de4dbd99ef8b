"""The Limitless Exchange clients: the async one (written in ``_async_client.py``)
and the sync one generated from it (``_sync_client.py``), joined here: a sync
client's calls run on an async twin."""

from .._exports import load_every
from .._generated.limitless_api import models as _models
from ._async_client import AsyncLimitlessClient as AsyncLimitlessClient
from ._client_base import DEFAULT_BASE_URL as DEFAULT_BASE_URL
from ._client_base import DEFAULT_CONCURRENCY as DEFAULT_CONCURRENCY
from ._client_base import DEFAULT_MAX_RATE as DEFAULT_MAX_RATE
from ._client_base import PACE as PACE
from ._client_base import CancelTarget as CancelTarget
from ._client_base import StatusTarget as StatusTarget
from ._sync_client import LimitlessClient as LimitlessClient

LimitlessClient._twin_class = AsyncLimitlessClient  # its calls run on it

# Every model loaded now, as a program's clients always have (each loads on first
# use since scripts/generator/templates/models_init.py.jinja): a warm client's
# first answer pays for no import.
load_every(_models)

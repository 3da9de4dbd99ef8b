"""polymarket-us's cancel of one order as its README shows it, in a fresh process:
``python benchmarks/_cold_sdk_pm.py ORDER_ID MARKET``. Credentials and the API root
from ``POLYMARKET_*`` in the environment."""

import os
import sys

from polymarket_us import PolymarketUS

client = PolymarketUS(
    key_id=os.environ["POLYMARKET_KEY_ID"],
    secret_key=os.environ["POLYMARKET_SECRET_KEY"],
    api_base_url=os.environ["POLYMARKET_API_URL"],
)
client.orders.cancel(sys.argv[1], {"marketSlug": sys.argv[2]})
client.close()

"""limitless-sdk's cancel of one order as its README shows it (an HttpClient with the
partner HMAC credentials, an OrderClient with a wallet, ``await order_client.cancel``),
in a fresh process: ``python benchmarks/_cold_sdk_lm.py ORDER_ID``. Credentials and
the API root from ``LIMITLESS_*`` in the environment; the wallet's key is a fixed
test key (a cancel signs nothing with it)."""

import asyncio
import os
import sys

from eth_account import Account
from limitless_sdk.api import HttpClient
from limitless_sdk.orders import OrderClient
from limitless_sdk.types import HMACCredentials

TEST_KEY = "0x" + "11" * 32


async def main() -> None:
    http_client = HttpClient(
        base_url=os.environ["LIMITLESS_API_URL"],
        hmac_credentials=HMACCredentials(
            token_id=os.environ["LIMITLESS_TOKEN_ID"],
            secret=os.environ["LIMITLESS_TOKEN_SECRET"],
        ),
    )
    try:
        order_client = OrderClient(http_client=http_client, wallet=Account.from_key(TEST_KEY))
        await order_client.cancel(sys.argv[1])
    finally:
        await http_client.close()


asyncio.run(main())

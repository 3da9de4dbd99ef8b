"""polymarket-us's kill of a list of orders as a user would script it, in a fresh process
whose import is part of the time: ``python benchmarks/_sdk_kill.py IDS_FILE MARKET``.

``cancel_many`` 20 orders per request (its documented maximum), one request after another;
a refused batch is skipped (the runner counts what the sandbox's book left open).
Credentials and the API root come from ``POLYMARKET_*`` in the environment.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from polymarket_us import PolymarketUS

PER_REQUEST = 20


def main() -> None:
    """Cancel every order named in the file, 20 per request."""
    ids = Path(sys.argv[1]).read_text(encoding="utf-8").split()
    market = sys.argv[2]
    client = PolymarketUS(
        key_id=os.environ["POLYMARKET_KEY_ID"],
        secret_key=os.environ["POLYMARKET_SECRET_KEY"],
        api_base_url=os.environ["POLYMARKET_API_URL"],
    )
    for n in range(0, len(ids), PER_REQUEST):
        batch = [{"orderId": i, "marketSlug": market} for i in ids[n : n + PER_REQUEST]]
        try:
            client.orders.cancel_many({"orders": batch})  # type: ignore[typeddict-item]
        except Exception:  # noqa: S112 (the runner counts what is left open instead)
            continue


if __name__ == "__main__":
    main()

"""Mistakes a type checker must catch in user code: each line carries the ignore it
needs, and both checkers fail on an ignore that is not needed (mypy --strict's
warn_unused_ignores, pyright's reportUnnecessaryTypeIgnoreComment), so a mistake
that stops being caught fails `make types`. Never run; only checked.
"""

# ruff: noqa: F401, B018, I001  (the mistakes are the point; one import a line)
from __future__ import annotations

import cancelkit
from cancelkit import CancelByClientOrderId, KalshiClient, LimitlessClient, PolymarketUSClient
from cancelkit import PolymarketUSClinet  # type: ignore[attr-defined]  # misspelt
from cancelkit.limitless import Order  # type: ignore[attr-defined]  # Polymarket's, not here
from cancelkit.polymarket import Ordr  # type: ignore[attr-defined]  # misspelt
from cancelkit.kalshi import OrderState  # type: ignore[attr-defined]  # Polymarket's, not here
from cancelkit.sandbox import Sandbox


def misuse(box: Sandbox, lm: LimitlessClient) -> None:
    box.polymarket_client().cancel_ordr("x")  # type: ignore[attr-defined]
    PolymarketUSClient.from_env(timout=5)  # type: ignore[call-arg]
    box.kalshi_client().cancel_orders(["x"], tier="basic")  # type: ignore[call-arg]  # a client's
    KalshiClient.from_env(tier="gold")  # type: ignore[arg-type]  # not a published tier
    # Both Limitless ids at once:
    lm.cancel_order(order_id="0f8fad5b-d9cb-469f-a165-70867728950e", client_order_id="c")  # type: ignore[call-overload]
    results = lm.cancel_orders([CancelByClientOrderId(client_order_id="c")])
    results[0].target.order_id  # type: ignore[attr-defined]  # not a CancelByOrderId
    PolymarketUSClient("k", "s", timeout="5")  # type: ignore[arg-type]
    box.set_knobs(failure_rat=0.5)  # type: ignore[call-arg]  # misspelt knob
    box.set_knobs(maintenance="off")  # type: ignore[arg-type]  # not a mode
    box.set_knobs(validate="yes")  # type: ignore[arg-type]
    cancelkit.Desk(cancelkit.load_accounts(), timout=5)  # type: ignore[call-arg]  # misspelt
    cancelkit.load_accounts(environ={"A": 1})  # type: ignore[dict-item]  # not text
    box.add_account("kalshi", key="dsa")  # type: ignore[arg-type]  # RSA or Ed25519 only
    box.add_account("binance")  # type: ignore[arg-type]  # not a sandbox venue

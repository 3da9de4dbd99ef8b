"""Sync ``cancel_orders`` of 20 orders, cold against warm (issue #19, "Measure it").

Per venue, interleaved round by round (rotating order), each timed call on 20 freshly
seeded orders:

- ``cold``: the first ``cancel_orders`` of a new sync client;
- ``after warm()``: a new client, ``warm()`` called (untimed), then the first call;
- ``second call``: a new client's second ``cancel_orders`` (the first one untimed).

No per-second cap (``max_rate=None``; Limitless keeps its published pace regardless):
Polymarket confirms each order with a lookup, which at 20/s would hide the connect.

While every sync ``cancel_orders`` opens its own event loop and connection pool, the
three are alike; once the sync client keeps one loop and pool for its life, the last two
skip the connect.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from ._contenders import SLUG
from ._sandbox import SandboxProcess

ORDERS = 20
KINDS = ("cold", "after warm()", "second call")
OWNER = {"pm": "pm-demo", "lm": "1001"}
VENUE = {"pm": "Polymarket US", "lm": "Limitless"}
# Limitless keeps its published pace in the client (arrivals 300 ms apart per token):
# wait it out, untimed, before each timed call so that no call waits on the one before.
SPACING = 0.35


def _client(box: SandboxProcess, venue: str) -> Any:
    from cancelkit import LimitlessClient, PolymarketUSClient

    e = box.env
    if venue == "pm":
        return PolymarketUSClient(
            e["POLYMARKET_KEY_ID"], e["POLYMARKET_SECRET_KEY"], base_url=box.pm_url
        )
    # paced=False: no per-second cap here; the published 300 ms after the previous
    # call's answer would otherwise hide what a warm pool saves.
    return LimitlessClient(
        e["LIMITLESS_TOKEN_ID"], e["LIMITLESS_TOKEN_SECRET"], base_url=box.lm_url, paced=False
    )


Sample = tuple[float, float]  # (seconds to return, seconds to the first cancel's arrival)


def _call(box: SandboxProcess, venue: str, client: Any) -> Callable[[], Sample]:
    """Seed 20 orders now; the returned function cancels them, timed, and checks the
    sandbox's book."""
    from cancelkit import CancelByOrderId

    ids = [str(uuid.uuid4()) for _ in range(ORDERS)]
    box.seed(venue, ids, OWNER[venue], SLUG)
    targets: list[Any] = (
        ids if venue == "pm" else [CancelByOrderId(order_id=uuid.UUID(i)) for i in ids]
    )

    def timed() -> Sample:
        if venue == "lm":
            time.sleep(SPACING)
        box.clear_requests()
        started = time.monotonic()  # the sandbox's arrival instants are on this clock
        client.cancel_orders(targets, max_rate=None)
        elapsed = time.monotonic() - started
        if box.open_count(venue, ids):  # the book, not the report: that is the client's
            raise RuntimeError(f"{venue}: cancel_orders left orders open")
        first = next(a for a in box.arrivals() if a.method == "POST" and "cancel" in a.path)
        return elapsed, first.arrived - started

    return timed


def _once(box: SandboxProcess, venue: str, kind: str) -> Sample:
    with _client(box, venue) as client:
        if kind == "after warm()":
            client.warm()
        elif kind == "second call":
            _call(box, venue, client)()
        return _call(box, venue, client)()


def measure(box: SandboxProcess, rounds: int) -> dict[str, dict[str, list[Sample]]]:
    """Samples per timed call, by venue and kind; schema validation off (its cost is the
    sandbox's, not the client's)."""
    out: dict[str, dict[str, list[Sample]]] = {v: {k: [] for k in KINDS} for v in VENUE}
    for venue in VENUE:
        box.knobs(venue, validate=False)
    for round_no in range(rounds):
        for venue in VENUE:
            shift = round_no % len(KINDS)
            for kind in KINDS[shift:] + KINDS[:shift]:
                out[venue][kind].append(_once(box, venue, kind))
    for venue in VENUE:
        box.knobs(venue, validate=True)
    return out


def _p99(values: list[float]) -> float:
    return sorted(values)[min(len(values) - 1, int(0.99 * len(values)))]


def table(samples: dict[str, dict[str, list[Sample]]]) -> list[str]:
    """The results section."""
    rounds = len(samples["pm"]["cold"])
    lines = [
        f"## Sync cancel_orders of {ORDERS} orders: cold vs warm ({rounds} rounds, interleaved)",
        "",
        "`cold`: a new sync client's first `cancel_orders`; `after warm()`: a new client's",
        "first call after `warm()` (untimed); `second call`: a new client's second call (the",
        "first untimed). Each call lists, cancels in batches and confirms; schema validation",
        "off, no per-second cap. 'to first cancel' runs from the call to the first cancel",
        "request's arrival at the sandbox (Polymarket lists first): where a connect shows.",
        "A warm row near its cold row means the sync client reconnects on every call.",
        "",
        "| venue | call | to first cancel, median ms | p99 ms | x cold"
        " | to return, median ms | p99 ms | x cold |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for venue, kinds in samples.items():
        cold_wall = statistics.median(w for w, _ in kinds["cold"])
        cold_first = statistics.median(f for _, f in kinds["cold"])
        for kind, pairs in kinds.items():
            walls = [w for w, _ in pairs]
            firsts = [f for _, f in pairs]
            wall, first = statistics.median(walls), statistics.median(firsts)
            lines.append(
                f"| {VENUE[venue]} | {kind} | {first * 1e3:.2f} | {_p99(firsts) * 1e3:.2f}"
                f" | {first / cold_first:.2f} | {wall * 1e3:.1f} | {_p99(walls) * 1e3:.1f}"
                f" | {wall / cold_wall:.2f} |"
            )
    lines.append("")
    return lines

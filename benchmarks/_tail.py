"""Where the tail comes from (issue #22 item 4): single cancels of ours and of the floors,
with the garbage collector as usual and with it frozen and disabled for the run
(``gc.collect(); gc.freeze(); gc.disable()``), interleaved round by round.

If our p99 over the floor's p99 shrinks with GC off, collections explain that part of
the gap; what is left is per-request work (the event loop, the limiter, our own code).
"""

from __future__ import annotations

import gc
import statistics
import uuid

from ._contenders import CONTENDERS
from ._sandbox import SandboxProcess

OWNER = {"pm": "pm-demo", "lm": "1001"}
PAIRS = (
    ("cancelkit async", "bare aiohttp (async floor)"),
    ("cancelkit sync", "bare httpx (floor)"),
)
MODES = ("gc on", "gc off")

Samples = dict[str, dict[str, dict[str, list[float]]]]  # venue -> contender -> mode -> s


def _ids(venue: str, count: int) -> list[str]:
    if venue == "lm":
        return [str(uuid.uuid4()) for _ in range(count)]
    return [f"tail-{uuid.uuid4().hex[:12]}" for _ in range(count)]


def measure(
    box: SandboxProcess, per_round: int, rounds: int, *, warm_up: bool = True
) -> tuple[Samples, dict[str, int]]:
    """Latencies by venue, contender and GC mode; and the collections (all generations)
    that ran during our contenders' GC-on runs, per venue. ``warm_up``: an untimed first
    round (the smoke run skips it: the latency run before has loaded every module)."""
    names = [name for pair in PAIRS for name in pair]
    runs = [(name, mode) for name in names for mode in MODES]
    out: Samples = {v: {n: {m: [] for m in MODES} for n in names} for v in CONTENDERS}
    collections = dict.fromkeys(CONTENDERS, 0)
    for venue in CONTENDERS:
        box.knobs(venue, validate=False)
    box.knobs("lm", published_limits=False)
    for round_no in range(0 if warm_up else 1, rounds + 1):  # round 0 warms up
        shift = round_no % len(runs)
        for venue in CONTENDERS:
            for name, mode in runs[shift:] + runs[:shift]:
                ids = _ids(venue, per_round if round_no else 5)
                box.seed(venue, ids, OWNER[venue])
                before = sum(s["collections"] for s in gc.get_stats())
                if mode == "gc off":
                    gc.collect()
                    gc.freeze()
                    gc.disable()
                try:
                    measured = CONTENDERS[venue][name](box, ids)
                finally:
                    gc.enable()
                    gc.unfreeze()
                if round_no:
                    out[venue][name][mode].extend(measured)
                    if mode == "gc on" and name.startswith("cancelkit"):
                        collections[venue] += sum(s["collections"] for s in gc.get_stats())
                        collections[venue] -= before
    for venue in CONTENDERS:
        box.knobs(venue, validate=True)
    box.knobs("lm", published_limits=True)
    return out, collections


def _p99(values: list[float]) -> float:
    return sorted(values)[min(len(values) - 1, int(0.99 * len(values)))]


def lines(venue: str, samples: Samples, collections: dict[str, int]) -> list[str]:
    """The tail paragraph and table for one venue."""
    named = samples[venue]
    ours_count = sum(len(named[ours]["gc on"]) for ours, _ in PAIRS)
    out = [
        "| contender | p99 ms, gc on | p99 ms, gc off | median ms, gc on | median ms, gc off |",
        "|---|---|---|---|---|",
    ]
    for name, modes in named.items():
        out.append(
            f"| {name} | {_p99(modes['gc on']) * 1e3:.3f} | {_p99(modes['gc off']) * 1e3:.3f}"
            f" | {statistics.median(modes['gc on']) * 1e3:.3f}"
            f" | {statistics.median(modes['gc off']) * 1e3:.3f} |"
        )
    out.append("")
    for ours, floor in PAIRS:
        on = _p99(named[ours]["gc on"]) / _p99(named[floor]["gc on"])
        off = _p99(named[ours]["gc off"]) / _p99(named[floor]["gc off"])
        if on <= 1.05:
            verdict = "no wider than the floor's"
        elif not collections[venue]:
            # Freezing cannot explain a difference when no collection ran at all.
            verdict = "no collection ran during our GC-on runs, so GC does not explain it"
        elif off < on - 0.05:
            verdict = f"GC explains {min(1.0, (on - off) / (on - 1)):.0%} of the excess"
        else:
            verdict = "GC does not explain it"
        out.append(
            f"- {ours}: p99 {on:.2f} x {floor}'s with GC on, {off:.2f} x with GC off: {verdict}."
        )
    per_k = collections[venue] / max(1, ours_count) * 1000
    out += [f"- GC collections during our GC-on runs: {per_k:.1f} per 1,000 cancels.", ""]
    return out

"""Peak RSS of one async bulk cancel, in a fresh process (``python -m benchmarks._memory N``).

Prints ``<rss after imports KiB> <peak rss KiB> <seconds> <ok results>``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path


def _high_water_kib() -> int:
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec from the forking parent.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    count = int(sys.argv[1])
    from cancelkit import AsyncPolymarketUSClient

    baseline = _high_water_kib()
    ids = [f"mem-{i:06d}" for i in range(count)]

    async def run() -> int:
        async with AsyncPolymarketUSClient.from_env() as pm:
            results = await pm.cancel_orders(ids, max_rate=None)
        return sum(r.ok for r in results)

    started = time.perf_counter()
    ok = asyncio.run(run())
    elapsed = time.perf_counter() - started
    peak = _high_water_kib()
    print(baseline, peak, f"{elapsed:.2f}", ok)


if __name__ == "__main__":
    main()

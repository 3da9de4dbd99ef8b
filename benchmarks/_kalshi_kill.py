"""Kill switch on Kalshi at the Basic tier (the sandbox enforcing its token buckets):
cancelkit's cancel by ids (batches as large as the Write bucket holds, confirmed by the
resting listing) and its cancel-all (confirmed by listing), against the bucket's floor."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from . import _startup
from ._sandbox import SandboxProcess

TIER = "basic"
WRITE_RATE = 100.0  # Basic: tokens per second into the Write bucket
WRITE_CAPACITY = 100.0  # Basic: tokens the Write bucket holds (1 s of budget)
COST = 2  # tokens per order cancelled, single or batch
# The key type of the kill runs: Ed25519, the web app's default since 2026-10-01 (the
# signature does not limit a kill; an RSA key adds its load, ~60 ms, to each start).
KEY = "ed25519"
BY_IDS = "by ids (batches of 50)"
BY_ALL = "--all (cancel-all, confirmed by listing)"
IDS_GOAL = 1.1  # issue 32: by ids at most 1.1 x the bucket's floor
ALL_GOAL = 1.0  # issue 32: --all under 1 s at any count up to 10,000
SETTLE = 1.2  # seconds between runs: the Write bucket full again (1 s at Basic)


def floor(count: int) -> float:
    """Seconds the Basic Write bucket needs for ``count`` cancels, starting full."""
    return max(0.0, (count * COST - WRITE_CAPACITY) / WRITE_RATE)


def _library(box: SandboxProcess, by: str, ids: list[str]) -> tuple[list[str], int]:
    """One kill through the library's async client: each result's status, and 0."""
    from cancelkit.kalshi._client import AsyncKalshiClient

    key_id, pem = box.kalshi_keys[KEY]

    async def run() -> list[Any]:
        async with AsyncKalshiClient(key_id, pem, base_url=box.kalshi_url, tier=TIER) as k:
            return await (k.cancel_orders(ids) if by == "ids" else k.cancel_all())

    return [r.status for r in asyncio.run(run())], 0


def _cli(box: SandboxProcess, by: str, ids: list[str]) -> tuple[list[str], int]:
    """One kill through the CLI in a fresh process (its start included): each
    order's status from its ``--json`` records, and the exit code."""
    key_id, pem = box.kalshi_keys[KEY]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "ids.txt")
        path.write_text("\n".join(ids) + "\n", encoding="utf-8")
        way = ["--from-file", str(path)] if by == "ids" else ["--all"]
        env = {
            **os.environ,
            **box.env,
            "KALSHI_API_KEY_ID": key_id,
            "KALSHI_PRIVATE_KEY": pem,
            "CANCELKIT_STATE_DIR": folder,  # its own journal: no other run's in the way
        }
        done = subprocess.run(
            [_startup._cli(), "cancel", "kalshi", *way, "--tier", TIER, "--json"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
    statuses = []
    for line in done.stdout.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "status" in record:
            statuses.append(str(record["status"]))
    return statuses, done.returncode


WAYS = {"library": _library, "cli": _cli}


Spec = tuple[str, str, int]  # (via, way, orders)


def measure(box: SandboxProcess, specs: list[Spec], rounds: int) -> dict[Spec, dict[str, Any]]:
    """Each spec's kill (``count`` resting orders, by ids or by cancel-all, ``via`` the
    library's async client or the CLI, at the Basic tier) ``rounds`` times, the specs
    interleaved round by round in rotating order; per spec, the run of median wall
    time, with the sandbox's counts for it.

    The sandbox validates every request against the specs, and charges its tokens
    as it arrives (before the check), as the exchange counts them."""
    if any(via == "cli" for via, _, _ in specs):
        _startup.as_installed()
    box.kalshi_knobs(validate=True, published_limits=True, tier=TIER)
    runs: dict[Spec, list[dict[str, Any]]] = {spec: [] for spec in specs}
    for round_no in range(rounds):
        shift = round_no % len(specs)
        for spec in specs[shift:] + specs[:shift]:
            via, by, count = spec
            ids = [str(uuid.uuid4()) for _ in range(count)]
            box.kalshi_seed(ids)
            time.sleep(SETTLE)
            box.clear_requests()
            started = time.perf_counter()
            begun = time.monotonic()  # the sandbox's arrival clock
            statuses, exit_code = WAYS[via](box, by, ids)
            wall = time.perf_counter() - started
            arrivals = [a for a in box.arrivals() if a.venue == "kalshi"]
            said = Counter(statuses)
            runs[spec].append(
                {
                    "wall": wall,
                    "first": (arrivals[0].arrived - begun) if arrivals else wall,
                    "requests": len(arrivals),
                    "429s": sum(a.status == 429 for a in arrivals),
                    "outcomes": ", ".join(f"{n} {s}" for s, n in sorted(said.items())) or "none",
                    "exit": exit_code,
                    "resting": box.kalshi_resting(ids),
                }
            )
    box.kalshi_knobs(validate=True)
    return {
        spec: sorted(done, key=lambda r: r["wall"])[len(done) // 2] for spec, done in runs.items()
    }


def table(rows: dict[Spec, dict[str, Any]], rounds: int) -> list[str]:
    """The results section: every (via, way, count) row, and the goals (the CLI's)."""
    lines = [
        "## Kalshi: kill switch at the Basic tier (sandbox enforcing the token buckets)",
        "",
        "The sandbox enforces Basic's buckets (Write: 100 tokens/s, 100 held; Read: 200/s,",
        "200 held) and answers 429 beyond them. By ids: `BatchCancelOrdersV2` of 50 (what",
        "the Write bucket holds at 2 tokens per order), each order `cancelled` only when",
        "its entry says so and the resting listing no longer shows it. `--all`: one",
        "`CancelAllOrders` (2 tokens) between listings of resting orders (Read bucket).",
        "The floor is the Write bucket's: 2 tokens per order at 100/s beyond the 100 held",
        "at the start (300 orders: 5.0 s). 'cli' rows run `cancelkit cancel kalshi",
        "--from-file IDS` / `--all` with `--tier basic --json` in a fresh process (its",
        "start, ~0.4 s, included; outcomes from its records); 'library' rows the async",
        "client's `cancel_orders` / `cancel_all` in this process. Ed25519 key (an RSA",
        "key adds its load to each start: see the signing section); each row is the run",
        f"of median wall time of {rounds} (rows interleaved, rotating order); 'first' is",
        "when the first request arrived (the CLI's process start and imports, or the",
        "client's construction); requests and 429s are the sandbox's log of that",
        "run. The sandbox validates every request against the specs and charges its",
        "tokens as it arrives. The clients pace at 97% of the published refill",
        "(`cancelkit.kalshi._rates.CLIENT_RATE_SHARE`): a batch that empties the bucket",
        "and arrives a few ms early is otherwise refused (at 100%, each 300-order kill",
        "by ids met one 429 and its back-off: 8.5-9.2 s).",
        "",
        "| via | way | orders | wall s | first s | floor s | x floor | requests | 429s"
        " | outcomes | left resting | exit |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (via, by, count), row in rows.items():
        name = BY_IDS if by == "ids" else BY_ALL
        bucket = floor(count) if by == "ids" else 0.0
        ratio = f"{row['wall'] / bucket:.3f}" if bucket else "n/a"
        lines.append(
            f"| {via} | {name} | {count} | {row['wall']:.3f} | {row['first']:.3f}"
            f" | {bucket:.1f} | {ratio}"
            f" | {row['requests']} | {row['429s']} | {row['outcomes']} | {row['resting']}"
            f" | {row['exit']} |"
        )
    lines += ["", "| goal | figure | met |", "|---|---|---|"]
    for (via, by, count), row in rows.items():
        clean = row["429s"] == 0 and row["resting"] == 0 and row["exit"] == 0
        if by == "ids":
            ratio = row["wall"] / floor(count)
            lines.append(
                f"| {via}: {count} by ids <= {IDS_GOAL} x floor, 0 x 429, 0 left resting"
                f" | {ratio:.3f} x, {row['429s']} x 429, {row['resting']} resting"
                f" | {'yes' if ratio <= IDS_GOAL and clean else 'no'} |"
            )
        else:
            lines.append(
                f"| {via}: {count} by --all < {ALL_GOAL:.0f} s, 0 x 429, 0 left resting"
                f" | {row['wall']:.3f} s, {row['429s']} x 429, {row['resting']} resting"
                f" | {'yes' if row['wall'] < ALL_GOAL and clean else 'no'} |"
            )
    lines.append("")
    return lines

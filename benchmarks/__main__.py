"""Run every benchmark in one run, contenders interleaved, and report ratios.

python -m benchmarks            # full run, writes benchmarks/RESULTS.md
python -m benchmarks --smoke    # a few iterations of everything; writes nothing
python -m benchmarks --only cold[,...]  # those sections alone, spliced into RESULTS.md
                                        # (cold, killstart, kalshi, guard, everywhere,
                                        # idle)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from . import (
    _guard,
    _kalshi,
    _kalshi_kill,
    _kalshi_signing,
    _limitless_kill,
    _sections,
    _signing,
    _startup,
    _sync_bulk,
    _tail,
)
from ._contenders import CONTENDERS, LM_SDK_SAME_ENDPOINT, SLUG
from ._sandbox import SandboxProcess, VenueSandboxes

RESULTS = Path(__file__).with_name("RESULTS.md")
OWNER = {"pm": "pm-demo", "lm": "1001"}
VENUE = {"pm": "Polymarket US", "lm": "Limitless"}
FLOOR = "bare httpx (floor)"
ASYNC_FLOOR = "bare aiohttp (async floor)"
# Issue #22's goals, as ratios of medians in this one run: (contender, reference, limit).
GOALS = {
    "pm": [
        ("cancelkit async", "polymarket-us 2.4.1 async", 1.0),
        ("cancelkit async", ASYNC_FLOOR, 1.15),
        ("cancelkit sync", FLOOR, 1.0),
    ],
    "lm": [
        # The same endpoint as ours (the SDK's OrderClient.cancel sends the legacy
        # DELETE /orders/{id}, a cheaper route for the sandbox).
        ("cancelkit async", LM_SDK_SAME_ENDPOINT, 1.0),
        ("cancelkit async", ASYNC_FLOOR, 1.15),
        ("cancelkit sync", FLOOR, 1.0),
    ],
}


def _ids(venue: str, count: int) -> list[str]:
    if venue == "lm":
        return [str(uuid.uuid4()) for _ in range(count)]
    return [f"bench-{uuid.uuid4().hex[:12]}" for _ in range(count)]


def latency(
    box: SandboxProcess, per_round: int, rounds: int, warmup: int
) -> dict[str, dict[str, list[float]]]:
    """Single-cancel latencies, contenders interleaved round by round (rotating order)."""
    samples: dict[str, dict[str, list[float]]] = {
        v: {n: [] for n in c} for v, c in CONTENDERS.items()
    }
    for venue in CONTENDERS:
        # Schema validation costs the sandbox milliseconds and the legacy DELETE route
        # (limitless-sdk's) has none: off here, so what differs is the clients.
        box.knobs(venue, validate=False)
    box.knobs("lm", published_limits=False)  # latency, not the pace, is measured here
    for round_no in range(rounds + 1):
        for venue, contenders in CONTENDERS.items():
            names = list(contenders)
            shift = round_no % len(names)
            for name in names[shift:] + names[:shift]:
                count = warmup if round_no == 0 else per_round
                ids = _ids(venue, count)
                box.seed(venue, ids, OWNER[venue])
                measured = contenders[name](box, ids)
                if round_no > 0:  # round 0 warms every contender up
                    samples[venue][name].extend(measured)
    for venue in CONTENDERS:
        box.knobs(venue, validate=True)
    box.knobs("lm", published_limits=True)
    return samples


STREAM_ORDERS = "cancelkit cancel_orders (outcomes from the order stream)"
LOOKUP_ORDERS = "cancelkit cancel_orders (no stream: outcomes from lookups, as before)"
STREAM_ALL = "cancelkit cancel_all (outcomes from the order stream)"
LOOKUP_ALL = "cancelkit cancel_all (no stream, as before)"
SDK_MANY = "polymarket-us cancel_many x20 (unconfirmed)"
SDK_ALL = "polymarket-us cancel_all (unconfirmed)"
STREAM_GOAL = 1.1  # issue #31: outcomes from the stream in <= 1.1 x the wall time before


def kill_switch(box: SandboxProcess, count: int, rounds: int) -> dict[str, dict[str, Any]]:
    """``count`` open Polymarket orders killed under the sandbox's 20/s limit: cancelkit
    (confirmed by listing; each order's outcome from the private order stream, or with
    the sandbox's stream off, from lookups as before) against polymarket-us's best
    paths (unconfirmed). ``rounds`` runs of each, interleaved in rotating order; each
    row is the contender's run of median wall time."""
    from cancelkit import AsyncPolymarketUSClient, CancelResult
    from polymarket_us import PolymarketUS

    e = box.env
    box.knobs("pm", rate_limit=20)
    runs: dict[str, list[dict[str, Any]]] = {}

    def cancelkit_client() -> AsyncPolymarketUSClient:
        return AsyncPolymarketUSClient(
            e["POLYMARKET_KEY_ID"], e["POLYMARKET_SECRET_KEY"], base_url=box.pm_url
        )

    def outcomes(results: list[CancelResult[str]]) -> str:
        said = Counter(r.status for r in results)
        not_asked = sum("not asked" in (r.message or "") for r in results)
        text = ", ".join(f"{n} {status}" for status, n in sorted(said.items()))
        return text + (f" ({not_asked} not asked)" if not_asked else "")

    def cancelkit_orders(ids: list[str]) -> str:
        async def run() -> list[CancelResult[str]]:
            async with cancelkit_client() as pm:
                return await pm.cancel_orders(ids)

        return outcomes(asyncio.run(run()))

    def cancelkit_all(ids: list[str]) -> str:
        async def run() -> list[CancelResult[str]]:
            async with cancelkit_client() as pm:
                return await pm.cancel_all()

        return outcomes(asyncio.run(run()))

    def sdk() -> PolymarketUS:
        return PolymarketUS(
            key_id=e["POLYMARKET_KEY_ID"],
            secret_key=e["POLYMARKET_SECRET_KEY"],
            api_base_url=box.pm_url,
        )

    def sdk_cancel_many(ids: list[str]) -> str:
        client = sdk()
        for n in range(0, len(ids), 20):  # its documented maximum per request
            batch = [{"orderId": i, "marketSlug": SLUG} for i in ids[n : n + 20]]
            try:
                client.orders.cancel_many({"orders": batch})  # type: ignore[typeddict-item]
            except Exception:  # noqa: S112 (count what is left open instead)
                continue
        return "none reported"

    def sdk_cancel_all(ids: list[str]) -> str:
        sdk().orders.cancel_all()
        return "none reported"

    # (name, run, whether the sandbox serves the order stream)
    contenders = (
        (STREAM_ORDERS, cancelkit_orders, True),
        (LOOKUP_ORDERS, cancelkit_orders, False),
        (STREAM_ALL, cancelkit_all, True),
        (LOOKUP_ALL, cancelkit_all, False),
        (SDK_MANY, sdk_cancel_many, True),
        (SDK_ALL, sdk_cancel_all, True),
    )
    for round_no in range(rounds):
        shift = round_no % len(contenders)
        for name, run, stream in contenders[shift:] + contenders[:shift]:
            ids = _ids("pm", count)
            box.seed("pm", ids, OWNER["pm"])
            box.knobs("pm", stream=stream)
            time.sleep(1.1)  # let the previous contender's window drain
            box.clear_requests()
            before = box.stats("pm")
            started = time.perf_counter()
            said = run(ids)
            wall = time.perf_counter() - started
            after = box.stats("pm")
            lookups = sum(
                a.method == "GET" and a.path.startswith("/v1/order/") for a in box.arrivals()
            )
            runs.setdefault(name, []).append(
                {
                    "wall": wall,
                    "requests": after["requests"] - before["requests"],
                    "429s": after["rate_limited"] - before["rate_limited"],
                    "lookups": lookups,
                    "outcomes": said,
                    "open": box.open_count("pm", ids),
                }
            )
    box.knobs("pm", rate_limit=0, stream=True)
    return {
        name: sorted(rows, key=lambda r: r["wall"])[len(rows) // 2] for name, rows in runs.items()
    }


def first_cancel(box: SandboxProcess, repeats: int) -> dict[str, list[float]]:
    """Latency of a new async client's first cancel, cold and after ``warm()`` (the warm-up
    itself untimed), interleaved. On loopback a new connection is a TCP handshake only;
    in production it is TCP plus TLS, tens of ms."""
    from cancelkit import AsyncPolymarketUSClient

    e = box.env
    out: dict[str, list[float]] = {"cold": [], "warm": []}

    async def once(warm: bool, order_id: str) -> float:
        async with AsyncPolymarketUSClient(
            e["POLYMARKET_KEY_ID"], e["POLYMARKET_SECRET_KEY"], base_url=box.pm_url
        ) as pm:
            if warm:
                await pm.warm()
            started = time.perf_counter()
            await pm.cancel_order(order_id, market_slug=SLUG)
            return time.perf_counter() - started

    box.knobs("pm", validate=False)
    for n in range(repeats):
        for kind in ("cold", "warm") if n % 2 else ("warm", "cold"):
            ids = _ids("pm", 1)
            box.seed("pm", ids, OWNER["pm"])
            out[kind].append(asyncio.run(once(kind == "warm", ids[0])))
    box.knobs("pm", validate=True)
    return out


def memory(box: SandboxProcess, count: int) -> tuple[float, float, float, int]:
    """(RSS after imports MB, peak RSS MB, seconds, ok) of a ``count``-cancel async batch."""
    ids = [f"mem-{i:06d}" for i in range(count)]
    box.seed("pm", ids, OWNER["pm"])
    env = {**os.environ, **box.env}
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks._memory", str(count)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout.split()
    return int(out[0]) / 1024, int(out[1]) / 1024, float(out[2]), int(out[3])


def cold(box: SandboxProcess, args: argparse.Namespace) -> list[str]:
    """The cold command beside the stack alone and the SDKs' scripts (issue #33)."""
    load = os.getloadavg()[0]
    times = _startup.cold_start(box, args.startup)
    return _startup.cold_table(times, (load, os.getloadavg()[0]))


def kill_start(box: SandboxProcess, args: argparse.Namespace) -> list[str]:
    """A Polymarket kill including process start, ours against polymarket-us's
    ``cancel_many`` (the sizes of ``args.kill_start``)."""
    lines: list[str] = []
    for count in args.kill_start:
        runs = _startup.kill_with_start(box, count, args.kill_start_rounds)
        lines += _startup.kill_table(count, runs)
    return lines


def guard(box: SandboxProcess, args: argparse.Namespace) -> list[str]:
    """The armed guard firing (SIGUSR1, the control socket, `cancelkit trigger`),
    and its dead-man's switch (issue #33)."""
    split = None if args.shared_sandbox else VenueSandboxes()
    box = split or box
    try:
        load = os.getloadavg()[0]
        fired = _guard.firing(box, args.guard_rounds)
        lines = _guard.firing_table(fired, (load, os.getloadavg()[0]), split is not None)
        load = os.getloadavg()[0]
        lapses = _guard.heartbeat(box, args.lapse_rounds, args.lapse_timeout)
        return lines + _guard.heartbeat_table(lapses, (load, os.getloadavg()[0]))
    finally:
        if split is not None:
            split.close()


def guard_pinned(box: SandboxProcess, args: argparse.Namespace) -> list[str]:
    """The guard's firings again, the client side on one CPU and the sandboxes on the
    others (needs at least 2 CPUs and Linux's affinity calls)."""
    heading = "## Guard: firing to first cancel, the guard on a core of its own"
    if not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2:
        return [heading, "", "Not measured: this machine gives the benchmark one CPU.", ""]
    cpus = os.sched_getaffinity(0)
    client = {min(cpus)}
    exchange = cpus - client
    split = VenueSandboxes()
    try:
        try:
            for sandbox in split.boxes.values():
                _guard.pin(sandbox.proc.pid, exchange)
            _guard.pin(os.getpid(), client)  # the guard and its triggers inherit it
        except OSError as exc:  # a container refusing affinity calls
            return [heading, "", f"Not measured: pinning was refused ({exc}).", ""]
        load = os.getloadavg()[0]
        fired = _guard.firing(split, args.guard_rounds)
        return _guard.firing_table(
            fired, (load, os.getloadavg()[0]), True, pinned=(client, exchange)
        )
    finally:
        _guard.pin(os.getpid(), cpus)
        split.close()


def _realtime_refused() -> str | None:
    """Why this machine will not give a process the real-time scheduler, or None."""
    probe = "import os; os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    return None if done.returncode == 0 else (done.stderr.strip().splitlines() or ["?"])[-1]


def guard_realtime(box: SandboxProcess, args: argparse.Namespace) -> list[str]:
    """The guard's firings again, the guard started with --realtime."""

    def measure(split: VenueSandboxes) -> list[str]:
        load = os.getloadavg()[0]
        fired = _guard.firing(split, args.guard_rounds, "--realtime")
        return _guard.firing_table(fired, (load, os.getloadavg()[0]), True)

    return _realtime_section("## Guard: firing to first cancel, `guard --realtime`", measure)


def guard_busy(box: SandboxProcess, args: argparse.Namespace) -> list[str]:
    """The guard fired while every core is busy, without and with --realtime."""

    def measure(split: VenueSandboxes) -> list[str]:
        load = os.getloadavg()[0]
        result = _guard.busy(split, args.busy_rounds, args.busy_spinners)
        return _guard.busy_table(result, (load, os.getloadavg()[0]))

    heading = "## Guard: firing while a runaway bot spins on every core"
    return _realtime_section(heading, measure)


def _realtime_section(heading: str, measure: Callable[[VenueSandboxes], list[str]]) -> list[str]:
    """``measure`` on sandboxes of their own, if this machine gives a process the
    real-time scheduler; else the section says why it was not measured."""
    refused = _realtime_refused()
    if refused is not None:
        return [heading, "", f"Not measured: the real-time scheduler was refused ({refused}).", ""]
    split = VenueSandboxes()
    try:
        return measure(split)
    finally:
        split.close()


def everywhere(box: SandboxProcess, args: argparse.Namespace) -> list[str]:
    """`cancel --everywhere` against each account's own kill (issue #33)."""
    load = os.getloadavg()[0]
    runs = _guard.everywhere(box, args.everywhere_rounds)
    return _guard.everywhere_table(runs, (load, os.getloadavg()[0]))


def idle(box: SandboxProcess, args: argparse.Namespace) -> list[str]:
    """The guard armed and idle for --idle seconds (issue #33)."""
    load = os.getloadavg()[0]
    result = _guard.idle(box, args.idle)
    return _guard.idle_table(result, (load, os.getloadavg()[0]))


def kalshi(box: SandboxProcess, args: argparse.Namespace) -> list[str]:
    """Kalshi's sections (signing, single cancel, kill switch), measured now."""
    sign = _kalshi_signing.measure(args.sign_calls, args.sign_rounds)
    lat = _kalshi.latency(box, args.k_per_round, args.k_rounds, args.warmup)
    kill = _kalshi_kill.measure(
        box,
        [(via, by, count) for via in ("cli", "library") for by, count in args.k_kill],
        args.k_kill_rounds,
    )
    return [
        "## Kalshi: signing, single cancel, kill switch",
        "",
        f"kalshi-python-async {metadata.version('kalshi-python-async')}; load average"
        f" (1 min) at the end of these sections: {os.getloadavg()[0]:.2f}.",
        "",
        *_kalshi_signing.table(sign),
        *_kalshi.table(lat, args.k_rounds, args.k_per_round),
        *_kalshi_kill.table(kill, args.k_kill_rounds),
    ]


# Sections that run alone with --only: name -> (measure, the heading of the unmarked
# section an older RESULTS.md has in its place).
Section = Callable[[SandboxProcess, argparse.Namespace], list[str]]
ALONE: dict[str, tuple[Section, str | None]] = {
    "cold": (cold, "## Start-up, cold process"),
    "killstart": (kill_start, "## Kill switch including process start"),
    "kalshi": (kalshi, None),
    "guard": (guard, None),
    "guardpin": (guard_pinned, None),
    "guardrt": (guard_realtime, None),
    "guardbusy": (guard_busy, None),
    "everywhere": (everywhere, None),
    "idle": (idle, None),
}
# Issue #33's desk sections, last in the file.
DESK = ("guard", "guardpin", "guardrt", "guardbusy", "everywhere", "idle")
LAST = ("kalshi", *DESK)  # the sections a full run writes after the others, in this order


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(
    args: argparse.Namespace,
    lat: dict,  # type: ignore[type-arg]
    sign: dict,  # type: ignore[type-arg]
    kill: dict,  # type: ignore[type-arg]
    boot: list[str],
    desk: dict[str, list[str]],
    mem: tuple,  # type: ignore[type-arg]
    first: dict[str, list[float]],
    lm_kill: dict[int, dict[str, dict[str, float]]],
    kill_start: dict[int, dict[str, list[dict[str, float]]]],
    sync_bulk: dict[str, dict[str, list[tuple[float, float]]]],
    tail: tuple[_tail.Samples, dict[str, int]],
) -> str:
    versions = {
        p: metadata.version(p)
        for p in ("cancelkit", "httpx", "cryptography", "polymarket-us", "limitless-sdk")
    }
    lines = [
        "# Benchmark results",
        "",
        f"Generated by `python -m benchmarks` on {datetime.now(UTC):%Y-%m-%d %H:%M UTC}.",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs,"
        f" Python {platform.python_version()}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
        f"Load average (1 min) at the start and the end of the run: {args.load[0]:.2f},"
        f" {os.getloadavg()[0]:.2f}"
        + (
            ": above the CPU count, other work shared the machine (noisier figures)."
            if max(args.load[0], os.getloadavg()[0]) > (os.cpu_count() or 1)
            else "."
        ),
        "The sandbox runs in its own process on loopback; contenders are interleaved round by",
        "round (rotating order), so machine drift hits all alike. Only ratios from this one run",
        "are meaningful.",
        "",
        f"## Single cancel latency ({args.rounds} rounds x {args.per_round} cancels per contender,"
        " rate limit and schema validation off)",
        "",
    ]
    for venue, named in lat.items():
        floor = statistics.median(named[FLOOR])
        async_floor = statistics.median(named[ASYNC_FLOOR])
        lines += [
            f"### {VENUE[venue]}",
            "",
        ]
        if venue == "lm":
            lines += [
                f"`limitless-sdk 1.3.0` is its `OrderClient.cancel`, the legacy `DELETE"
                f" /orders/{{id}}` without a body; `{LM_SDK_SAME_ENDPOINT}` sends the endpoint"
                " cancelkit and the floors send, through the SDK's own signing HttpClient, and"
                " is the one the goals compare against.",
                "",
            ]
        lines += [
            "| contender | n | median ms | p99 ms | x httpx floor | x aiohttp floor |",
            "|---|---|---|---|---|---|",
        ]
        for name, values in named.items():
            median = statistics.median(values)
            lines.append(
                f"| {name} | {len(values)} | {median * 1e3:.3f} | {_pct(values, 0.99) * 1e3:.3f}"
                f" | {median / floor:.2f} | {median / async_floor:.2f} |"
            )
        lines += ["", "| goal | ratio of medians | met |", "|---|---|---|"]
        for contender, reference, limit in GOALS[venue]:
            ratio = statistics.median(named[contender]) / statistics.median(named[reference])
            lines.append(
                f"| {contender} <= {limit} x {reference} | {ratio:.2f}"
                f" | {'yes' if ratio <= limit else 'no'} |"
            )
        tail_runs = len(tail[0][venue]["cancelkit async"]["gc on"])
        p99 = {name: _pct(values, 0.99) for name, values in named.items()}
        lines += [
            "",
            f"Tail in the table above: cancelkit async p99 is"
            f" {p99['cancelkit async'] / p99[ASYNC_FLOOR]:.2f} x the aiohttp floor's p99,"
            f" cancelkit sync {p99['cancelkit sync'] / p99[FLOOR]:.2f} x the httpx floor's.",
            "",
            f"Tail: where our p99 stands against the floor's, from a separate interleaved run"
            f" ({tail_runs} cancels per contender and mode) with GC as usual and with GC"
            " frozen and disabled for the run:",
            "",
            *_tail.lines(venue, *tail),
        ]
    lines += [
        f"## First cancel of a new async client ({len(first['cold'])} each, interleaved)",
        "",
        "| | median ms | p99 ms |",
        "|---|---|---|",
    ]
    for kind, values in first.items():
        lines.append(
            f"| {kind} | {statistics.median(values) * 1e3:.3f} | {_pct(values, 0.99) * 1e3:.3f} |"
        )
    lines.append("")
    lines += ["## Signing cost per request (µs, median of interleaved rounds)", ""]
    for venue, named in sign.items():
        bare = named["bare primitive"]
        lines += [f"### {VENUE[venue]}", "", "| signer | µs | x bare primitive |", "|---|---|---|"]
        lines += [f"| {n} | {v:.2f} | {v / bare:.2f} |" for n, v in named.items()]
        lines.append("")
    for count, rows in kill.items():
        sdk = rows[SDK_MANY]["wall"]
        lines += [
            f"## Kill switch: {count} open Polymarket orders, sandbox limit 20/s per key",
            "",
            "cancelkit lists, batches 20 per request and lists again until no order is",
            "listed; each order's outcome comes from its execution on the private order",
            "stream (opened before the first cancel), or, with the sandbox's stream off,",
            "from `GET /v1/order/{id}` lookups while the rate limit has a slot free (the",
            "rest: 'not asked'). The SDK's calls return when the gateway answers,",
            f"confirming nothing. Each row is the contender's run of median wall time of"
            f" {args.kill_rounds} (interleaved, rotating order); 'lookups' counts"
            " `GET /v1/order/{id}`.",
            "",
            "| contender | wall s | x SDK cancel_many | requests | lookups | 429s"
            " | outcomes reported | orders left open |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, row in rows.items():
            lines.append(
                f"| {name} | {row['wall']:.2f} | {row['wall'] / sdk:.2f} | {int(row['requests'])}"
                f" | {int(row['lookups'])} | {int(row['429s'])} | {row['outcomes']}"
                f" | {int(row['open'])} |"
            )
        ratio = rows[STREAM_ORDERS]["wall"] / rows[LOOKUP_ORDERS]["wall"]
        met = ratio <= STREAM_GOAL and not rows[STREAM_ORDERS]["lookups"]
        lines += [
            "",
            "| goal | ratio of walls | lookups | met |",
            "|---|---|---|---|",
            f"| outcomes from the stream <= {STREAM_GOAL} x as before, no lookup | {ratio:.2f}"
            f" | {int(rows[STREAM_ORDERS]['lookups'])} | {'yes' if met else 'no'} |",
            "",
        ]
    for count, rows in lm_kill.items():
        lines += _limitless_kill.table(count, rows)
    lines += _sync_bulk.table(sync_bulk)
    lines += _sections.block("cold", boot)
    starts = [line for runs in kill_start.items() for line in _startup.kill_table(*runs)]
    lines += _sections.block("killstart", starts)
    lines += [
        f"## Memory: one kill of {args.memory} open orders (listing, batches, confirmation;"
        " no per-second cap)",
        "",
        f"RSS after imports {mem[0]:.1f} MB; peak RSS {mem[1]:.1f} MB;"
        f" {mem[2]:.1f} s; {mem[3]} ok.",
        "",
    ]
    for name, section in desk.items():
        lines += _sections.block(name, section)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="cancelkit benchmarks")
    parser.add_argument("--smoke", action="store_true", help="a few iterations; write nothing")
    parser.add_argument(
        "--only",
        type=lambda text: [name for name in text.split(",") if name],
        help=f"run only these sections ({', '.join(ALONE)}), comma-separated, and splice"
        " them into RESULTS.md",
    )
    parser.add_argument(
        "--idle",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long the guard stays armed and idle [default: 600; 1 with --smoke]",
    )
    parser.add_argument(
        "--guard-rounds",
        type=int,
        default=None,
        metavar="N",
        help="firings per cause in the guard section [default: 15; 1 with --smoke]",
    )
    parser.add_argument(
        "--lapse-rounds",
        type=int,
        default=None,
        metavar="N",
        help="heartbeat lapses in the guard section [default: 8; 1 with --smoke]",
    )
    parser.add_argument(
        "--shared-sandbox",
        action="store_true",
        help="the guard section on one sandbox process serving every venue [default: one"
        " process per venue, as the exchanges are separate servers]",
    )
    args = parser.parse_args()
    guard_rounds, lapse_rounds = args.guard_rounds, args.lapse_rounds
    unknown = sorted(set(args.only or ()) - set(ALONE))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; known: {', '.join(ALONE)}")
    args.load = os.getloadavg()  # reported: figures taken on a busy machine are noisier
    if args.smoke:
        args.per_round, args.rounds, args.warmup = 5, 2, 3
        args.sign_calls, args.sign_rounds, args.kill, args.startup, args.memory = (
            50,
            2,
            (25,),
            1,
            50,
        )
        args.first = 3
        args.kill_rounds = 1
        args.lm_kill, args.lm_kill_rounds = (60,), 1
        args.kill_start, args.kill_start_rounds, args.sync_rounds = (40,), 1, 1
        args.tail_per_round, args.tail_rounds = 5, 1
        args.k_per_round, args.k_rounds, args.k_kill_rounds = 5, 1, 1
        args.k_kill = (("ids", 60), ("all", 60))
        # The shortest that still runs the code: a 0.5 s lapse, 1 s idle (after the
        # idle section's own 2 s settling); `make test` runs this.
        args.guard_rounds, args.lapse_rounds, args.lapse_timeout = 1, 1, 0.5
        args.busy_rounds, args.busy_spinners = 1, 1  # one spinner: CI's tests run beside
        args.everywhere_rounds, idle_default = 1, 1.0
    else:
        args.per_round, args.rounds, args.warmup = 250, 8, 50
        args.sign_calls, args.sign_rounds, args.kill, args.startup, args.memory = (
            5000,
            7,
            (300, 1000),
            15,
            10_000,
        )
        args.first = 40
        args.kill_rounds = 3
        args.lm_kill, args.lm_kill_rounds = (300, 1000), 3
        args.startup = 20  # each row is a fresh process (0.2-2 s); 20 for a shared machine
        args.kill_start, args.kill_start_rounds, args.sync_rounds = (300,), 4, 6
        args.tail_per_round, args.tail_rounds = 250, 3
        args.k_per_round, args.k_rounds, args.k_kill_rounds = 200, 6, 3
        args.k_kill = (
            ("ids", 300),
            ("ids", 1000),
            ("all", 300),
            ("all", 1000),
            ("all", 10_000),
        )
        args.guard_rounds, args.lapse_rounds, args.lapse_timeout = 15, 8, 2.0
        args.busy_rounds, args.busy_spinners = 10, os.cpu_count() or 1
        args.everywhere_rounds, idle_default = 6, 600.0
    args.idle = idle_default if args.idle is None else args.idle
    if guard_rounds is not None:
        args.guard_rounds = guard_rounds
    if lapse_rounds is not None:
        args.lapse_rounds = lapse_rounds
    if args.only:
        alone(args)
        return
    box = SandboxProcess()
    try:
        lat = latency(box, args.per_round, args.rounds, args.warmup)
        sign = _signing.measure(args.sign_calls, args.sign_rounds)
        kill = {count: kill_switch(box, count, args.kill_rounds) for count in args.kill}
        lm_kill = {
            count: _limitless_kill.measure(box, count, args.lm_kill_rounds)
            for count in args.lm_kill
        }
        mem = memory(box, args.memory)
        first = first_cancel(box, args.first)
        tail = _tail.measure(box, args.tail_per_round, args.tail_rounds, warm_up=not args.smoke)
        sync_bulk = _sync_bulk.measure(box, args.sync_rounds)
        boot = cold(box, args)
        desk = {name: ALONE[name][0](box, args) for name in LAST}
        kill_start = {
            count: _startup.kill_with_start(box, count, args.kill_start_rounds)
            for count in args.kill_start
        }
    finally:
        box.close()
    text = report(
        args, lat, sign, kill, boot, desk, mem, first, lm_kill, kill_start, sync_bulk, tail
    )
    print(text)
    if not args.smoke:
        RESULTS.write_text(text, encoding="utf-8")
        print(f"wrote {RESULTS}")


def alone(args: argparse.Namespace) -> None:
    """Run the sections ``--only`` names; print them, and (not with --smoke) splice each
    into RESULTS.md in place of its previous version."""
    box = SandboxProcess()
    done: dict[str, list[str]] = {}
    try:
        for name in args.only:
            load = os.getloadavg()[0]
            lines = ALONE[name][0](box, args)
            heading, *rest = lines
            done[name] = [heading, "", _sections.stamp(name, (load, os.getloadavg()[0])), *rest]
    finally:
        box.close()
    for lines in done.values():
        print("\n".join(lines))
    if args.smoke:
        return
    text = RESULTS.read_text(encoding="utf-8")
    for name, lines in done.items():
        text = _sections.splice(text, name, lines, ALONE[name][1])
    RESULTS.write_text(text, encoding="utf-8")
    print(f"spliced {', '.join(done)} into {RESULTS}")


if __name__ == "__main__":
    main()

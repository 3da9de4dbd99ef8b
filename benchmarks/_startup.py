"""Start-up, cold process: fresh interpreters doing one thing each; the CLI's "Enter to
first cancel on the wire" beside the stack alone and each official SDK's own script
(issue #33); and a Polymarket kill including process start, ours against
polymarket-us's ``cancel_many``. Contenders are interleaved round by round
(rotating order).

"Enter to first cancel" runs from just before the process is spawned to the sandbox's
arrival instant of the first cancel request; both are ``time.monotonic()``, which on
Linux is one clock for every process on the machine.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from ._contenders import SLUG
from ._sandbox import SandboxProcess

BASELINE = "python -c 'import httpx'"
HTTPX_ALONE = "python -c 'import httpx', as httpx's own install has it (no CLI extras)"
HELP = "cancelkit --help"
# What an asyncio client loads before its first request that a sync one does not (the
# stack alone and our command pay it; polymarket-us's script, on httpx's sync client,
# does not).
ASYNC_ALONE = "python -c 'import httpx, asyncio, anyio._backends._asyncio', as installed"
# Issue #33: the cold command's goals, relative to what can be controlled: per venue,
# our command against the stack alone (the libraries the cancel needs sending the same
# signed request) and against the official SDK's own script, in fresh processes.
PM_FIRST = "cancelkit cancel polymarket ID (id only: lists first to learn its market)"
PM_MARKET = "cancelkit cancel polymarket ID --market SLUG (the market given, as to the SDK)"
PM_STACK = "stack alone: httpx async + attrs + cryptography, the same batched cancel"
PM_STACK_LISTING = (
    "stack alone, listing first as cancelkit does (GET /v1/orders/open, then the cancel)"
)
PM_MINIMAL = "minimal: httpx sync + cryptography, the same batched cancel"
PM_SDK = "polymarket-us 2.4.1 script as its README shows (orders.cancel)"
LM_FIRST = "cancelkit cancel limitless --order-id UUID"
LM_STACK = "stack alone: httpx async + attrs + hmac, the same batch-cancel"
LM_MINIMAL = "minimal: httpx sync + hmac, the same batch-cancel"
LM_SDK = "limitless-sdk 1.3.0 script as its README shows (OrderClient.cancel)"
PM_LISTING = "(same runs as the id-only command) its first request, the listing"
VENUE_ROWS = {
    "Polymarket US": (
        PM_MARKET,
        PM_STACK,
        PM_FIRST,
        PM_STACK_LISTING,
        PM_MINIMAL,
        PM_SDK,
        PM_LISTING,
    ),
    "Limitless": (LM_FIRST, LM_STACK, LM_MINIMAL, LM_SDK),
}
STACK_GOAL, SDK_GOAL = 1.10, 1.0
# (name, reference, limit): ratios of medians in this one run.
GOALS = [
    (HELP, BASELINE, 0.5),  # issue #22
    # Like for like: the stack alone and the SDK's script are given the market.
    (PM_MARKET, PM_STACK, STACK_GOAL),
    (PM_MARKET, PM_SDK, SDK_GOAL),
    # The id-only form sends a listing first: beside the stack sending the same two.
    (PM_FIRST, PM_STACK_LISTING, STACK_GOAL),
    (LM_FIRST, LM_STACK, STACK_GOAL),
    (LM_FIRST, LM_SDK, SDK_GOAL),
]
KILL_OURS_ALL = "cancelkit cancel polymarket --all"
KILL_OURS_FILE = "cancelkit cancel polymarket --from-file (the ids)"
KILL_OURS_MARKET = "cancelkit cancel polymarket --from-file (the ids) --market SLUG"
KILL_SDK = "polymarket-us cancel_many x20 (fresh python, its import included)"
KILL_RATE = 20  # the sandbox's per-key limit, as in the other Polymarket kill tables
KILL_GOAL = 1.2
PM_OWNER = "pm-demo"
LM_OWNER = "1001"


def _cli() -> str:
    """The real console script of this venv (what a user types)."""
    return str(Path(sys.executable).with_name("cancelkit"))


# The environment of a process that is not cancelkit's: see _alone/sitecustomize.py.
ALONE = str(Path(__file__).with_name("_alone"))


def _env(box: SandboxProcess, alone: bool = False) -> dict[str, str]:
    return {**os.environ, **box.env, **({"PYTHONPATH": ALONE} if alone else {})}


def _run(argv: list[str], env: dict[str, str] | None = None) -> float:
    """Run to its end (exit 0 or raise); the CPU seconds (user + system) it used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[:4]} exited {done.returncode}: {done.stderr[-500:]}")
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


# A measure: (seconds it is about, CPU seconds of the whole process).
Measure = Callable[[], tuple[float, float]]
CPU = "cpu "  # cold_start's key prefix for a command's CPU seconds


def _wall(argv: list[str], env: dict[str, str] | None = None) -> Measure:
    def measure() -> tuple[float, float]:
        started = time.monotonic()
        cpu = _run(argv, env)
        return time.monotonic() - started, cpu

    return measure


def _is_cancel(method: str, path: str) -> bool:
    # Every route a contender cancels by: our batched cancels, the SDKs' single
    # cancel (POST .../cancel) and limitless-sdk's legacy DELETE /orders/{id}.
    return (method == "POST" and "cancel" in path) or (
        method == "DELETE" and path.startswith("/orders/")
    )


def _first_cancel(
    box: SandboxProcess,
    venue: str,
    argv: Callable[[str], list[str]],
    first: list[float] | None = None,
    *,
    alone: bool = True,
) -> Measure:
    """Seconds from spawning a fresh process on one fresh seeded order to its first
    cancel's arrival at the sandbox (the process then runs to its end, untimed; it
    must exit 0); the seconds to its first request of any kind go to ``first``.
    ``alone``: a process that is not cancelkit's, in the environment its own install
    would give it (``ALONE``)."""

    def measure() -> tuple[float, float]:
        order_id = str(uuid.uuid4()) if venue == "lm" else f"cold-{uuid.uuid4().hex[:12]}"
        box.seed(venue, [order_id], LM_OWNER if venue == "lm" else PM_OWNER, SLUG)
        box.clear_requests()
        env = _env(box, alone)
        started = time.monotonic()
        cpu = _run(argv(order_id), env)
        arrivals = box.arrivals()
        cancels = [a for a in arrivals if _is_cancel(a.method, a.path)]
        if not cancels:
            raise RuntimeError(f"{venue}: {argv(order_id)[:3]} sent no cancel")
        if first is not None:
            first.append(arrivals[0].arrived - started)
        return cancels[0].arrived - started, cpu

    return measure


def as_installed() -> None:
    """cancelkit's bytecode compiled, as ``pip install`` leaves it: in an editable
    install under ``PYTHONDONTWRITEBYTECODE`` (this repository's environment) every
    cold process would otherwise compile each cancelkit module from source, a cost
    no installed user pays and the SDKs, installed, never pay here."""
    import compileall

    import cancelkit

    package = Path(cancelkit.__file__).parent
    compileall.compile_dir(package, quiet=1)
    # compile_dir does not follow a link to a directory, and cancelkit._generated is
    # one here (to generated/); a wheel holds its files, and pip compiles them too.
    compileall.compile_dir(package / "_generated", quiet=1)


def cold_start(box: SandboxProcess, repeats: int) -> dict[str, list[float]]:
    """``repeats`` cold runs of each command, rotating order each round: seconds each,
    and (under ``CPU + name``) the CPU seconds of each whole process."""
    as_installed()
    python = sys.executable
    cli = _cli()
    here = Path(__file__).parent
    stack = str(here / "_cold_stack.py")
    pm_sdk, lm_sdk = str(here / "_cold_sdk_pm.py"), str(here / "_cold_sdk_lm.py")
    pm_first: list[float] = []
    commands: dict[str, Measure] = {
        "python -c pass": _wall([python, "-c", "pass"]),
        # In this venv httpx imports its command line (see _alone/): the --help goal's
        # reference since issue #22; the next row is httpx as its own install has it.
        BASELINE: _wall([python, "-c", "import httpx"]),
        HTTPX_ALONE: _wall([python, "-c", "import httpx"], {**os.environ, "PYTHONPATH": ALONE}),
        ASYNC_ALONE: _wall(
            [python, "-c", "import httpx, asyncio, anyio._backends._asyncio"],
            {**os.environ, "PYTHONPATH": ALONE},
        ),
        HELP: _wall([cli, "--help"]),
        PM_FIRST: _first_cancel(
            box, "pm", lambda i: [cli, "cancel", "polymarket", i], pm_first, alone=False
        ),
        PM_MARKET: _first_cancel(
            box, "pm", lambda i: [cli, "cancel", "polymarket", i, "--market", SLUG], alone=False
        ),
        PM_STACK: _first_cancel(box, "pm", lambda i: [python, stack, "mandated", "pm", i, SLUG]),
        PM_STACK_LISTING: _first_cancel(
            box, "pm", lambda i: [python, stack, "mandated", "pm-listing", i]
        ),
        PM_MINIMAL: _first_cancel(box, "pm", lambda i: [python, stack, "minimal", "pm", i, SLUG]),
        PM_SDK: _first_cancel(box, "pm", lambda i: [python, pm_sdk, i, SLUG]),
        LM_FIRST: _first_cancel(
            box, "lm", lambda i: [cli, "cancel", "limitless", "--order-id", i], alone=False
        ),
        LM_STACK: _first_cancel(box, "lm", lambda i: [python, stack, "mandated", "lm", i]),
        LM_MINIMAL: _first_cancel(box, "lm", lambda i: [python, stack, "minimal", "lm", i]),
        LM_SDK: _first_cancel(box, "lm", lambda i: [python, lm_sdk, i]),
    }
    names = list(commands)
    times: dict[str, list[float]] = {name: [] for name in names}
    # Start-up is measured here, not the pace: one process's cancel may follow the
    # previous one's within Limitless's 300 ms, which only a paced client would wait out.
    # Schema validation off too, as in the latency tables: it is the sandbox's time
    # (milliseconds a request), not the clients', and our Polymarket command sends two.
    box.knobs("lm", published_limits=False)
    for venue in ("pm", "lm"):
        box.knobs(venue, validate=False)
    for round_no in range(repeats):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            seconds, cpu = commands[name]()
            times[name].append(seconds)
            times.setdefault(CPU + name, []).append(cpu)
    box.knobs("lm", published_limits=True)
    for venue in ("pm", "lm"):
        box.knobs(venue, validate=True)
    times[PM_LISTING] = pm_first  # the same runs: where the listing before the cancel ends
    return times


def kill_with_start(
    box: SandboxProcess, count: int, rounds: int
) -> dict[str, list[dict[str, float]]]:
    """``count`` open Polymarket orders killed by a fresh process, start included: our
    CLI (``--all``, and the same ids from a file) against polymarket-us's ``cancel_many``
    in a fresh ``python``. Each run gets a reset book (nothing left by another), the
    orders reseeded, the sandbox at 20 requests/s per key; judged by the book."""
    as_installed()
    cli = _cli()
    script = str(Path(__file__).with_name("_sdk_kill.py"))
    contenders: dict[str, Callable[[str], list[str]]] = {
        KILL_OURS_ALL: lambda path: [cli, "cancel", "polymarket", "--all"],
        KILL_OURS_FILE: lambda path: [cli, "cancel", "polymarket", "--from-file", path],
        KILL_OURS_MARKET: lambda path: [
            *(cli, "cancel", "polymarket", "--from-file", path, "--market", SLUG)
        ],
        KILL_SDK: lambda path: [sys.executable, script, path, SLUG],
    }
    names = list(contenders)
    out: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder, "ids.txt"))
        for round_no in range(rounds):
            shift = round_no % len(names)
            for name in names[shift:] + names[:shift]:
                box.reset("pm")
                box.knobs("pm", rate_limit=KILL_RATE)
                ids = [f"kill-{uuid.uuid4().hex[:12]}" for _ in range(count)]
                box.seed("pm", ids, PM_OWNER, SLUG)
                Path(path).write_text("\n".join(ids) + "\n", encoding="utf-8")
                env = _env(box, alone=name == KILL_SDK)
                box.clear_requests()
                started = time.monotonic()
                done = subprocess.run(contenders[name](path), capture_output=True, env=env)
                ended = time.monotonic()
                stats = box.stats("pm")
                arrivals = box.arrivals()
                cancels = [a.arrived for a in arrivals if a.method == "POST"] or [ended]
                out[name].append(
                    {
                        "wall": ended - started,
                        "first cancel": cancels[0] - started,
                        "after last": ended - max((a.arrived for a in arrivals), default=ended),
                        "exit": done.returncode,
                        "requests": stats["requests"],
                        "429s": stats["rate_limited"],
                        "open": box.open_count("pm", ids),
                    }
                )
    box.reset("pm")
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _cpu(times: dict[str, list[float]], name: str) -> str:
    values = times.get(CPU + name)
    return f"{statistics.median(values) * 1e3:.0f}" if values else "-"


def cold_table(times: dict[str, list[float]], load: tuple[float, float]) -> list[str]:
    """The start-up section: the cold command beside the stack alone and each SDK's
    script, per venue (medians, p99, ratios), and the goals."""
    runs = len(times[BASELINE])
    base = statistics.median(times[BASELINE])
    lines = [
        f"## Start-up, cold process: Enter to first cancel ({runs} runs each, interleaved,"
        " rotating order)",
        "",
        "Each run is a fresh process, cancelkit's bytecode compiled as an installed package",
        "has it (the SDKs' and the libraries' is, from pip), timed from just before the",
        "spawn to the first cancel request's arrival at the sandbox (its `time.monotonic()`,",
        "the same clock), on one freshly seeded order, credentials from the environment.",
        "`cancelkit cancel` is the venv's real console script. Every other process runs as",
        "its own install would have it: httpx there has no command-line extras (click, rich,",
        "pygments, installed here for cancelkit) to import (`benchmarks/_alone/`).",
        "The 'stack alone' rows",
        "(`benchmarks/_cold_stack.py`) import only what the cancel needs and send the same",
        "signed request our command sends first (the body through an attrs model, as the",
        "generated clients build it, over httpx's async client under asyncio, as our",
        "command sends what follows it); 'minimal' is httpx's sync client and the signer",
        "alone. The SDK",
        "rows are each SDK's own fresh-process script to its first cancel, written as its",
        "README shows (`benchmarks/_cold_sdk_pm.py`, `_cold_sdk_lm.py`). The batched cancel",
        "names each order's market: given it (`--market SLUG`, as the stack alone and the",
        "SDK's script are given it), our Polymarket command sends its cancel first; given",
        "an id only, it lists the key's open orders first to learn the market, and the",
        "'listing first' row is the stack alone sending the same two requests. The goals",
        "compare like with like. The sandbox's schema",
        "validation and Limitless's pace are off (the sandbox's time, not the clients').",
        "The asyncio row is what an async client loads that a sync one does not: the",
        "stack alone pays it before its first request. Our `--market` and Limitless",
        "commands, whose whole cancel is one request, send it on the venue's sync client",
        "before asyncio loads (`_cli/_first.py`), as polymarket-us's script (httpx's sync",
        "client) does; our id-only command sends its listing, and the one cancel made",
        "from it (every id open in one market, as here), that way too.",
        "'CPU ms' is the whole process's user + system time, to its exit: less shaken by",
        "other work on the machine than the wall figures. p99 of so few runs is their",
        f"slowest. Load average (1 min) before and after this section: {load[0]:.2f},"
        f" {load[1]:.2f} (2 cores shared with other work: only the ratios of this run count).",
        "",
        "| command | median ms | p99 ms | x import httpx | CPU ms, whole process |",
        "|---|---|---|---|---|",
    ]
    for name in ("python -c pass", BASELINE, HTTPX_ALONE, ASYNC_ALONE, HELP):
        values = times[name]
        median = statistics.median(values)
        lines.append(
            f"| {name} | {median * 1e3:.0f} | {_pct(values, 0.99) * 1e3:.0f}"
            f" | {median / base:.2f} | {_cpu(times, name)} |"
        )
    for venue, rows in VENUE_ROWS.items():
        ours = statistics.median(times[rows[0]])
        stack = statistics.median(times[rows[1]])
        lines += [
            "",
            f"### {venue}",
            "",
            "| command | median ms | p99 ms | x stack alone | ours x this"
            " | CPU ms, whole process |",
            "|---|---|---|---|---|---|",
        ]
        for name in rows:
            values = times[name]
            median = statistics.median(values)
            lines.append(
                f"| {name} | {median * 1e3:.0f} | {_pct(values, 0.99) * 1e3:.0f}"
                f" | {median / stack:.2f} | {ours / median:.2f} | {_cpu(times, name)} |"
            )
    lines += ["", "| goal | ratio of medians | met |", "|---|---|---|"]
    for name, reference, limit in GOALS:
        ratio = statistics.median(times[name]) / statistics.median(times[reference])
        lines.append(
            f"| {name} <= {limit} x {reference} | {ratio:.2f}"
            f" | {'yes' if ratio <= limit else 'no'} |"
        )
    lines.append("")
    return lines


def kill_table(count: int, runs: dict[str, list[dict[str, float]]]) -> list[str]:
    """The kill-including-start section for one size, and its goal."""
    sdk = statistics.median(r["wall"] for r in runs[KILL_SDK])
    lines = [
        f"## Kill switch including process start: {count} open Polymarket orders,"
        f" sandbox limit {KILL_RATE}/s per key ({len(runs[KILL_SDK])} runs each, interleaved)",
        "",
        "From spawning the process to its exit. cancelkit confirms by listing; the SDK's",
        "calls return when the gateway answers, confirming nothing. 'first cancel' is the",
        "first cancel request's arrival at the sandbox, 'after last' the time from the last",
        "request's arrival to the exit (medians). Requests, 429s and left open are the",
        "worst run's (from the sandbox's counters and book). The SDK's process runs as its",
        "own install has it, without httpx's CLI extras (`benchmarks/_alone/`). The SDK's",
        "script is given the orders' market (`benchmarks/_sdk_kill.py`); so is the `--market`",
        "row, which sends its first batch at once. Without it our command lists first to",
        "learn each order's market. Each of ours opens the private order stream and waits",
        "for its subscription before the first cancel (issue 31: each order's end is then",
        "the stream's word, not a guess from the listing), which the SDK does not; the",
        "'first cancel' column is where that and our start-up show.",
        "",
        "| contender | median s | p99 s | x SDK | first cancel s | after last s | requests"
        " | 429s | left open | exit codes |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, rows in runs.items():
        walls = [r["wall"] for r in rows]
        median = statistics.median(walls)
        codes = sorted({int(r["exit"]) for r in rows})
        lines.append(
            f"| {name} | {median:.2f} | {_pct(walls, 0.99):.2f} | {median / sdk:.2f}"
            f" | {statistics.median(r['first cancel'] for r in rows):.2f}"
            f" | {statistics.median(r['after last'] for r in rows):.2f}"
            f" | {int(max(r['requests'] for r in rows))} | {int(max(r['429s'] for r in rows))}"
            f" | {int(max(r['open'] for r in rows))} | {', '.join(map(str, codes))} |"
        )
    lines += ["", "| goal | ratio of medians | met |", "|---|---|---|"]
    for ours in (KILL_OURS_ALL, KILL_OURS_FILE, KILL_OURS_MARKET):
        ratio = statistics.median(r["wall"] for r in runs[ours]) / sdk
        lines.append(
            f"| {ours} <= {KILL_GOAL} x polymarket-us cancel_many | {ratio:.2f}"
            f" | {'yes' if ratio <= KILL_GOAL else 'no'} |"
        )
    lines.append("")
    return lines

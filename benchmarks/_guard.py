"""Issue #33's desk benchmarks: the armed guard (``cancelkit guard``) firing on
SIGUSR1, on a trigger over its control socket and on ``cancelkit trigger``; its
dead-man's switch; ``cancel --everywhere`` against each account's own kill; the
guard armed and idle (RSS, CPU, requests against each venue's budget).

The guard's desk is 3 accounts on 3 venues (a Polymarket key, a Limitless token with
its market, a Kalshi key), 300 open orders each before every firing, each venue served
by a sandbox process of its own (``VenueSandboxes``); ``cancel --everywhere`` and the
idle guard keep the older desk of two Polymarket keys and a Limitless token. Every
instant is the sandbox's arrival clock (``time.monotonic()``, one clock for every
process on the machine) against the runner's own.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx

from ._contenders import SLUG
from ._sandbox import KALSHI_MEMBER, Arrival, SandboxProcess
from ._startup import _is_cancel, as_installed

ORDERS = 300  # open orders per account before each firing
SHORT = {"polymarket": "pm", "limitless": "lm", "kalshi": "ks"}  # account names' prefix
BOX = {"polymarket": "pm", "limitless": "lm", "kalshi": "kalshi"}  # the sandbox's venue names
NAMES = {"polymarket": "Polymarket US", "limitless": "Limitless", "kalshi": "Kalshi"}
# The desk the guard's sections fire on and idle with (issue #33: 3 accounts on 3
# venues), and the older one of the `cancel --everywhere` section (2 Polymarket keys).
GUARD_DESK = ("polymarket", "limitless", "kalshi")
TWO_VENUES = ("polymarket", "polymarket", "limitless")
FIRST_MEDIAN, FIRST_P99 = 0.005, 0.020  # seconds: firing to first cancel, per venue
CONFIRM_GOAL = 1.10  # books confirmed empty within the slowest account's kill x this
LAPSE_GOAL = 0.100  # seconds after the heartbeat timeout
RSS_GOAL, CPU_GOAL, BUDGET_GOAL = 80.0, 0.01, 0.01  # MB, share of a core, share of budget
PROVE_GOAL = 300.0  # seconds between an account's key proofs, at most
# Each venue's published budget per key, requests a second: Polymarket 20/s per key
# (its listing window alone: 55 per 10 s), Limitless one request per 300 ms per token,
# Kalshi's Basic Read bucket (200 tokens/s) over a listing's cost (10): every request
# counted as dear as a listing.
BUDGET = {"polymarket": 20.0, "limitless": 1 / 0.3, "kalshi": 200 / 10}
SIGNAL, SOCKET, COMMAND = (
    "SIGUSR1 (kill -USR1)",
    "trigger on the control socket (from a running process)",
    "`cancelkit trigger` (a fresh process: its start-up included; for information)",
)


def _cli() -> str:
    return str(Path(sys.executable).with_name("cancelkit"))


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Desk:
    """The benchmark's desk on the sandbox: its accounts file, the environment that
    holds the secrets it names, and a private state directory."""

    def __init__(
        self,
        box: SandboxProcess,
        folder: Path,
        via: dict[str, str] | None = None,
        venues: tuple[str, ...] = TWO_VENUES,
    ) -> None:
        self.box = box
        e = box.env
        demo = {  # each venue's first account: the sandbox's demo key
            "polymarket": {
                "venue": "polymarket",
                "key_id": e["POLYMARKET_KEY_ID"],
                "secret": e["POLYMARKET_SECRET_KEY"],
                "owner": "pm-demo",
                "base_url": box.pm_url,
            },
            "limitless": {
                "venue": "limitless",
                "key_id": e["LIMITLESS_TOKEN_ID"],
                "secret": e["LIMITLESS_TOKEN_SECRET"],
                "owner": "1001",
                "base_url": box.lm_url,
            },
            "kalshi": {
                "venue": "kalshi",
                "key_id": e["KALSHI_API_KEY_ID"],
                "secret": e["KALSHI_PRIVATE_KEY"],
                "owner": KALSHI_MEMBER,
                "base_url": box.kalshi_url,
            },
        }
        keys = [demo.pop(v) if v in demo else box.add_account(v) for v in venues]
        self.accounts: dict[str, dict[str, str]] = {}
        counts: dict[str, int] = {}
        for key in keys:
            key["base_url"] = (via or {}).get(key["base_url"], key["base_url"])
            counts[key["venue"]] = counts.get(key["venue"], 0) + 1
            self.accounts[f"{SHORT[key['venue']]}-{counts[key['venue']]}"] = key
        self.state = folder / "state"
        self.state.mkdir(mode=0o700)
        self.config = folder / "accounts.toml"
        tables = []
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(_VENUE_VARS)}
        for name, key in self.accounts.items():
            variable = f"BENCH_SECRET_{name.replace('-', '_').upper()}"
            self.env[variable] = key["secret"]
            tables.append(
                f'[{name}]\nvenue = "{key["venue"]}"\nkey_id = "{key["key_id"]}"\n'
                f'base_url = "{key["base_url"]}"\nsecret_env = "{variable}"\n'
                + (f'markets = ["{SLUG}"]\n' if key["venue"] == "limitless" else "")
                + ("subaccount = 0\n" if key["venue"] == "kalshi" else "")
            )
        self.config.write_text("\n".join(tables), encoding="utf-8")
        self.env["CANCELKIT_CONFIG"] = str(self.config)
        self.env["CANCELKIT_STATE_DIR"] = str(self.state)
        self.env["XDG_STATE_HOME"] = str(folder / "xdg")  # nothing of the user's
        self.ids: dict[str, list[str]] = {}

    @property
    def venues(self) -> list[str]:
        return sorted({key["venue"] for key in self.accounts.values()})

    def seed(self, names: list[str] | None = None) -> None:
        """``ORDERS`` fresh open orders on each account (or those named)."""
        for name in names or list(self.accounts):
            key = self.accounts[name]
            venue = BOX[key["venue"]]
            ids = [
                f"g-{uuid.uuid4().hex[:12]}" if venue == "pm" else str(uuid.uuid4())
                for _ in range(ORDERS)
            ]
            if venue == "kalshi":  # in its market, subaccount 0 (the account's)
                self.box.kalshi_seed(ids)
            else:
                self.box.seed(venue, ids, key["owner"], SLUG)
            self.ids[name] = ids

    def left_open(self, names: list[str] | None = None) -> int:
        """Orders of the last seeding still open on the sandbox's books."""
        return sum(
            self.box.open_count(BOX[self.accounts[n]["venue"]], self.ids.get(n, []))
            for n in names or list(self.accounts)
        )

    def quiet_window(self) -> None:
        """Let each key's rate window drain (Polymarket counts per second)."""
        time.sleep(1.1)


# The venues' own variables: a desk's processes read the accounts file alone.
_VENUE_VARS = ("POLYMARKET_", "LIMITLESS_", "KALSHI_")


class Tally:
    """A loopback TCP relay in front of one sandbox that counts every HTTP request
    line passing through it (the sandbox's own log has only its API routes: an
    unsigned ``GET /`` that keeps a connection warm, or a WebSocket's handshake, is
    not in it)."""

    _LINE = re.compile(rb"(GET|POST|DELETE|PUT|PATCH|HEAD) (\S+) HTTP/1\.1\r\n")

    def __init__(self, target: str) -> None:
        host, _, port = httpx.URL(target).netloc.decode().partition(":")
        self.target = (host, int(port))
        self.seen: list[tuple[str, str]] = []  # (method, path)
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.url = ""

        async def start() -> None:
            server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
            self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            ready.set()
            async with server:
                await server.serve_forever()

        self.thread = threading.Thread(
            target=lambda: self.loop.run_until_complete(start()), daemon=True
        )
        self.thread.start()
        ready.wait(10)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, count: bool) -> None:
            tail = b""
            try:
                while data := await src.read(65536):
                    if count:
                        seen = tail + data
                        for match in self._LINE.finditer(seen):
                            if match.end() > len(tail):  # not counted with the last chunk
                                self.seen.append((match[1].decode(), match[2].decode()))
                        tail = seen[-200:]
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                with suppress(Exception):
                    dst.close()

        await asyncio.gather(
            pump(reader, upstream_writer, True), pump(upstream_reader, writer, False)
        )

    def clear(self) -> None:
        self.seen = []


class Guard:
    """``cancelkit guard`` running on the desk, its stderr collected."""

    def __init__(self, desk: Desk, *args: str) -> None:
        self.desk = desk
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [_cli(), "guard", *args],
            env=desk.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.armed = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self.armed.wait(60) or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError("the guard did not arm:\n" + "\n".join(self.lines[-20:]))
        self.socket = desk.state / "guard.sock"

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))
            if "armed" in line and "disarmed" not in line:
                self.armed.set()

    def ask(self, op: str, timeout: float = 30.0, **fields: Any) -> dict[str, Any]:
        from cancelkit._guard_link import request

        return request(op, timeout=timeout, path=self.socket, **fields)

    def wait_fired(self, timeout: float = 90.0) -> dict[str, Any]:
        """The status once the guard has fired and its run has ended."""
        end = time.monotonic() + timeout
        # Asked first after 0.3 s, then every 0.1 s: each answer costs the guard's loop
        # time, which the firing's first requests must not share.
        time.sleep(0.3)
        while time.monotonic() < end:
            status = self.ask("status")
            run = status.get("last_run") or {}
            if status.get("state") == "fired" and run.get("ended"):
                return status
            time.sleep(0.1)
        raise RuntimeError("the guard's firing did not end in time")

    def arm(self) -> None:
        answer = self.ask("arm")
        if not answer.get("ok"):
            raise RuntimeError(f"arm refused: {answer}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)


@contextmanager
def running(desk: Desk, *args: str) -> Iterator[Guard]:
    guard = Guard(desk, *args)
    try:
        yield guard
    finally:
        guard.stop()


def _venue_of(arrival: Arrival) -> str:
    return {"pm": "polymarket", "lm": "limitless"}.get(arrival.venue, arrival.venue)


def _cancels(arrival: Arrival) -> bool:
    """A cancel on any venue: the others' (``_is_cancel``), or Kalshi's (a DELETE on
    ``/portfolio/events/orders``: one order, a batch, or the cancel-all)."""
    return _is_cancel(arrival.method, arrival.path) or (
        arrival.method == "DELETE" and "/portfolio/events/orders" in arrival.path
    )


def _firsts(arrivals: list[Arrival], started: float, wire: bool = True) -> dict[str, float]:
    """Per venue: seconds from ``started`` to its first cancel's arrival: its bytes
    at the sandbox's socket (``wire``, the goal's clock), or its handler's start."""
    out: dict[str, float] = {}
    for a in arrivals:
        venue = _venue_of(a)
        if _cancels(a):
            at = (a.wire if wire else a.arrived) - started
            out[venue] = min(out.get(venue, at), at)
    return out


def _listed_first(arrivals: list[Arrival]) -> dict[str, bool]:
    """Per venue that cancelled: whether a listing of its orders arrived before its
    first cancel (Kalshi's cancel-all goes first only while the guard's stream of
    the account is live and reconciled)."""
    out: dict[str, bool] = {}
    listed: set[str] = set()
    for a in arrivals:
        venue = _venue_of(a)
        if venue in out:
            continue
        if _cancels(a):
            out[venue] = venue in listed
        elif a.method == "GET" and _signed_read(a.path):
            listed.add(venue)
    return out


def firing(box: SandboxProcess, rounds: int, *extra: str) -> dict[str, Any]:
    """The guard fired ``rounds`` times by each cause, interleaved; per firing, each
    venue's first cancel, the time every book was confirmed empty, what was left;
    and, in the same rounds, each account's own kill alone on a warm desk."""
    with tempfile.TemporaryDirectory() as folder:
        desk = Desk(box, Path(folder), venues=GUARD_DESK)
        for venue in desk.venues:  # the client's time, not the sandbox's checks
            box.knobs(BOX[venue], validate=False)
        try:
            return _firing(desk, rounds, extra)
        finally:
            for venue in desk.venues:
                box.knobs(BOX[venue], validate=True)


def _firing(desk: Desk, rounds: int, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    box = desk.box
    fired: dict[str, list[dict[str, Any]]] = {SIGNAL: [], SOCKET: [], COMMAND: []}
    with running(desk, *extra) as guard:
        scheduling = str(guard.ask("status").get("scheduling", "?"))
        causes = list(fired)
        for round_no in range(rounds):
            shift = round_no % len(causes)
            for cause in causes[shift:] + causes[:shift]:
                desk.seed()
                desk.quiet_window()
                box.clear_requests()
                started = time.monotonic()
                if cause == SIGNAL:
                    os.kill(guard.proc.pid, signal.SIGUSR1)
                    guard.wait_fired()
                    ended = None
                elif cause == SOCKET:
                    answer = guard.ask("trigger", timeout=120)
                    ended = time.monotonic()
                    if not answer.get("ok"):
                        raise RuntimeError(f"trigger refused: {answer}")
                else:
                    done = subprocess.run(
                        [_cli(), "trigger"], env=desk.env, capture_output=True, text=True
                    )
                    ended = time.monotonic()
                    if done.returncode not in (0, 1):
                        raise RuntimeError(f"cancelkit trigger exited {done.returncode}")
                arrivals = box.arrivals()
                status = guard.ask("status")
                last = max((a.arrived for a in arrivals), default=started)
                fired[cause].append(
                    {
                        "first": _firsts(arrivals, started),
                        "handled": _firsts(arrivals, started, wire=False),
                        "listed_first": _listed_first(arrivals),
                        "confirmed": (ended if ended is not None else last) - started,
                        "left": desk.left_open(),
                        "status": (status.get("last_run") or {}).get("status"),
                        "requests": len(arrivals),
                    }
                )
                guard.arm()
    # Each account's own kill, alone and warm: the reference for "confirmed within".
    alone = _alone(desk, rounds)
    solo = _solo(desk, rounds, extra)
    return {
        "fired": fired,
        "alone": alone,
        "solo": solo,
        "accounts": list(desk.accounts),
        "extra": list(extra),
        "scheduling": scheduling,
    }


def _solo(
    desk: Desk, rounds: int, extra: tuple[str, ...] = ()
) -> dict[str, list[tuple[float, float]]]:
    """Per account: a guard armed on that account alone (``--account``), fired by
    SIGUSR1 ``rounds`` times; seconds to its venue's first cancel (on the wire, at the
    handler). Beside the desk's
    firings, it shows how much of a venue's figure is the other venues' work at the
    same moment (their servers' and the guard's, on this machine's cores)."""
    box = desk.box
    out: dict[str, list[tuple[float, float]]] = {}
    for name in desk.accounts:
        firsts = out.setdefault(name, [])
        with running(desk, "--account", name, *extra) as guard:
            for _ in range(rounds):
                desk.seed([name])
                desk.quiet_window()
                box.clear_requests()
                started = time.monotonic()
                os.kill(guard.proc.pid, signal.SIGUSR1)
                guard.wait_fired()
                arrivals = box.arrivals()
                got = _firsts(arrivals, started)
                if len(got) != 1:
                    raise RuntimeError(f"{name} alone: first cancels {got}")
                handled = _firsts(arrivals, started, wire=False)
                firsts.extend(zip(got.values(), handled.values(), strict=True))
                guard.arm()
    return out


def _alone(desk: Desk, rounds: int) -> dict[str, list[float]]:
    """Each account's own kill of its ``ORDERS`` orders, alone, on a warm desk of
    that one account (opened and proven, untimed): seconds to its confirmed end."""
    import asyncio

    from cancelkit import AsyncDesk, load_accounts

    accounts = {a.name: a for a in load_accounts(desk.config, environ=desk.env)}
    out: dict[str, list[float]] = {name: [] for name in accounts}

    async def once(name: str) -> float:
        async with AsyncDesk([accounts[name]]) as one:
            await one.prove()
            desk.seed([name])
            desk.quiet_window()
            started = time.monotonic()
            runs = await one.cancel_everywhere(deadline=60)
            wall = time.monotonic() - started
        if not all(run.ok for run in runs) or desk.left_open([name]):
            raise RuntimeError(f"{name}: its own kill left orders open")
        return wall

    names = list(accounts)
    for round_no in range(rounds):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            out[name].append(asyncio.run(once(name)))
    return out


def heartbeat(box: SandboxProcess, rounds: int, timeout: float) -> dict[str, Any]:
    """A guard with ``--heartbeat-timeout``: one beat, then none; per round, seconds
    from the beat (sent) to each venue's first cancel."""
    with tempfile.TemporaryDirectory() as folder:
        desk = Desk(box, Path(folder), venues=GUARD_DESK)
        lapses: list[dict[str, float]] = []
        left: list[int] = []
        with running(desk, "--heartbeat-timeout", f"{timeout:g}") as guard:
            for _ in range(rounds):
                desk.seed()
                desk.quiet_window()
                box.clear_requests()
                beat = time.monotonic()
                answer = guard.ask("heartbeat")
                if not answer.get("ok"):
                    raise RuntimeError(f"heartbeat refused: {answer}")
                guard.wait_fired(timeout + 90)
                lapses.append(_firsts(box.arrivals(), beat))
                left.append(desk.left_open())
                guard.arm()
    return {"timeout": timeout, "lapses": lapses, "left": left}


def everywhere(box: SandboxProcess, rounds: int) -> dict[str, Any]:
    """``cancelkit cancel --everywhere`` (a fresh process) on every account, against
    the same command on each account alone (``--account``), interleaved: wall from
    spawn to exit, with exit codes and what was left open."""
    # Fresh processes timed from their spawn: each must load compiled modules, as an
    # installed user's does, not compile what changed since (the whole desk's command
    # imports more modules than one account's, so compiling would weigh on it more).
    as_installed()
    with tempfile.TemporaryDirectory() as folder:
        desk = Desk(box, Path(folder))
        for venue in ("pm", "lm"):
            box.knobs(venue, validate=False)
        runs: dict[str, list[dict[str, float]]] = {"all": []}
        runs.update({name: [] for name in desk.accounts})
        names = list(runs)
        try:
            for round_no in range(rounds):
                shift = round_no % len(names)
                for name in names[shift:] + names[:shift]:
                    which = list(desk.accounts) if name == "all" else [name]
                    desk.seed(which)
                    desk.quiet_window()
                    argv = [_cli(), "cancel", "--everywhere"]
                    if name != "all":
                        argv += ["--account", name]
                    used = _tree_cpu()
                    started = time.monotonic()
                    done = subprocess.run(argv, env=desk.env, capture_output=True, text=True)
                    wall = time.monotonic() - started
                    runs[name].append(
                        {
                            "wall": wall,
                            "cpu": _tree_cpu() - used,
                            "exit": done.returncode,
                            "left": desk.left_open(which),
                        }
                    )
        finally:
            for venue in ("pm", "lm"):
                box.knobs(venue, validate=True)
    return runs


def _tree_cpu() -> float:
    """CPU seconds (user + system) of every child process ended and waited for so far,
    theirs included (a desk's command and the processes it splits into)."""
    import resource

    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def idle(box: SandboxProcess, seconds: float) -> dict[str, Any]:
    """The guard armed on the desk (``ORDERS`` open per account) for ``seconds``:
    its peak RSS, its CPU over the idle time, and the requests each venue got."""
    urls = {"polymarket": box.pm_url, "limitless": box.lm_url, "kalshi": box.kalshi_url}
    tallies = {venue: Tally(url) for venue, url in urls.items()}
    with tempfile.TemporaryDirectory() as folder:
        desk = Desk(
            box,
            Path(folder),
            # The relay in front, the API root's path kept (Kalshi's /trade-api/v2).
            via={url: tallies[v].url + httpx.URL(url).path.rstrip("/") for v, url in urls.items()},
            venues=GUARD_DESK,
        )
        desk.seed()
        with running(desk) as guard:
            time.sleep(2.0)  # the start-up's own reads and the stream's first snapshot
            for tally in tallies.values():
                tally.clear()
            cpu_before = _cpu_seconds(guard.proc.pid)
            started = time.monotonic()
            time.sleep(seconds)
            elapsed = time.monotonic() - started
            cpu = _cpu_seconds(guard.proc.pid) - cpu_before
            peak = _peak_rss_mb(guard.proc.pid)
            per_venue = {venue: list(tally.seen) for venue, tally in tallies.items()}
            status = guard.ask("status")
            left = desk.left_open()
    keys = {v: sum(k["venue"] == v for k in desk.accounts.values()) for v in desk.venues}
    return {
        "seconds": elapsed,
        "cpu": cpu,
        "peak_mb": peak,
        "arrivals": per_venue,
        "keys": keys,
        "state": status.get("state"),
        "left": left,
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> float:
    """The peak resident set of a running process, MB (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ---- tables ------------------------------------------------------------------------


def firing_table(
    result: dict[str, Any],
    load: tuple[float, float],
    per_venue: bool = False,
    pinned: tuple[set[int], set[int]] | None = None,
) -> list[str]:
    fired: dict[str, list[dict[str, Any]]] = result["fired"]
    alone: dict[str, list[float]] = result["alone"]
    rounds = len(fired[SIGNAL])
    slowest_name = max(alone, key=lambda n: statistics.median(alone[n]))
    slowest = statistics.median(alone[slowest_name])
    venues = sorted({v for rows in fired.values() for r in rows for v in r["first"]})
    where = "" if pinned is None else ", the guard on a core of its own"
    realtime = "--realtime" in result.get("extra", [])
    where += ", `guard --realtime`" if realtime else ""
    lines = [
        f"## Guard: firing to first cancel{where}, {len(result['accounts'])} accounts on"
        f" {len(venues)} venues, {ORDERS} open orders each ({rounds} firings per cause,"
        " interleaved)",
        "",
        *([] if pinned is None else _pinned_text(*pinned)),
        *(_realtime_text() if realtime else []),
        "`cancelkit guard` armed on the desk (accounts "
        + ", ".join(f"`{n}`" for n in result["accounts"])
        + "), fired by each cause in turn, re-armed",
        "and the books re-seeded between firings. 'first cancel' is from the signal (or the",
        "request) to that venue's first cancel arriving at the sandbox: 'on the wire' when its",
        "bytes reached the sandbox's socket (the kernel's receive stamp, `SO_TIMESTAMPNS`,",
        "read with the bytes: an exchange's network card sees them then), 'at the handler'",
        "when the sandbox's Python handler began on it (after the sandbox process was",
        "scheduled and parsed it: on this machine's 2 cores, with three sandboxes and the",
        "guard, that includes the stand-in exchanges' own wait for a core). The goal is",
        "judged on the wire; the handler's figures are beside it. 'confirmed' is to",
        "the firing's end (its answer, or for the signal the last request of the firing):",
        "every account's listing confirming nothing of ours is open. The reference is each",
        "account's own kill of its orders, alone on a warm desk of its own (the library's",
        "AsyncDesk, opened and proven beforehand), interleaved over the same rounds.",
        f"Schema validation off. Load average (1 min): {load[0]:.2f} before, {load[1]:.2f} after.",
        f"The guard's scheduling, as its status gives it: {result.get('scheduling', '?')}"
        + _scheduling_note(str(result.get("scheduling", ""))),
        (
            "The sandbox: one process per venue, as the exchanges are separate servers (all"
            " stamp arrivals with the same system-wide `time.monotonic()`): a venue's arrival"
            " is not delayed while another venue's handler holds a shared interpreter, as it"
            " was when one process served every venue."
            if per_venue
            else "The sandbox: one process serving every venue (`--shared-sandbox`: a venue's"
            " arrival waits while another's handler holds its interpreter)."
        ),
        "",
        "The goal (median <= 5 ms, p99 <= 20 ms) is the armed guard's reaction: SIGUSR1, or a",
        "trigger over the control socket from a process already running (a bot, a",
        "supervisor). The `cancelkit trigger` rows start a fresh Python process that imports",
        "the CLI before it connects: that start-up, tens of milliseconds, is the cold",
        "command's cost and no guard's; they are measured for information, their goal not",
        "applicable (a process that must fire fast keeps one running, or sends SIGUSR1).",
        "",
        "The accounts' kills start in the accounts file's order, each up to its first",
        "request, in one pass of the guard's loop. Before the last of those requests the",
        "guard writes nothing but the firing record, each account's journal header and the",
        "requests (what it says on stderr, the journals' fsyncs and the state directory's",
        "prune come after). At the sandbox the later venues show more than the guard's own",
        "time:",
        "on this machine (2 cores, shared with other work) the first venue's server is",
        "cancelling 300 orders, and streaming their 300 events back to the guard, while",
        "the next venue's request waits for a core to be read (with the accounts in the",
        "other order, the venues trade places).",
        _listed_sentence(fired),
        "",
        "| cause | venue | first cancel on the wire median ms | p99 ms | at the handler"
        " median ms | p99 ms | confirmed median ms | p99 ms | orders left open (worst)"
        " | exit statuses |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for cause, rows in fired.items():
        confirmed = [r["confirmed"] for r in rows]
        statuses = ", ".join(sorted({str(r["status"]) for r in rows}))
        for venue in venues:
            handled = [r["handled"][venue] for r in rows if venue in r["handled"]]
            lines.append(
                f"| {cause} | {NAMES.get(venue, venue)}"
                + _first_cells(rows, venue)
                + f" | {statistics.median(handled) * 1e3:.1f}"
                f" | {_pct(handled, 0.99) * 1e3:.1f}"
                f" | {statistics.median(confirmed) * 1e3:.0f}"
                f" | {_pct(confirmed, 0.99) * 1e3:.0f}"
                f" | {max(r['left'] for r in rows)} | {statuses} |"
            )
    lines += [
        "",
        "| account alone (warm, its own kill) | median ms | p99 ms |",
        "|---|---|---|",
    ]
    for name, values in alone.items():
        lines.append(
            f"| {name} | {statistics.median(values) * 1e3:.0f} | {_pct(values, 0.99) * 1e3:.0f} |"
        )
    solo: dict[str, list[tuple[float, float]]] = result.get("solo", {})
    if solo:
        lines += [
            "",
            "| one account armed alone (`guard --account NAME`), SIGUSR1 | first cancel on"
            " the wire median ms | p99 ms | at the handler median ms | p99 ms |",
            "|---|---|---|---|---|",
        ]
        for name, pairs in solo.items():
            wire, handler = [p[0] for p in pairs], [p[1] for p in pairs]
            lines.append(
                f"| {name} | {statistics.median(wire) * 1e3:.1f}"
                f" | {_pct(wire, 0.99) * 1e3:.1f} | {statistics.median(handler) * 1e3:.1f}"
                f" | {_pct(handler, 0.99) * 1e3:.1f} |"
            )
    lines += ["", "| goal | measured | met |", "|---|---|---|"]
    for cause in (SIGNAL, SOCKET, COMMAND):
        rows = fired[cause]
        for venue in venues:
            firsts = [r["first"][venue] for r in rows if venue in r["first"]]
            handled = [r["handled"][venue] for r in rows if venue in r["handled"]]
            median, p99 = statistics.median(firsts), _pct(firsts, 0.99)
            met = median <= FIRST_MEDIAN and p99 <= FIRST_P99 and len(firsts) == len(rows)
            verdict = "yes" if met else "no"
            if cause == COMMAND:  # its own process start-up: see the text above
                verdict = "not applicable (information)"
            lines.append(
                f"| {cause}, {NAMES.get(venue, venue)}: first cancel on the wire, median <="
                f" {FIRST_MEDIAN * 1e3:.0f} ms, p99 <= {FIRST_P99 * 1e3:.0f} ms"
                f" | {median * 1e3:.1f} / {p99 * 1e3:.1f} ms (at the handler:"
                f" {statistics.median(handled) * 1e3:.1f} / {_pct(handled, 0.99) * 1e3:.1f})"
                f" | {verdict} |"
            )
    for cause in (SIGNAL, SOCKET):
        rows = fired[cause]
        confirmed = statistics.median(r["confirmed"] for r in rows)
        empty = max(r["left"] for r in rows) == 0 and all(r["status"] == 0 for r in rows)
        ratio = confirmed / slowest
        lines.append(
            f"| {cause}: every book confirmed empty <= {CONFIRM_GOAL} x the slowest"
            f" account's own kill ({slowest_name}, {slowest * 1e3:.0f} ms)"
            f" | {ratio:.2f} x{'' if empty else ', NOT all empty'}"
            f" | {'yes' if ratio <= CONFIRM_GOAL and empty else 'no'} |"
        )
    lines.append("")
    return lines


def _scheduling_note(scheduling: str) -> str:
    """What the guard's scheduling (as its status says it) means, briefly."""
    if "slice" in scheduling:
        return " (the ordinary scheduler, its shortest slice: no privilege; README, Guard)."
    if scheduling.startswith("real-time"):
        return " (`--realtime`)."
    return "."


def _first_cells(rows: list[dict[str, Any]], venue: str) -> str:
    """A venue's first cancel on the wire over the firings: median and p99 cells,
    and how many firings sent it none."""
    firsts = [r["first"][venue] for r in rows if venue in r["first"]]
    missing = len(rows) - len(firsts)
    return f" | {statistics.median(firsts) * 1e3:.1f} | {_pct(firsts, 0.99) * 1e3:.1f}" + (
        f" ({missing} firings sent none)" if missing else ""
    )


def _realtime_text() -> list[str]:
    """What the --realtime layout is."""
    return [
        "The same firings as the first guard section, the guard started with `--realtime`",
        "(Linux's SCHED_FIFO, priority 1: it runs before every ordinary process the moment",
        "it is ready). The sandboxes, the runner and the trigger processes are ordinary",
        "processes, as before: a request the guard writes wakes a sandbox, which no longer",
        "takes the guard's core before the guard's next request is written.",
        "",
    ]


def busy(box: SandboxProcess, rounds: int, spinners: int) -> dict[str, Any]:
    """The guard fired by SIGUSR1 while a runaway bot spins (``spinners`` busy
    processes: one per CPU is every core), plain and with ``--realtime`` alternately,
    a guard started for each firing; per firing, each venue's first cancel on the
    wire and what was left."""
    with tempfile.TemporaryDirectory() as folder:
        desk = Desk(box, Path(folder), venues=GUARD_DESK)
        for venue in desk.venues:
            box.knobs(BOX[venue], validate=False)
        # Each spinner stops by itself after 15 minutes, or as soon as the runner is
        # gone (re-parented): a runner killed hard leaves nothing spinning for long.
        code = (
            "import os, time\n"
            f"end, parent = time.monotonic() + 900, {os.getpid()}\n"
            "while time.monotonic() < end and os.getppid() == parent:\n"
            "    for _ in range(100000): pass\n"
        )
        spinning = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(spinners)]
        out: dict[str, list[dict[str, Any]]] = {"plain": [], "--realtime": []}
        try:
            for round_no in range(rounds):
                kinds = list(out) if round_no % 2 == 0 else list(out)[::-1]
                for kind in kinds:
                    with running(desk, *([] if kind == "plain" else [kind])) as guard:
                        desk.seed()
                        desk.quiet_window()
                        box.clear_requests()
                        started = time.monotonic()
                        os.kill(guard.proc.pid, signal.SIGUSR1)
                        guard.wait_fired()
                        out[kind].append(
                            {"first": _firsts(box.arrivals(), started), "left": desk.left_open()}
                        )
        finally:
            for spinner in spinning:
                spinner.kill()
                spinner.wait()
            for venue in desk.venues:
                box.knobs(BOX[venue], validate=True)
    return {"fired": out, "spinners": spinners, "cpus": os.cpu_count() or 1}


def busy_table(result: dict[str, Any], load: tuple[float, float]) -> list[str]:
    fired: dict[str, list[dict[str, Any]]] = result["fired"]
    rounds = len(fired["plain"])
    venues = sorted({v for rows in fired.values() for r in rows for v in r["first"]})
    lines = [
        f"## Guard: firing while a runaway bot spins on every core ({rounds} firings each)",
        "",
        f"The worst day's likely cause: {result['spinners']} ordinary processes spinning"
        f" ({result['cpus']} CPUs),",
        "while the guard (3 accounts on 3 venues, 300 open orders each) is fired by",
        "SIGUSR1; a guard started without and with `--realtime` alternately. First cancel on",
        "the wire (the kernel's receive stamp at the sandbox). For information: the issue's",
        "goal is measured on a machine without such load (the sections above).",
        f"Load average (1 min): {load[0]:.2f} before, {load[1]:.2f} after.",
        "",
        "| guard | venue | first cancel on the wire median ms | p99 ms | orders left open"
        " (worst) |",
        "|---|---|---|---|---|",
    ]
    for kind, rows in fired.items():
        for venue in venues:
            lines.append(
                f"| {'`guard --realtime`' if kind != 'plain' else '`guard`'}"
                f" | {NAMES.get(venue, venue)}"
                + _first_cells(rows, venue)
                + f" | {max(r['left'] for r in rows)} |"
            )
    lines.append("")
    return lines


def _pinned_text(client: set[int], exchange: set[int]) -> list[str]:
    """What the pinned layout is, and why it is measured beside the shared one."""
    return [
        "The same firings as the section before, with one difference: the client side (the",
        f"guard, its trigger processes and the reference desks) runs on CPU {_cpus(client)}"
        f" only and the three sandbox processes on CPU {_cpus(exchange)}"
        " (`sched_setaffinity`, every thread). In production the exchanges are other",
        "machines: here, unpinned, a sandbox busy cancelling the first venue's 300 orders",
        "takes a core the guard then waits for before its later venues' requests are written,",
        "and the later sandboxes wait for one before they read them. Pinned, the sandboxes",
        "still share their core (the later venues' arrivals still wait for the first one's",
        "server), but the guard's writes no longer do. The arrival clock is unchanged.",
        "",
    ]


def _cpus(cpus: set[int]) -> str:
    return ", ".join(str(c) for c in sorted(cpus))


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of process ``pid`` on ``cpus`` (a process's affinity call moves
    only its thread of that id; threads started later inherit the caller's)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with suppress(ProcessLookupError):
            os.sched_setaffinity(int(tid), cpus)


def _listed_sentence(fired: dict[str, list[dict[str, Any]]]) -> str:
    """What the firings' arrivals say about Kalshi's first cancel: its cancel-all,
    sent first (the guard's stream of the account live and reconciled: the orders
    it knows named) or after a listing."""
    rows = [r for c in (SIGNAL, SOCKET) for r in fired[c] if "kalshi" in r.get("listed_first", {})]
    if not rows:
        return ""
    listed = sum(r["listed_first"]["kalshi"] for r in rows)
    return (
        f"Kalshi's first cancel is its cancel-all: in {len(rows) - listed} of the {len(rows)}"
        " armed firings (signal and socket) no listing arrived before it (the guard's order"
        " stream of the account live and reconciled, the orders it knows are named), in"
        f" {listed} a listing of the account's orders did."
    )


def heartbeat_table(result: dict[str, Any], load: tuple[float, float]) -> list[str]:
    timeout = result["timeout"]
    lapses: list[dict[str, float]] = result["lapses"]
    venues = sorted({v for row in lapses for v in row})
    lines = [
        f"## Guard: heartbeat lapse to first cancel (`--heartbeat-timeout {timeout:g}`,"
        f" {len(lapses)} lapses)",
        "",
        "One heartbeat over the control socket, then none: from the heartbeat's sending to",
        "each venue's first cancel on the wire (its bytes at the sandbox's socket, by the",
        "kernel's stamp), against the timeout. The same desk, re-armed",
        f"and re-seeded between lapses. Load average (1 min): {load[0]:.2f} before,"
        f" {load[1]:.2f} after.",
        "",
        "| venue | after the timeout, median ms | p99 ms | orders left open (worst) |",
        "|---|---|---|---|",
    ]
    worst = max(result["left"], default=0)
    rows = []
    for venue in venues:
        late = [row[venue] - timeout for row in lapses if venue in row]
        rows.append((venue, late))
        lines.append(
            f"| {NAMES.get(venue, venue)} | {statistics.median(late) * 1e3:.1f}"
            f" | {_pct(late, 0.99) * 1e3:.1f} | {worst} |"
        )
    lines += ["", "| goal | measured (worst) | met |", "|---|---|---|"]
    for venue, late in rows:
        met = max(late) <= LAPSE_GOAL and len(late) == len(lapses)
        lines.append(
            f"| {NAMES.get(venue, venue)}: first cancel <= timeout + {LAPSE_GOAL * 1e3:.0f} ms"
            f" | timeout + {max(late) * 1e3:.1f} ms | {'yes' if met else 'no'} |"
        )
    lines.append("")
    return lines


def everywhere_table(
    runs: dict[str, list[dict[str, float]]], load: tuple[float, float]
) -> list[str]:
    accounts = [name for name in runs if name != "all"]
    medians = {name: statistics.median(r["wall"] for r in rows) for name, rows in runs.items()}
    slowest = max(accounts, key=lambda n: medians[n])
    lines = [
        f"## `cancel --everywhere`: {len(accounts)} accounts x {ORDERS} open orders"
        f" ({len(runs['all'])} runs each, interleaved)",
        "",
        "`cancelkit cancel --everywhere` in a fresh process, from its spawn to its exit",
        "(start-up included), on every account; against the same command on each account",
        "alone (`--account NAME`, only that account's orders seeded). Schema validation off.",
        "On every account the command splits the desk across processes (one per account,",
        "forked once the shared code is loaded: `_cli/_processes.py`); one account runs in",
        "the command's own process. 'CPU ms' is the whole process tree's user + system",
        "time (the command and every process it forked), median.",
        f"Load average (1 min): {load[0]:.2f} before, {load[1]:.2f} after.",
        "",
        "| run | median ms | p99 ms | x slowest alone | CPU ms, process tree | exit codes"
        " | left open (worst) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, rows in runs.items():
        walls = [r["wall"] for r in rows]
        codes = ", ".join(sorted({str(int(r["exit"])) for r in rows}))
        label = "every account" if name == "all" else f"{name} alone"
        lines.append(
            f"| {label} | {medians[name] * 1e3:.0f} | {_pct(walls, 0.99) * 1e3:.0f}"
            f" | {medians[name] / medians[slowest]:.2f}"
            f" | {statistics.median(r.get('cpu', 0.0) for r in rows) * 1e3:.0f} | {codes}"
            f" | {int(max(r['left'] for r in rows))} |"
        )
    ratio = medians["all"] / medians[slowest]
    clean = all(r["exit"] == 0 and r["left"] == 0 for r in runs["all"])
    lines += [
        "",
        "| goal | ratio of medians | met |",
        "|---|---|---|",
        f"| every account <= {CONFIRM_GOAL} x the slowest account alone ({slowest})"
        f" | {ratio:.2f}{'' if clean else ' (not every run exited 0 with nothing left)'}"
        f" | {'yes' if ratio <= CONFIRM_GOAL and clean else 'no'} |",
        "",
    ]
    return lines


def idle_table(result: dict[str, Any], load: tuple[float, float]) -> list[str]:
    seconds = result["seconds"]
    share = result["cpu"] / seconds
    lines = [
        f"## Guard armed and idle: {seconds / 60:.1f} minutes, {sum(result['keys'].values())}"
        f" accounts, {ORDERS} open orders each",
        "",
        "`cancelkit guard` (defaults: `--prove-every 60`) armed on the desk, left alone after",
        "its start. Peak RSS is the process's VmHWM (start-up included); CPU is its user +",
        "system time over the idle minutes; requests are every HTTP request line the guard",
        "sent per venue in that time (counted by a loopback relay in front of each sandbox,",
        "so the unsigned keep-alive `GET /` and WebSocket handshakes count too), against the",
        "venue's published budget for the desk's keys there (Polymarket 20/s per key;",
        "Limitless one request per 300 ms per token; Kalshi's Basic Read bucket, 200",
        "tokens/s, over a listing's 10: 20 listings/s, every request counted as one; its",
        "read while the order stream is live is one GetOrder, 2 tokens: counted as one too).",
        f"State at the end: {result['state']}; orders left open: {result['left']} of"
        f" {ORDERS * sum(result['keys'].values())} (nothing fired).",
        f"Load average (1 min): {load[0]:.2f} before, {load[1]:.2f} after.",
        "",
        "| measure | value | goal | met |",
        "|---|---|---|---|",
        f"| peak RSS | {result['peak_mb']:.1f} MB | <= {RSS_GOAL:.0f} MB"
        f" | {'yes' if result['peak_mb'] <= RSS_GOAL else 'no'} |",
        f"| CPU | {share * 100:.2f} % of a core ({result['cpu']:.2f} s)"
        f" | <= {CPU_GOAL * 100:.0f} % | {'yes' if share <= CPU_GOAL else 'no'} |",
    ]
    for venue, keys in result["keys"].items():
        arrivals: list[tuple[str, str]] = result["arrivals"].get(venue, [])
        budget = BUDGET[venue] * keys * seconds
        used = len(arrivals) / budget
        kinds: dict[str, int] = {}
        for method, path in arrivals:
            kind = f"{method} {_shape(path)}"
            kinds[kind] = kinds.get(kind, 0) + 1
        said = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "none"
        lines.append(
            f"| {NAMES.get(venue, venue)} requests ({keys} key(s)) | {len(arrivals)}"
            f" = {used * 100:.3f} % of the budget ({said}) | <= {BUDGET_GOAL * 100:.0f} %"
            f" | {'yes' if used <= BUDGET_GOAL else 'no'} |"
        )
    for venue, keys in result["keys"].items():
        arrivals = result["arrivals"].get(venue, [])
        reads = sum(method == "GET" and _signed_read(path) for method, path in arrivals)
        name = NAMES.get(venue, venue)
        if not reads and seconds < PROVE_GOAL:
            lines.append(
                f"| {name}: a signed read per key every | not measured: no read in"
                f" {seconds:.0f} s, shorter than the goal's {PROVE_GOAL:.0f} s"
                f" | <= {PROVE_GOAL:.0f} s | - |"
            )
            continue
        every = seconds * keys / reads if reads else float("inf")
        lines.append(
            f"| {name}: a signed read per key every | {every:.0f} s ({reads} reads)"
            f" | <= {PROVE_GOAL:.0f} s | {'yes' if every <= PROVE_GOAL else 'no'} |"
        )
    lines.append("")
    return lines


def _signed_read(path: str) -> bool:
    # A listing; or Kalshi's key proof (one GetOrder of an id no order has), its
    # upkeep's read while the account's order stream is live.
    return (
        path.startswith("/v1/orders/open")
        or path.endswith("/user-orders")
        or path.split("?")[0].endswith("/portfolio/orders")
        or path.split("?")[0].endswith("/portfolio/orders/cancelkit-key-check")
    )


def _shape(path: str) -> str:
    """A path with its ids and slugs folded, for counting requests by kind."""
    parts = path.split("?")[0].split("/")
    return "/".join(
        "{}" if p == SLUG or (len(p) > 6 and any(c.isdigit() for c in p)) else p for p in parts
    )

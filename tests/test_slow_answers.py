"""A slow answer never holds a run: an exchange (or a gateway, or a proxy) that answers
200 and then sends one byte a second. Each attempt ends within the client's
``timeout`` (a total, not a bound per read), and the kill switch, the real command in
a subprocess, ends within its deadline and grace, or within the grace of one SIGTERM,
with every outcome written."""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cancelkit import (
    AsyncKalshiClient,
    AsyncLimitlessClient,
    AsyncPolymarketUSClient,
    CancelByOrderId,
    Control,
    KalshiClient,
    LimitlessClient,
    NetworkError,
    PolymarketUSClient,
)
from cancelkit._bulk import GRACE
from helpers import KALSHI_PEM, LM_SECRET, LM_TOKEN_ID, PM_KEY_ID, PM_SECRET_32, fast_retry

pytestmark = pytest.mark.faults
CANCELKIT = [sys.executable, "-m", "cancelkit"]
# The drip of one answer stops by itself after this many seconds (the server too,
# at the end of each test): nothing here waits on it for long, whatever the code does.
DRIP_FOR = 40.0
SLACK = 5.0  # a cold Python process, the run's own teardown: generous on purpose


Fast = dict[tuple[str, str, int], Any]
"""Answers given at once: (method, path, its n-th request from 1) -> a JSON value."""


class DripServer:
    """A loopback HTTP server that answers every request 200, its status and headers
    at once, then its body one byte a second (spaces: JSON allows them before a
    value), for at most ``DRIP_FOR`` seconds; but the requests ``fast`` names, which
    it answers at once (the exchange's first answers, before it slows down)."""

    def __init__(self, fast: Fast | None = None) -> None:
        stop = self.stop_event = threading.Event()
        self.requests: list[str] = []
        seen = self.requests
        given = dict(fast or {})

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _drip(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                seen.append(f"{self.command} {self.path}")
                path = self.path.partition("?")[0]
                nth = sum(1 for r in seen if r.partition("?")[0] == f"{self.command} {path}")
                if (self.command, path, nth) in given:
                    body = json.dumps(given[self.command, path, nth]).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(int(DRIP_FOR) + 2))
                self.end_headers()
                self.wfile.flush()
                ends = time.monotonic() + DRIP_FOR
                try:
                    while time.monotonic() < ends and not stop.wait(1.0):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                except OSError:  # the client gave up: as it should
                    pass
                self.close_connection = True

            do_GET = do_POST = do_DELETE = _drip  # noqa: N815 (http.server's names)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop_event.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def drip() -> Iterator[DripServer]:
    server = DripServer()
    try:
        yield server
    finally:
        server.close()


# --- the library: timeout is a total per attempt ----------------------------------------

ORDER = "00000000-0000-4000-8000-000000000001"


def _client(venue: str, flavour: str, url: str, **kwargs: Any) -> Any:
    classes = {
        ("polymarket", "sync"): (PolymarketUSClient, PM_KEY_ID, PM_SECRET_32),
        ("polymarket", "async"): (AsyncPolymarketUSClient, PM_KEY_ID, PM_SECRET_32),
        ("limitless", "sync"): (LimitlessClient, LM_TOKEN_ID, LM_SECRET),
        ("limitless", "async"): (AsyncLimitlessClient, LM_TOKEN_ID, LM_SECRET),
        ("kalshi", "sync"): (KalshiClient, "kalshi-key-1", KALSHI_PEM),
        ("kalshi", "async"): (AsyncKalshiClient, "kalshi-key-1", KALSHI_PEM),
    }
    cls, key, secret = classes[venue, flavour]
    if venue == "kalshi":
        url += "/trade-api/v2"
    return cls(key, secret, base_url=url, retry=fast_retry(0), **kwargs)


def _call(client: Any, venue: str, what: str) -> Any:
    if what == "cancel_order":
        if venue == "polymarket":
            return client.cancel_order("pm-1")
        if venue == "kalshi":
            return client.cancel_order(ORDER)
        return client.cancel_order(order_id=ORDER)
    if venue in ("polymarket", "kalshi"):
        return client.open_orders()
    return client.open_orders("btc-100k")


def _timed(venue: str, flavour: str, what: str, url: str, **kwargs: Any) -> float:
    """Seconds until the call failed with a cancelkit error that says it timed out."""
    started = time.monotonic()
    if flavour == "sync":
        with _client(venue, flavour, url, **kwargs) as client, pytest.raises(NetworkError) as info:
            _call(client, venue, what)
    else:

        async def main() -> None:
            async with _client(venue, flavour, url, **kwargs) as client:
                await _call(client, venue, what)

        with pytest.raises(NetworkError) as info:
            asyncio.run(main())
    assert "Timeout" in str(info.value), info.value
    assert info.value.may_have_landed  # it was sent: a timeout after that is ambiguous
    return time.monotonic() - started


@pytest.mark.parametrize("what", ["cancel_order", "open_orders"])
@pytest.mark.parametrize("venue", ["polymarket", "limitless", "kalshi"])
def test_timeout_bounds_a_whole_attempt_on_the_default_route(
    drip: DripServer, venue: str, flavour: str, what: str
) -> None:
    # Before: each read was bounded, not the attempt; still waiting at 40 s.
    assert _timed(venue, flavour, what, drip.url, timeout=2) < 6
    assert drip.requests  # it was the answer that was slow, not the connect


@pytest.mark.parametrize("venue", ["polymarket", "limitless", "kalshi"])
def test_timeout_bounds_a_whole_attempt_through_a_given_httpx_transport(
    drip: DripServer, venue: str, flavour: str
) -> None:
    transport = httpx.HTTPTransport() if flavour == "sync" else httpx.AsyncHTTPTransport()
    took = _timed(venue, flavour, "cancel_order", drip.url, timeout=2, transport=transport)
    assert took < 6


@pytest.mark.parametrize("venue", ["polymarket", "limitless", "kalshi"])
def test_an_httpx_timeout_bounds_the_attempt_by_its_parts(
    drip: DripServer, venue: str, flavour: str
) -> None:
    # The connect part stays a bound of its own; the answer's read part is a total.
    timeout = httpx.Timeout(2.0, connect=1.0)
    assert _timed(venue, flavour, "cancel_order", drip.url, timeout=timeout) < 2 + 1 + 2 + 3


def test_the_cli_route_bounds_a_whole_attempt(drip: DripServer) -> None:
    from cancelkit._oneshot import one_shot

    async def main() -> None:
        with one_shot():
            client = _client("polymarket", "async", drip.url, timeout=2)
        async with client:
            await client.cancel_order("pm-1")

    started = time.monotonic()
    with pytest.raises(NetworkError, match="Timeout"):
        asyncio.run(main())
    assert time.monotonic() - started < 6


@pytest.mark.parametrize(
    ("venue", "call"),
    [
        ("polymarket", "cancel_orders"),
        ("polymarket", "cancel_all"),
        ("limitless", "cancel_orders"),
        ("kalshi", "cancel_orders"),
        ("kalshi", "cancel_all"),
    ],
)
def test_a_kill_switch_on_the_default_route_ends_by_its_deadline_and_grace(
    drip: DripServer, venue: str, flavour: str, call: str
) -> None:
    deadline = 3.0
    client = _client(venue, flavour, drip.url)
    if venue == "limitless":
        targets: list[Any] = [CancelByOrderId(order_id=i) for i in LM_IDS]
    elif venue == "kalshi":
        targets = LM_IDS  # Kalshi's order ids are UUIDs too
    else:
        targets = PM_IDS
    method = getattr(client, call)
    run = (
        (lambda: method(deadline=deadline))
        if call == "cancel_all"
        else (lambda: method(targets, deadline=deadline))
    )
    started = time.monotonic()
    try:
        if flavour == "sync":
            results = run()
        else:

            async def main() -> Any:
                async with client:
                    return await run()

            results = asyncio.run(main())
    finally:
        if flavour == "sync":
            client.close()
    # Before: the first listing (or the cancel-all) held the run for the whole drip.
    assert time.monotonic() - started < deadline + GRACE + 1
    assert results
    assert not any(r.ok for r in results)
    assert {r.status for r in results} <= {"not_sent", "unknown"}


@pytest.mark.parametrize("call", ["cancel_orders", "cancel_all"])
def test_an_abort_reaches_every_request_of_a_polymarket_run(drip: DripServer, call: str) -> None:
    control = Control(60)

    async def main() -> tuple[list[Any], float]:
        async with _client("polymarket", "async", drip.url) as client:
            if call == "cancel_orders":
                run = client.cancel_orders(PM_IDS, control=control)
            else:
                run = client.cancel_all(control=control)
            task = asyncio.ensure_future(run)
            while not drip.requests:  # the first request, its answer trickling in
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.5)
            control.abort()
            aborted = time.monotonic()
            results = await asyncio.wait_for(task, DRIP_FOR)
            return results, time.monotonic() - aborted

    # Before: the first listing (or the cancel-all) was out of the abort's reach.
    results, took = asyncio.run(main())
    assert took < GRACE, took
    assert results
    assert not any(r.ok for r in results)
    if call == "cancel_orders":  # the listing never answered: nothing was sent
        assert [(r.target, r.status) for r in results] == [(i, "not_sent") for i in PM_IDS]
    else:  # the cancel-all was sent, never answered: which orders it took is unknown
        assert [r.status for r in results] == ["unknown"]


# --- the command: a run ends by its deadline, or by the grace of one SIGTERM --------------


def _env(server: DripServer, journal_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "POLYMARKET_KEY_ID": PM_KEY_ID,
        "POLYMARKET_SECRET_KEY": PM_SECRET_32,
        "POLYMARKET_API_URL": server.url,
        "LIMITLESS_TOKEN_ID": LM_TOKEN_ID,
        "LIMITLESS_TOKEN_SECRET": LM_SECRET,
        "LIMITLESS_API_URL": server.url,
        "KALSHI_API_KEY_ID": "kalshi-key-1",
        "KALSHI_PRIVATE_KEY": KALSHI_PEM,
        "KALSHI_API_URL": server.url + "/trade-api/v2",
    }


def _records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def _outcomes(journal: Path) -> dict[str, str]:
    """Each order's last outcome in a journal (not its header, plan or sent lines)."""
    found: dict[str, str] = {}
    for record in _records(journal.read_text()):
        if record.get("status") not in (None, "planned", "sent"):
            found[record["order"]] = record["status"]
    return found


def _run(
    server: DripServer, tmp_path: Path, args: list[str], *, sigterm_at: float | None = None
) -> tuple[subprocess.CompletedProcess[str], float, Path]:
    journal = tmp_path / "journal.jsonl"
    command = [*CANCELKIT, "cancel", *args, "--json", "--journal", str(journal)]
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        env=_env(server, tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if sigterm_at is not None:
        # Once the run is under way (its first request has reached the server; the
        # signal handler is set up before it), in the middle of a slow answer.
        while not server.requests and time.monotonic() - started < DRIP_FOR:
            time.sleep(0.01)
        time.sleep(sigterm_at)
        signal_sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
    try:
        out, err = process.communicate(timeout=DRIP_FOR)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"still running after {DRIP_FOR:g} s: {err[-2000:]}")
    ended = time.monotonic()
    took = ended - (started if sigterm_at is None else signal_sent)
    return subprocess.CompletedProcess(command, process.returncode, out, err), took, journal


PM_IDS = ["pm-1", "pm-2", "pm-3"]
LM_IDS = [
    "00000000-0000-4000-8000-000000000001",
    "00000000-0000-4000-8000-000000000002",
]


@pytest.mark.parametrize(
    "args",
    [
        ["polymarket", *PM_IDS],
        ["polymarket", "--all"],
        ["polymarket", "--all", "--market", "btc-100k"],
        ["limitless", *[a for i in LM_IDS for a in ("--order-id", i)]],
        ["limitless", "--all", "--market", "btc-100k"],
        ["kalshi", *LM_IDS],  # Kalshi's order ids are UUIDs too
        ["kalshi", "--all"],
        ["kalshi", "--all", "--market", "KXBTC-26DEC31-T100000"],
    ],
    ids=[
        "pm-ids",
        "pm-all",
        "pm-all-market",
        "lm-ids",
        "lm-all-market",
        "ks-ids",
        "ks-all",
        "ks-all-market",
    ],
)
def test_a_slow_exchange_never_holds_a_run_past_its_deadline_and_grace(
    drip: DripServer, tmp_path: Path, args: list[str]
) -> None:
    deadline = 3.0
    result, took, journal = _run(drip, tmp_path, [*args, "--deadline", str(deadline)])
    # Before: still in the first listing (or the cancel-all, or the count) after 40 s.
    assert took < deadline + GRACE + SLACK, result.stderr
    assert result.returncode not in (0, 2), result.stderr  # nothing was confirmed
    printed = _records(result.stdout)
    assert all(not r["ok"] for r in printed)
    # The summary was written (a "stopped early" line may follow it).
    found = [x for x in result.stderr.splitlines() if re.match(r"cancelkit: \d+ order\(s\)", x)]
    assert found, result.stderr
    summary = found[-1]
    # The unconfirmed are reported as such: nothing was cancelled, as far as anyone knows.
    assert "cancelled" not in summary
    assert any(word in summary for word in ("not sent", "unknown")), summary
    if "--all" not in args:
        # Every order given has its outcome, on stdout and in the journal.
        given = {
            "limitless": {f"order:{i}" for i in LM_IDS},
            "kalshi": set(LM_IDS),
            "polymarket": set(PM_IDS),
        }[args[0]]
        assert {r["order"] for r in printed} == given
        assert set(_outcomes(journal)) == given


@pytest.mark.parametrize(
    "args",
    [
        ["polymarket", *PM_IDS],
        ["polymarket", "--all", "--market", "btc-100k"],
        ["kalshi", *LM_IDS],
        ["kalshi", "--all"],
    ],
    ids=["pm-ids", "pm-all-market", "ks-ids", "ks-all"],
)
def test_one_sigterm_ends_a_run_on_a_slow_exchange_within_the_grace(
    drip: DripServer, tmp_path: Path, args: list[str]
) -> None:
    result, took, journal = _run(drip, tmp_path, [*args, "--deadline", "60"], sigterm_at=1.0)
    # Before: the run ignored it (only a second signal, or SIGKILL, ended it).
    assert took < GRACE + SLACK, result.stderr
    assert result.returncode == 130, result.stderr
    assert "SIGTERM" in result.stderr
    printed = _records(result.stdout)
    assert all(not r["ok"] for r in printed), result.stdout
    summary = [line for line in result.stderr.splitlines() if "order(s)" in line]
    assert summary, result.stderr  # the summary was written
    assert any(word in summary[-1] for word in ("not sent", "unknown")), summary
    if "--all" not in args and args[0] == "polymarket":
        # No listing answered: nothing was sent, every order is said to be so.
        assert {r["order"] for r in printed} == set(PM_IDS)
        assert _outcomes(journal) == dict.fromkeys(PM_IDS, "not_sent")
    elif "--all" not in args:
        # Kalshi sends its batch first: sent, and no answer came before the signal.
        assert {r["order"] for r in printed} == set(LM_IDS)
        assert _outcomes(journal) == dict.fromkeys(LM_IDS, "unknown")


def _open(order_id: str) -> dict[str, Any]:
    return {"id": order_id, "marketSlug": "btc-100k", "state": "ORDER_STATE_NEW"}


LISTING = "/v1/orders/open"
BATCH = "/v1/orders/batched/cancel"


@pytest.mark.parametrize(
    ("fast", "args", "outcome"),
    [
        # The listing and the batch answer at once; the confirming listings trickle.
        (
            {
                ("GET", LISTING, 1): {"orders": [_open(i) for i in PM_IDS]},
                ("POST", BATCH, 1): {},
            },
            ["polymarket", *PM_IDS],
            "unknown",
        ),
        # None is listed: each is looked up, and the lookups trickle.
        ({("GET", LISTING, 1): {"orders": []}}, ["polymarket", *PM_IDS], "not_listed"),
        # Limitless's cancel-all answers at once; the user-orders listings trickle.
        (
            {
                ("DELETE", "/orders/all/btc-100k", 1): {
                    "message": "ok",
                    "canceled": LM_IDS,
                    "failed": [],
                }
            },
            ["limitless", "--all", "--market", "btc-100k"],
            "unknown",
        ),
    ],
    ids=["pm-confirming-listings", "pm-lookups", "lm-all-confirming-listings"],
)
def test_slow_confirmations_never_hold_a_run_past_its_deadline_and_grace(
    tmp_path: Path, fast: Fast, args: list[str], outcome: str
) -> None:
    server = DripServer(fast)
    try:
        deadline = 3.0
        result, took, journal = _run(server, tmp_path, [*args, "--deadline", str(deadline)])
    finally:
        server.close()
    # Before: waiting on the first confirming listing (or lookup) after 40 s.
    assert took < deadline + GRACE + SLACK, result.stderr
    assert result.returncode == 1, result.stderr
    printed = _records(result.stdout)
    expected = set(LM_IDS) if args[0] == "limitless" else set(PM_IDS)
    # Sent, never confirmed: said so, for every order, on stdout and in the journal.
    assert {r["order"]: r["status"] for r in printed} == dict.fromkeys(expected, outcome)
    assert _outcomes(journal) == dict.fromkeys(expected, outcome)


def test_the_drip_server_drips(drip: DripServer) -> None:
    """The fault is real: a plain read of its answer gets bytes, slowly, without end
    in sight (so the tests above would hang on a client bounded per read)."""
    with httpx.Client(timeout=2) as plain, plain.stream("GET", f"{drip.url}/x") as answer:
        assert answer.status_code == 200
        started = time.monotonic()
        got = b""
        for chunk in answer.iter_raw():
            got += chunk
            if time.monotonic() - started > 3.5:
                break
    assert got.strip() == b""
    assert len(got) >= 3

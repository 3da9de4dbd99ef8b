"""A cold command's one cancel sent before the event loop loads (``_cli._first``),
judged through real processes: against the sandbox, and against a loopback server
that reads the request and never answers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cancelkit.sandbox import Sandbox

# Runs the CLI, and says on stderr whether asyncio was loaded when the first byte of
# the first request left (the point of sending it first).
REPORT = (
    "import socket, sys\n"
    "_said = []\n"
    "_sendall = socket.socket.sendall\n"
    "def sendall(self, data, *args):\n"
    "    if not _said:\n"
    "        _said.append(1)\n"
    "        print('ASYNCIO AT FIRST SEND', 'asyncio' in sys.modules, file=sys.stderr)\n"
    "    return _sendall(self, data, *args)\n"
    "socket.socket.sendall = sendall\n"
    "_send = socket.socket.send\n"
    "def send(self, data, *args):\n"
    "    if not _said:\n"
    "        _said.append(1)\n"
    "        print('ASYNCIO AT FIRST SEND', 'asyncio' in sys.modules, file=sys.stderr)\n"
    "    return _send(self, data, *args)\n"
    "socket.socket.send = send\n"
    "from cancelkit._cli import main\n"
    "main()\n"
)


def _command(*args: str) -> list[str]:
    return [sys.executable, "-c", REPORT, "cancel", *args]


def _records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _statuses(path: Path) -> list[object]:
    return [r.get("status", "header") for r in _records(path)]


def _run(box: Sandbox, command: list[str]) -> subprocess.CompletedProcess[str]:
    """``command`` in a fresh process with the sandbox's credentials, at most 120 s."""
    return subprocess.run(
        command, env={**os.environ, **box.env()}, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("venue", ["polymarket", "limitless"])
def test_the_one_cancel_leaves_before_asyncio_and_is_journaled_around(
    cancelkit_sandbox: Sandbox, venue: str, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    journal = tmp_path / "run.jsonl"
    if venue == "polymarket":
        order = box.seed_polymarket("first-1", market_slug="m1")
        args = ["polymarket", order.id, "--market", "m1"]
        cancel = ("POST", "/v1/orders/batched/cancel")
        word = "not_open"  # no listing saw it open before the cancel (--market)
    else:
        order = box.seed_limitless()
        args = ["limitless", "--order-id", order.id]
        cancel = ("POST", "/orders/batch-cancel")
        word = "cancelled"  # the batch answer names it canceled
    box.clear_requests()
    done = _run(box, _command(*args, "--journal", str(journal)))
    assert done.returncode == 0, done.stderr
    assert "ASYNCIO AT FIRST SEND False" in done.stderr.splitlines(), done.stderr
    assert order.status == "cancelled"
    sent = [r for r in box.requests if (r.method, r.path) == cancel]
    assert len(sent) == 1  # sent first, and not again by the run that confirmed it
    # The plan, its `sent` line before the request, the exchange's word after.
    assert _statuses(journal) == ["header", "planned", "sent", word]
    assert word in done.stdout


class _Silent:
    """A loopback server that reads each request and never answers."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.requests: list[bytes] = []
        self.got = threading.Event()
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(conn)
            conn.settimeout(5)
            try:
                data = conn.recv(65536)
            except OSError:
                continue
            self.requests.append(data)
            self.got.set()

    def close(self) -> None:
        self.listener.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def silent() -> Iterator[_Silent]:
    server = _Silent()
    try:
        yield server
    finally:
        server.close()


def _env_to(box: Sandbox, server: _Silent) -> dict[str, str]:
    return {
        **os.environ,
        **box.env(),
        "POLYMARKET_API_URL": f"http://127.0.0.1:{server.port}",
    }


def test_a_server_that_never_answers_holds_it_no_longer_than_its_deadline(
    cancelkit_sandbox: Sandbox, silent: _Silent, tmp_path: Path
) -> None:
    journal = tmp_path / "run.jsonl"
    started = time.monotonic()
    done = subprocess.run(
        _command(
            "polymarket", "p-1", "--market", "m1", "--deadline", "1", "--journal", str(journal)
        ),
        env=_env_to(cancelkit_sandbox, silent),
        capture_output=True,
        text=True,
        timeout=60,
    )
    took = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    # The deadline (1 s) and the grace (3 s) bound it; generous for a loaded machine.
    assert took < 15, took
    assert "ASYNCIO AT FIRST SEND False" in done.stderr.splitlines(), done.stderr
    posts = [r for r in silent.requests if r.startswith(b"POST /v1/orders/batched/cancel")]
    assert len(posts) == 1
    # Sent, and no answer before the deadline (and half the grace) ended the wait.
    assert _statuses(journal) == ["header", "planned", "sent", "unknown"]
    assert "unknown" in done.stdout.lower()


def test_sigterm_during_the_send_writes_unknown_and_exits_non_zero(
    cancelkit_sandbox: Sandbox, silent: _Silent, tmp_path: Path
) -> None:
    journal = tmp_path / "run.jsonl"
    process = subprocess.Popen(
        _command("polymarket", "p-1", "--market", "m1", "--json", "--journal", str(journal)),
        env=_env_to(cancelkit_sandbox, silent),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert silent.got.wait(60), "the cancel never arrived"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err
    assert "ASYNCIO AT FIRST SEND False" in err.splitlines(), err
    [line] = [json.loads(x) for x in out.splitlines() if x.strip()]
    assert (line["order"], line["status"], line["attempts"]) == ("p-1", "unknown", 1)
    assert _statuses(journal) == ["header", "planned", "sent", "unknown"]
    assert len(silent.requests) == 1


def _wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    ends = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > ends:
            return False
        time.sleep(0.01)
    return True


def test_a_resume_after_kill_9_during_the_send_sends_nothing_twice(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    book = box.polymarket
    journal = tmp_path / "run.jsonl"
    order = box.seed_polymarket("k9-1", market_slug="m1")
    env = {**os.environ, **box.env()}
    # The cancel is held a second at the exchange before it takes effect: the command
    # is killed while it waits for the answer.
    book.set_knobs(latency=1.0)
    try:
        process = subprocess.Popen(
            _command("polymarket", order.id, "--market", "m1", "--journal", str(journal)),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            # Its body read whole (counted on arrival, a request killed between its
            # headers and its body would never be handled: a loaded machine did so).
            assert _wait_for(lambda: book.stats.bodies >= 1, 60), "no cancel arrived"
            process.kill()
        finally:
            process.wait()
        # The exchange then carries the cancel out (it never knew the client was gone).
        assert _wait_for(lambda: len(box.requests) >= 1, 30)
    finally:
        book.set_knobs(latency=0.0)
    assert order.status == "cancelled"
    assert _statuses(journal) == ["header", "planned", "sent"]  # no outcome: killed
    box.clear_requests()
    done = subprocess.run(
        _command("polymarket", "--from-file", str(journal), "--json"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    # The record's `sent` line is this key's word that it was sent; the listing no
    # longer shows it: not open, and no cancel is sent for it again.
    assert [json.loads(x)["status"] for x in done.stdout.splitlines()] == ["not_open"]
    assert [r.path for r in box.requests if r.method == "POST"] == []


def test_the_answer_to_the_first_cancel_is_not_taken_as_its_result(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    journal = tmp_path / "run.jsonl"
    # Open in another market: the batched cancel names m1 and answers 200 all the
    # same (it echoes what it was given); the exchange left the order open.
    order = box.seed_polymarket("elsewhere-1", market_slug="m2")
    box.clear_requests()
    done = _run(
        box, _command("polymarket", order.id, "--market", "m1", "--json", "--journal", str(journal))
    )
    assert done.returncode == 1, done.stderr
    assert "ASYNCIO AT FIRST SEND False" in done.stderr.splitlines(), done.stderr
    [line] = [json.loads(x) for x in done.stdout.splitlines() if x.strip()]
    assert line["status"] == "failed", line
    assert order.status == "open"
    cancels = [r for r in box.requests if r.path == "/v1/orders/batched/cancel"]
    assert len(cancels) == 1
    assert _statuses(journal) == ["header", "planned", "sent", "failed"]


def test_a_run_stopped_before_it_began_still_reads_the_cancel_sent_before_it(
    cancelkit_sandbox: Sandbox,
) -> None:
    """A signal can come after the first cancel left and before the run began: the
    run is stopped from its start, and its orders were sent all the same. They are
    never ``not_sent``, and nothing is sent again."""
    import anyio
    from cancelkit import Control
    from cancelkit._bulk import Presend

    box = cancelkit_sandbox
    order = box.seed_polymarket("pre-1", market_slug="m1")
    with box.polymarket_client() as sync:
        request = sync._batch_request([(order.id, "m1")])
        response, _ = sync._send(request)  # the cancel, sent before the run
    assert order.status == "cancelled"
    box.clear_requests()
    control = Control(5)
    control.presend = Presend(frozenset({0}), request, response, time.monotonic())
    control.stop("interrupted (SIGTERM)")

    async def main() -> list[Any]:
        async with box.async_polymarket_client() as client:
            return await client.cancel_orders([order.id], market_slug="m1", control=control)

    [result] = anyio.run(main)
    assert result.status != "not_sent", result
    assert result.attempts == 1
    assert [r.path for r in box.requests if r.method == "POST"] == []
    assert control.presend is None  # taken by the run's request


def test_a_limitless_run_stopped_before_it_began_reads_the_answer_it_was_given(
    cancelkit_sandbox: Sandbox,
) -> None:
    import anyio
    from cancelkit import Control
    from cancelkit._bulk import Presend
    from cancelkit.limitless import CancelByOrderId

    box = cancelkit_sandbox
    order = box.seed_limitless()
    with box.limitless_client() as sync:
        request = sync._batch_request("order", [order.id])
        response, _ = sync._send(request)  # the batch-cancel, sent before the run
    box.clear_requests()
    control = Control(5)
    control.presend = Presend(frozenset({0}), request, response, time.monotonic())
    control.stop("interrupted (SIGTERM)")

    async def main() -> list[Any]:
        async with box.async_limitless_client() as client:
            target = CancelByOrderId(order_id=order.id)
            return await client.cancel_orders([target], control=control)

    [result] = anyio.run(main)
    # The exchange's answer named it canceled: that is the run's word, with no
    # request of its own.
    assert (result.status, result.attempts) == ("cancelled", 1), result
    assert box.requests == []


def test_a_first_cancel_answered_500_is_retried_by_the_run(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    journal = tmp_path / "run.jsonl"
    order = box.seed_polymarket("retry-1", market_slug="m1")
    # Every request's first arrival is answered 500 before it takes effect; its
    # retry gets through.
    box.polymarket.set_knobs(failure_rate=1.0, max_fault_streak=1, seed=7)
    box.clear_requests()
    try:
        done = _run(
            box, _command("polymarket", order.id, "--market", "m1", "--journal", str(journal))
        )
    finally:
        box.polymarket.set_knobs(failure_rate=0.0, max_fault_streak=None)
    assert done.returncode == 0, done.stderr
    assert "ASYNCIO AT FIRST SEND False" in done.stderr.splitlines(), done.stderr
    cancels = [r.status for r in box.requests if r.path == "/v1/orders/batched/cancel"]
    assert cancels == [500, 200]  # the first attempt (sent first), then the run's retry
    assert order.status == "cancelled"
    # One `sent` line: the request, not each attempt, is written ahead.
    assert _statuses(journal) == ["header", "planned", "sent", "not_open"]


# As REPORT, but each request's first byte says its request line and whether asyncio
# was loaded then (the id-only form sends two requests before the loop: the listing,
# then the cancel).
REPORT_EACH = (
    "import socket, sys\n"
    "def _tell(data):\n"
    "    line = bytes(data).split(b'\\r\\n', 1)[0]\n"
    "    if line[:4] in (b'GET ', b'POST'):\n"
    "        print('SEND', line.decode('ascii', 'replace'), 'asyncio' in sys.modules,\n"
    "              file=sys.stderr)\n"
    "_sendall = socket.socket.sendall\n"
    "def sendall(self, data, *args):\n"
    "    _tell(data)\n"
    "    return _sendall(self, data, *args)\n"
    "socket.socket.sendall = sendall\n"
    "_send = socket.socket.send\n"
    "def send(self, data, *args):\n"
    "    _tell(data)\n"
    "    return _send(self, data, *args)\n"
    "socket.socket.send = send\n"
    "from cancelkit._cli import main\n"
    "main()\n"
)


def _each(*args: str) -> list[str]:
    return [sys.executable, "-c", REPORT_EACH, "cancel", *args]


def _sends(stderr: str) -> list[tuple[str, bool]]:
    """Each request sent: (method and path, without the query; asyncio loaded then)."""
    found = []
    for line in stderr.splitlines():
        if line.startswith("SEND "):
            words = line.split()
            found.append((f"{words[1]} {words[2].split('?')[0]}", words[-1] == "True"))
    return found


def test_the_id_only_form_lists_then_cancels_before_asyncio(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    journal = tmp_path / "run.jsonl"
    one = box.seed_polymarket("ido-1", market_slug="m1")
    two = box.seed_polymarket("ido-2", market_slug="m1")
    box.clear_requests()
    done = _run(box, _each("polymarket", one.id, two.id, "--json", "--journal", str(journal)))
    assert done.returncode == 0, done.stderr
    sends = _sends(done.stderr)
    # The listing, then the one cancel made from it, both before the event loop.
    assert sends[:2] == [
        ("GET /v1/orders/open", False),
        ("POST /v1/orders/batched/cancel", False),
    ], done.stderr
    assert (one.status, two.status) == ("cancelled", "cancelled")
    cancels = [r for r in box.requests if r.path == "/v1/orders/batched/cancel"]
    assert len(cancels) == 1  # not sent again by the run
    first = [(r.method, r.path) for r in box.requests][:2]
    assert first == [("GET", "/v1/orders/open"), ("POST", "/v1/orders/batched/cancel")]
    # The run took that listing as its own: no second listing before its cancel.
    lines = [json.loads(x) for x in done.stdout.splitlines() if x.strip()]
    assert sorted((x["order"], x["status"]) for x in lines) == [
        (one.id, "cancelled"),
        (two.id, "cancelled"),
    ]
    planned, sent, cancelled = ["planned"] * 2, ["sent"] * 2, ["cancelled"] * 2
    assert _statuses(journal) == ["header", *planned, *sent, *cancelled]


def test_the_id_only_form_in_two_markets_goes_the_run_s_way(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    journal = tmp_path / "run.jsonl"
    one = box.seed_polymarket("two-1", market_slug="m1")
    two = box.seed_polymarket("two-2", market_slug="m2")
    box.clear_requests()
    done = _run(box, _each("polymarket", one.id, two.id, "--json", "--journal", str(journal)))
    assert done.returncode == 0, done.stderr
    sends = _sends(done.stderr)
    # Listed first, before the loop; no cancel then: the run's own, from that listing
    # (not sent again).
    assert sends[:2] == [
        ("GET /v1/orders/open", False),
        ("POST /v1/orders/batched/cancel", True),
    ], done.stderr
    requests = [(r.method, r.path) for r in box.requests]
    assert requests[:2] == [("GET", "/v1/orders/open"), ("POST", "/v1/orders/batched/cancel")]
    assert requests.count(("POST", "/v1/orders/batched/cancel")) == 1
    assert (one.status, two.status) == ("cancelled", "cancelled")
    lines = [json.loads(x) for x in done.stdout.splitlines() if x.strip()]
    assert sorted(x["status"] for x in lines) == ["cancelled", "cancelled"]


def test_sigterm_during_the_id_only_listing_sends_no_cancel(
    cancelkit_sandbox: Sandbox, silent: _Silent, tmp_path: Path
) -> None:
    journal = tmp_path / "run.jsonl"
    process = subprocess.Popen(
        _each("polymarket", "p-1", "--json", "--journal", str(journal)),
        env=_env_to(cancelkit_sandbox, silent),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert silent.got.wait(60), "the listing never arrived"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err
    assert _sends(err) == [("GET /v1/orders/open", False)], err
    [line] = [json.loads(x) for x in out.splitlines() if x.strip()]
    assert (line["order"], line["status"], line["attempts"]) == ("p-1", "not_sent", 0)
    assert _statuses(journal) == ["header", "planned", "not_sent"]
    # Only the listing reached the server: no cancel.
    assert [r.split(b" ", 2)[:2] for r in silent.requests] == [[b"GET", b"/v1/orders/open"]]


def test_an_id_only_listing_answered_after_the_deadline_sends_no_cancel(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    journal = tmp_path / "run.jsonl"
    order = box.seed_polymarket("late-1", market_slug="m1")
    box.clear_requests()
    # Every request is held a second: the listing's answer comes after the 0.5 s
    # deadline (inside the grace), when the run sends no new request.
    box.polymarket.set_knobs(latency=1.0)
    try:
        done = _run(
            box,
            _each("polymarket", order.id, "--deadline", "0.5", "--json", "--journal", str(journal)),
        )
    finally:
        box.polymarket.set_knobs(latency=0.0)
    assert done.returncode == 1, done.stderr
    assert ("POST /v1/orders/batched/cancel", False) not in _sends(done.stderr), done.stderr
    assert [r.path for r in box.requests if r.method == "POST"] == []
    assert order.status == "open"
    [line] = [json.loads(x) for x in done.stdout.splitlines() if x.strip()]
    assert line["status"] == "not_sent", line
    assert "sent" not in _statuses(journal)


def test_an_id_only_listing_answered_429_is_listed_again_only_after_the_pause(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    one = box.seed_polymarket("rl-1", market_slug="m1")
    # Every request's first arrival is answered 429 (no Retry-After: Polymarket asks
    # for at least 1 s); its next one gets through.
    box.polymarket.set_knobs(throttle_rate=1.0, max_fault_streak=1, seed=3)
    box.clear_requests()
    try:
        done = _run(box, _each("polymarket", one.id, "--journal", str(tmp_path / "run.jsonl")))
    finally:
        box.polymarket.set_knobs(throttle_rate=0.0, max_fault_streak=None)
    assert done.returncode == 0, done.stderr
    listings = [r for r in box.requests if r.path == "/v1/orders/open"]
    assert [r.status for r in listings[:2]] == [429, 200]
    assert _sends(done.stderr)[0] == ("GET /v1/orders/open", False)  # before the loop
    # The run's own listing waited out the pause the first one's 429 asked for
    # (its bytes on the wire at least 1 s after the refused one arrived; 1 ms for
    # the clocks' conversion), as the run's own 429s make it wait.
    assert listings[1].wire - listings[0].arrived >= 1.0 - 0.001
    assert one.status == "cancelled"

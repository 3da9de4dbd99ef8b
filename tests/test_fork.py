"""A client used, then ``os.fork()`` (gunicorn --preload, Celery prefork, a
multiprocessing pool): the child gets fresh threads and pools, never its parent's
keep-alive socket, and no call in it waits forever (#29, item 5).

Each case runs a real process (a script, run with subprocess) that forks; a TCP relay
on loopback in front of the sandbox numbers every connection and records the request
lines that travelled on it, so that "the child used a connection of its own" is seen
on the wire, every time, not by chance.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cancelkit.sandbox import Sandbox

# Processes, sockets and deadlines: `make stress` repeats these.
pytestmark = pytest.mark.faults

_REQUEST_LINE = re.compile(rb"(?:GET|POST|DELETE|PUT) (\S+) HTTP/1\.1\r\n")


class Relay:
    """Forwards every connection to ``target``; ``paths()`` says, per connection (in
    order of arrival), which request targets travelled on it."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self._lock = threading.Lock()
        self._sent: list[bytearray] = []
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:  # closed: the relay is stopped
                return
            upstream = socket.create_connection(self._target, timeout=30)
            with self._lock:
                record = bytearray()
                self._sent.append(record)
                self._sockets += [client, upstream]
            for args in ((client, upstream, record), (upstream, client, None)):
                threading.Thread(target=self._pump, args=args, daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, record: bytearray | None) -> None:
        try:
            while chunk := source.recv(65536):
                if record is not None:
                    with self._lock:
                        record += chunk
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def paths(self) -> list[list[str]]:
        with self._lock:
            return [[m.decode() for m in _REQUEST_LINE.findall(bytes(r))] for r in self._sent]

    def connection_of(self, order_id: str) -> set[int]:
        """The connections on which a request naming ``order_id`` (in its path or its
        body: a batch) went."""
        needle = order_id.encode()
        with self._lock:
            return {n for n, sent in enumerate(self._sent) if needle in sent}

    def stop(self) -> None:
        self._server.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def relay(box: Sandbox, request: pytest.FixtureRequest) -> Iterator[Relay]:
    spec = getattr(request.node, "callspec", None)
    venue = spec.params.get("venue", "polymarket") if spec is not None else "polymarket"
    urls = {"polymarket": box.polymarket_url, "limitless": box.limitless_url}
    relaying = Relay(urls.get(venue, box.kalshi_url))
    yield relaying
    relaying.stop()


# The script each case runs: it builds a client, runs the parent's steps, forks, runs
# the child's steps there (reporting on stdout), waits for the child (30 s at most,
# then kills it: a hang is reported, never waited out), then runs the parent's last
# steps. A step is ["single", id] or ["bulk", [ids]]; results are the statuses.
_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, os, signal, sys, time
    import cancelkit

    venue, flavour, key, secret, url, plan = sys.argv[1:7]
    plan = json.loads(plan)

    def target(order):
        return cancelkit.CancelByOrderId(order_id=order) if venue == "limitless" else order

    def kwargs():
        if venue == "kalshi":  # its base URL's path is signed: the relay keeps it
            return {"base_url": url + "/trade-api/v2"}
        return {"base_url": url, **({"paced": False} if venue == "limitless" else {})}

    names = {
        ("limitless", "sync"): "LimitlessClient",
        ("limitless", "async"): "AsyncLimitlessClient",
        ("polymarket", "sync"): "PolymarketUSClient",
        ("polymarket", "async"): "AsyncPolymarketUSClient",
        ("kalshi", "sync"): "KalshiClient",
        ("kalshi", "async"): "AsyncKalshiClient",
    }
    cls = getattr(cancelkit, names[venue, flavour])
    client = cls(key, secret, **kwargs())

    async def step_async(kind, what):
        if kind == "single":
            if venue == "limitless":
                await client.cancel_order(order_id=what)
            else:
                await client.cancel_order(what)
            return "cancelled"
        results = await client.cancel_orders([target(o) for o in what], deadline=20)
        return [r.status for r in results]

    def step(kind, what, loop=None):
        if flavour == "async":
            work = step_async(kind, what)
            return loop.run_until_complete(work)
        if kind == "single":
            if venue == "limitless":
                client.cancel_order(order_id=what)
            else:
                client.cancel_order(what)
            return "cancelled"
        return [r.status for r in client.cancel_orders([target(o) for o in what], deadline=20)]

    # The parent keeps one event loop (an async client belongs to the loop it used).
    parent_loop = asyncio.new_event_loop() if flavour == "async" else None
    report = {"before": [step(k, w, parent_loop) for k, w in plan["before"]]}
    pid = os.fork()
    if pid == 0:
        try:
            child_loop = asyncio.new_event_loop() if flavour == "async" else None
            out = {"child": [step(k, w, child_loop) for k, w in plan["child"]]}
        except BaseException as exc:
            out = {"child_error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(out), flush=True)
        # A normal exit, as a worker's: whatever the child's collector finalises
        # (the parent's pools, sessions, loop) must leave the parent's connections be.
        del client
        import gc
        gc.collect()
        sys.exit(0)
    ends = time.monotonic() + 30
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.monotonic() > ends:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            report["child_hung"] = True
            break
        time.sleep(0.05)
    report["after"] = [step(k, w, parent_loop) for k, w in plan["after"]]
    print(json.dumps(report), flush=True)
    """
)


def _run(
    tmp_path: Path, box: Sandbox, relay: Relay, venue: str, flavour: str, plan: dict[str, Any]
) -> dict[str, Any]:
    script = tmp_path / "fork_script.py"
    script.write_text(_SCRIPT)
    c = box.credentials
    if venue == "polymarket":
        key, secret = c.polymarket_key_id, c.polymarket_secret_key
    elif venue == "kalshi":
        key, secret = c.kalshi_key("ed25519")  # the PEM, on the child's command line
    else:
        key, secret = c.limitless_token_id, c.limitless_secret
    done = subprocess.run(
        [sys.executable, str(script), venue, flavour, key, secret, relay.url, json.dumps(plan)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)},
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0, done.stderr[-2000:]
    report: dict[str, Any] = {}
    for line in lines:
        report.update(line)
    return report


def _ids(box: Sandbox, venue: str, names: list[str]) -> dict[str, str]:
    """An open order per name: Polymarket ids as named, Limitless and Kalshi fresh UUIDs."""
    if venue == "polymarket":
        return {name: box.seed_polymarket(f"fork-{name}").id for name in names}
    if venue == "kalshi":
        return {name: box.seed_kalshi().id for name in names}
    return {name: box.seed_limitless().id for name in names}


def _assert_apart(relay: Relay, parent: list[str], child: list[str]) -> None:
    mine = set().union(*(relay.connection_of(i) for i in parent))
    theirs = set().union(*(relay.connection_of(i) for i in child))
    assert all(relay.connection_of(i) for i in parent + child), relay.paths()
    assert not mine & theirs, relay.paths()


@pytest.mark.parametrize("venue", ["polymarket", "limitless", "kalshi"])
@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_forked_child_cancels_on_connections_of_its_own(
    tmp_path: Path, box: Sandbox, relay: Relay, venue: str, flavour: str
) -> None:
    ids = _ids(box, venue, ["p1", "p2", "p3", "c1", "c2", "c3"])
    plan = {
        # Single and bulk in the parent: a keep-alive socket in each pool, and (sync)
        # a loop thread the child does not have.
        "before": [["single", ids["p1"]], ["bulk", [ids["p2"]]]],
        "child": [["single", ids["c1"]], ["bulk", [ids["c2"], ids["c3"]]]],
        "after": [["single", ids["p3"]]],
    }
    report = _run(tmp_path, box, relay, venue, flavour, plan)
    assert "child_hung" not in report
    assert report.get("child") == ["cancelled", ["cancelled", "cancelled"]], report
    assert report["before"] == ["cancelled", ["cancelled"]]
    assert report["after"] == ["cancelled"]
    open_now = {o.id for o in box.open_orders()}
    assert not open_now & set(ids.values())
    parent, child = [ids["p1"], ids["p2"], ids["p3"]], [ids["c1"], ids["c2"], ids["c3"]]
    _assert_apart(relay, parent, child)


def test_single_calls_alone_never_share_the_parents_socket(
    tmp_path: Path, box: Sandbox, relay: Relay
) -> None:
    """The sync Polymarket client's direct path (no bulk call, no loop thread): the
    child's cancel travels on a connection of its own, never on the parent's."""
    ids = _ids(box, "polymarket", ["p1", "p2", "c1"])
    plan = {
        "before": [["single", ids["p1"]]],
        "child": [["single", ids["c1"]]],
        "after": [["single", ids["p2"]]],
    }
    report = _run(tmp_path, box, relay, "polymarket", "sync", plan)
    assert report.get("child") == ["cancelled"], report
    assert report["after"] == ["cancelled"]
    _assert_apart(relay, [ids["p1"], ids["p2"]], [ids["c1"]])

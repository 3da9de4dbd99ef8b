"""The sandbox's request log says when each request's bytes reached its socket (the
kernel's receive stamp), not only when its interpreter got to them: the benchmarks'
"first cancel on the wire" must not count a stand-in exchange's scheduling."""

from __future__ import annotations

import socket
import time

import httpx
import pytest
from cancelkit.sandbox import Sandbox, _stamps

needs_stamps = pytest.mark.skipif(not _stamps.SUPPORTED, reason="kernel stamps: Linux only")


@needs_stamps
def test_bytes_left_waiting_in_the_socket_keep_the_instant_they_arrived() -> None:
    server = _stamps.listener("127.0.0.1", 0)
    server.setblocking(True)
    client = socket.create_connection(server.getsockname()[:2])
    try:
        before = time.monotonic()
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        sent = time.monotonic()
        time.sleep(0.3)  # the server is busy elsewhere: the bytes wait in its socket
        conn, peer = server.accept()
        try:
            assert conn.recv(4096).startswith(b"GET / ")
            read = time.monotonic()
            wire = _stamps.on_wire(peer)
            assert wire is not None
            # The stamp is the bytes' arrival (within the send, on loopback), not the
            # read 0.3 s later; 1 ms of slack for the wall-to-monotonic conversion.
            assert before - 0.001 <= wire <= sent + 0.1
            assert read - wire >= 0.2
        finally:
            conn.close()
        assert _stamps.on_wire(peer) is None  # forgotten with its connection
    finally:
        client.close()
        server.close()


def test_a_peer_never_seen_or_malformed_has_no_stamp() -> None:
    assert _stamps.on_wire(("127.0.0.1", 1)) is None
    assert _stamps.on_wire(None) is None
    assert _stamps.on_wire("127.0.0.1:1") is None


def test_every_logged_request_arrived_on_the_wire_before_its_handler_began() -> None:
    with Sandbox() as box:
        url = box.env()["POLYMARKET_API_URL"]
        started = time.monotonic()
        with httpx.Client() as client:
            for _ in range(3):  # one connection, kept alive: each request its own stamp
                client.get(f"{url}/v1/orders/open")
        logged = box.requests
    assert len(logged) == 3
    previous = started - 0.001
    for entry in logged:
        assert previous <= entry.wire <= entry.arrived
        if _stamps.SUPPORTED:
            assert entry.wire < entry.arrived  # the kernel's stamp, not the fallback
        previous = entry.wire

"""When a request's bytes reached the sandbox: the kernel's receive timestamp.

The sandbox's handler notes ``time.monotonic()`` when it begins, but that is when
the server's interpreter got to the request: on a machine whose cores are busy (the
benchmarks run three sandboxes and the client on two), the bytes may have waited in
the socket for milliseconds. Linux stamps every received packet (``SO_TIMESTAMPNS``)
and hands the stamp to ``recvmsg``; the sandbox's listening socket gives each
connection a ``recv`` that reads it, so a request's log entry can say when it was
on the wire. Elsewhere (another system, or no stamp on a read) there is no such
instant and the log keeps the handler's.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import sys
import threading
import time

# Linux's SO_TIMESTAMPNS (and its control message's type) where its value is the
# generic one; Python's socket module does not name it. Elsewhere: no stamps.
_SO_TIMESTAMPNS = 35
_TIMESPEC = struct.Struct("@ll")  # struct timespec on these 64-bit machines
SUPPORTED = sys.platform == "linux" and os.uname().machine in ("x86_64", "aarch64")
_ROOM = socket.CMSG_SPACE(_TIMESPEC.size) if SUPPORTED else 0

_latest: dict[tuple[str, int], float | None] = {}  # peer -> its last read's stamp
_lock = threading.Lock()


def on_wire(peer: object) -> float | None:
    """The ``time.monotonic()`` instant the last bytes read from ``peer`` (the ASGI
    scope's ``client``) reached the socket, by the kernel's stamp; None if unknown."""
    if not isinstance(peer, (tuple, list)) or len(peer) != 2:
        return None
    with _lock:
        return _latest.get((str(peer[0]), int(peer[1])))


class Listener(socket.socket):
    """A listening TCP socket whose accepted connections note their reads' stamps."""

    def accept(self) -> tuple[socket.socket, object]:
        """Accept as ``socket.accept`` does, the connection a :class:`_Stamped`."""
        plain, address = super().accept()
        conn = _Stamped(plain.family, plain.type, plain.proto, fileno=plain.detach())
        conn.start(address)
        return conn, address


class _Stamped(socket.socket):
    """One accepted connection: each ``recv`` is a ``recvmsg`` with the stamp."""

    _peer: tuple[str, int] | None = None

    def start(self, address: object) -> None:
        if not SUPPORTED or not isinstance(address, tuple) or len(address) < 2:
            return
        try:
            self.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        except OSError:
            return
        self._peer = (str(address[0]), int(address[1]))

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        peer = self._peer
        if peer is None:
            return super().recv(bufsize, flags)
        data, ancillary, _, _ = self.recvmsg(bufsize, _ROOM, flags)
        stamp: float | None = None
        for level, kind, payload in ancillary:
            mine = level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS
            if mine and len(payload) >= _TIMESPEC.size:
                seconds, nanoseconds = _TIMESPEC.unpack_from(payload)
                # The stamp is wall-clock time; the log's clock is the monotonic one.
                offset = time.time_ns() - time.monotonic_ns()
                stamp = (seconds * 1_000_000_000 + nanoseconds - offset) / 1e9
        if data:
            with _lock:
                _latest[peer] = stamp
        return data

    def close(self) -> None:
        if self._peer is not None:
            with _lock:
                _latest.pop(self._peer, None)
        super().close()


def listener(host: str, port: int) -> socket.socket:
    """A bound, listening socket for uvicorn, stamping its connections' reads."""
    sock = Listener(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if SUPPORTED:  # now, so a connection's first bytes (before accept) are stamped
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
                _await_stamping()
        sock.bind((host, port))
        sock.listen(2048)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


_NEVER: list[bool] = []  # a wait that saw no stamp: none is waited for again


def _await_stamping(within: float = 2.0) -> bool:
    """Wait (at most ``within`` seconds) until the kernel stamps received packets.

    Linux turns stamping on for the whole system when the first socket asks for it,
    but later, from a work queue: bytes arriving in the meantime carry no stamp. A
    socket of ours asks first (the listener); this sends a byte over a loopback pair
    until one comes back stamped, so the sandbox's first request is stamped too."""
    if _NEVER:  # a system that never stamps costs one wait per process
        return False
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        client = socket.create_connection(server.getsockname(), timeout=within)
        conn, _ = server.accept()
        with client, conn:
            conn.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
            conn.settimeout(within)
            end = time.monotonic() + within
            while time.monotonic() < end:
                client.sendall(b"\0")
                _, ancillary, _, _ = conn.recvmsg(1, _ROOM)
                if any(kind == _SO_TIMESTAMPNS for _, kind, _ in ancillary):
                    return True
                time.sleep(0.001)
    except OSError:
        pass
    finally:
        server.close()
    _NEVER.append(True)
    return False

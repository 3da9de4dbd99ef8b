"""The guard's end of the control channel (``_guard_link``): a Unix socket in the
state directory, created 0600 in a directory open to nobody else, each connection's
user asked of the kernel, one request per connection."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import socket
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any

from .. import _guard_link as link

logger = logging.getLogger("cancelkit")

LOCK_NAME = "guard.lock"
READ_WAIT = 5.0  # seconds a connection may take to send its request
# Connections whose request has not come yet, at most: past it the oldest is closed.
# Each holds a descriptor; thousands held for READ_WAIT (a script connecting in a
# loop and sending nothing) could leave a firing none to open its connections with.
MAX_WAITING = 32

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class ChannelError(Exception):
    """The control channel cannot be opened safely (the message says why)."""


def check_directory(directory: Path) -> None:
    """The state directory may carry the channel: this user's, no group or other
    bits. :class:`ChannelError` naming the problem otherwise. What is above it (no
    directory anyone else could swap) is ``Registry.open``'s check, which the guard
    opens the directory through first."""
    try:
        info = os.lstat(directory)
    except OSError as exc:
        raise ChannelError(f"state directory {directory}: {exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise ChannelError(f"state directory {directory} is not a directory")
    problem = link.place_problem(info, f"the state directory {directory}")
    if problem is not None:
        raise ChannelError(f"refusing to start: {problem}")


def hold_lock(directory: Path) -> IO[bytes]:
    """One guard per state directory: an exclusive ``flock`` on ``guard.lock``, held
    for the guard's life (the kernel drops it however the guard ends)."""
    path = directory / LOCK_NAME
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        raise ChannelError(f"cannot open {path}: {exc.strerror}") from None
    held = os.fdopen(fd, "r+b")
    try:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        held.close()
        raise ChannelError(f"another guard is running on {directory} (it holds {path})") from None
    return held


def bind(path: Path) -> socket.socket:
    """The listening socket at ``path`` (a stale one from a dead guard replaced),
    0600 from its creation: the umask is set for the bind, so there is no moment
    when another user could connect."""
    with contextlib.suppress(FileNotFoundError):
        info = os.lstat(path)
        if not stat.S_ISSOCK(info.st_mode):
            raise ChannelError(f"{path} exists and is not a socket; remove it")
        os.unlink(path)  # the lock is ours: no guard listens on it
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(os.fspath(path))
    except OSError as exc:
        sock.close()
        raise ChannelError(f"cannot listen on {path}: {exc.strerror}") from None
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(64)
    sock.setblocking(False)
    return sock


class Server:
    """Answers each connection's one request with ``handle``, after checking that
    the peer is this user and that the channel is still closed to others."""

    def __init__(self, path: Path, handle: Handler) -> None:
        self.path = path
        self.handle = handle
        self._server: asyncio.AbstractServer | None = None
        self._waiting: dict[asyncio.StreamWriter, None] = {}  # oldest first

    async def start(self, sock: socket.socket) -> None:
        self._server = await asyncio.start_unix_server(
            self._serve, sock=sock, limit=link.MAX_REQUEST + 1
        )

    def refusal(self, sock: socket.socket | None) -> str | None:
        """Why this connection is refused, or None: another user at the other end
        (the kernel's word), or the socket or its directory opened to others since."""
        if sock is not None:
            uid = link.peer_uid(sock)
            if uid is not None and uid != os.getuid():
                return f"refused: the guard serves only uid {os.getuid()}, not uid {uid}"
        problem = link.channel_problem(self.path, must_exist=True)
        return None if problem is None else f"refused: {problem}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            # The request is read before any refusal: a client whose request is still
            # unread when the connection closes would lose the answer that says why.
            self._waiting[writer] = None
            if len(self._waiting) > MAX_WAITING:  # a request line comes at once
                oldest = next(iter(self._waiting))
                del self._waiting[oldest]
                oldest.transport.abort()
            try:
                request, problem = await self._read(reader)
            finally:
                self._waiting.pop(writer, None)
            refused = self.refusal(writer.get_extra_info("socket"))
            if refused is not None:
                logger.warning("control channel: %s", refused)
                answer: dict[str, Any] = {"ok": False, "error": refused}
            elif request is None:
                answer = {"ok": False, "error": problem}
            else:
                answer = await self.handle(request)
            writer.write(link.encode(answer))
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass  # the client went away; nothing to tell it
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _read(self, reader: asyncio.StreamReader) -> tuple[dict[str, Any] | None, str]:
        try:
            # A timeout scope, not wait_for: on 3.11 wait_for runs the read as a task
            # of its own, a loop pass later (a trigger's first cancel waits for it).
            async with asyncio.timeout(READ_WAIT):
                line = await reader.readuntil(b"\n")
            return link.decode(line), ""
        except (asyncio.LimitOverrunError, ValueError, RecursionError):
            return None, "not a request"
        except TimeoutError:
            return None, f"no request within {READ_WAIT:g} s"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(OSError):
                os.unlink(self.path)

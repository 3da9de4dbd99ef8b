"""The guard's control channel, as both ends see it: where its Unix socket is, who
may use it, and one request and its answer.

Only the user who started a guard may fire it, feed it heartbeats or read its
state. The socket lives in that user's state directory; the directory and the
socket must be this user's and open to nobody else (no group or other bits at
all, since connecting needs only search on the directory and write on the
socket), and each end asks the kernel who the other is (``SO_PEERCRED`` on
Linux, ``LOCAL_PEERCRED`` on macOS). Nothing listens on a network address.

A message is one JSON object on one line, UTF-8, at most :data:`MAX_REQUEST`
bytes from a client and :data:`MAX_REPLY` from the guard.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import struct
import sys
import time
from pathlib import Path
from typing import Any

from ._state_dir import state_dir

SOCKET_NAME = "guard.sock"
MAX_REQUEST = 4096  # bytes of one request line: an operation and a few words
MAX_REPLY = 16 * 2**20  # bytes of one answer (a trigger's report)
_OPEN_TO_OTHERS = stat.S_IRWXG | stat.S_IRWXO


class GuardUnreachable(Exception):
    """No guard answers on this user's control socket (none running, or it did not
    answer in time)."""


class GuardRefused(Exception):
    """The control channel cannot be trusted (another user's, or open to others),
    or the guard refused the request; the message says which and why."""


def socket_path(directory: str | os.PathLike[str] | None = None) -> Path:
    """The control socket: ``guard.sock`` in ``directory``, else the state directory."""
    return Path(state_dir() if directory is None else directory) / SOCKET_NAME


def place_problem(info: os.stat_result, what: str) -> str | None:
    """Why a directory or socket with this ``stat`` may not carry the channel: not
    this user's, or open to anyone else; None if it may."""
    if info.st_uid != os.getuid():
        return f"{what} is owned by another user (uid {info.st_uid})"
    if info.st_mode & _OPEN_TO_OTHERS:
        mode = stat.S_IMODE(info.st_mode)
        return f"{what} is open to other users (mode {mode:04o}; chmod go= it)"
    return None


def channel_problem(path: Path, *, must_exist: bool = False) -> str | None:
    """Why the socket at ``path`` and its directory may not be used, or None. A
    missing socket is no problem (there is simply no guard) unless ``must_exist``
    (the guard asking of its own socket)."""
    directory = path.parent
    removed = f"{path} was removed" if must_exist else None
    try:
        info = os.stat(directory)
    except FileNotFoundError:
        return removed  # no state directory: no guard either
    except OSError as exc:
        return f"{directory}: {exc.strerror}"
    problem = place_problem(info, f"the directory {directory}")
    if problem is not None:
        return problem
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return removed
    except OSError as exc:
        return f"{path}: {exc.strerror}"
    if not stat.S_ISSOCK(info.st_mode):
        return f"{path} is not a socket"
    return place_problem(info, f"the socket {path}")


def peer_uid(sock: socket.socket) -> int | None:
    """The user id of the process at the other end of a connected Unix socket, as
    the kernel says; None where the platform offers no way to ask."""
    if sys.platform.startswith("linux"):
        data = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", data)
        return int(uid)
    if sys.platform == "darwin":  # pragma: no cover - not the CI's platform
        # struct xucred: u_int cr_version; uid_t cr_uid; ... (SOL_LOCAL 0, LOCAL_PEERCRED 1)
        data = sock.getsockopt(0, 1, 76)
        return int(struct.unpack_from("=II", data)[1])
    return None  # pragma: no cover


def encode(message: dict[str, Any]) -> bytes:
    """One message as it goes on the channel."""
    return json.dumps(message, ensure_ascii=True).encode("ascii") + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """One message read from the channel; ValueError if it is not a JSON object."""
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError("not a JSON object")
    return message


def request(
    operation: str,
    *,
    timeout: float = 5.0,
    path: str | os.PathLike[str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Send one request to this user's guard and return its answer (a dict with
    ``ok`` and, when not ok, ``error``). :class:`GuardRefused` if the socket or its
    directory is another user's or open to others, or if the guard is; and
    :class:`GuardUnreachable` if no guard answers within ``timeout`` seconds."""
    where = socket_path() if path is None else Path(path)
    problem = channel_problem(where)
    if problem is not None:
        raise GuardRefused(f"refused: {problem}")
    deadline = time.monotonic() + timeout
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(max(0.001, timeout))
        try:
            sock.connect(os.fspath(where))
        except (FileNotFoundError, ConnectionRefusedError):
            raise GuardUnreachable(f"no guard is running (no one listens on {where})") from None
        except OSError as exc:
            raise GuardUnreachable(f"cannot reach the guard at {where}: {exc}") from None
        uid = peer_uid(sock)
        if uid is not None and uid != os.getuid():
            raise GuardRefused(f"refused: {where} is served by another user (uid {uid})")
        sock.sendall(encode({"op": operation, **fields}))
        return decode(_read_line(sock, deadline, where))
    except ValueError:
        raise GuardUnreachable(f"the guard at {where} answered something else") from None
    finally:
        sock.close()


def _read_line(sock: socket.socket, deadline: float, where: Path) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise GuardUnreachable(f"the guard at {where} did not answer in time")
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            raise GuardUnreachable(f"the guard at {where} did not answer in time") from None
        except OSError as exc:
            raise GuardUnreachable(f"the guard at {where} hung up: {exc}") from None
        if not chunk:
            raise GuardUnreachable(f"the guard at {where} hung up without an answer")
        end = chunk.find(b"\n")
        if end >= 0:
            chunks.append(chunk[:end])
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_REPLY:
            raise GuardUnreachable(f"the guard at {where} answered more than {MAX_REPLY} bytes")

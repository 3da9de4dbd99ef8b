"""The guard's place in the scheduler: a short slice by default, or ``--realtime``.

The day a desk needs its kill switch may be the day its bot spins on every core.
A guard at the ordinary priority then waits its turn for a core: when the signal
comes, and again after each request it writes, since the write wakes other
processes that may take its core before the next account's request is written.

By default (:func:`short_slice`) the guard asks Linux's fair scheduler (EEVDF,
Linux 6.12 and later) for the shortest time slice it grants, 0.1 ms (the default is
0.75 ms times a factor that grows with the CPU count: 1.4 ms on 2 CPUs). A task
asking for less time at once gets an earlier deadline: woken, it runs ahead of tasks
that asked for more, and the processes its writes wake take its core less often
(the kernel shields a running task only for the shortest slice queued, so this is
a tendency, not a promise; ``benchmarks/RESULTS.md`` has the figures). Its share of
the CPU over time is unchanged, and no privilege is needed. Elsewhere the call
changes nothing and the guard runs as before.

With ``--realtime`` (:func:`realtime`) it runs on ``SCHED_FIFO``, even at its lowest
priority (1): before every ordinary process the moment it is ready. Armed, it is
idle almost all the time, so it takes next to nothing from them otherwise; the
kernel's real-time throttling keeps a share of each core for them even if it spun.

Either is set on the guard's first thread before it starts any other, so every
thread it starts later has it too (the guard starts no process).
"""

from __future__ import annotations

import os
import platform
import struct
import sys
from typing import Any

PRIORITY = 1  # the lowest real-time priority: above every ordinary process, no more
REFUSED = (
    "--realtime: not permitted: the guard needs a real-time priority limit of at least"
    f" {PRIORITY} (systemd: LimitRTPRIO={PRIORITY}; pam_limits: rtprio; a shell root"
    f" started: ulimit -r {PRIORITY}) or the CAP_SYS_NICE capability"
)
ORDINARY = "ordinary"
SLICE_NS = 100_000  # the shortest slice Linux grants a fair task (0.1 ms)

# sched_setattr and sched_getattr (no wrapper in libc or os): their numbers on the
# 64-bit Linux ABIs (platform.machine() as Linux names them), and struct sched_attr
# as of Linux 4.13 (56 bytes).
_CALLS = {"x86_64": (314, 315), "aarch64": (274, 275)}
_ATTR = struct.Struct("=IIQiIQQQII")
_FAIR = {0, 3}  # SCHED_OTHER, SCHED_BATCH (SCHED_IDLE is left as it was chosen)


class PriorityError(Exception):
    """The real-time scheduler was asked for and could not be had; says why."""


def realtime() -> str:
    """Put the calling thread, and the threads it starts from now on, on
    ``SCHED_FIFO`` at priority :data:`PRIORITY`; a description of it for the
    guard's status. Raises :class:`PriorityError` naming why it cannot."""
    fifo = getattr(os, "SCHED_FIFO", None)
    if fifo is None or not hasattr(os, "sched_setscheduler"):
        raise PriorityError("--realtime: this system has no real-time scheduler (Linux only)")
    # No SCHED_RESET_ON_FORK: Linux applies it to new threads too, and the threads
    # the guard starts later must have what its first thread has.
    try:
        os.sched_setscheduler(0, fifo, os.sched_param(PRIORITY))
    except PermissionError:
        raise PriorityError(REFUSED) from None
    except OSError as exc:
        raise PriorityError(f"--realtime: the scheduler refused: {exc.strerror}") from None
    return f"real-time (SCHED_FIFO {PRIORITY})"


def short_slice() -> str:
    """Ask the fair scheduler for a :data:`SLICE_NS` slice for the calling thread and
    the threads it starts from now on, keeping its policy and nice value; a
    description of what it has for the guard's status. Never raises: a system
    without the call, or a kernel that keeps its own slice, leaves it ordinary."""
    found = _syscalls()
    if found is None:
        return ORDINARY
    libc, (setattr_call, _) = found
    try:
        policy = os.sched_getscheduler(0) & ~getattr(os, "SCHED_RESET_ON_FORK", 0)
        nice = os.getpriority(os.PRIO_PROCESS, 0)
    except (OSError, AttributeError):
        return ORDINARY
    if policy not in _FAIR:  # a real-time or idle policy chosen by whoever started it
        return ORDINARY
    wanted = _ATTR.pack(_ATTR.size, policy, 0, nice, 0, SLICE_NS, 0, 0, 0, 0)
    if libc.syscall(setattr_call, 0, _buffer(wanted), 0) != 0:
        return ORDINARY
    if slice_of(0) != SLICE_NS:  # a kernel before 6.12 takes the call and keeps its own
        return ORDINARY
    return f"{ORDINARY}, {SLICE_NS / 1e6:g} ms slice"


def slice_of(thread: int) -> int:
    """The time slice, in nanoseconds, the kernel gives a thread (its id; 0: the
    calling one) of the fair scheduler; 0 where the kernel or system does not say."""
    found = _syscalls()
    if found is None:
        return 0
    libc, (_, getattr_call) = found
    buffer = _buffer(bytes(_ATTR.size))
    if libc.syscall(getattr_call, thread, buffer, _ATTR.size, 0) != 0:
        return 0
    return int(_ATTR.unpack(buffer.raw)[5])


def _syscalls() -> tuple[Any, tuple[int, int]] | None:
    """libc and the two calls' numbers, on 64-bit Linux with ctypes; else None."""
    calls = _CALLS.get(platform.machine())
    if calls is None or not sys.platform.startswith("linux") or sys.maxsize <= 2**32:
        return None
    try:
        import ctypes  # here: a Python built without it still runs the guard

        return ctypes.CDLL(None, use_errno=True), calls
    except (ImportError, OSError):
        return None


def _buffer(data: bytes) -> Any:
    import ctypes

    return ctypes.create_string_buffer(data, _ATTR.size)

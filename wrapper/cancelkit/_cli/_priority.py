"""The guard's place in the scheduler: a short slice by default, or ``--realtime``.

The day a desk needs its kill switch may be the day its bot spins on every core.
A guard at the ordinary priority then waits its turn for a core: when the signal
comes, and again after each request it writes, since the write wakes other
processes that may take its core before the next account's request is written.

By default (:func:`short_slice`) the guard asks Linux's fair scheduler (EEVDF,
Linux 6.12 and later) for the shortest time slice it grants, 0.1 ms instead of
about 3. A task asking for less time at once gets an earlier deadline: woken, it
runs before tasks that asked for more, and a task it wakes does not take its core
from it. Its share of the CPU over time is unchanged, and no privilege is needed.
Elsewhere the call changes nothing and the guard runs as before.

With ``--realtime`` (:func:`realtime`) it runs on ``SCHED_FIFO``, even at its lowest
priority (1): before every ordinary process the moment it is ready. Armed, it is
idle almost all the time, so it takes next to nothing from them otherwise; the
kernel's real-time throttling keeps a share of each core for them even if it spun.

Either is set on the guard's first thread before it starts any other, so every
thread it starts later has it too (the guard starts no process).
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct

PRIORITY = 1  # the lowest real-time priority: above every ordinary process, no more
REFUSED = (
    "--realtime: not permitted: the guard needs a real-time priority limit of at least"
    f" {PRIORITY} (systemd: LimitRTPRIO={PRIORITY}; pam_limits: rtprio; a shell root"
    f" started: ulimit -r {PRIORITY}) or the CAP_SYS_NICE capability"
)
ORDINARY = "ordinary"
SLICE_NS = 100_000  # the shortest slice Linux grants a fair task (0.1 ms)

# sched_setattr and sched_getattr (no wrapper in libc or os): their numbers, and
# struct sched_attr as of Linux 4.13 (56 bytes).
_CALLS = {"x86_64": (314, 315), "aarch64": (274, 275), "arm64": (274, 275)}
_ATTR = struct.Struct("=IIQiIQQQII")
_FAIR = {0, 3, 5}  # SCHED_OTHER, SCHED_BATCH, SCHED_IDLE


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
    calls = _CALLS.get(platform.machine())
    if calls is None or not hasattr(os, "sched_getscheduler"):
        return ORDINARY
    try:
        policy = os.sched_getscheduler(0) & ~getattr(os, "SCHED_RESET_ON_FORK", 0)
        nice = os.getpriority(os.PRIO_PROCESS, 0)
    except OSError:
        return ORDINARY
    if policy not in _FAIR:  # started under a real-time policy: leave it as it is
        return ORDINARY
    libc = ctypes.CDLL(None, use_errno=True)
    wanted = _ATTR.pack(_ATTR.size, policy, 0, nice, 0, SLICE_NS, 0, 0, 0, 0)
    if libc.syscall(calls[0], 0, ctypes.create_string_buffer(wanted, _ATTR.size), 0) != 0:
        return ORDINARY
    if slice_of(0) != SLICE_NS:  # a kernel before 6.12 takes the call and keeps its own
        return ORDINARY
    return f"{ORDINARY}, {SLICE_NS / 1e6:g} ms slice"


def slice_of(thread: int) -> int:
    """The time slice, in nanoseconds, the kernel gives a thread (its id; 0: the
    calling one) of the fair scheduler; 0 where the kernel or system does not say."""
    calls = _CALLS.get(platform.machine())
    if calls is None:
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    buffer = ctypes.create_string_buffer(_ATTR.size)
    if libc.syscall(calls[1], thread, buffer, _ATTR.size, 0) != 0:
        return 0
    return int(_ATTR.unpack(buffer.raw)[5])

"""``cancelkit guard --realtime``: the guard on Linux's real-time scheduler.

The day a desk needs its kill switch may be the day its bot spins on every core.
A guard at the ordinary priority then waits its turn for a core: when the signal
comes, and again after each request it writes, since the write wakes other
processes that may take its core before the next account's request is written. On
``SCHED_FIFO``, even at its lowest priority (1), the guard runs before every
ordinary process the moment it is ready. Armed, it is idle almost all the time, so
it takes next to nothing from them otherwise; the kernel's real-time throttling
keeps a share of each core for them even if it spun.

Set on the guard's first thread before it starts any other, so every thread it
starts later has it too. A process it started would not (``SCHED_RESET_ON_FORK``).
"""

from __future__ import annotations

import os

PRIORITY = 1  # the lowest real-time priority: above every ordinary process, no more
REFUSED = (
    "--realtime: not permitted: the guard needs a real-time priority limit of at least"
    f" {PRIORITY} (systemd: LimitRTPRIO={PRIORITY}; pam_limits: rtprio; a shell root"
    f" started: ulimit -r {PRIORITY}) or the CAP_SYS_NICE capability"
)


class PriorityError(Exception):
    """The real-time scheduler was asked for and could not be had; says why."""


def realtime() -> str:
    """Put the calling thread, and the threads it starts from now on, on
    ``SCHED_FIFO`` at priority :data:`PRIORITY`; a description of it for the
    guard's status. Raises :class:`PriorityError` naming why it cannot."""
    fifo = getattr(os, "SCHED_FIFO", None)
    if fifo is None or not hasattr(os, "sched_setscheduler"):
        raise PriorityError("--realtime: this system has no real-time scheduler (Linux only)")
    policy = fifo | getattr(os, "SCHED_RESET_ON_FORK", 0)
    try:
        os.sched_setscheduler(0, policy, os.sched_param(PRIORITY))
    except PermissionError:
        raise PriorityError(REFUSED) from None
    except OSError as exc:
        raise PriorityError(f"--realtime: the scheduler refused: {exc.strerror}") from None
    return f"real-time (SCHED_FIFO {PRIORITY})"

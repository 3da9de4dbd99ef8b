"""After ``os.fork()``, the child renews every live client before it runs any of its
own code.

A child has one thread (the one that forked), a copy of every lock as it was (held,
if another thread held it), and file descriptors shared with its parent: a pooled
keep-alive socket used by both processes mixes their answers (the parent may read the
child's 200 and report a cancel that never happened). So each client tracked here is
told to drop its parent's loop thread, pools, sessions and locks, and to make fresh
ones (``_after_fork``); what it drops is kept here, neither closed (closing could
end the parent's connection) nor used. Python runs the hook for ``os.fork()`` and
``multiprocessing``'s ``fork`` start method (gunicorn ``--preload``, Celery prefork).
"""

from __future__ import annotations

import logging
import os
import weakref
from typing import Protocol

logger = logging.getLogger("cancelkit")


class Renewable(Protocol):
    """A client that can drop its parent's resources in a forked child."""

    def _after_fork(self) -> None: ...


_LIVE: weakref.WeakSet[Renewable] = weakref.WeakSet()
# The parents' objects, kept alive in the child so that no finaliser closes them.
_LEFT_BEHIND: list[object] = []


def track(client: Renewable) -> None:
    """Renew ``client`` in every child forked while it lives."""
    _LIVE.add(client)


def leave(*parents: object) -> None:
    """Keep ``parents`` (a parent's pool, session, thread) unclosed and unused."""
    _LEFT_BEHIND.extend(p for p in parents if p is not None)


def _renew_all() -> None:
    for client in list(_LIVE):
        try:
            client._after_fork()
        except Exception:  # a hook must not raise; the client refuses to be used then
            logger.exception("could not renew %s after fork()", type(client).__name__)


os.register_at_fork(after_in_child=_renew_all)

"""How the ``cancelkit`` command loads its modules: quickly, for a kill switch is
typed when every millisecond to the first cancel counts.

- httpx imports its own command line (click, rich's console, progress, syntax and
  tables, pygments' lexers) whenever those are installed, and cancelkit's dependencies
  install them: about 40 % of ``import httpx`` in a cold process, for a ``httpx``
  command this one never runs. :func:`skip_httpx_cli`, before httpx loads, makes httpx
  fall back to the stub ``main`` it has for an install without them (a terminal's
  progress bar still imports rich when it needs it).
- While a command loads its modules, the cyclic garbage collector would traverse the
  growing heap of classes, functions and constants again and again: a quarter of a
  cold cancel's start-up. :func:`without_gc` loads them with it off, then moves what
  is loaded out of its sight (``gc.freeze``: modules live as long as the process
  anyway); the run itself collects as usual.
"""

from __future__ import annotations

import gc
import sys
from typing import Self


def skip_httpx_cli() -> None:
    """Refuse ``httpx._main`` (httpx's own command line) if httpx is not loaded yet."""
    if "httpx" not in sys.modules and "httpx._main" not in sys.modules:
        sys.modules["httpx._main"] = None  # type: ignore[assignment]  # None: import refused


class without_gc:  # noqa: N801 (used as a context manager, named as one)
    """The block with the cyclic garbage collector off (as it was, after); if modules
    were loaded in it, every object alive is frozen (``gc.freeze``) before collection
    resumes, so that no later collection traverses them. Only when modules were
    loaded: a process that runs the command again (tests) freezes nothing more.
    :meth:`done` ends it early (an event loop's first task, once the loop is up)."""

    def __init__(self) -> None:
        self._was = gc.isenabled()
        self._loaded = len(sys.modules)
        self._over = False

    def __enter__(self) -> Self:
        self._was = gc.isenabled()
        self._loaded = len(sys.modules)
        gc.disable()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done()

    def done(self) -> None:
        """Collection as it was before the block (once; later calls do nothing)."""
        if self._over:
            return
        self._over = True
        if len(sys.modules) > self._loaded:
            gc.freeze()
        if self._was:
            gc.enable()

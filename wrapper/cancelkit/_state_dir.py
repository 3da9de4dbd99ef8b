"""Where this user's cancelkit state lives: the run registry's records and the
guard's control socket (one place, read by the CLI and the library alike)."""

from __future__ import annotations

import os
from pathlib import Path

STATE_ENV = "CANCELKIT_STATE_DIR"


def state_dir() -> Path:
    """``$CANCELKIT_STATE_DIR``, else ``$XDG_STATE_HOME/cancelkit``, else
    ``~/.local/state/cancelkit``."""
    given = os.environ.get(STATE_ENV)
    if given:
        return Path(given)
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "state"
    return base / "cancelkit"

"""The kill switch's live progress as an operator sees it: the real command on a
pseudo-terminal (stdout and stderr both a terminal), its screen output read back."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time

import pytest
from cancelkit.sandbox import Sandbox

pytestmark = pytest.mark.faults

# CSI sequences (cursor moves, erase line, colours) and OSC ones: how rich redraws.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[=>]")


def _on_a_terminal(box: Sandbox, *args: str, timeout: float = 60.0) -> tuple[int, str]:
    """Run ``cancelkit`` with a pseudo-terminal as stdout and stderr; (exit, screen)."""
    leader, follower = pty.openpty()
    env = {**os.environ, **box.env(), "COLUMNS": "120", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "cancelkit", *args],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    chunks: list[bytes] = []
    ends = time.monotonic() + timeout
    try:
        while time.monotonic() < ends:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    data = os.read(leader, 65536)
                except OSError:  # the other side closed: the process is done
                    break
                if not data:
                    break
                chunks.append(data)
            elif process.poll() is not None:
                break
        code = process.wait(timeout=max(1.0, ends - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
        os.close(leader)
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_progress_on_a_terminal_counts_and_never_glues_outcome_lines(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    ids = [box.seed_polymarket(f"tty-{i:03}").id for i in range(60)]
    # 2 requests/s: the run lasts a few seconds, so the display redraws many times.
    code, screen = _on_a_terminal(box, "cancel", "polymarket", *ids, "--rate", "2")
    assert code == 0, screen
    assert not box.open_orders()
    fragments = [f.strip() for f in re.split(r"[\r\n]", _ESCAPES.sub("", screen)) if f.strip()]
    frames = [f for f in fragments if f.startswith("cancelling")]
    assert frames, screen  # the live display was drawn...
    assert any(re.search(r"\b\d+/60\b", f) for f in frames), frames
    # ...and every outcome line stands whole on a line of its own, never glued to a
    # frame of the display or to another outcome.
    for order_id in ids:
        lines = [f for f in fragments if order_id in f]
        assert lines, f"no outcome line for {order_id}"
        assert all(re.fullmatch(rf"\S+ +{re.escape(order_id)}( .*)?", f) for f in lines), lines
        assert not any("cancelling" in f for f in lines), lines
    assert any(f.startswith("cancelkit: 60 order(s)") for f in fragments), fragments[-5:]

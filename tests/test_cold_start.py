"""The cold command's start-up: what a `cancelkit cancel` process imports before its
first cancel, judged in a real process against the sandbox. (Its speed is measured in
benchmarks/, never asserted here.)"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from cancelkit.sandbox import Sandbox

# Never needed by a cancel from a script or a pipe: httpx's own command line (pygments,
# rich's syntax and tables; rich comes back only for a terminal's progress bar) and the
# async clients' aiohttp route (the command sends through httpx's own transport).
UNNEEDED = ("pygments", "rich", "aiohttp")
REPORT = (
    "import atexit, sys\n"
    f"UNNEEDED = {UNNEEDED!r}\n"
    "atexit.register(lambda: print('IMPORTED', [m for m in UNNEEDED if m in sys.modules],"
    " file=sys.stderr))\n"
    "from cancelkit._cli import main\n"
    "main()\n"
)


def _cancel(box: Sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", REPORT, "cancel", *args],
        env={**os.environ, **box.env()},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("venue", ["polymarket", "limitless"])
def test_a_cancel_from_a_script_imports_nothing_it_does_not_use(
    cancelkit_sandbox: Sandbox, venue: str
) -> None:
    box = cancelkit_sandbox
    if venue == "polymarket":
        order = box.seed_polymarket("cold-1", market_slug="m")
        done = _cancel(box, "polymarket", order.id)
    else:
        order = box.seed_limitless()
        done = _cancel(box, "limitless", "--order-id", order.id)
    assert done.returncode == 0, done.stderr
    assert order.status == "cancelled"
    assert "IMPORTED []" in done.stderr.splitlines()[-1], done.stderr

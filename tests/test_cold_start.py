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
    "import atexit, gc, sys\n"
    f"UNNEEDED = {UNNEEDED!r}\n"
    "atexit.register(lambda: print('IMPORTED', [m for m in UNNEEDED if m in sys.modules],"
    " file=sys.stderr))\n"
    "atexit.register(lambda: print('GC', gc.isenabled(), gc.get_freeze_count() > 0,"
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
    said = done.stderr.splitlines()
    assert "IMPORTED []" in said, done.stderr
    # Its modules were loaded without the cyclic collector and frozen out of its sight;
    # the collector runs again for the run itself (a long run must still collect).
    assert "GC True True" in said, done.stderr


def test_loading_without_gc_restores_the_collector_as_it_was() -> None:
    import gc

    from cancelkit._cli._loading import without_gc

    frozen = gc.get_freeze_count()
    was = gc.isenabled()
    try:
        gc.disable()  # a program that turned it off keeps it off
        with without_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()
        gc.enable()
        with without_gc() as loading:
            assert not gc.isenabled()
            loading.done()  # ended early (the event loop's first task)...
            assert gc.isenabled()
        assert gc.isenabled()  # ...and once only
        assert gc.get_freeze_count() == frozen  # nothing was loaded: nothing frozen
    finally:
        (gc.enable if was else gc.disable)()


def test_housekeeping_waits_for_the_first_answer_not_the_first_cancel(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The state directory's pruning (a thread) starts once the first outcome is
    written, not as the first cancel is about to leave: a thread started then takes
    the interpreter from the request on its way out."""
    from cancelkit._bulk import CancelResult
    from cancelkit._cli._cancel import _Report

    report = _Report(["argument 1"], ["o1"], False, None, {}, str)
    started: list[str] = []
    report.after_first_outcome = lambda: started.append("pruning")
    report.sent([0])  # the first cancel is about to leave
    assert started == []
    report(CancelResult("o1", "cancelled", index=0))
    report(CancelResult("o1", "cancelled", index=0))
    assert started == ["pruning"]  # once
    assert "cancelled" in capsys.readouterr().out

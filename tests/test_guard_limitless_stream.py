"""The guard learns a Limitless account's markets from its order stream (issue 33):
started as a real process on an account that names no market, it hears an order
placed in a market on the token's stream, its listings and its firing's kill then
cover that market, and the report and the status say which markets were covered and
where each came from. An order in a market it never saw stays open: coverage is only
what was named or seen, and the report says so. The markets seen are kept in the
state directory across restarts (read back only from a file no one else could
write)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cancelkit.sandbox import Sandbox
from test_everywhere import DeskFile, demo_keys
from test_guard import WAIT, Guard, _start

LEARNED = "learned-market"


@pytest.fixture
def guards() -> Iterator[list[Guard]]:
    """The guards a test starts, killed at its end whatever happened."""
    started: list[Guard] = []
    yield started
    for guard in started:
        if guard.process.poll() is None:
            guard.process.kill()
            guard.process.wait(WAIT)


def _account(status: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(a for a in status["accounts"] if a["name"] == name)
    return found


def _subscribed(box: Sandbox) -> None:
    """Until the sandbox has taken the guard's subscribe (bounded)."""
    deadline = time.monotonic() + WAIT
    while box.limitless_stream_subscribes < 1:
        assert time.monotonic() < deadline, "the guard never subscribed"
        time.sleep(0.02)


def test_a_limitless_account_without_markets_is_covered_for_the_markets_its_stream_shows(
    cancelkit_sandbox: Sandbox, tmp_path: Path, state_dir: Path, guards: list[Guard]
) -> None:
    box = cancelkit_sandbox
    _, lm = demo_keys(box)
    desk = DeskFile(box, tmp_path)
    desk.add("lm-main", lm)  # no markets named
    unseen = box.seed_limitless(market_slug="never-seen")  # placed before anyone listened
    guard = _start(guards, desk, state_dir, "--prove-every", "1")
    guard.armed()
    status = guard.wait_for(
        lambda s: str(_account(s, "lm-main")["stream"]).startswith("subscribed"), "subscribed"
    )
    assert _account(status, "lm-main")["markets_covered"] == []
    _subscribed(box)
    placed = [box.seed_limitless(market_slug=LEARNED) for _ in range(3)]
    status = guard.wait_for(
        lambda s: _account(s, "lm-main")["markets_seen"] == [LEARNED], "shown the market"
    )
    assert _account(status, "lm-main")["markets_covered"] == [
        {"market": LEARNED, "from": "order stream"}
    ]
    assert (
        f"markets: {LEARNED} (order stream) (only these are covered)" in guard.cli("status").stdout
    )
    # Its listing (a signed read every second here) covers the market too.
    guard.wait_for(lambda s: _account(s, "lm-main")["open_orders"] == 3, "listing the market")

    fired = guard.cli("trigger")
    assert fired.returncode == 0, fired.stderr + guard.output
    assert fired.stdout.splitlines()[-1] == (
        f"lm-main (limitless): 3 cancelled; left: 0; markets: {LEARNED} (order stream)"
        " (only these are covered)"
    )
    assert all(box.limitless.get(o.id).status == "cancelled" for o in placed)  # type: ignore[union-attr]
    assert box.limitless.get(unseen.id).status == "open"  # type: ignore[union-attr]
    assert f"market(s) {LEARNED} (seen on its order stream); only markets named or seen" in (
        guard.output
    )
    summary = next(
        json.loads(line)
        for line in guard.status()["last_report"].splitlines()  # type: ignore[index]
        if '"summary"' in line
    )
    assert summary["covered"] == [LEARNED]
    assert summary["covered_from"] == {LEARNED: "order stream"}
    assert guard.stop() == 0


def test_a_market_seen_beside_the_named_ones_is_added_and_said_so(
    cancelkit_sandbox: Sandbox, tmp_path: Path, state_dir: Path, guards: list[Guard]
) -> None:
    box = cancelkit_sandbox
    _, lm = demo_keys(box)
    desk = DeskFile(box, tmp_path)
    desk.add("lm-main", lm, markets='"named"')
    named = box.seed_limitless(market_slug="named")
    guard = _start(guards, desk, state_dir)
    guard.armed()
    _subscribed(box)
    box.seed_limitless(market_slug="named")  # seen, already covered: nothing new
    seen = box.seed_limitless(market_slug=LEARNED)
    guard.wait_for(
        lambda s: _account(s, "lm-main")["markets_seen"] == [LEARNED, "named"], "shown both"
    )
    fired = guard.cli("trigger")
    assert fired.returncode == 0, fired.stderr + guard.output
    assert fired.stdout.splitlines()[-1].endswith(
        f"markets: named (configured), {LEARNED} (order stream) (only these are covered)"
    )
    assert box.limitless.get(named.id).status == "cancelled"  # type: ignore[union-attr]
    assert box.limitless.get(seen.id).status == "cancelled"  # type: ignore[union-attr]
    assert guard.stop() == 0


def test_markets_seen_are_kept_across_a_restart_and_its_first_firing_covers_them(
    cancelkit_sandbox: Sandbox, tmp_path: Path, state_dir: Path, guards: list[Guard]
) -> None:
    box = cancelkit_sandbox
    _, lm = demo_keys(box)
    desk = DeskFile(box, tmp_path)
    desk.add("lm-main", lm)
    first = _start(guards, desk, state_dir)
    first.armed()
    _subscribed(box)
    seen = box.seed_limitless(market_slug=LEARNED)
    first.wait_for(lambda s: _account(s, "lm-main")["markets_seen"] == [LEARNED], "shown it")
    assert first.stop() == 0  # SIGTERM: nothing cancelled
    kept = state_dir / "guard-markets.json"
    assert kept.stat().st_mode & 0o777 == 0o600
    later = box.seed_limitless(market_slug=LEARNED)  # while no guard listens

    second = _start(guards, desk, state_dir)
    status = second.armed()
    assert _account(status, "lm-main")["markets_covered"] == [
        {"market": LEARNED, "from": "order stream"}
    ]
    fired = second.cli("trigger")
    assert fired.returncode == 0, fired.stderr + second.output
    assert box.limitless.get(seen.id).status == "cancelled"  # type: ignore[union-attr]
    assert box.limitless.get(later.id).status == "cancelled"  # type: ignore[union-attr]
    assert second.stop() == 0


def test_a_kept_markets_file_is_read_only_when_no_one_else_could_write_it(
    cancelkit_sandbox: Sandbox, tmp_path: Path, state_dir: Path, guards: list[Guard]
) -> None:
    box = cancelkit_sandbox
    _, lm = demo_keys(box)
    desk = DeskFile(box, tmp_path)
    desk.add("lm-main", lm)
    kept = state_dir / "guard-markets.json"
    kept.write_text(json.dumps({"version": 1, "accounts": {"lm-main": [LEARNED]}}))
    kept.chmod(0o666)
    guard = _start(guards, desk, state_dir)
    status = guard.armed()
    assert _account(status, "lm-main")["markets_covered"] == []
    assert "guard-markets.json not read: it is writable by" in guard.output
    assert guard.stop() == 0
    kept.chmod(0o600)  # the same file, the user's alone: read
    again = _start(guards, desk, state_dir)
    status = again.armed()
    assert _account(status, "lm-main")["markets_covered"] == [
        {"market": LEARNED, "from": "order stream"}
    ]
    assert again.stop() == 0

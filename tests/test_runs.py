"""The state directory is pruned (issue 30, item 3): every run used to leave its
journal there forever. What resume and the two-operator evidence need is kept (the
last 24 hours, and the newest 5 runs of each venue, URL and key however old); the
rest goes as each run starts and with ``cancelkit runs --prune``, never a record a
running run holds. ``cancelkit runs`` shows them. All through the real command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from cancelkit._cli._journal import Origin
from cancelkit._cli._registry import KEEP_RUNS, RECENT, utc_stamp
from cancelkit.sandbox import Sandbox
from test_operator import CANCELKIT, cli, open_ids, records
from test_run_registry import _journal, _origin

ELSEWHERE = Origin("polymarket", "http://127.0.0.1:1", "key-1")
DAY = 24 * 3600.0


def _aged(path: Path, seconds: float) -> Path:
    when = time.time() - seconds
    os.utime(path, (when, when))
    return path


def _record(state: Path, n: int, origin: Origin, age: float) -> Path:
    run = f"{n:016x}"
    return _aged(_journal(state, run, origin, [f"pm-{n}"]), age)


def _runs(box: Sandbox, *args: str) -> list[dict[str, object]]:
    result = cli(box, "runs", "--json", *args)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_runs_lists_each_run_with_its_venue_key_start_and_outcomes(
    cancelkit_sandbox: Sandbox, state_dir: Path
) -> None:
    box = cancelkit_sandbox
    ids = [box.seed_polymarket(f"runs-{i}").id for i in range(2)]
    done = cli(box, "cancel", "polymarket", *ids, "ghost-1", "--json")
    assert done.returncode == 1
    # A record whose header a hostile hand wrote: shown, escaped, never obeyed.
    _journal(state_dir, "e" * 16, Origin("polymarket", "u", "key\x1b[2J"), ["x"])
    listed = _runs(box)
    [mine] = [r for r in listed if r["key"] == box.credentials.polymarket_key_id]
    assert mine["venue"] == "polymarket"
    assert mine["base_url"] == _origin(box).base_url
    assert mine["orders"] == 3
    assert mine["counts"] == {"cancelled": 2, "not_found": 1}
    assert mine["running"] is False
    assert isinstance(mine["started"], str)
    assert mine["started"].startswith("20")
    text = cli(box, "runs")
    assert text.returncode == 0, text.stderr
    [line] = [x for x in text.stdout.splitlines() if box.credentials.polymarket_key_id in x]
    assert "polymarket" in line
    assert "2 cancelled, 1 not found" in line
    assert "key\\x1b[2J" in text.stdout
    assert "\x1b" not in text.stdout
    assert "2 record(s) in" in text.stderr


def test_a_run_prunes_what_the_retention_rule_no_longer_keeps(
    cancelkit_sandbox: Sandbox, state_dir: Path
) -> None:
    box = cancelkit_sandbox
    old = [_record(state_dir, n, ELSEWHERE, (2 + n) * DAY) for n in range(KEEP_RUNS + 2)]
    recent = [_record(state_dir, 100 + n, ELSEWHERE, RECENT - 3600) for n in range(KEEP_RUNS)]
    garbage = state_dir / "run-20261101T000000Z-00000000000000ff.jsonl"
    garbage.write_text("not a record\n")
    _aged(garbage, 3 * DAY)
    young_garbage = state_dir / "run-20261101T000000Z-00000000000000fe.jsonl"
    young_garbage.write_text("not a record\n")
    notes = state_dir / "notes.txt"  # not named as records are: not ours to remove
    notes.write_text("kept\n")
    _aged(notes, 30 * DAY)
    order = box.seed_polymarket("runs-prune").id
    result = cli(box, "cancel", "polymarket", order)
    assert result.returncode == 0, result.stderr
    assert not open_ids(box)
    # The 5 recent records of that key are its newest 5: every older one goes.
    assert not any(p.exists() for p in old)
    assert all(p.exists() for p in recent)
    assert not garbage.exists()
    assert young_garbage.exists()
    assert notes.exists()
    kept = list(state_dir.glob("run-*.jsonl"))
    assert len(kept) == len(recent) + 2  # the young garbage and this run's journal


def test_the_newest_runs_of_a_key_are_kept_however_old(
    cancelkit_sandbox: Sandbox, state_dir: Path
) -> None:
    """A resume after a quiet week still finds the key's last runs."""
    box = cancelkit_sandbox
    old = [_record(state_dir, n, ELSEWHERE, (7 + n) * DAY) for n in range(KEEP_RUNS + 1)]
    other_key = _record(state_dir, 50, Origin("polymarket", "http://127.0.0.1:1", "k2"), 9 * DAY)
    result = cli(box, "runs", "--prune")
    assert result.returncode == 0, result.stderr
    assert [p.exists() for p in old] == [True] * KEEP_RUNS + [False]
    assert other_key.exists()
    assert f"removed {old[-1]}" in result.stderr
    assert "pruned 1 record(s)" in result.stderr


def test_prune_never_removes_the_record_of_a_run_still_going(
    cancelkit_sandbox: Sandbox, state_dir: Path
) -> None:
    box = cancelkit_sandbox
    origin = _origin(box)
    for n in range(KEEP_RUNS):  # newer runs of the same key: the rank does not keep it
        _record(state_dir, 200 + n, origin, 3600)
    before = set(state_dir.iterdir())
    order = box.seed_polymarket("runs-held").id
    box.set_knobs(latency=1.0)  # the run lasts seconds after its journal appears
    with subprocess.Popen(
        [*CANCELKIT, "cancel", "polymarket", order, "--json", "--deadline", "60"],
        env={**os.environ, **box.env()},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as going:
        running: list[Path] = []
        for _ in range(600):  # its journal appears before its first request
            running = [p for p in state_dir.iterdir() if p not in before]
            if running or going.poll() is not None:
                break
            time.sleep(0.05)
        # Stopped, the run still holds its record and writes nothing to it: the record
        # stays as old as the test makes it while the prune looks.
        going.send_signal(signal.SIGSTOP)
        try:
            assert going.poll() is None, "the run ended before the prune: nothing was proven"
            [journal] = running
            _aged(journal, 30 * DAY)
            pruned = cli(box, "runs", "--prune", "--json")
            assert journal.exists(), pruned.stderr
            [shown] = [json.loads(x) for x in pruned.stdout.splitlines() if journal.name in x]
            assert shown["running"] is True
            assert isinstance(shown["modified"], str)
            assert shown["modified"] < utc_stamp(time.time() - 20 * DAY)
        finally:
            going.send_signal(signal.SIGCONT)
        out, err = going.communicate(timeout=120)
    assert going.returncode == 0, err
    assert [r["order"] for r in records(out)] == [order]
    assert not open_ids(box)
    box.set_knobs(latency=0.0)
    _aged(journal, 30 * DAY)
    pruned = cli(box, "runs", "--prune")
    assert pruned.returncode == 0, pruned.stderr
    assert not journal.exists()  # held no more: the rule applies


def test_runs_refuses_an_unsafe_state_directory(cancelkit_sandbox: Sandbox, tmp_path: Path) -> None:
    parent = tmp_path / "loose"
    (parent / "state").mkdir(parents=True, mode=0o700)
    os.chmod(parent, 0o777)
    result = cli(cancelkit_sandbox, "runs", env={"CANCELKIT_STATE_DIR": str(parent / "state")})
    assert result.returncode == 2
    assert f"is not safe: {parent} is writable by its group and others" in result.stderr

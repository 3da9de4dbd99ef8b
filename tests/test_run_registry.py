"""The run registry (issue 18, two kill switches on one key): each CLI run leaves its
record in the state directory, and a run reads other runs' records only to settle ids
its own listing shows not open. A record, stale, foreign or hostile, never makes a run
skip an order the listing shows open, and a missing state directory never stops one."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest
from cancelkit._base import redacted
from cancelkit._cli._journal import Journal, Origin, open_journal
from cancelkit._cli._registry import RECENT, Registry
from cancelkit.sandbox import Sandbox
from test_operator import cli, open_ids, records

ORIGIN = Origin("polymarket", "http://127.0.0.1:1", "key-1")
RUN = "0123456789abcdef"


def _journal(directory: Path, run: str, origin: Origin, sent: list[str], **kw: str) -> Path:
    """A record as a real run writes it: header and plan, then sent lines."""
    path = directory / kw.get("name", f"run-20261128T190000Z-{run}.jsonl")
    journal = Journal(open_journal(str(path)), run, origin)
    journal.plan([(f"line {n}", o) for n, o in enumerate(sent)], 30.0)
    journal.sent([(f"line {n}", o) for n, o in enumerate(sent)])
    journal.close()
    return path


def _origin(box: Sandbox) -> Origin:
    return Origin("polymarket", redacted(box.polymarket_url), box.credentials.polymarket_key_id)


def test_a_record_of_the_same_venue_url_and_key_names_its_run(state_dir: Path) -> None:
    _journal(state_dir, RUN, ORIGIN, ["pm-1", "pm-2"])
    found = Registry.open().sent_elsewhere(ORIGIN, "ffffffffffffffff", ["pm-1", "pm-3"])
    assert list(found) == ["pm-1"]
    assert f"cancel sent by run {RUN} at 20" in found["pm-1"]
    assert "cancelled or filled (not asked)" in found["pm-1"]


@pytest.mark.parametrize(
    "other",
    [
        Origin("limitless", ORIGIN.base_url, ORIGIN.key),
        Origin("polymarket", "http://127.0.0.1:2", ORIGIN.key),
        Origin("polymarket", ORIGIN.base_url, "key-2"),
    ],
    ids=["venue", "url", "key"],
)
def test_a_record_for_another_venue_url_or_key_is_ignored(state_dir: Path, other: Origin) -> None:
    _journal(state_dir, RUN, other, ["pm-1"])
    assert Registry.open().sent_elsewhere(ORIGIN, "ffffffffffffffff", ["pm-1"]) == {}


def test_stale_own_and_hostile_records_are_skipped_without_blocking(state_dir: Path) -> None:
    stale = _journal(state_dir, RUN, ORIGIN, ["pm-1"])
    old = time.time() - RECENT - 60
    os.utime(stale, (old, old))
    own = "1111111111111111"
    _journal(state_dir, own, ORIGIN, ["pm-2"])  # this run's own record
    os.mkfifo(state_dir / "run-20261128T190000Z-2222222222222222.jsonl")  # would block
    (state_dir / "run-20261128T190000Z-3333333333333333.jsonl").symlink_to(
        _journal(state_dir, "3333333333333333", ORIGIN, ["pm-3"], name="elsewhere.jsonl")
    )
    (state_dir / "run-20261128T190000Z-4444444444444444.jsonl").write_bytes(
        b"[" * 100_000 + b"\n" + b"\xff\xfe garbage\n"
    )
    pointer = {"cancelkit_pointer": "5555555555555555", "journal": "/dev/zero", **ORIGIN.as_dict()}
    (state_dir / "run-20261128T190000Z-5555555555555555.ref").write_text(json.dumps(pointer))
    # A pointer whose run is not the one its name says, to a real record.
    liar = {"cancelkit_pointer": "7777777777777777", **ORIGIN.as_dict()}
    liar["journal"] = str(_journal(state_dir, "7777777777777777", ORIGIN, ["pm-4"], name="x"))
    (state_dir / "run-20261128T190000Z-6666666666666666.ref").write_text(json.dumps(liar))
    # A header naming another run than its sent lines.
    forged = _journal(state_dir, "8888888888888888", ORIGIN, ["pm-5"])
    lines = forged.read_text().splitlines()
    lines[0] = lines[0].replace("8888888888888888", "9999999999999999")
    forged.write_text("\n".join(lines) + "\n")
    found = Registry.open().sent_elsewhere(ORIGIN, own, ["pm-1", "pm-2", "pm-3", "pm-4", "pm-5"])
    assert found == {}


def test_a_journal_kept_elsewhere_is_found_through_its_pointer(state_dir: Path) -> None:
    registry = Registry.open()
    elsewhere = state_dir.parent / f"{state_dir.name}-journal.jsonl"
    _journal(elsewhere.parent, RUN, ORIGIN, ["pm-1"], name=elsewhere.name)
    registry.point(RUN, time.time(), str(elsewhere), ORIGIN)
    assert list(registry.sent_elsewhere(ORIGIN, "ffffffffffffffff", ["pm-1"])) == ["pm-1"]


def test_forged_records_change_nothing_for_orders_the_listing_shows_open(
    cancelkit_sandbox: Sandbox, state_dir: Path, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    ids = [box.seed_polymarket(f"reg-{i}").id for i in range(6)]
    # Records of "another run" on this very key claim a cancel was sent for each.
    _journal(state_dir, RUN, _origin(box), ids)
    kill = tmp_path / "kill.txt"
    kill.write_text("\n".join(ids) + "\n")
    result = cli(box, "cancel", "polymarket", "--from-file", str(kill), "--json")
    assert result.returncode == 0, result.stderr
    assert {r["status"] for r in records(result.stdout)} == {"cancelled"}
    assert not open_ids(box)
    # The run's own record is in the state directory (0700), findable by the next.
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    kept = [p for p in state_dir.glob("run-*.jsonl") if RUN not in p.name]
    assert len(kept) == 1
    assert f"journal {kept[0]}" in result.stderr


def test_a_record_for_another_key_does_not_settle_a_foreign_order(
    cancelkit_sandbox: Sandbox, state_dir: Path
) -> None:
    box = cancelkit_sandbox
    box.seed_polymarket("theirs", owner="someone-else")
    mine = _origin(box)
    _journal(state_dir, RUN, Origin(mine.venue, mine.base_url, "another-key"), ["theirs"])
    result = cli(box, "cancel", "polymarket", "theirs", "--json", "--deadline", "10")
    [record] = records(result.stdout)
    assert record["status"] == "not_found", record  # looked up, not taken from the record
    assert result.returncode == 1


def test_no_usable_state_directory_is_a_warning_not_a_failure(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    box.seed_polymarket("ord-9")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = {"CANCELKIT_STATE_DIR": str(blocker / "state")}  # under a file: never creatable
    result = cli(box, "cancel", "polymarket", "ord-9", env=env)
    assert result.returncode == 0, result.stderr
    assert "cancelkit: warning: state directory" in result.stderr
    assert not open_ids(box)


def test_a_rerun_settles_what_the_first_run_cancelled_by_its_record_not_by_lookups(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    ids = [box.seed_polymarket(f"again-{i}").id for i in range(40)]
    kill = tmp_path / "kill.txt"
    kill.write_text("\n".join(ids) + "\n")
    first = cli(box, "cancel", "polymarket", "--from-file", str(kill))
    assert first.returncode == 0, first.stderr
    before = box.polymarket.stats.requests
    second = cli(box, "cancel", "polymarket", "--from-file", str(kill), "--json")
    assert second.returncode == 0, second.stderr  # no --missing-ok
    outcomes = records(second.stdout)
    assert {r["status"] for r in outcomes} == {"not_open"}
    assert all("cancel sent by run" in r["message"] for r in outcomes)
    assert box.polymarket.stats.requests - before == 1  # one listing, no lookup

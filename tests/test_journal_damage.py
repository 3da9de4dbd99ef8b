"""A journal damaged by the machine: a full disk at plan time or mid-run, a record cut
off and then appended to. The real `cancelkit` command in a subprocess, against the
sandbox, judged by the sandbox's book: no resume may exit 0 with an order open, and
no outcome may be lost because the journal could not be written.

A full disk is made deterministic with ``RLIMIT_FSIZE``: the command runs under a
launcher that lowers the limit and then becomes ``python -m cancelkit`` (``exec``),
so a write past the limit fails part way (``EFBIG``, with ``SIGXFSZ`` ignored) exactly
as a write to a full disk fails. Stdout and stderr are pipes, which the limit does
not cover. No test-only code path exists in cancelkit for this."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cancelkit._cli._journal import Journal, Origin, new_run_id, open_journal
from cancelkit.sandbox import Sandbox

pytestmark = pytest.mark.faults
CANCELKIT = [sys.executable, "-m", "cancelkit"]
# Runs cancelkit with the size of any file it writes bounded by argv[1] bytes.
_LIMITED = """
import os, resource, signal, sys
size = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of death: a full disk
os.execv(sys.executable, [sys.executable, "-m", "cancelkit", *sys.argv[2:]])
"""


def cli(box: Sandbox, *args: str, limit: int | None = None) -> subprocess.CompletedProcess[str]:
    command = CANCELKIT if limit is None else [sys.executable, "-c", _LIMITED, str(limit)]
    return subprocess.run(
        [*command, *args],
        env={**os.environ, **box.env()},
        capture_output=True,
        text=True,
        timeout=120,
    )


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")


def parsed(path: Path) -> list[dict[str, Any]]:
    """The journal's complete records (a cut-off last line is not one)."""
    out = []
    for raw in lines_of(path):
        try:
            out.append(json.loads(raw))
        except ValueError:
            continue
    return out


def open_ids(box: Sandbox) -> set[str]:
    return {o.id for o in box.open_orders()}


def _uuid(i: int) -> str:
    return f"00000000-0000-4000-8000-{i:012d}"


def test_a_plan_cut_by_a_full_disk_sends_nothing_and_its_resume_refuses_naming_the_counts(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    ids = [box.seed_polymarket(f"plan-{i:03d}").id for i in range(200)]
    journal = tmp_path / "kill.journal"
    # 10,000 bytes: the header and some 80 of the 200 planned lines (about 25 KB).
    run = cli(box, "cancel", "polymarket", "--journal", str(journal), *ids, limit=10_000)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert f"cannot write the plan to {journal}" in run.stderr
    assert "nothing was sent" in run.stderr
    assert box.requests == []
    assert open_ids(box) == set(ids)
    records = parsed(journal)
    planned = sum(1 for r in records if r.get("status") == "planned")
    assert records[0]["orders"] == 200
    assert 0 < planned < 200

    # The record says 200 orders and holds fewer: a resume refuses it, sending nothing.
    resume = cli(box, "cancel", "polymarket", "--from-file", str(journal))
    assert resume.returncode == 2, resume.stderr
    assert f"has {planned} of 200 orders" in resume.stderr
    assert "nothing was sent" in resume.stderr
    assert box.requests == []
    assert open_ids(box) == set(ids)


def test_without_journal_a_full_disk_at_plan_time_is_a_warning_and_the_run_goes_on(
    cancelkit_sandbox: Sandbox, state_dir: Path
) -> None:
    # No --journal: the state directory's journal is a help (as a state directory
    # that cannot be used is), so a full disk there does not stop a kill switch.
    box = cancelkit_sandbox
    ids = [box.seed_polymarket(f"nodisk-{i:02d}").id for i in range(30)]
    run = cli(box, "cancel", "polymarket", *ids, limit=1_000)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    warnings = [line for line in run.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1, run.stderr
    assert "cannot write the plan" in warnings[0]
    assert "keeps no journal" in warnings[0]
    assert not open_ids(box)
    assert [p.suffix for p in state_dir.iterdir()] == [".jsonl"]  # the plan's first KB


def test_a_journal_whose_header_claims_more_orders_than_its_plan_is_refused(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    # A plan cut at a line boundary (a kill -9 between two of the kernel's pieces):
    # every line is whole, and only the header's count tells that orders are missing.
    box = cancelkit_sandbox
    ids = [box.seed_polymarket(f"claim-{i}").id for i in range(5)]
    path = tmp_path / "kill.journal"
    origin = Origin("polymarket", box.polymarket_url, box.credentials.polymarket_key_id)
    writer = Journal(open_journal(str(path)), new_run_id(), origin)
    writer.plan([(f"argument {n}", i) for n, i in enumerate(ids, 1)], 60.0)
    writer.close()
    whole = lines_of(path)
    assert len(whole) == 7  # header, five planned lines, and the end of the last
    path.write_bytes(b"\n".join(whole[:4]) + b"\n")  # the header and 3 planned lines
    result = cli(box, "cancel", "polymarket", "--from-file", str(path))
    assert result.returncode == 2, result.stderr
    assert "has 3 of 5 orders" in result.stderr
    assert box.requests == []
    assert open_ids(box) == set(ids)


def test_a_full_disk_mid_run_loses_no_outcome_and_exits_non_zero(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    ids = [box.seed_limitless(_uuid(i)).id for i in range(200)]
    journal = tmp_path / "kill.journal"
    args = ["cancel", "limitless", "--json", "--rate", "0", "--journal", str(journal)]
    args += ["--concurrency", "1", *[a for i in ids for a in ("--order-id", i)]]
    # 40,000 bytes: the plan (about 26 KB), the first batch's sent lines (8 KB), and
    # then the disk is full part way through its outcomes (the whole journal: 120 KB;
    # one batch at a time, so that where it fills up does not depend on timing).
    run = cli(box, *args, limit=40_000)
    assert run.returncode == 1, run.stderr  # all cancelled, but the record is not whole
    assert "Traceback" not in run.stderr
    outcomes = [json.loads(line) for line in run.stdout.splitlines()]
    assert sorted(r["order"] for r in outcomes) == sorted(f"order:{i}" for i in ids)
    assert {r["status"] for r in outcomes} == {"cancelled"}
    assert not open_ids(box)
    assert "cancelkit: 200 order(s): 200 cancelled" in run.stderr  # the summary
    warnings = [line for line in run.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1, run.stderr
    assert str(journal) in warnings[0]
    assert "File too large" in warnings[0]
    # The journal holds the plan, then true records up to the failure (the last cut off).
    records = parsed(journal)
    assert len(records) >= len(lines_of(journal)) - 2
    assert sum(1 for r in records if r.get("status") == "planned") == 200
    assert 0 < sum(1 for r in records if r.get("status") == "cancelled") < 200
    # ...and it still resumes: every order checked again, nothing open, exit 0.
    resume = cli(box, "cancel", "limitless", "--from-file", str(journal), "--rate", "0")
    assert resume.returncode == 0, resume.stderr
    assert "200 order(s)" in resume.stderr


@pytest.mark.cancelkit_sandbox(maintenance="disabled")
def test_a_resume_appended_after_a_torn_last_line_can_be_resumed_again(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    ids = [box.seed_limitless(_uuid(i)).id for i in range(20)]
    journal = tmp_path / "kill.journal"
    # The exchange refuses every cancel (maintenance, 503): the run ends at its
    # deadline with every order still open and in its journal.
    args = ["cancel", "limitless", "--journal", str(journal), "--deadline", "2", "--rate", "0"]
    first = cli(box, *args, *[a for i in ids for a in ("--order-id", i)])
    assert first.returncode == 1, first.stderr
    # What an operating system's crash can leave: the last record cut off.
    data = journal.read_bytes()
    last = data.rstrip(b"\n").rfind(b"\n") + 1
    journal.write_bytes(data[: last + (len(data) - last) // 2])
    # A resume appended to the same journal, as the README says (still refused).
    again = cli(box, *args, "--from-file", str(journal))
    assert again.returncode == 1, again.stderr
    assert "20 order(s)" in again.stderr
    # The exchange is back: the journal, torn line and all, resumes once more.
    box.limitless.set_knobs(maintenance="normal")
    final = cli(box, "cancel", "limitless", "--from-file", str(journal), "--json", "--rate", "0")
    assert final.returncode == 0, final.stderr
    assert "cut off" in final.stderr  # the torn line is named, not silently dropped
    outcomes = {r["order"]: r["status"] for r in map(json.loads, final.stdout.splitlines())}
    assert outcomes == {f"order:{i}": "cancelled" for i in ids}
    assert not open_ids(box)


def test_stdout_on_a_full_disk_leaves_every_outcome_in_the_journal(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    # Stdout is written first (item: a full disk must not hide outcomes); when it is
    # the one that fails, the journal must still get every line.
    box = cancelkit_sandbox
    ids = [box.seed_polymarket(f"out-{i:02d}").id for i in range(30)]
    journal = tmp_path / "kill.journal"
    with open("/dev/full", "w") as full:  # every write: ENOSPC
        run = subprocess.run(
            [*CANCELKIT, "cancel", "polymarket", "--journal", str(journal), *ids],
            env={**os.environ, **box.env()},
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    warnings = [line for line in run.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1, run.stderr
    assert "stdout" in warnings[0]
    assert "cancelkit: 30 order(s)" in run.stderr
    outcomes = {
        r["order"]: r["status"]
        for r in parsed(journal)
        if r.get("status") not in (None, "planned", "sent")
    }
    assert set(outcomes) == set(ids)
    assert not open_ids(box)
    assert set(outcomes.values()) <= {"cancelled", "not_open"}

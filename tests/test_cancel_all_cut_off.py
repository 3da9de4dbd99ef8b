"""A cancel-all whose answer does not come before the run ends (a short ``--deadline``,
or one SIGTERM) is an outcome like any other: the real command, in a subprocess,
against a sandbox that answers slowly, prints it (``--json``: a record), journals
that the cancel-all was sent before it leaves and that its answer is unknown, exits
non-zero; and a resume from that journal says so instead of reading the record as
an order (or refusing it as an empty order id)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from cancelkit._bulk import GRACE
from cancelkit.sandbox import DEFAULT_MARKET, Sandbox

pytestmark = pytest.mark.faults
CANCELKIT = [sys.executable, "-m", "cancelkit"]
# Seconds the sandbox holds every request: a request leaves after the run's clock
# started, so its answer comes after SLOW on that clock, past the deadline (2 s) plus
# the half of the grace that answers in flight get (1.5 s), or the grace of a SIGTERM.
SLOW = 4.5
SLACK = 5.0  # a cold Python process, the run's own teardown: generous on purpose

ARGS = {
    "polymarket": ["polymarket", "--all"],
    "limitless": ["limitless", "--all", "--market", DEFAULT_MARKET],
    "kalshi": ["kalshi", "--all"],
}


def _records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def _seed(box: Sandbox, venue: str) -> None:
    if venue == "polymarket":
        box.seed_polymarket("cut-1")
    elif venue == "limitless":
        box.seed_limitless(market_slug=DEFAULT_MARKET)
    else:
        box.seed_kalshi()


def _start(box: Sandbox, venue: str, journal: Path, deadline: float) -> subprocess.Popen[str]:
    command = [*CANCELKIT, "cancel", *ARGS[venue], "--json", "--journal", str(journal)]
    return subprocess.Popen(
        [*command, "--deadline", f"{deadline:g}"],
        env={**os.environ, **box.env()},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _ended(process: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        return process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
        pytest.fail(f"still running after 60 s: {err[-2000:]}")


def _cancel_all_sent(journal: Path) -> bool:
    if not journal.exists():
        return False
    return any(
        r.get("cancel_all") is True and r.get("status") == "sent"
        for r in _records(journal.read_text())
    )


def _written_as_unknown(out: str, journal: Path) -> None:
    """One cancel-all record, unknown and not ok, on stdout; in the journal, the
    cancel-all's ``sent`` line first, then the same record."""
    printed = _records(out)
    assert len(printed) == 1, out
    (record,) = printed
    assert record["cancel_all"] is True
    assert record["order"] == ""
    assert (record["status"], record["ok"]) == ("unknown", False)
    assert "no answer" in record["message"]
    lines = _records(journal.read_text())
    body = [r for r in lines if "cancelkit_run" not in r]
    assert [(r["cancel_all"], r["status"]) for r in body] == [(True, "sent"), (True, "unknown")]
    assert body[1] == record


def _resume(box: Sandbox, venue: str, journal: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CANCELKIT, "cancel", venue, "--from-file", str(journal), "--dry-run"],
        env={**os.environ, **box.env()},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("venue", ["limitless", "kalshi"])  # Polymarket: the SIGTERM test
def test_a_cancel_all_cut_off_by_the_deadline_is_written_as_unknown(
    cancelkit_sandbox: Sandbox, tmp_path: Path, venue: str
) -> None:
    box = cancelkit_sandbox
    _seed(box, venue)
    box.set_knobs(latency=SLOW)
    journal = tmp_path / "kill.journal"
    deadline = 2.0
    started = time.monotonic()
    out, err = _ended(process := _start(box, venue, journal, deadline))
    assert time.monotonic() - started < deadline + GRACE + SLACK, err
    # Before: nothing on stdout (Polymarket, Limitless), no `sent` line for the
    # cancel-all in the journal, and Kalshi's record read back as an empty order id.
    assert process.returncode == 1, err
    _written_as_unknown(out, journal)
    resumed = _resume(box, venue, journal)
    assert "a cancel-all was sent and its outcome is unknown" in resumed.stderr
    assert f"cancelkit cancel {venue} --all" in resumed.stderr
    assert "empty" not in resumed.stderr  # not read as an order id


def test_a_cancel_all_cut_off_by_sigterm_is_written_as_unknown(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    _seed(box, "polymarket")
    box.set_knobs(latency=SLOW)
    journal = tmp_path / "kill.journal"
    process = _start(box, "polymarket", journal, 60.0)
    waited = time.monotonic() + 30
    while not _cancel_all_sent(journal) and time.monotonic() < waited:
        time.sleep(0.02)
    assert _cancel_all_sent(journal)  # on the wire (held by the sandbox), journaled first
    process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    out, err = _ended(process)
    assert time.monotonic() - signalled < GRACE + SLACK, err
    assert process.returncode == 130, err
    _written_as_unknown(out, journal)


def test_a_resume_after_a_kill_names_the_cancel_all_sent_without_an_outcome(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    """What a ``kill -9`` right after the cancel-all left leaves: the plan's header and
    the cancel-all's ``sent`` line (fsynced before it left), no outcome."""
    box = cancelkit_sandbox
    origin = {"venue": "polymarket", "base_url": box.polymarket_url}
    origin["key"] = box.credentials.polymarket_key_id
    header = {"cancelkit_run": "r1", **origin, "started": "2026-12-06T17:00:00Z", "orders": 0}
    sent = {"run": "r1", "input": "-", "order": "", "cancel_all": True, "status": "sent"}
    journal = tmp_path / "killed.journal"
    journal.write_text(f"{json.dumps({**header, 'deadline': 30.0})}\n{json.dumps(sent)}\n")
    journal.chmod(0o600)
    resumed = _resume(box, "polymarket", journal)
    assert "a cancel-all was sent and no outcome is recorded" in resumed.stderr, resumed.stderr
    assert "cancelkit cancel polymarket --all" in resumed.stderr
    assert "empty" not in resumed.stderr  # not read as an order id


def test_everywhere_journals_each_cancel_all_sent_then_its_unknown_and_a_resume_warns(
    cancelkit_sandbox: Sandbox, tmp_path: Path, state_dir: Path
) -> None:
    """``cancel --everywhere`` (the guard's firing is the same run, on a warm desk):
    each account's journal gets its cancel-all's ``sent`` line before the cancel-all
    leaves, then its ``unknown`` outcome when no answer came by the deadline; a resume
    from it warns and names the desk command. Before: the outcome only, no sent line
    (Kalshi named the listed orders instead of the cancel-all), and a resume of a
    journal killed after the send could not know a cancel-all had left."""
    from test_everywhere import DeskFile, demo_keys

    box = cancelkit_sandbox
    pm, lm = demo_keys(box)
    ks = box.add_account("kalshi")
    file = DeskFile(box, tmp_path)
    file.add("pm", pm)
    file.add("lm", lm, markets=f'"{DEFAULT_MARKET}"')
    file.add("ks", ks)
    box.seed_polymarket("desk-1")
    box.seed_limitless(market_slug=DEFAULT_MARKET)
    box.seed_kalshi(owner=ks.owner)
    box.set_knobs(latency=SLOW)
    started = time.monotonic()
    done = file.run("cancel", "--everywhere", "--json", "--deadline", "2")
    assert time.monotonic() - started < 2 + GRACE + SLACK, done.stderr
    assert done.returncode == 1, done.stderr
    printed = [r for r in _records(done.stdout) if not r.get("summary")]
    journals = sorted(state_dir.glob("run-*.jsonl"))
    assert len(journals) == 3
    for journal in journals:
        lines = _records(journal.read_text())
        header, body = lines[0], lines[1:]
        account = header["account"]
        assert [(r.get("cancel_all"), r["status"]) for r in body] == [
            (True, "sent"),
            (True, "unknown"),
        ], (account, body)
        assert body[0]["run"] == header["cancelkit_run"]
        assert body[1] in printed  # the same record on stdout
        resumed = _resume(box, header["venue"], journal)
        assert "a cancel-all was sent and its outcome is unknown" in resumed.stderr
        assert f"cancelkit cancel --everywhere --account {account}" in resumed.stderr
        # Killed right after the send: the sent line alone still warns.
        killed = tmp_path / f"{account}-killed.jsonl"
        killed.write_text("".join(json.dumps(r) + "\n" for r in lines[:2]))
        killed.chmod(0o600)
        resumed = _resume(box, header["venue"], killed)
        assert "a cancel-all was sent and no outcome is recorded" in resumed.stderr, account


@pytest.mark.parametrize("venue", ["polymarket", "limitless", "kalshi"])
def test_a_cancel_all_answered_is_journaled_so_and_its_resume_does_not_warn(
    cancelkit_sandbox: Sandbox, tmp_path: Path, venue: str
) -> None:
    """A cancel-all whose answer came gets a line saying so after its sent line: a
    resume from that journal gives no warning about it. Before, every resume of a
    finished cancel-all's journal warned that its run was killed."""
    box = cancelkit_sandbox
    _seed(box, venue)
    journal = tmp_path / "kill.journal"
    _, err = _ended(process := _start(box, venue, journal, 20.0))
    assert process.returncode == 0, err
    body = [r for r in _records(journal.read_text()) if r.get("cancel_all")]
    assert [(r["status"], r.get("answered")) for r in body] == [("sent", None), ("sent", True)]
    resumed = _resume(box, venue, journal)
    assert "a cancel-all" not in resumed.stderr, resumed.stderr


def test_everywhere_journals_its_answered_cancel_alls_and_their_resume_does_not_warn(
    cancelkit_sandbox: Sandbox, tmp_path: Path, state_dir: Path
) -> None:
    from test_everywhere import DeskFile, demo_keys

    box = cancelkit_sandbox
    pm, lm = demo_keys(box)
    file = DeskFile(box, tmp_path)
    file.add("pm", pm)
    file.add("lm", lm, markets=f'"{DEFAULT_MARKET}", "other-market"')  # two cancel-alls
    box.seed_polymarket("desk-1")
    box.seed_limitless(market_slug=DEFAULT_MARKET)
    done = file.run("cancel", "--everywhere", "--deadline", "20")
    assert done.returncode == 0, done.stderr
    for journal in sorted(state_dir.glob("run-*.jsonl")):
        lines = _records(journal.read_text())
        venue = lines[0]["venue"]
        marks = [r.get("answered", False) for r in lines if r.get("cancel_all")]
        assert marks == [False, True] * (2 if venue == "limitless" else 1), (venue, lines)
        assert "a cancel-all" not in _resume(box, venue, journal).stderr
        # Killed after the second market's cancel-all left: that one alone is named.
        if venue == "limitless":
            sent = [i for i, r in enumerate(lines) if r.get("cancel_all") and not r.get("answered")]
            kept = lines[: sent[-1] + 1]  # up to the second cancel-all's sent line
            killed = tmp_path / "lm-killed.jsonl"
            killed.write_text("".join(json.dumps(r) + "\n" for r in kept))
            killed.chmod(0o600)
            resumed = _resume(box, venue, killed).stderr
            assert resumed.count("a cancel-all") == 1, resumed
            assert "no outcome is recorded" in resumed

"""The journal's write-ahead order: what is on disk before a request leaves, and what
is in the file the moment it is known."""

from __future__ import annotations

import os
from pathlib import Path

import click
import pytest
from cancelkit._cli import _journal as journal_module
from cancelkit._cli._cancel import latest_records, read_lines
from cancelkit._cli._journal import Journal, Origin, open_journal


def _journal(path: Path) -> Journal:
    origin = Origin("limitless", "http://127.0.0.1:1", "tok")
    return Journal(open_journal(str(path)), "run-1", origin)


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """For each fsync, the journal's lines at that moment."""
    seen: list[list[str]] = []
    real = os.fsync

    def recording(fd: int) -> None:
        real(fd)
        seen.append(Path(f"/proc/self/fd/{fd}").read_text(encoding="utf-8").splitlines())

    monkeypatch.setattr(journal_module.os, "fsync", recording)
    return seen


def test_an_outcome_is_in_the_file_at_once(tmp_path: Path, synced: list[list[str]]) -> None:
    # In the file (the page cache), a line survives the process's death, kill -9
    # included: a reader sees it before any fsync or close.
    path = tmp_path / "j.jsonl"
    journal = _journal(path)
    journal.plan([("1", "ord-1")], 10.0)
    journal.outcome('{"order": "ord-1", "status": "cancelled"}')
    assert path.read_text(encoding="utf-8").splitlines()[-1].endswith('"cancelled"}')
    assert len(synced) == 1  # the plan's
    journal.close()


def test_every_outcome_is_on_disk_before_the_next_request_leaves(
    tmp_path: Path, synced: list[list[str]]
) -> None:
    journal = _journal(tmp_path / "j.jsonl")
    journal.plan([("1", "ord-1"), ("2", "ord-2")], 10.0)
    journal.sent([("1", "ord-1")])
    journal.outcome('{"order": "ord-1", "status": "cancelled"}')
    journal.sent([("2", "ord-2")])
    # The fsync before the second request covers the first outcome too.
    assert any('"cancelled"' in line for line in synced[-1])
    assert '"ord-2"' in synced[-1][-1]
    assert len(synced) == 3  # plan, and each sent


def test_the_last_outcomes_are_fsynced_at_the_close(
    tmp_path: Path, synced: list[list[str]]
) -> None:
    journal = _journal(tmp_path / "j.jsonl")
    journal.plan([("1", "ord-1")], 10.0)
    journal.sent([("1", "ord-1")])
    for n in range(300):
        journal.outcome(f'{{"order": "ord-{n}", "status": "cancelled"}}')
    assert len(synced) == 2  # not one per outcome
    journal.close()
    assert len(synced) == 3
    assert synced[-1][-1] == '{"order": "ord-299", "status": "cancelled"}'


def test_a_close_with_nothing_new_takes_no_fsync(tmp_path: Path, synced: list[list[str]]) -> None:
    journal = _journal(tmp_path / "j.jsonl")
    journal.plan([("1", "ord-1")], 10.0)
    journal.close()
    assert len(synced) == 1


def test_a_record_cut_off_at_the_end_is_skipped_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # What an OS crash can leave: the tail of a journal's last outcome unwritten. The
    # order falls back on its sent line (asked about again), and the resume goes on.
    path = tmp_path / "j.jsonl"
    journal = _journal(path)
    journal.plan([("1", "ord-1"), ("2", "ord-2")], 10.0)
    journal.sent([("1", "ord-1"), ("2", "ord-2")])
    journal.outcome('{"run": "run-1", "input": "1", "order": "ord-1", "status": "cancelled"}')
    journal.close()
    with path.open("ab") as sink:
        sink.write(b'{"run": "run-1", "input": "2", "order": "ord-2", "sta')
    lines = read_lines(str(path))
    latest = {line.text: line.record for line in latest_records(lines)}
    assert latest == {"ord-1": "cancelled", "ord-2": "sent"}
    assert "is a record cut off" in capsys.readouterr().err


def test_a_last_plain_id_without_a_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "ids.txt"
    path.write_bytes(b"ord-1\nord-2")
    assert [line.text for line in read_lines(str(path))] == ["ord-1", "ord-2"]


def test_a_broken_record_before_the_end_is_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_bytes(b'{"order": "ord-1", "sta\n{"order": "ord-2", "status": "sent"}\n')
    with pytest.raises(click.UsageError, match="line 1: a JSON line that is not"):
        read_lines(str(path))


def test_an_outcome_record_carries_the_requests_correlation_id() -> None:
    """The id in the error is the id in the journal and in the --verbose log lines
    (issue 31): a failed order's record leads to its request's attempts."""
    import json

    from cancelkit import CancelResult, ServerError
    from cancelkit._cli._cancel import as_json

    error = ServerError("busy", status=503, correlation_id="ab12cd34-7")
    record = json.loads(as_json("1", CancelResult("ord-1", "failed", "busy", error)))
    assert record["error"]["correlation_id"] == "ab12cd34-7"

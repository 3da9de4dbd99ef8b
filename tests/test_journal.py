"""The journal's write-ahead order: what is on disk before a request leaves, and what
is in the file the moment it is known."""

from __future__ import annotations

import os
from pathlib import Path

import click
import pytest
from cancelkit._cli import _journal as journal_module
from cancelkit._cli._cancel import latest_records, read_lines
from cancelkit._cli._journal import Journal, JournalError, Origin, open_journal


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


def test_a_header_glued_to_a_record_cut_off_starts_the_next_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A run appending to a journal whose last record was cut off writes its header
    # right after the cut: the cut record is skipped, the next run read whole.
    path = tmp_path / "j.jsonl"
    journal = _journal(path)
    journal.plan([("1", "ord-1"), ("2", "ord-2")], 10.0)
    journal.sent([("1", "ord-1"), ("2", "ord-2")])
    journal.outcome('{"run": "run-1", "input": "1", "order": "ord-1", "status": "cancelled"}')
    journal.close()
    with path.open("ab") as sink:
        sink.write(b'{"run": "run-1", "input": "2", "order": "ord-2", "sta')
    resumed = Journal(open_journal(str(path)), "run-2", Origin("limitless", "http://h", "tok"))
    resumed.plan([("x", "ord-2")], 10.0)
    resumed.outcome('{"run": "run-2", "input": "x", "order": "ord-2", "status": "failed"}')
    resumed.close()
    latest = {line.text: line.record for line in latest_records(read_lines(str(path)))}
    assert latest == {"ord-1": "cancelled", "ord-2": "failed"}
    assert "line 7 starts with a record cut off" in capsys.readouterr().err


def test_a_cut_record_followed_by_anything_but_a_header_is_damage(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_bytes(
        b'{"cancelkit_run": "r", "orders": 1}\n{"run": "r", "order": "o", "status": "planned"}\n'
        b'{"run": "r", "order": "o", "sta{"run": "r", "order": "o", "status": "sent"}\n'
    )
    with pytest.raises(click.UsageError, match="line 3: a JSON line that is not"):
        read_lines(str(path))


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (
            b'{"cancelkit_run": "r", "orders": 3}\n'
            b'{"run": "r", "order": "o", "status": "planned"}\n',
            "line 1: the plan of the run there has 1 of 3 orders",
        ),
        (b'{"cancelkit_run": "r", "ven', "line 1: a run's header cut off"),
        (b'{"cancelkit_run": "r"}\n', "line 1: a run's header without its number of orders"),
        (b'{"run": "r", "order": "o", "status": "planned"}\n', "line 1: a planned order with no"),
    ],
)
def test_a_record_whose_plan_is_incomplete_is_refused(
    tmp_path: Path, text: bytes, why: str
) -> None:
    path = tmp_path / "j.jsonl"
    path.write_bytes(b'{"order": "o0", "status": "cancelled"}\n' + text)
    with pytest.raises(click.UsageError, match=why.replace("line 1", "line 2")):
        read_lines(str(path))


def test_a_record_given_twice_is_complete_twice(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    _journal(path).plan([("1", "ord-1"), ("2", "ord-2")], 10.0)
    path.write_bytes(path.read_bytes() * 2)  # cat j j > k
    assert [line.text for line in latest_records(read_lines(str(path)))] == ["ord-1", "ord-2"]


def test_a_plan_that_cannot_be_written_raises(tmp_path: Path) -> None:
    with open("/dev/full", "ab") as full:  # every write: ENOSPC, a full disk
        journal = Journal(full, "run-1", Origin("limitless", "http://h", "tok"), name="j")
        with pytest.raises(JournalError, match="cannot write the plan to j: No space left"):
            journal.plan([("1", "ord-1")], 10.0)


def test_a_write_that_fails_mid_run_is_one_warning_and_never_raises(tmp_path: Path) -> None:
    warnings: list[str] = []
    path = tmp_path / "j.jsonl"
    journal = Journal(
        open_journal(str(path)), "r", Origin("limitless", "http://h", "t"), warn=warnings.append
    )
    journal.plan([("1", "ord-1"), ("2", "ord-2")], 10.0)
    planned = path.read_bytes()
    with open("/dev/full", "wb") as full:  # the disk fills up
        os.dup2(full.fileno(), journal.sink.fileno())
    journal.outcome('{"order": "ord-0", "status": "cancelled"}')
    journal.sent([("1", "ord-1")])
    journal.outcome('{"order": "ord-1", "status": "cancelled"}')
    journal.close()
    assert len(warnings) == 1
    assert "No space left on device" in warnings[0]
    assert journal.failed == "No space left on device"
    assert path.read_bytes() == planned


def test_an_outcome_record_carries_the_requests_correlation_id() -> None:
    """The id in the error is the id in the journal and in the --verbose log lines
    (issue 31): a failed order's record leads to its request's attempts."""
    import json

    from cancelkit import CancelResult, ServerError
    from cancelkit._cli._cancel import as_json

    error = ServerError("busy", status=503, correlation_id="ab12cd34-7")
    record = json.loads(as_json("1", CancelResult("ord-1", "failed", "busy", error)))
    assert record["error"]["correlation_id"] == "ab12cd34-7"

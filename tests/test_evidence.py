"""Evidence from records (issue 29, items 3, 8 and 11): what another run or an earlier
run wrote may settle an order only when it is trustworthy and the listing that lacks
the order covered every market; whose files are trusted; and records read after the
cancels, never in their way. Each case through the real command, against the sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from cancelkit._bulk import CancelResult
from cancelkit._cli._cancel import as_json
from cancelkit._cli._journal import Journal, Origin, open_journal
from cancelkit._cli._registry import Registry
from cancelkit.sandbox import Sandbox
from test_operator import cli, open_ids, records
from test_run_registry import RUN, _journal, _origin

# Processes, sockets and deadlines: `make stress` repeats these.
pytestmark = pytest.mark.faults

OTHER_MARKET = "another-market-2026"
NARROWED = "sandbox-market-2026"  # the sandbox's default market
NOBODY = 65534  # another user's uid (nobody)
as_root = pytest.mark.skipif(os.getuid() != 0, reason="chown to another user needs root")


def _failed_after_sent(path: Path, run: str, origin: Origin, order: str, status: str) -> None:
    """Append the outcome a real run writes when its cancel did not take."""
    result: CancelResult[str] = CancelResult(order, status, "400: invalid order")  # type: ignore[arg-type]
    line = as_json("line 0", result, run=run, **origin.as_dict())
    with path.open("a") as sink:
        sink.write(line + "\n")


# -- 29.3: --market, and records that are no evidence ---------------------------------


def test_another_runs_sent_line_does_not_settle_an_id_outside_market(
    cancelkit_sandbox: Sandbox, state_dir: Path
) -> None:
    """With --market, the listing covers one market: an id it lacks may be open in
    another, whatever another run on the key journaled."""
    box = cancelkit_sandbox
    box.seed_polymarket("ev-elsewhere", market_slug=OTHER_MARKET)
    _journal(state_dir, RUN, _origin(box), ["ev-elsewhere"])
    args = ["ev-elsewhere", "--market", NARROWED, "--json", "--deadline", "20"]
    result = cli(box, "cancel", "polymarket", *args)
    [record] = records(result.stdout)
    # Its cancel named --market's market (no listing first): looked up, open in another
    # market, which that cancel does not reach.
    assert record["status"] == "failed", record
    assert OTHER_MARKET in record["message"]
    assert result.returncode == 1, result.stderr
    assert "ev-elsewhere" in open_ids(box)


@pytest.mark.parametrize("after", ["failed", "unknown", "not_sent"])
def test_a_sent_line_followed_by_a_failure_is_no_evidence(
    cancelkit_sandbox: Sandbox, state_dir: Path, after: str
) -> None:
    """Another run sent a cancel for an order that is not this key's, and it failed:
    its ``sent`` line says nothing, so the order is looked up (not found), not
    reported not_open."""
    box = cancelkit_sandbox
    box.seed_polymarket("theirs-2", owner="someone-else")
    path = _journal(state_dir, RUN, _origin(box), ["theirs-2"])
    _failed_after_sent(path, RUN, _origin(box), "theirs-2", after)
    result = cli(box, "cancel", "polymarket", "theirs-2", "--json", "--deadline", "20")
    [record] = records(result.stdout)
    assert record["status"] == "not_found", record
    assert result.returncode == 1


def test_a_sent_line_sent_again_after_a_failure_is_evidence(state_dir: Path) -> None:
    origin = Origin("polymarket", "http://127.0.0.1:1", "key-1")
    path = _journal(state_dir, RUN, origin, ["pm-1", "pm-2"])
    _failed_after_sent(path, RUN, origin, "pm-1", "failed")
    _failed_after_sent(path, RUN, origin, "pm-2", "failed")
    with path.open("a") as sink:  # pm-2 listed open again, and sent again
        sink.write(json.dumps({"run": RUN, "input": "x", "order": "pm-2", "status": "sent"}) + "\n")
    found = Registry.open().sent_elsewhere(origin, "ffffffffffffffff", ["pm-1", "pm-2"])
    assert list(found) == ["pm-2"]


def _own_journal(path: Path, box: Sandbox, order: str) -> None:
    """A journal of this key whose last line for ``order`` is ``sent`` (the run died)."""
    journal = Journal(open_journal(str(path)), "abcdefabcdefabcd", _origin(box))
    journal.plan([("argument 1", order)], 20.0)
    journal.sent([("argument 1", order)])
    journal.close()


def test_a_resumed_sent_line_does_not_settle_an_id_outside_market(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    box.seed_polymarket("ev-resumed", market_slug=OTHER_MARKET)
    journal = tmp_path / "run.jsonl"
    _own_journal(journal, box, "ev-resumed")
    result = cli(
        box, "cancel", "polymarket", "--from-file", str(journal), "--market", NARROWED, "--json"
    )
    [record] = records(result.stdout)
    assert record["status"] == "failed", record  # looked up: open, in another market
    assert result.returncode == 1, result.stderr
    assert "ev-resumed" in open_ids(box)


def test_a_resumed_final_line_does_not_settle_an_id_outside_market(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    box.seed_polymarket("ev-final", market_slug=OTHER_MARKET)
    journal = tmp_path / "run.jsonl"
    _own_journal(journal, box, "ev-final")
    result: CancelResult[str] = CancelResult("ev-final", "cancelled", "cancelled")
    with journal.open("a") as sink:
        sink.write(as_json("argument 1", result, run="abcdefabcdefabcd", **_origin(box).as_dict()))
        sink.write("\n")
    done = cli(box, "cancel", "polymarket", "--from-file", str(journal), "--market", NARROWED)
    assert done.returncode == 1, done.stderr
    assert "FAILED" in done.stdout  # looked up: open, in another market
    assert "ev-final" in open_ids(box)


@pytest.mark.parametrize("market", [True, False], ids=["market", "every-market"])
def test_a_final_line_naming_no_origin_is_never_final(
    cancelkit_sandbox: Sandbox, tmp_path: Path, market: bool
) -> None:
    """``cancelled`` from a line without venue, URL and key: no one's word. With
    --market, the order open elsewhere is looked up and said open (failed); without, an order
    that is not this key's is looked up (not found), not reported cancelled."""
    box = cancelkit_sandbox
    order = "ev-orphan"
    if market:
        box.seed_polymarket(order, market_slug=OTHER_MARKET)
    else:
        box.seed_polymarket(order, owner="someone-else")
    forged = tmp_path / "forged.jsonl"
    forged.write_text(json.dumps({"order": order, "status": "cancelled"}) + "\n")
    args = ["--market", NARROWED] if market else []
    result = cli(box, "cancel", "polymarket", "--from-file", str(forged), "--json", *args)
    [record] = records(result.stdout)
    assert record["status"] == ("failed" if market else "not_found"), record
    assert result.returncode == 1, result.stderr
    assert order in {o.id for o in box.open_orders()}


# -- 29.8: other users' files ---------------------------------------------------------


def _nothing_sent(box: Sandbox, result: subprocess.CompletedProcess[str], order: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "nothing was sent" in result.stderr
    assert order in open_ids(box)
    assert not [r for r in box.requests if r.venue == "polymarket"]


@as_root
def test_a_journal_another_user_owns_is_refused(cancelkit_sandbox: Sandbox, tmp_path: Path) -> None:
    box = cancelkit_sandbox
    box.seed_polymarket("ev-j1")
    journal = tmp_path / "theirs.jsonl"
    journal.write_text("")
    os.chmod(journal, 0o600)
    os.chown(journal, NOBODY, NOBODY)
    box.clear_requests()
    result = cli(box, "cancel", "polymarket", "ev-j1", "--journal", str(journal))
    _nothing_sent(box, result, "ev-j1")
    assert f"--journal {journal} is owned by another user (uid {NOBODY})" in result.stderr


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o666])
def test_a_journal_others_may_write_is_refused(
    cancelkit_sandbox: Sandbox, tmp_path: Path, mode: int
) -> None:
    box = cancelkit_sandbox
    box.seed_polymarket("ev-j2")
    journal = tmp_path / "loose.jsonl"
    journal.write_text("")
    os.chmod(journal, mode)
    box.clear_requests()
    result = cli(box, "cancel", "polymarket", "ev-j2", "--journal", str(journal))
    _nothing_sent(box, result, "ev-j2")
    assert f"--journal {journal} is writable by" in result.stderr
    assert f"(mode {mode:04o})" in result.stderr


def test_a_journal_in_a_directory_others_may_write_is_refused(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    box.seed_polymarket("ev-j3")
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)  # no sticky bit: anyone may swap the file
    box.clear_requests()
    result = cli(box, "cancel", "polymarket", "ev-j3", "--journal", str(shared / "j.jsonl"))
    _nothing_sent(box, result, "ev-j3")
    assert f"{shared} is writable by its group and others (mode 0777)" in result.stderr
    assert not (shared / "j.jsonl").exists()


def test_a_journal_in_a_sticky_shared_directory_is_accepted(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    box.seed_polymarket("ev-j4")
    shared = tmp_path / "tmp-like"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    result = cli(box, "cancel", "polymarket", "ev-j4", "--journal", str(shared / "j.jsonl"))
    assert result.returncode == 0, result.stderr
    assert not open_ids(box)


@as_root
def test_records_in_a_file_another_user_owns_are_refused(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    """The resume of a journal another user could trim: refused, not run on what is left."""
    box = cancelkit_sandbox
    box.seed_polymarket("ev-r1")
    journal = tmp_path / "trimmed.jsonl"
    _own_journal(journal, box, "ev-r1")
    os.chown(journal, NOBODY, NOBODY)
    box.clear_requests()
    result = cli(box, "cancel", "polymarket", "--from-file", str(journal))
    _nothing_sent(box, result, "ev-r1")
    assert f"{journal} is owned by another user (uid {NOBODY})" in result.stderr


def _forged_state(box: Sandbox, state: Path) -> dict[str, str]:
    """A state directory below ``state``'s parent chain, holding another run's
    record that claims a cancel for an order that is not this key's."""
    state.mkdir(parents=True, mode=0o700, exist_ok=True)
    _journal(state, RUN, _origin(box), ["theirs-3"])
    return {"CANCELKIT_STATE_DIR": str(state)}


@pytest.mark.parametrize("problem", ["owner", "group", "others"])
def test_a_state_directory_below_an_unsafe_parent_is_not_used(
    cancelkit_sandbox: Sandbox, tmp_path: Path, problem: str
) -> None:
    """Only the last path component was checked: a user who owns or may write a parent
    can swap the directory and supply records. Now every component is, and such a
    directory is refused (named, with what is wrong, before any request): its records
    settle nothing and the run keeps none there."""
    if problem == "owner" and os.getuid() != 0:
        pytest.skip("chown to another user needs root")
    box = cancelkit_sandbox
    box.seed_polymarket("theirs-3", owner="someone-else")
    parent = tmp_path / "parent"
    env = _forged_state(box, parent / "state")
    if problem == "owner":
        os.chown(parent, NOBODY, NOBODY)
    else:
        os.chmod(parent, 0o770 if problem == "group" else 0o757)
    result = cli(box, "cancel", "polymarket", "theirs-3", "--json", "--deadline", "20", env=env)
    [record] = records(result.stdout)
    assert record["status"] == "not_found", record  # not settled by the forged record
    assert result.returncode == 1
    why = f"uid {NOBODY}" if problem == "owner" else "writable by"
    assert f"state directory {parent / 'state'} is not safe: {parent} " in result.stderr
    assert why in result.stderr
    banner = result.stderr.index("state directory")
    assert banner < result.stderr.index("1 order(s): 1 not found")  # before the outcomes
    assert len(list((parent / "state").iterdir())) == 1  # only the forged record


def test_a_state_directory_below_a_sticky_parent_is_used(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    """The control: /tmp-like parents (sticky) are fine, and the record is evidence."""
    box = cancelkit_sandbox
    box.seed_polymarket("theirs-3", owner="someone-else")
    parent = tmp_path / "sticky"
    env = _forged_state(box, parent / "state")
    os.chmod(parent, 0o1777)
    result = cli(box, "cancel", "polymarket", "theirs-3", "--json", "--deadline", "20", env=env)
    [record] = records(result.stdout)
    assert record["status"] == "not_open", record
    assert "cancel sent by run" in record["message"]


# -- 29.11: records read after the cancels, never in their way ------------------------

# The command, with the state directory's records hung as on a dead file server: the
# first record opened blocks on a FIFO no one writes to (the test never opens it).
_HUNG = textwrap.dedent(
    """
    import os, sys, threading
    from cancelkit._cli import _registry
    from cancelkit._cli import main

    original = _registry._open_record

    def hung(path):
        with open(os.environ["HUNG_MARK"], "a") as mark:
            mark.write(threading.current_thread().name + "\\n")
        os.open(os.environ["HUNG_FIFO"], os.O_RDONLY)  # blocks: no writer, ever
        return original(path)

    _registry._open_record = hung
    main(sys.argv[1:], prog_name="cancelkit")
    """
)


def test_a_hung_state_directory_neither_delays_the_cancel_nor_holds_the_run(
    cancelkit_sandbox: Sandbox, state_dir: Path, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    mine = box.seed_polymarket("ev-mine").id
    box.seed_polymarket("theirs-4", owner="someone-else")
    _journal(state_dir, RUN, _origin(box), ["unrelated"])  # a record to read
    fifo, mark = tmp_path / "hang", tmp_path / "mark"
    os.mkfifo(fifo)
    box.clear_requests()
    env = {**os.environ, **box.env(), "HUNG_FIFO": str(fifo), "HUNG_MARK": str(mark)}
    deadline = 30
    started = time.monotonic()
    args = ["cancel", "polymarket", mine, "theirs-4", "--json", "--deadline", str(deadline)]
    result = subprocess.run(
        [sys.executable, "-c", _HUNG, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=deadline + 60,  # the old code never ended: a worker thread stuck for good
    )
    took = time.monotonic() - started
    assert "cancelkit-records" in mark.read_text().split()  # the read was tried, and hung
    outcome = {r["order"]: r["status"] for r in records(result.stdout)}
    assert outcome == {mine: "cancelled", "theirs-4": "not_found"}, result.stderr
    assert result.returncode == 1
    # Everything happened while the read hung: cancel, confirmation, the lookup.
    seen = [(r.method, r.path.split("?")[0]) for r in box.requests if r.venue == "polymarket"]
    assert seen[:2] == [("GET", "/v1/orders/open"), ("POST", "/v1/orders/batched/cancel")]
    assert ("GET", "/v1/order/theirs-4") in seen
    assert took < deadline  # the run did not wait for its records until the deadline


def test_records_are_read_only_after_the_cancels_are_sent(
    cancelkit_sandbox: Sandbox, state_dir: Path, tmp_path: Path
) -> None:
    """The order of events, as the sandbox and the reader see them: the cancel is on
    the wire before another run's record is opened for its evidence."""
    box = cancelkit_sandbox
    mine = box.seed_polymarket("ev-first").id
    box.seed_polymarket("theirs-5", owner="someone-else")
    _journal(state_dir, RUN, _origin(box), ["theirs-5"])
    mark = tmp_path / "mark"
    code = textwrap.dedent(
        """
        import os, sys, threading, time
        from cancelkit._cli import _registry
        from cancelkit._cli import main

        original = _registry._open_record

        def timed(path):
            with open(os.environ["READ_MARK"], "a") as mark:
                mark.write(f"{threading.current_thread().name} {time.monotonic()}\\n")
            return original(path)

        _registry._open_record = timed
        main(sys.argv[1:], prog_name="cancelkit")
        """
    )
    box.clear_requests()
    result = subprocess.run(
        [sys.executable, "-c", code, "cancel", "polymarket", mine, "theirs-5", "--json"],
        env={**os.environ, **box.env(), "READ_MARK": str(mark)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    reads = [line.split() for line in mark.read_text().splitlines()]
    first_read = min(float(t) for name, t in reads if name == "cancelkit-records")
    [cancel] = [r for r in box.requests if r.path.startswith("/v1/orders/batched/cancel")]
    assert cancel.arrived < first_read
    outcome = {r["order"]: r["status"] for r in records(result.stdout)}
    assert outcome == {mine: "cancelled", "theirs-5": "not_open"}

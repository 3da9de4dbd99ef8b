"""The kill switch as an operator uses it on a bad day: the real `cancelkit` command in
a subprocess, against the sandbox, judged by the sandbox's book. A run may exit 0
only if every order it was given is no longer open."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cancelkit.sandbox import Sandbox

pytestmark = pytest.mark.faults
CANCELKIT = [sys.executable, "-m", "cancelkit"]


def cli(
    box: Sandbox, *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CANCELKIT, *args],
        env={**os.environ, **box.env(), **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def records(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def open_ids(box: Sandbox) -> set[str]:
    return {o.id for o in box.open_orders()}


def honest(box: Sandbox, result: subprocess.CompletedProcess[str], given: set[str]) -> None:
    """Exit 0 only if none of the orders given is still open."""
    if result.returncode == 0:
        assert not (given & open_ids(box)), result.stderr


@pytest.mark.parametrize("suffix", ["/api", "/?env=prod"])
def test_a_base_url_with_a_prefix_or_query_never_says_gone(
    cancelkit_sandbox: Sandbox, suffix: str
) -> None:
    box = cancelkit_sandbox
    ids = {box.seed_polymarket(f"ord-{i}").id for i in range(5)}
    for venue, url in (("polymarket", box.polymarket_url), ("limitless", box.limitless_url)):
        args = ["cancel", venue, "--base-url", url + suffix]
        if venue == "polymarket":
            args += sorted(ids)
        else:
            args += ["--order-id", box.seed_limitless().id]
        result = cli(box, *args, "--missing-ok")
        assert result.returncode in (1, 2), result.stderr
        honest(box, result, ids)
        assert "gone" not in result.stdout
    assert ids <= open_ids(box)


@pytest.fixture
def everything_404() -> Iterator[str]:
    class NotFound(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            body = b"<html><body>404 Not Found</body></html>"
            self.send_response(404)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_a_server_answering_404_to_everything_stops_the_run(
    cancelkit_sandbox: Sandbox, everything_404: str
) -> None:
    box = cancelkit_sandbox
    ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(20)]
    args = [a for i in ids for a in ("--order-id", i)]
    result = cli(box, "cancel", "limitless", "--base-url", everything_404, "--json", *args)
    assert result.returncode == 1
    outcome = records(result.stdout)
    # The first answer stops the run: its one batch of 20 fails whole.
    assert [r["status"] for r in outcome] == ["failed"] * 20
    assert "WrongEndpoint" in result.stderr
    result = cli(box, "cancel", "polymarket", "--base-url", everything_404, "a", "b")
    assert result.returncode == 1
    assert "NOT SENT" in result.stdout


def test_files_as_operators_have_them(cancelkit_sandbox: Sandbox, tmp_path: Path) -> None:
    box = cancelkit_sandbox
    ids = {box.seed_polymarket(f"ord-{i:04d}").id for i in range(6)}
    kill = tmp_path / "kill.txt"
    kill.write_bytes(
        "\ufeffgone-first-line-is-ord-0000\r\n".replace("gone-first-line-is-", "").encode()
        + b"# whole-line comment\r\n\r\n"
        + "".join(f"ord-{i:04d}  # strategy A\r\n" for i in range(1, 5)).encode()
        + b"ord-0005\t# tab before the comment\n"
    )
    result = cli(box, "cancel", "polymarket", "--from-file", str(kill))
    assert result.returncode == 0, result.stderr
    assert not (ids & open_ids(box))
    assert "6 order(s): 6 cancelled" in result.stderr


def test_a_line_that_is_not_one_id_is_invalid_input(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    box.seed_polymarket("ord-1")
    kill = tmp_path / "kill.txt"
    kill.write_text("ord-1\nord-2 ord-3\nord\u00004\n")
    result = cli(box, "cancel", "polymarket", "--from-file", str(kill))
    assert result.returncode == 2
    assert f"{kill} line 2:" in result.stderr
    assert f"{kill} line 3:" in result.stderr
    assert box.polymarket.stats.requests == 0


def test_a_csv_header_or_another_accounts_orders_are_not_gone(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    theirs = {box.seed_polymarket(f"t-{i}", owner="someone-else").id for i in range(5)}
    kill = tmp_path / "export.csv"
    kill.write_text("order_id\n" + "\n".join(sorted(theirs)) + "\n")
    result = cli(box, "cancel", "polymarket", "--from-file", str(kill))
    assert result.returncode == 1
    assert "6 order(s): 6 not found" in result.stderr
    assert theirs <= open_ids(box)


def test_a_sub_account_order_without_on_behalf_of_fails(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    order = box.seed_limitless(owner=box.credentials.limitless_sub_account)
    result = cli(box, "cancel", "limitless", "--order-id", order.id)
    assert result.returncode == 1  # not found for this token (ORDER_NOT_FOUND, then the lookup)
    assert "NOT FOUND" in result.stdout
    assert order.on_book()


def test_rerunning_a_finished_limitless_list_exits_0(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    args = [a for _ in range(5) for a in ("--order-id", box.seed_limitless().id)]
    assert cli(box, "cancel", "limitless", *args).returncode == 0
    again = cli(box, "cancel", "limitless", *args)
    assert again.returncode == 0, again.stderr
    assert "5 not open" in again.stderr


@pytest.mark.cancelkit_sandbox(rate_limit=20)
def test_rate_limits_with_no_client_cap_still_end_with_everything_cancelled(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    lm = [box.seed_limitless(str(_uuid(i))).id for i in range(100)]
    result = cli(box, "cancel", "limitless", *[a for i in lm for a in ("--order-id", i)])
    assert result.returncode == 0, result.stderr
    assert box.limitless.stats.rate_limited == 0  # the default rate stays under 20/s
    pm = [box.seed_polymarket(f"p-{i}").id for i in range(300)]
    result = cli(box, "cancel", "polymarket", "--rate", "0", *pm)
    assert result.returncode == 0, result.stderr
    assert box.open_orders() == []


def _uuid(i: int) -> str:
    return f"00000000-0000-4000-8000-{i:012d}"


def test_wrong_credentials_fail_fast_naming_the_key(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    lm = [box.seed_limitless(_uuid(i)).id for i in range(300)]
    bad = {"LIMITLESS_TOKEN_SECRET": "d3JvbmctYnV0LWxvbmctZW5vdWdoLXNlY3JldA=="}
    started = time.monotonic()
    result = cli(box, "cancel", "limitless", *[a for i in lm for a in ("--order-id", i)], env=bad)
    assert time.monotonic() - started < 10
    assert result.returncode == 1
    assert box.limitless.stats.requests == 1  # one batch at a time: the first 401 stops
    assert f"key {box.credentials.limitless_token_id}" in result.stderr
    assert "stopped early: AuthenticationError" in result.stderr
    assert bad["LIMITLESS_TOKEN_SECRET"] not in result.stderr + result.stdout
    assert result.stdout.count("FAILED") == 50  # the refused batch


def test_the_start_banner_says_where_and_as_whom(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    box.seed_polymarket("a")
    result = cli(box, "cancel", "polymarket", "a", "--dry-run")
    assert result.returncode == 0
    banner = result.stderr.splitlines()[0]
    for fact in (
        "polymarket",
        box.polymarket_url,
        box.credentials.polymarket_key_id,
        "1 order(s)",
        "rate 20/s",
        "deadline 60 s",
    ):
        assert fact in banner
    assert box.polymarket.stats.requests == 0  # a dry run sends nothing
    assert "would cancel a" in result.stdout


def _start(box: Sandbox, args: list[str], stdout: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CANCELKIT, *args],
        env={**os.environ, **box.env()},
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_records(path: Path, count: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"fewer than {count} records in {path}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
@pytest.mark.cancelkit_sandbox(latency=0.25)
def test_an_interrupt_writes_every_orders_true_outcome_and_exits_130(
    cancelkit_sandbox: Sandbox, tmp_path: Path, sig: signal.Signals
) -> None:
    box = cancelkit_sandbox
    ids = [box.seed_limitless(_uuid(i)).id for i in range(200)]  # four batches
    out = tmp_path / "out.jsonl"
    args = [
        "cancel",
        "limitless",
        "--json",
        "--rate",
        "0",
        *[a for i in ids for a in ("--order-id", i)],
    ]
    with out.open("w") as sink:
        process = _start(box, args, sink)
        _wait_for_records(out, 10)
        process.send_signal(sig)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    outcome = records(out.read_text())
    assert sorted(r["order"] for r in outcome) == sorted(f"order:{i}" for i in ids)
    still_open = open_ids(box)
    by_status: dict[str, set[str]] = {}
    for record in outcome:
        by_status.setdefault(record["status"], set()).add(record["order"].partition(":")[2])
    assert by_status.get("not_sent"), by_status.keys()
    assert by_status["not_sent"] <= still_open
    assert not (by_status["cancelled"] & still_open)
    assert "200 order(s)" in err


def _outcomes(path: Path) -> list[dict[str, Any]]:
    """The outcome records of a journal (not its header, plan or sent lines)."""
    return [
        r for r in records(path.read_text()) if r.get("status") not in (None, "planned", "sent")
    ]


def _wait_until(check: Any, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.cancelkit_sandbox(latency=0.25)
def test_the_journal_survives_kill_9_and_its_resume_leaves_nothing_open(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    ids = [box.seed_limitless(_uuid(i)).id for i in range(40)]
    journal = tmp_path / "journal.jsonl"
    args = ["cancel", "limitless", "--journal", str(journal), "--rate", "0"]
    args += [a for i in ids for a in ("--order-id", i)]
    process = _start(box, args, subprocess.DEVNULL)
    _wait_until(lambda: box.limitless.stats.cancels >= 8, "8 cancels")
    process.kill()
    process.wait(timeout=10)
    lines = records(journal.read_text())
    assert lines[0]["venue"] == "limitless"  # the header binds the record
    assert lines[0]["key"] == box.credentials.limitless_token_id
    planned = {r["order"] for r in lines if r.get("status") == "planned"}
    assert planned == {f"order:{i}" for i in ids}  # the plan: every order, before sending
    still_open = open_ids(box)
    for record in _outcomes(journal):  # every outcome written is true
        order_id = record["order"].partition(":")[2]
        assert (record["status"] == "cancelled") == (order_id not in still_open)
    # ...and the journal alone resumes the run: nothing is left open.
    result = cli(box, "cancel", "limitless", "--from-file", str(journal), "--rate", "0")
    assert result.returncode == 0, result.stderr
    assert not open_ids(box)
    assert "40 order(s)" in result.stderr


@pytest.mark.cancelkit_sandbox(latency=0.2)
def test_a_polymarket_run_killed_mid_way_resumes_from_its_journal_alone(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    ids = [box.seed_polymarket(f"k9-{i:03d}").id for i in range(120)]
    journal = tmp_path / "journal.jsonl"
    args = ["cancel", "polymarket", "--journal", str(journal), "--concurrency", "1", *ids]
    process = _start(box, args, subprocess.DEVNULL)
    _wait_until(lambda: box.polymarket.stats.cancels >= 40, "two batches")
    process.kill()
    process.wait(timeout=10)
    assert open_ids(box), "the run finished before the kill: nothing tested"
    sent = {r["order"] for r in records(journal.read_text()) if r.get("status") == "sent"}
    assert len(sent) >= 40  # each batch was journaled before it left
    result = cli(box, "cancel", "polymarket", "--from-file", str(journal))
    assert result.returncode == 0, result.stderr
    assert not open_ids(box)
    assert "120 order(s)" in result.stderr


@pytest.mark.cancelkit_sandbox(rate_limit=20, endpoint_limits=True)
def test_a_stale_file_cancels_what_is_open_before_looking_anything_up(
    cancelkit_sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = cancelkit_sandbox
    gone = [box.seed_polymarket(f"old-{i:03d}", status="cancelled").id for i in range(50)]
    live = [box.seed_polymarket(f"new-{i:03d}").id for i in range(40)]
    # Each cancel notes how many requests the sandbox had seen when it took effect.
    seen: list[int] = []
    cancel = box.polymarket.cancel

    def noting(order: Any) -> bool:
        seen.append(box.polymarket.stats.requests)
        return cancel(order)

    monkeypatch.setattr(box.polymarket, "cancel", noting)
    kill = tmp_path / "stale.txt"
    kill.write_text("\n".join(gone[:25] + live + gone[25:]) + "\n")
    result = cli(box, "cancel", "polymarket", "--from-file", str(kill), "--json")
    assert not (set(live) & open_ids(box))
    # One listing, then the two batches: not one lookup before the open ones went.
    assert len(seen) == 40
    assert max(seen) <= 3, seen
    outcome = {r["order"]: r for r in records(result.stdout)}
    assert all(outcome[i]["status"] == "not_open" for i in gone)
    assert all(outcome[i]["status"] in ("cancelled", "not_open") for i in live)
    assert all(outcome[i]["attempts"] >= 1 for i in live)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("venue", ["polymarket", "limitless", "kalshi"])
def test_a_run_ends_at_its_deadline_and_says_what_it_saw(
    cancelkit_sandbox: Sandbox, venue: str
) -> None:
    box = cancelkit_sandbox
    if venue == "polymarket":
        ids = [box.seed_polymarket(f"d-{i:03d}").id for i in range(400)]  # 20 batches
        args = ["cancel", "polymarket", "--rate", "1", "--deadline", "2", "--json", *ids]
        name = dict(zip(ids, ids, strict=True))
    elif venue == "kalshi":
        # Its Basic tier paces it, not --rate: 1,000 orders are 2,000 Write tokens,
        # 100 at once and the rest at 100/s, 19 s.
        ids = [box.seed_kalshi(_uuid(i)).id for i in range(1000)]
        args = ["cancel", "kalshi", "--deadline", "2", "--json", *ids]
        name = dict(zip(ids, ids, strict=True))
    else:
        # Batches of 50: 300 orders are 6 requests, 6 s at 1/s.
        ids = [box.seed_limitless(_uuid(i)).id for i in range(300)]
        args = ["cancel", "limitless", "--rate", "1", "--deadline", "2", "--json"]
        args += [a for i in ids for a in ("--order-id", i)]
        name = {f"order:{i}": i for i in ids}
    started = time.monotonic()
    result = cli(box, *args)
    elapsed = time.monotonic() - started
    # At this rate the orders need 20 s: the run ends at its deadline plus the grace
    # (3 s) and one listing, start-up included, far from what sending all would take.
    assert elapsed < 2 + 3 + 6, elapsed
    assert "more than the deadline" in result.stderr  # said at the start
    assert result.returncode == 1
    still_open = open_ids(box)
    outcome = records(result.stdout)
    assert len(outcome) == len(ids)
    for record in outcome:
        order_id = name[record["order"]]
        if record["status"] == "not_sent":
            assert order_id in still_open
        if record["status"] in ("cancelled", "not_open"):
            assert order_id not in still_open
        assert "still listed (listed)" not in (record["message"] or "")
    assert sum(r["status"] == "not_sent" for r in outcome) >= len(ids) // 2


@pytest.mark.cancelkit_sandbox(cancel_delay=0.3, fill_pending=1.0)
def test_an_order_that_fills_while_its_cancel_is_pending_is_filled(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    ids = [box.seed_polymarket(f"f-{i}").id for i in range(3)]
    result = cli(box, "cancel", "polymarket", "--json", *ids)
    outcome = records(result.stdout)
    assert [r["status"] for r in outcome] == ["filled"] * 3, result.stdout
    assert "ORDER_STATE_FILLED" in outcome[0]["message"]
    assert "3 filled" in result.stderr
    assert result.returncode == 0  # not open: the kill switch's job is done
    assert all(box.polymarket.get(i).status == "filled" for i in ids)  # type: ignore[union-attr]


def test_the_sandbox_fills_an_order_on_request(cancelkit_sandbox: Sandbox) -> None:
    import httpx

    box = cancelkit_sandbox
    box.seed_polymarket("to-fill")
    answer = httpx.post(f"{box.polymarket_url}/_sandbox/orders/to-fill/fill")
    assert answer.status_code == 200, answer.text
    assert httpx.post(f"{box.polymarket_url}/_sandbox/orders/nope/fill").status_code == 404
    result = cli(box, "cancel", "polymarket", "--json", "to-fill")
    (record,) = records(result.stdout)
    assert record["status"] == "not_open"
    assert "ORDER_STATE_FILLED" in record["message"]


@pytest.mark.cancelkit_sandbox(latency=0.2)
def test_an_interrupt_confirms_what_was_sent_with_one_listing(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    ids = [box.seed_polymarket(f"i-{i:03d}").id for i in range(200)]
    out = tmp_path / "out.jsonl"
    with out.open("w") as sink:
        process = _start(box, ["cancel", "polymarket", "--json", "--concurrency", "1", *ids], sink)
        _wait_until(lambda: box.polymarket.stats.cancels >= 60, "three batches")
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    outcome = records(out.read_text())
    assert len(outcome) == 200
    counted = Counter(r["status"] for r in outcome)
    # Every answered batch is confirmed by the one listing; at most the batch in
    # flight when the grace ran out could stay unknown.
    assert counted["unknown"] <= 20, counted
    assert counted["cancelled"] + counted["not_open"] >= 60, counted
    still_open = open_ids(box)
    for record in outcome:
        if record["status"] == "not_sent":
            assert record["order"] in still_open
        if record["status"] in ("cancelled", "not_open"):
            assert record["order"] not in still_open


@pytest.mark.parametrize("path", ["batched", "on-behalf-of"])
def test_one_foreign_limitless_order_does_not_stop_the_run(
    cancelkit_sandbox: Sandbox, path: str
) -> None:
    box = cancelkit_sandbox
    c = box.credentials
    # Batched: batch-cancel answers a foreign order ORDER_NOT_FOUND and the lookup does
    # not find it. One by one (--on-behalf-of): POST /orders/cancel answers it 401 "Not
    # the order owner", about that order only once the key was accepted.
    mine = c.limitless_sub_account if path == "on-behalf-of" else None
    ours = [box.seed_limitless(_uuid(i), **({"owner": mine} if mine else {})).id for i in range(20)]
    theirs = box.seed_limitless(_uuid(99), owner=c.limitless_other_profile_id).id
    order = [*ours[:5], theirs, *ours[5:]]
    args = ["cancel", "limitless", "--json", "--concurrency", "2"]
    args += ["--on-behalf-of", str(mine)] if mine else []
    result = cli(box, *args, *[a for i in order for a in ("--order-id", i)])
    outcome = {r["order"].partition(":")[2]: r for r in records(result.stdout)}
    if mine:
        assert outcome[theirs]["status"] == "failed"
        assert "Not the order owner" in outcome[theirs]["message"]
    else:
        assert outcome[theirs]["status"] == "not_found"
        assert "ORDER_NOT_FOUND" in outcome[theirs]["message"]
    assert all(outcome[i]["status"] == "cancelled" for i in ours)
    assert result.returncode == 1
    assert open_ids(box) == {theirs}


def test_market_scope_holds_with_ids_and_with_all(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    here = [box.seed_polymarket(f"h-{i}", market_slug="mkt-1").id for i in range(3)]
    there = [box.seed_polymarket(f"t-{i}", market_slug="mkt-2").id for i in range(3)]
    result = cli(box, "cancel", "polymarket", "--market", "mkt-1", "--json", *here, *there)
    outcome = {r["order"]: r for r in records(result.stdout)}
    # Their cancels named mkt-1 (sent at once: --market gives the market): not reached.
    assert all(outcome[i]["status"] == "failed" for i in there)
    assert "in market mkt-2, not --market mkt-1" in outcome[there[0]]["message"]
    assert set(there) <= open_ids(box)
    assert not (set(here) & open_ids(box))
    assert result.returncode == 1
    dry = cli(box, "cancel", "polymarket", "--all", "--market", "mkt-2", "--dry-run")
    assert "every open order in market(s) mkt-2" in dry.stderr
    assert '{"slugs": ["mkt-2"]}' in dry.stderr
    typo = cli(box, "cancel", "polymarket", "--all", "--market", "mtk-2")
    assert "market mtk-2 has no open orders" in typo.stderr
    assert set(there) <= open_ids(box)


def _journal_from(box: Sandbox, tmp_path: Path, ids: list[str]) -> Path:
    journal = tmp_path / "rehearsal.jsonl"
    result = cli(box, "cancel", "polymarket", "--journal", str(journal), *ids)
    assert result.returncode == 0, result.stderr
    return journal


def test_a_record_speaks_only_for_its_venue_url_and_key(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    rehearsal = cancelkit_sandbox
    ids = [rehearsal.seed_polymarket(f"r-{i:02d}").id for i in range(10)]
    journal = _journal_from(rehearsal, tmp_path, ids)
    with Sandbox() as fresh:
        for i in ids:
            fresh.seed_polymarket(i)
        refused = cli(fresh, "cancel", "polymarket", "--from-file", str(journal))
        assert refused.returncode == 2
        assert "base_url" in refused.stderr
        assert fresh.polymarket.stats.requests == 0
        wrong_venue = cli(fresh, "cancel", "limitless", "--from-file", str(journal))
        assert wrong_venue.returncode == 2
        assert set(ids) <= open_ids(fresh)
        # Told to use it anyway, final records are checked against the listing.
        forced = cli(fresh, "cancel", "polymarket", "--from-file", str(journal), "--foreign-record")
        assert forced.returncode == 0, forced.stderr
        assert not open_ids(fresh)


def test_a_hand_written_final_record_does_not_skip_an_open_order(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    box.seed_polymarket("pm-1")
    record = tmp_path / "record.jsonl"
    record.write_text('{"order": "pm-1", "status": "cancelled"}\n')
    result = cli(box, "cancel", "polymarket", "--from-file", str(record))
    assert result.returncode == 0, result.stderr
    assert not open_ids(box)


def test_an_accumulated_journal_counts_each_order_once(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    ids = [box.seed_polymarket(f"a-{i}").id for i in range(4)]
    journal = tmp_path / "j.jsonl"
    for _ in range(2):  # the same journal, appended by two runs
        cli(box, "cancel", "polymarket", "--journal", str(journal), *ids)
    assert len(_outcomes(journal)) == 8
    result = cli(box, "cancel", "polymarket", "--from-file", str(journal), "--json")
    assert result.returncode == 0, result.stderr
    assert "4 order(s)" in result.stderr
    assert len(records(result.stdout)) == 4


def test_duplicates_and_invalid_inputs_are_accounted_for(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    for i in range(3):
        box.seed_polymarket(f"u-{i}")
    journal = tmp_path / "j.jsonl"
    args = ["cancel", "polymarket", "--json", "--skip-invalid", "--journal", str(journal)]
    result = cli(box, *args, "u-0", "u-1", "u-2", "u-0", "..")
    assert "3 order(s) (4 inputs, 1 duplicate(s)" in result.stderr
    outcome = records(result.stdout)
    assert [r["order"] for r in outcome if r["status"] == "not_sent"] == [".."]
    assert any(r["order"] == ".." for r in _outcomes(journal))
    firsts = [r for r in outcome if r["status"] == "cancelled" and r["duplicate_of"] is None]
    assert firsts
    assert all(r["attempts"] >= 1 for r in firsts)


@pytest.mark.parametrize("kind", ["directory", "fifo", "symlink"])
def test_a_journal_that_is_not_a_regular_file_is_refused(
    cancelkit_sandbox: Sandbox, tmp_path: Path, kind: str
) -> None:
    box = cancelkit_sandbox
    box.seed_polymarket("a")
    path = tmp_path / "journal"
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        (tmp_path / "real").write_text("")
        path.symlink_to(tmp_path / "real")
    result = cli(box, "cancel", "polymarket", "--journal", str(path), "a")
    assert result.returncode == 2
    assert f"--journal {path}" in result.stderr
    assert "Traceback" not in result.stderr
    assert box.polymarket.stats.requests == 0


def test_no_orders_to_cancel_says_what_was_expected(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing here\n\n")
    result = cli(box, "cancel", "polymarket", "--from-file", str(empty))
    assert result.returncode == 2
    assert f"{empty} has no order ids" in result.stderr
    bare = cli(box, "cancel", "polymarket")
    assert bare.returncode == 2
    assert "--from-file" in bare.stderr
    assert "--all" in bare.stderr


@pytest.mark.skipif(
    not os.environ.get("CANCELKIT_STRESS"), reason="100,000 orders: `make stress` only"
)
@pytest.mark.cancelkit_sandbox(validate=False)  # the sandbox's own checks would dominate
def test_a_hundred_thousand_ids_all_end_off_the_book_and_reported_so(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    ids = [box.seed_polymarket(f"s-{i:06d}", market_slug=f"m-{i % 50}").id for i in range(100_000)]
    kill = tmp_path / "kill.txt"
    kill.write_text("\n".join(ids) + "\n")
    journal = tmp_path / "journal.jsonl"
    args = ["cancel", "polymarket", "--from-file", str(kill), "--rate", "0", "--json"]
    args += ["--journal", str(journal), "--deadline", "1200"]
    result = subprocess.run(
        [*CANCELKIT, *args],
        env={**os.environ, **box.env()},
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert not open_ids(box)
    outcome = records(result.stdout)
    assert len(outcome) == 100_000
    assert {r["status"] for r in outcome} <= {"cancelled", "not_open"}


@pytest.mark.cancelkit_sandbox(rate_limit=20, endpoint_limits=True)
def test_the_second_of_two_kill_switches_on_one_key_exits_0(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    ids = [box.seed_polymarket(f"two-{i:03d}", market_slug=f"m-{i % 5}").id for i in range(400)]
    kill = tmp_path / "kill.txt"
    kill.write_text("\n".join(ids) + "\n")
    # No --missing-ok: an id absent from this key's listing is settled by the other
    # run's record (the run registry: it sent a cancel for it), not by lookups at 5.5/s.
    args = ["cancel", "polymarket", "--from-file", str(kill), "--deadline", "30"]
    first = _start(box, args, subprocess.DEVNULL)
    time.sleep(0.3)
    started = time.monotonic()
    second = cli(box, *args)
    took = time.monotonic() - started
    first.communicate(timeout=60)
    assert not open_ids(box)
    assert second.returncode == 0, second.stderr[-1500:]
    assert first.returncode == 0
    assert took < 30 + 3 + 10  # never past its deadline, the grace and one listing

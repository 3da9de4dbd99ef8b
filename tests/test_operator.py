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


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
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


@pytest.mark.cancelkit_sandbox(latency=0.25)
def test_the_journal_survives_kill_9(cancelkit_sandbox: Sandbox, tmp_path: Path) -> None:
    box = cancelkit_sandbox
    ids = [box.seed_limitless(_uuid(i)).id for i in range(60)]
    journal = tmp_path / "journal.jsonl"
    args = ["cancel", "limitless", "--journal", str(journal), "--rate", "0"]
    args += [a for i in ids for a in ("--order-id", i)]
    process = _start(box, args, subprocess.DEVNULL)
    _wait_for_records(journal, 8)
    process.kill()
    process.wait(timeout=10)
    written = records(journal.read_text())
    assert written
    still_open = open_ids(box)
    for record in written:  # every line written is true
        order_id = record["order"].partition(":")[2]
        assert (record["status"] == "cancelled") == (order_id not in still_open)
    # ...and the journal resumes the run: only what is not final is sent again.
    result = cli(box, "cancel", "limitless", "--from-file", str(journal), "--rate", "0")
    assert f"{len(written)} already final" in result.stderr

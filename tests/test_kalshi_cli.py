"""``cancelkit cancel kalshi`` and ``cancelkit orders kalshi``: inputs refused before
anything is sent, what a dry run shows, and (against the sandbox) every outcome, the
exit codes and the operator's worst days."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cancelkit._cli import main
from cancelkit.kalshi import _cli as kalshi_cli
from cancelkit.kalshi import _rates as rates
from cancelkit.sandbox import Sandbox
from click.testing import CliRunner
from test_kalshi_client import order

UUID_1 = "3b23c1c7-f4ef-4f0d-8b9a-9e53c61f1a0d"
UUID_2 = "8c35ecb3-328f-4f52-8c7c-0f4b9862f8d1"
NO_CREDENTIALS = {
    name: None for name in ("KALSHI_API_KEY_ID", "KALSHI_PRIVATE_KEY", "KALSHI_PRIVATE_KEY_PATH")
}


def run(*args: str, env: dict[str, Any] | None = None, stdin: str | None = None) -> Any:
    return CliRunner().invoke(
        main, list(args), env=env or NO_CREDENTIALS, input=stdin, catch_exceptions=False
    )


def test_the_tier_choices_are_the_published_tiers() -> None:
    """The command writes the tiers out (so that loading it loads no table): the same."""
    assert kalshi_cli.TIERS == rates.TIERS


def test_the_least_time_is_the_write_bucket_at_its_refill_rate() -> None:
    # Basic: 300 orders are 600 tokens; 100 at once, the other 500 at 100/s.
    assert kalshi_cli.seconds(300, "basic") == 5.0
    assert kalshi_cli.seconds(50, "basic") == 0.0
    assert kalshi_cli.seconds(1000, "advanced") == pytest.approx((2000 - 900) / 300)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ((f"order:{UUID_1}",), "order:<uuid> / client:<id> is the Limitless form; use"),
        (("client:partner-1", UUID_1), "is the Limitless form; use 'cancelkit cancel limitless'"),
        (("pm-ord-1", "pm-ord-2"), "they look like Polymarket ids; use 'cancelkit cancel"),
    ],
)
def test_another_venues_ids_are_refused_with_a_hint(args: tuple[str, ...], said: str) -> None:
    result = run("cancel", "kalshi", *args)
    assert result.exit_code == 2
    assert said in result.stderr
    assert "nothing was sent" in result.stderr


def test_a_file_of_polymarket_ids_is_refused_naming_its_lines(tmp_path: Path) -> None:
    kill = tmp_path / "kill.txt"
    kill.write_text("pm-ord-1\npm-ord-2\n")
    result = run("cancel", "kalshi", "--from-file", str(kill))
    assert result.exit_code == 2
    assert f"{kill} line 1 and 1 more: Kalshi order ids are UUIDs" in result.stderr


def test_a_bare_uuid_is_kalshis_or_limitlesss_and_neither_refuses_it() -> None:
    """The forms overlap (both venues' order ids are bare UUIDs; Polymarket's form is
    undocumented): each venue takes a bare UUID as its own rather than refuse it."""
    for venue in ("kalshi", "limitless", "polymarket"):
        result = run(
            "cancel", venue, "--dry-run", *(["--order-id"] * (venue == "limitless")), UUID_1
        )
        assert result.exit_code == 0, (venue, result.stderr)
        assert UUID_1 in result.stdout


def test_hostile_ids_are_named_and_nothing_is_sent() -> None:
    result = run("cancel", "kalshi", UUID_1, "../portfolio/events/orders", "a?b", "x" * 200)
    assert result.exit_code == 2
    assert "argument 2: Kalshi order_id '../portfolio/events/orders' contains '/'" in result.stderr
    assert "argument 3: Kalshi order_id 'a?b' contains '?'" in result.stderr
    assert "argument 4:" in result.stderr
    assert "3 invalid input(s); nothing was sent" in result.stderr


def test_rate_and_ids_with_all_are_usage_errors() -> None:
    result = run("cancel", "kalshi", "--rate", "5", UUID_1)
    assert result.exit_code == 2
    assert "--rate is not taken for Kalshi" in result.stderr
    result = run("cancel", "kalshi", "--all", UUID_1)
    assert result.exit_code == 2
    assert "--all cancels every resting order" in result.stderr
    result = run("cancel", "kalshi", "--subaccount", "64", UUID_1)
    assert result.exit_code == 2


def test_a_dry_run_of_cancel_all_says_every_subaccount_and_the_minute_warning() -> None:
    result = run("cancel", "kalshi", "--all", "--dry-run")
    assert result.exit_code == 0
    assert "DELETE /portfolio/events/orders (cancel-all of every subaccount)" in result.stderr
    assert "orders placed in the minute after the request may also be cancelled" in result.stderr
    result = run("cancel", "kalshi", "--all", "--subaccount", "3", "--dry-run")
    assert "DELETE /portfolio/events/orders?subaccount=3 (cancel-all of subaccount 3)" in (
        result.stderr
    )


def test_the_help_of_all_says_every_subaccount_and_the_minute_warning() -> None:
    text = " ".join(run("cancel", "kalshi", "--help").stdout.split())
    assert "in every subaccount unless --subaccount is given" in text
    assert "orders placed in the minute after the request may also be cancelled" in text


def test_a_batch_is_what_the_tiers_write_bucket_holds() -> None:
    for tier, size in (("basic", 50), ("advanced", 450), ("prestige", 14400)):
        result = run("cancel", "kalshi", "--tier", tier, "--dry-run", UUID_1)
        assert f"({size} per request at {tier})" in result.stderr


def test_a_line_of_the_kalshi_listing_is_read_by_its_order_id(tmp_path: Path) -> None:
    """``orders kalshi --json`` then ``cancel kalshi --from-file``: the listing's
    lines are the generated Order's own shape (``order_id``, ``ticker``)."""
    listing = tmp_path / "open.jsonl"
    listing.write_text("\n".join(json.dumps(order("resting", i)) for i in (UUID_1, UUID_2)) + "\n")
    result = run("cancel", "kalshi", "--dry-run", "--from-file", str(listing))
    assert result.exit_code == 0, result.stderr
    assert [line.split()[2] for line in result.stdout.splitlines()] == [UUID_1, UUID_2]


# --- against the sandbox: the real command, the exchange's word -----------------------

M_ONE = "KXBTC-26DEC31-T100000"
M_TWO = "KXETH-26DEC31-T5000"


def kalshi(box: Sandbox, *args: str, stdin: str | None = None) -> Any:
    """``cancelkit <args>`` in-process, with the sandbox's environment."""
    return CliRunner().invoke(main, list(args), env=box.env(), input=stdin, catch_exceptions=False)


def sent(box: Sandbox) -> list[tuple[str, str, str]]:
    """What the Kalshi exchange received: method, path, query."""
    return [
        (r.method, r.path, "&".join(f"{k}={v}" for k, v in r.query))
        for r in box.requests
        if r.venue == "kalshi"
    ]


def cancels(box: Sandbox) -> list[tuple[str, str, str]]:
    return [r for r in sent(box) if r[0] == "DELETE"]


def test_cancel_by_ids_each_outcome_the_exchanges_word_and_exit_0(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    resting = [box.seed_kalshi().id for _ in range(3)]
    done = box.seed_kalshi(status="canceled").id
    filled = box.seed_kalshi(status="executed").id
    result = kalshi(box, "cancel", "kalshi", *resting, done, filled, "--json")
    assert result.exit_code == 0, result.stderr
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    # Each record as its outcome is known: the two looked up race each other.
    assert sorted((r["order"], r["status"]) for r in printed) == sorted(
        [*((i, "cancelled") for i in resting), (done, "not_open"), (filled, "filled")]
    )
    assert {r["venue"] for r in printed} == {"kalshi"}
    assert {r["key"] for r in printed} == {box.env()["KALSHI_API_KEY_ID"]}
    assert not box.open_orders()
    # One batch (Basic holds 50), then listings and lookups; every request verified.
    assert [c[1] for c in cancels(box)] == ["/trade-api/v2/portfolio/events/orders/batched"]
    assert all(r.verified for r in box.requests)


@pytest.mark.parametrize(("flag", "code"), [("--missing-ok", 0), ("--no-missing-ok", 1)])
def test_an_unknown_order_and_the_exit_codes(
    cancelkit_sandbox: Sandbox, flag: str, code: int
) -> None:
    result = kalshi(cancelkit_sandbox, "cancel", "kalshi", UUID_1, flag, "--json")
    assert result.exit_code == code, result.stderr
    assert json.loads(result.stdout)["status"] == "not_found"


def test_all_cancels_every_subaccount_with_one_request_and_says_so(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    for subaccount in (0, 0, 3, 63):
        box.seed_kalshi(subaccount=subaccount)
    result = kalshi(box, "cancel", "kalshi", "--all")
    assert result.exit_code == 0, result.stderr
    assert "every resting order of every subaccount (cancel-all" in result.stderr
    assert "orders placed in the minute after the request may also be cancelled" in result.stderr
    assert "4 order(s): 4 not open" in result.stderr
    assert "Traceback" not in result.stderr  # its orders are no input: nothing to journal
    assert not box.open_orders()
    assert cancels(box) == [("DELETE", "/trade-api/v2/portfolio/events/orders", "")]


def test_all_with_a_subaccount_leaves_the_others_alone(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    mine = box.seed_kalshi(subaccount=3)
    other = box.seed_kalshi(subaccount=0)
    result = kalshi(box, "cancel", "kalshi", "--all", "--subaccount", "3", "--json")
    assert result.exit_code == 0, result.stderr
    assert "every resting order of subaccount 3" in result.stderr
    assert [json.loads(x)["order"] for x in result.stdout.splitlines()] == [mine.id]
    assert {o.id for o in box.open_orders()} == {other.id}
    assert cancels(box) == [("DELETE", "/trade-api/v2/portfolio/events/orders", "subaccount=3")]


def test_ids_with_a_market_cancel_only_those_resting_there(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    inside = box.seed_kalshi(ticker=M_ONE).id
    outside = box.seed_kalshi(ticker=M_TWO).id
    result = kalshi(box, "cancel", "kalshi", inside, outside, "--market", M_ONE, "--json")
    assert result.exit_code == 1, result.stderr  # one order was left alone: not done
    printed = {r["order"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert printed[inside]["status"] == "cancelled"
    assert printed[outside]["status"] == "not_sent"
    assert f"resting in market {M_TWO}, left alone" in printed[outside]["message"]
    assert {o.id for o in box.open_orders()} == {outside}


def test_all_with_markets_cancels_their_resting_orders_by_batch(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    wanted = {box.seed_kalshi(ticker=M_ONE).id for _ in range(3)}
    wanted.add(box.seed_kalshi(ticker=M_TWO, subaccount=5).id)
    kept = box.seed_kalshi(ticker="KXOTHER-26DEC31").id
    journal = tmp_path / "all.jsonl"
    result = kalshi(
        box, "cancel", "kalshi", "--all", "--market", M_ONE, "--market", M_TWO,
        "--json", "--journal", str(journal),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert {json.loads(x)["order"] for x in result.stdout.splitlines()} == wanted
    assert {o.id for o in box.open_orders()} == {kept}
    # By batch, one per subaccount listed (each order cancelled in its own): no
    # cancel-all, which would have taken every market's orders.
    assert [c[1] for c in cancels(box)] == ["/trade-api/v2/portfolio/events/orders/batched"] * 2
    assert "Traceback" not in result.stderr
    assert "callback failed" not in result.stderr
    lines = [json.loads(x) for x in journal.read_text().splitlines()]
    assert {x["order"] for x in lines if x.get("status") == "cancelled"} == wanted


def test_verbose_shows_each_attempt_and_never_a_signed_header_or_the_key(
    cancelkit_sandbox: Sandbox,
) -> None:
    """The signature covers neither query nor body (docs/security.md): a signed request
    must never be logged. The debug log has method, path, status and timing only."""
    box = cancelkit_sandbox
    order = box.seed_kalshi()
    result = kalshi(box, "cancel", "kalshi", order.id, "--verbose")
    assert result.exit_code == 0, result.stderr
    assert "DELETE /portfolio/events/orders/batched -> 200 (attempt 1" in (result.stderr)
    assert "KALSHI-ACCESS" not in result.stderr.upper()
    pem = box.env()["KALSHI_PRIVATE_KEY"]
    body = [line for line in pem.splitlines() if line and "-----" not in line]
    assert body
    assert not [line for line in body if line in result.stderr + result.stdout]


@pytest.mark.cancelkit_sandbox(latency=0.3)
def test_status_lines_while_the_buckets_pace_the_run(
    cancelkit_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stderr not a terminal: a status line every STATUS_EVERY seconds, the records
    alone on stdout. 120 orders at Basic are 240 Write tokens: over a second."""
    import cancelkit._cli._cancel as cli_run

    monkeypatch.setattr(cli_run, "STATUS_EVERY", 0.2)
    box = cancelkit_sandbox
    ids = [box.seed_kalshi().id for _ in range(120)]
    result = kalshi(box, "cancel", "kalshi", "--json", *ids)
    assert result.exit_code == 0, result.stderr
    status = [line for line in result.stderr.splitlines() if "orders done" in line]
    assert status, result.stderr
    assert "deadline 60 s" in status[-1]
    assert len(result.stdout.splitlines()) == 120  # stdout carries only the records


def test_ids_with_a_subaccount_send_it(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    order = box.seed_kalshi(subaccount=7)
    result = kalshi(box, "cancel", "kalshi", order.id, "--subaccount", "7")
    assert result.exit_code == 0, result.stderr
    (batch,) = [r for r in box.requests if r.venue == "kalshi" and r.method == "DELETE"]
    assert batch.body == {"orders": [{"order_id": order.id, "subaccount": 7}]}
    assert not box.open_orders()


def test_a_dry_run_and_hostile_ids_send_nothing(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    order = box.seed_kalshi()
    result = kalshi(box, "cancel", "kalshi", order.id, "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert f"would cancel {order.id}" in result.stdout
    result = kalshi(box, "cancel", "kalshi", order.id, "..", "../portfolio/events/orders")
    assert result.exit_code == 2
    assert "Kalshi order_id '..' is a dot-segment" in result.stderr
    result = kalshi(box, "cancel", "kalshi", "--all", "--market", "M,N")
    assert result.exit_code == 2
    assert sent(box) == []  # not one request: not even a listing
    assert order.status == "open"


def test_orders_lists_a_table_and_json_that_cancel_reads_back(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    there = [box.seed_kalshi(ticker=M_ONE, subaccount=2).id for _ in range(2)]
    elsewhere = box.seed_kalshi(ticker=M_TWO).id
    table = kalshi(box, "orders", "kalshi")
    assert table.exit_code == 0, table.stderr
    assert table.stdout.splitlines()[0].split() == [
        "id", "market", "subaccount", "side", "price", "contracts", "left", "status",
    ]  # fmt: skip
    assert "3 resting order(s) in 2 market(s)" in table.stdout
    listing = kalshi(box, "orders", "kalshi", "--market", M_ONE, "--json")
    assert listing.exit_code == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert sorted(json.loads(x)["order_id"] for x in lines) == sorted(there)
    saved = tmp_path / "open.jsonl"
    saved.write_text(listing.stdout)
    # Without --subaccount a cancel is the primary's: these rest in 2, and say so.
    result = kalshi(box, "cancel", "kalshi", "--from-file", str(saved), "--json")
    assert result.exit_code == 1
    assert "in subaccount 2 (the cancel was for subaccount 0)" in result.stdout
    result = kalshi(box, "cancel", "kalshi", "--from-file", str(saved), "--subaccount", "2")
    assert result.exit_code == 0, result.stderr
    assert {o.id for o in box.open_orders()} == {elsewhere}
    assert kalshi(box, "orders", "kalshi", "--market", "a b").exit_code == 2


def test_the_demo_cancels_on_all_three_venues() -> None:
    """``make demo`` (``cancelkit demo``, a real process): every step as expected,
    Kalshi's with both kinds of key, its kill switch and its cancel-all."""
    import os
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "cancelkit", "demo"],
        env={**os.environ, "COLUMNS": "250"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = " ".join(result.stdout.split())
    for step in (
        "Polymarket kill switch",
        "Limitless: cancel by order id",
        "Kalshi: cancel",
        "Ed25519",
        "RSA-PSS",
        "Kalshi kill switch",
        "Kalshi cancel-all",
    ):
        assert step in text, step
    assert "UNEXPECTED" not in text
    assert "All steps as expected" in text


# --- the operator's worst days: real processes -------------------------------------------


def cli(box: Sandbox, *args: str, timeout: float = 120) -> Any:
    import os
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "cancelkit", *args],
        env={**os.environ, **box.env()},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def records(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


@pytest.mark.faults
@pytest.mark.cancelkit_sandbox(latency=0.1)
def test_kill_9_mid_batches_then_the_journal_alone_leaves_nothing_open(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys
    import time

    box = cancelkit_sandbox
    ids = [box.seed_kalshi().id for _ in range(300)]  # six batches at Basic, ~5 s of tokens
    journal = tmp_path / "journal.jsonl"
    command = [sys.executable, "-m", "cancelkit", "cancel", "kalshi", *ids]
    process = subprocess.Popen(
        [*command, "--journal", str(journal)],
        env={**os.environ, **box.env()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    ends = time.monotonic() + 30
    while box.kalshi.stats.cancels < 50 and time.monotonic() < ends:
        time.sleep(0.005)
    process.kill()
    process.wait(timeout=10)
    still = {o.id for o in box.open_orders()}
    assert still, "the run finished before the kill: nothing tested"
    lines = records(journal.read_text())
    sent_lines = {r["order"] for r in lines if r.get("status") == "sent"}
    # Write-ahead: every order the exchange cancelled was journaled "sent" first.
    assert set(ids) - still <= sent_lines
    resumed = cli(box, "cancel", "kalshi", "--from-file", str(journal), "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert not box.open_orders()
    assert "300 order(s)" in resumed.stderr
    outcomes = {r["order"]: r["status"] for r in records(resumed.stdout)}
    assert set(outcomes) == set(ids)
    # What the killed run cancelled is not_open now (the exchange's word), never
    # "cancelled" twice; the rest this run cancelled (one the killed run's last
    # request reached after the count above is not_open too).
    assert {outcomes[i] for i in set(ids) - still} <= {"not_open"}
    assert {outcomes[i] for i in still} <= {"cancelled", "not_open"}
    assert sum(outcomes[i] == "cancelled" for i in still) >= len(still) - 50


def test_a_stale_file_each_order_as_the_exchange_says_now(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    """A kill file written yesterday: some orders were cancelled since, one filled,
    one is unknown to this key; the rest are cancelled. Without --missing-ok the
    unknown one makes the exit status 1; with it, 0."""
    box = cancelkit_sandbox
    resting = [box.seed_kalshi().id for _ in range(5)]
    gone = [box.seed_kalshi(status="canceled").id for _ in range(3)]
    filled = box.seed_kalshi(status="executed").id
    kill = tmp_path / "kill.txt"
    kill.write_text("# yesterday's\n" + "\n".join([*resting, *gone, filled, UUID_2]) + "\n")
    result = cli(box, "cancel", "kalshi", "--from-file", str(kill), "--json")
    assert result.returncode == 1, result.stderr
    outcomes = {r["order"]: r["status"] for r in records(result.stdout)}
    assert outcomes == {
        **dict.fromkeys(resting, "cancelled"),
        **dict.fromkeys(gone, "not_open"),
        filled: "filled",
        UUID_2: "not_found",
    }
    assert not box.open_orders()
    again = cli(box, "cancel", "kalshi", "--from-file", str(kill), "--missing-ok")
    assert again.returncode == 0, again.stderr


def test_two_operators_on_one_key_each_order_cancelled_once(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    """Two kill switches at once on the same key and the same file (two operators, one
    incident): both exit 0, every order is cancelled once on the exchange, and what
    one run cancelled the other reports not_open, never cancelled twice. Both runs
    are in the state directory (``cancelkit runs``)."""
    import os
    import subprocess
    import sys

    box = cancelkit_sandbox
    ids = [box.seed_kalshi().id for _ in range(120)]
    kill = tmp_path / "kill.txt"
    kill.write_text("\n".join(ids) + "\n")
    command = [sys.executable, "-m", "cancelkit", "cancel", "kalshi", "--from-file", str(kill)]
    env = {**os.environ, **box.env()}
    runs = [
        subprocess.Popen(
            [*command, "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    done = [run.communicate(timeout=120) for run in runs]
    for run, (_, err) in zip(runs, done, strict=True):
        assert run.returncode == 0, err
    first, second = ({r["order"]: r["status"] for r in records(out)} for out, _ in done)
    assert set(first) == set(second) == set(ids)
    for order_id in ids:
        # One of the two cancelled it; the other heard so from the exchange.
        assert sorted((first[order_id], second[order_id])) == ["cancelled", "not_open"]
    assert not box.open_orders()
    assert all(o.cancel_count == 1 for o in box.kalshi.orders.values())
    listed = cli(box, "runs", "--json")
    assert listed.returncode == 0, listed.stderr
    kalshi_runs = [r for r in records(listed.stdout) if r.get("venue") == "kalshi"]
    assert len(kalshi_runs) == 2


def test_a_kalshi_listing_line_is_not_read_by_another_venue(tmp_path: Path) -> None:
    """Each venue says its own listing's shape: a Kalshi listing given to another
    venue's command is no list of ids there (refused, nothing sent)."""
    listing = tmp_path / "open.jsonl"
    listing.write_text(json.dumps(order("resting", UUID_1)) + "\n")
    for venue in ("polymarket", "limitless"):
        result = run("cancel", venue, "--dry-run", "--from-file", str(listing))
        assert result.exit_code == 2, (venue, result.stdout)
        assert "a JSON line that is not a cancelkit record" in result.stderr

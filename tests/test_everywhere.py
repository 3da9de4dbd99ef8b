"""``cancelkit cancel --everywhere`` and the desk behind it (issue 33): every account on
every venue at once, through a real process against the sandbox, and the library's
one call."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from cancelkit import AsyncDesk, Desk, cancel_everywhere, load_accounts
from cancelkit.sandbox import DeskKey, Sandbox

NO_HOME = {"HOME": "/nonexistent-home", "XDG_CONFIG_HOME": "", "CANCELKIT_CONFIG": ""}


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class DeskFile:
    """An accounts file of sandbox keys, their secrets in variables of their own."""

    def __init__(self, box: Sandbox, tmp_path: Path) -> None:
        self.box, self.path = box, tmp_path / "accounts.toml"
        self.tables: list[str] = []
        self.env: dict[str, str] = {}

    def add(self, name: str, key: DeskKey, *, url: str | None = None, markets: str = "") -> None:
        var = "SECRET_" + name.upper().replace("-", "_")
        table = key.table(name, var).replace(key.base_url, url or key.base_url)
        self.tables.append(table + (f"markets = [{markets}]\n" if markets else ""))
        self.env[var] = key.secret
        self.path.write_text("\n".join(self.tables))

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cancelkit", *args, "--config", str(self.path)],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def demo_keys(box: Sandbox) -> tuple[DeskKey, DeskKey]:
    """The sandbox's own demo key and token, as DeskKeys."""
    c = box.credentials
    pm = DeskKey(
        "polymarket", c.polymarket_key_id, c.polymarket_secret_key, "pm-demo", box.polymarket_url
    )
    lm = DeskKey(
        "limitless",
        c.limitless_token_id,
        c.limitless_secret,
        str(c.limitless_profile_id),
        box.limitless_url,
    )
    return pm, lm


def seed(
    box: Sandbox, key: DeskKey, count: int, market: str = "m-one", subaccount: int = 0
) -> list[str]:
    if key.venue == "polymarket":
        return [box.seed_polymarket(f"{key.owner}-{i}", owner=key.owner).id for i in range(count)]
    if key.venue == "kalshi":
        return [box.seed_kalshi(owner=key.owner, subaccount=subaccount).id for _ in range(count)]
    return [box.seed_limitless(owner=int(key.owner), market_slug=market).id for _ in range(count)]


def open_ids(box: Sandbox) -> set[str]:
    return {o.id for o in box.open_orders()}


@pytest.fixture
def desk(cancelkit_sandbox: Sandbox, tmp_path: Path) -> tuple[DeskFile, dict[str, list[str]]]:
    """Three accounts on two venues, five orders each."""
    box = cancelkit_sandbox
    pm_a, lm = demo_keys(box)
    pm_b = box.add_account("polymarket")
    file = DeskFile(box, tmp_path)
    file.add("pm-a", pm_a)
    file.add("pm-b", pm_b)
    file.add("lm", lm, markets='"m-one"')
    orders = {"pm-a": seed(box, pm_a, 5), "pm-b": seed(box, pm_b, 5), "lm": seed(box, lm, 5)}
    return file, orders


def test_three_accounts_on_two_venues_all_cancelled_exit_0(
    desk: tuple[DeskFile, dict[str, list[str]]], cancelkit_sandbox: Sandbox
) -> None:
    file, orders = desk
    done = file.run("cancel", "--everywhere", "--json", "--deadline", "20")
    assert done.returncode == 0, done.stderr
    assert open_ids(cancelkit_sandbox) == set()
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert all("account" in r for r in records)
    outcomes = [r for r in records if "summary" not in r]
    for name, ids in orders.items():
        mine = [r for r in outcomes if r["account"] == name]
        assert sorted(r["order"] for r in mine) == sorted(ids)
        assert {r["status"] for r in mine} == {"cancelled"}
    summaries = {r["account"]: r for r in records if r.get("summary")}
    assert {n: (s["ok"], s["left"], s["counts"]) for n, s in summaries.items()} == {
        n: (True, 0, {"cancelled": 5}) for n in orders
    }
    assert summaries["lm"]["covered"] == ["m-one"]
    assert summaries["pm-a"]["covered"] is None  # every market
    for secret in file.env.values():
        assert secret not in done.stdout + done.stderr
    # Each account's run is journaled in the state directory, as a venue command's is.
    runs = subprocess.run(
        [sys.executable, "-m", "cancelkit", "runs", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    listed = [json.loads(line) for line in runs.stdout.splitlines()]
    assert sorted(r["run"] for r in listed) == sorted(s["run"] for s in summaries.values())
    assert all(r["counts"] == {"cancelled": 5} for r in listed)


@pytest.fixture
def desk3(cancelkit_sandbox: Sandbox, tmp_path: Path) -> tuple[DeskFile, dict[str, list[str]]]:
    """Four accounts on three venues: two Polymarket keys, the Limitless token, and a
    Kalshi key of its own with orders in two subaccounts."""
    box = cancelkit_sandbox
    pm_a, lm = demo_keys(box)
    pm_b = box.add_account("polymarket")
    kalshi = box.add_account("kalshi")
    file = DeskFile(box, tmp_path)
    file.add("pm-a", pm_a)
    file.add("pm-b", pm_b)
    file.add("lm", lm, markets='"m-one"')
    file.add("ks", kalshi)
    orders = {
        "pm-a": seed(box, pm_a, 4),
        "pm-b": seed(box, pm_b, 4),
        "lm": seed(box, lm, 4),
        "ks": seed(box, kalshi, 3) + seed(box, kalshi, 2, subaccount=7),
    }
    return file, orders


def test_four_accounts_on_three_venues_all_cancelled_exit_0(
    desk3: tuple[DeskFile, dict[str, list[str]]], cancelkit_sandbox: Sandbox
) -> None:
    file, orders = desk3
    box = cancelkit_sandbox
    done = file.run("cancel", "--everywhere", "--json", "--deadline", "20")
    assert done.returncode == 0, done.stderr
    assert open_ids(box) == set()
    assert {getattr(box.kalshi.get(i), "subaccount", None) for i in orders["ks"]} == {0, 7}
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert all("account" in r for r in records)
    outcomes = [r for r in records if "summary" not in r]
    for name, ids in orders.items():
        mine = [r for r in outcomes if r["account"] == name]
        assert sorted(r["order"] for r in mine) == sorted(ids), name
        assert all(r["ok"] for r in mine), name
    # Kalshi's cancel-all names no order: each is confirmed by its leaving the listing.
    assert {r["status"] for r in outcomes if r["account"] == "ks"} == {"not_open"}
    summaries = {r["account"]: r for r in records if r.get("summary")}
    assert {n: (s["ok"], s["left"], s["venue"]) for n, s in summaries.items()} == {
        "pm-a": (True, 0, "polymarket"),
        "pm-b": (True, 0, "polymarket"),
        "lm": (True, 0, "limitless"),
        "ks": (True, 0, "kalshi"),
    }
    assert summaries["ks"]["counts"] == {"not_open": 5}
    assert summaries["ks"]["covered"] is None  # every market, every subaccount
    # The Kalshi account's requests are signed by its key, every one verified.
    kalshi_requests = [r for r in box.requests if r.venue == "kalshi"]
    assert kalshi_requests
    assert all(r.verified for r in kalshi_requests)
    assert "cancelkit: ks: 5 not open; nothing left open" in done.stderr
    for secret in file.env.values():
        assert secret not in done.stdout + done.stderr
    runs = subprocess.run(
        [sys.executable, "-m", "cancelkit", "runs", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    listed = [json.loads(line) for line in runs.stdout.splitlines()]
    assert sorted(r["run"] for r in listed) == sorted(s["run"] for s in summaries.values())


def test_a_kalshi_account_with_a_subaccount_cancels_there_and_nowhere_else(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    rsa = box.add_account("kalshi", key="rsa")
    pem = tmp_path / "ks.pem"
    pem.write_text(rsa.secret)
    pem.chmod(0o600)
    path = tmp_path / "accounts.toml"
    path.write_text(rsa.table("ks-7", secret_file=str(pem), tier="advanced", subaccount=7))
    primary = seed(box, rsa, 2)
    seventh = seed(box, rsa, 3, subaccount=7)
    demo = box.seed_kalshi(subaccount=7).id  # another member's, in the same subaccount
    dry = subprocess.run(
        [sys.executable, "-m", "cancelkit", "cancel", "--everywhere", "--dry-run"],
        env={**os.environ, **NO_HOME, "CANCELKIT_CONFIG": str(path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout == f"would cancel every open order of ks-7 (kalshi, key {rsa.key_id})" + (
        " in subaccount 7\n"
    )
    assert box.requests == []
    (account,) = load_accounts(path, environ={})
    assert (account.venue, account.tier, account.subaccount) == ("kalshi", "advanced", 7)
    with Desk((account,)) as kalshi_desk:
        assert kalshi_desk.prove() == {"ks-7": None}
        listed = kalshi_desk.open_orders()["ks-7"]
        assert not isinstance(listed, BaseException)
        assert sorted(listed) == sorted(seventh)
        (run,) = kalshi_desk.cancel_everywhere(deadline=20)
    assert (run.ok, run.left, run.error) == (True, 0, None)
    assert sorted(r.target for r in run.results) == sorted(seventh)
    assert open_ids(box) == {*primary, demo}
    deletes = [r for r in box.requests if r.method == "DELETE"]
    assert deletes
    assert all(("subaccount", "7") in r.query for r in deletes)


def test_a_venue_down_does_not_hold_the_others_and_is_named(
    desk: tuple[DeskFile, dict[str, list[str]]], cancelkit_sandbox: Sandbox
) -> None:
    file, orders = desk
    down = cancelkit_sandbox.add_account("polymarket")
    file.add("pm-down", down, url=f"http://127.0.0.1:{closed_port()}")
    started = time.monotonic()
    done = file.run("cancel", "--everywhere", "--deadline", "3")
    assert time.monotonic() - started < 30  # the deadline and its grace, not more
    assert done.returncode == 1
    assert open_ids(cancelkit_sandbox) == set()  # every reachable account's book is empty
    report = [line for line in done.stderr.splitlines() if line.startswith("cancelkit: pm-down:")]
    assert len(report) == 2, done.stderr  # its banner, and its report naming why
    assert "FAILED: NetworkError" in report[1]
    assert "not confirmed empty" in report[1]
    for name in orders:
        assert f"cancelkit: {name}: 5 cancelled; nothing left open" in done.stderr


def test_a_limitless_account_without_markets_is_not_covered_and_exits_1(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    pm, lm = demo_keys(box)
    file = DeskFile(box, tmp_path)
    file.add("pm", pm)
    file.add("lm", lm)  # no markets
    seed(box, pm, 3)
    left = seed(box, lm, 2)
    done = file.run("cancel", "--everywhere", "--json")
    assert done.returncode == 1
    summaries = {
        r["account"]: r for r in map(json.loads, done.stdout.splitlines()) if r.get("summary")
    }
    assert (summaries["lm"]["ok"], summaries["lm"]["covered"], summaries["lm"]["left"]) == (
        False,
        [],
        None,
    )
    assert summaries["pm"]["ok"] is True
    assert "lm: no orders; left: unknown; NOT COVERED" in done.stderr
    assert open_ids(box) == set(left)  # the other account's orders are gone


def test_account_selects_and_an_unknown_name_sends_nothing(
    desk: tuple[DeskFile, dict[str, list[str]]], cancelkit_sandbox: Sandbox
) -> None:
    file, orders = desk
    box = cancelkit_sandbox
    env = file.env
    wrong = file.run("cancel", "--everywhere", "--account", "pm-a", "--account", "nope")
    assert wrong.returncode == 2
    assert "no account named nope" in wrong.stderr
    assert box.requests == []
    file.env = {}  # a dry run needs no key
    dry = file.run("cancel", "--everywhere", "--dry-run", "--account", "lm")
    assert dry.returncode == 0
    assert dry.stdout.startswith("would cancel every open order of lm (limitless")
    assert box.requests == []
    file.env = env
    done = file.run("cancel", "--everywhere", "--account", "pm-b", "--account", "lm")
    assert done.returncode == 0, done.stderr
    assert open_ids(box) == set(orders["pm-a"])
    assert "pm-a" not in done.stderr


def test_venue_options_and_everywhere_do_not_mix(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    file = DeskFile(cancelkit_sandbox, tmp_path)
    file.add("pm", demo_keys(cancelkit_sandbox)[0])
    mixed = subprocess.run(
        [sys.executable, "-m", "cancelkit", "cancel", "--everywhere", "polymarket", "--all"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert mixed.returncode == 2
    assert "without a venue" in mixed.stderr
    lone = file.run("cancel", "--json")
    assert lone.returncode == 2
    assert "go with --everywhere" in lone.stderr


def test_environment_accounts_everywhere(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    pm, lm = demo_keys(box)
    seed(box, pm, 2)
    seed(box, lm, 2, market="m-two")
    env = {**os.environ, **box.env(), **NO_HOME, "LIMITLESS_MARKETS": "m-one,m-two"}
    done = subprocess.run(
        [sys.executable, "-m", "cancelkit", "cancel", "--everywhere"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "limitless: 2 cancelled; nothing left open; market(s) m-one, m-two" in done.stderr
    assert open_ids(box) == set()


@pytest.mark.parametrize("pem_by", ["variable", "file"])
def test_the_environment_kalshi_account_everywhere(
    cancelkit_sandbox: Sandbox, tmp_path: Path, pem_by: str
) -> None:
    box = cancelkit_sandbox
    kalshi = box.add_account("kalshi")
    ids = seed(box, kalshi, 2) + seed(box, kalshi, 2, subaccount=3)
    demo = box.seed_kalshi().id  # the demo member's: another key's, left alone
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLYMARKET_", "LIMITLESS_"))}
    env |= {**NO_HOME, **kalshi.env()}
    if pem_by == "file":
        pem = tmp_path / "kalshi.pem"
        pem.write_text(env.pop("KALSHI_PRIVATE_KEY"))
        pem.chmod(0o600)
        env["KALSHI_PRIVATE_KEY_PATH"] = str(pem)
    done = subprocess.run(
        [sys.executable, "-m", "cancelkit", "cancel", "--everywhere", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert {r["account"] for r in records} == {"kalshi"}  # the one venue whose variables are set
    assert sorted(r["order"] for r in records if not r.get("summary")) == sorted(ids)
    assert open_ids(box) == {demo}
    assert kalshi.secret.splitlines()[1] not in done.stdout + done.stderr
    if pem_by == "file":
        pem.chmod(0o644)  # readable by others: refused, as ssh refuses such a key
        box.clear_requests()
        refused = subprocess.run(
            [sys.executable, "-m", "cancelkit", "cancel", "--everywhere"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert refused.returncode == 2
        assert f"secret_file {pem} has mode 0644" in refused.stderr
        assert box.requests == []


# -- the library ---------------------------------------------------------------------


def test_the_library_desk_proves_lists_and_cancels_per_account(
    desk: tuple[DeskFile, dict[str, list[str]]], cancelkit_sandbox: Sandbox
) -> None:
    file, orders = desk
    accounts = load_accounts(file.path, environ=file.env)
    with Desk(accounts) as sync_desk:
        assert sync_desk.prove() == {"pm-a": None, "pm-b": None, "lm": None}
        listed = sync_desk.open_orders()
        assert {n: sorted(v) for n, v in listed.items()} == {
            n: sorted(v) for n, v in orders.items()
        }
        seen: list[tuple[str, str]] = []
        runs = sync_desk.cancel_everywhere(
            deadline=20, accounts=["pm-b"], on_result=lambda a, r: seen.append((a.name, r.status))
        )
    assert [(r.account.name, r.ok, r.left) for r in runs] == [("pm-b", True, 0)]
    assert seen == [("pm-b", "cancelled")] * 5
    assert open_ids(cancelkit_sandbox) == set(orders["pm-a"] + orders["lm"])
    runs = cancel_everywhere(accounts, deadline=20)
    assert [(r.account.name, r.ok) for r in runs] == [("pm-a", True), ("pm-b", True), ("lm", True)]
    assert open_ids(cancelkit_sandbox) == set()


def test_a_refused_key_is_its_account_error_not_the_desks(
    desk3: tuple[DeskFile, dict[str, list[str]]], cancelkit_sandbox: Sandbox
) -> None:
    file, orders = desk3
    env = {**file.env, "SECRET_PM_B": file.env["SECRET_PM_A"]}  # pm-b signs with pm-a's secret
    env["SECRET_KS"] = cancelkit_sandbox.credentials.kalshi_key()[1]  # ks: the demo key's PEM
    accounts = load_accounts(file.path, environ=env)

    async def main() -> None:
        async with AsyncDesk(accounts) as async_desk:
            proven = await async_desk.prove()
            assert [n for n, e in proven.items() if e is not None] == ["pm-b", "ks"]
            runs = await async_desk.cancel_everywhere(deadline=10)
        by_name = {r.account.name: r for r in runs}
        for refused in ("pm-b", "ks"):  # the same failure, whichever venue's
            run = by_name[refused]
            assert (run.ok, run.left, type(run.error).__name__) == (
                False,
                None,
                "AuthenticationError",
            )
        assert [r.status for r in by_name["ks"].results] == ["not_sent"]  # cancel-all unsent
        assert by_name["pm-a"].ok
        assert by_name["lm"].ok

    anyio.run(main)
    assert open_ids(cancelkit_sandbox) == set(orders["pm-b"] + orders["ks"])
    file.env = env
    done = file.run("cancel", "--everywhere", "--account", "ks")
    assert done.returncode == 1
    assert (
        "cancelkit: ks: 1 not sent; left: unknown; every market; FAILED: Authentic" in done.stderr
    )


def test_sigterm_ends_the_run_with_every_account_reported_exit_130(
    desk3: tuple[DeskFile, dict[str, list[str]]], cancelkit_sandbox: Sandbox
) -> None:
    file, _ = desk3
    box = cancelkit_sandbox
    # Every answer takes 12 s: more than the client's 10 s timeout and the 8 s bound
    # below, so nothing is answered before the signal (which comes as soon as every
    # account's first request is in) or the run's end. (The sandbox's stop waits for
    # the answers still sleeping: 20 s here made an 18 s teardown.)
    box.set_knobs(latency=12.0)
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cancelkit",
            "cancel",
            "--everywhere",
            "--json",
            "--config",
            str(file.path),
        ],
        env={**os.environ, **file.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (
            box.polymarket.stats.requests < 2
            or box.limitless.stats.requests < 1
            or box.kalshi.stats.requests < 1
        ):
            time.sleep(0.05)  # every account's first request has arrived (counted on arrival)
        started = time.monotonic()
        process.send_signal(15)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    # The 3 s grace (requests in flight aborted at half of it), not the 10 s answers.
    assert time.monotonic() - started < 8
    summaries = [r for r in map(json.loads, out.splitlines()) if r.get("summary")]
    assert sorted(s["account"] for s in summaries) == ["ks", "lm", "pm-a", "pm-b"]
    for summary in summaries:  # never "nothing left"
        assert summary["ok"] is False
        if summary["venue"] == "kalshi":  # its listing first: unanswered, nothing sent
            assert summary["counts"] == {"not_sent": 1}
            assert summary["left"] is None  # unknown, not a count
            assert summary["error"]["type"] == "Unanswered"
            continue
        assert summary["left"] >= 1  # sent, no answer: unknown
        assert set(summary["counts"]) == {"unknown"}
    assert "SIGTERM: sending nothing new" in err


FORKED = """
import os, sys
from cancelkit import Desk, load_accounts
desk = Desk(load_accounts(sys.argv[1]))
every = {"pm-a": None, "pm-b": None, "lm": None, "ks": None}
assert desk.prove() == every
pid = os.fork()
if pid == 0:
    ok = desk.prove() == every
    listed = desk.open_orders()
    sizes = {n: len(ids) if isinstance(ids, list) else ids for n, ids in listed.items()}
    ok = ok and sizes == {"pm-a": 4, "pm-b": 4, "lm": 4, "ks": 5}
    desk.close()
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
assert desk.prove() == every
desk.close()
print("child", os.waitstatus_to_exitcode(status))
"""


def test_a_desk_works_in_a_forked_child(
    desk3: tuple[DeskFile, dict[str, list[str]]], tmp_path: Path
) -> None:
    file, _ = desk3
    done = subprocess.run(
        [sys.executable, "-c", FORKED, str(file.path)],
        env={**os.environ, **file.env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "child 0"


def test_an_unusable_secret_is_named_first_and_the_others_still_run(
    desk3: tuple[DeskFile, dict[str, list[str]]], cancelkit_sandbox: Sandbox
) -> None:
    file, orders = desk3
    file.env["SECRET_PM_B"] = "bm90IGEga2V5"  # base64, but no Ed25519 key
    file.env["SECRET_KS"] = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----"
    done = file.run("cancel", "--everywhere")
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    first_report = next(i for i, line in enumerate(lines) if "cancelled; nothing left open" in line)
    for name in ("pm-b", "ks"):
        problem = next(
            i for i, line in enumerate(lines) if f"{name}: cannot be used: InvalidRequest" in line
        )
        assert problem < first_report
    assert "is a public key" in done.stderr  # the PEM's problem named, not its lines
    assert open_ids(cancelkit_sandbox) == set(orders["pm-b"] + orders["ks"])
    assert all(r.verified for r in cancelkit_sandbox.requests)  # nothing badly signed left


def test_prove_and_open_orders_end_by_their_deadline(
    desk3: tuple[DeskFile, dict[str, list[str]]], cancelkit_sandbox: Sandbox
) -> None:
    file, _ = desk3
    cancelkit_sandbox.set_knobs(latency=6.0)
    with Desk(load_accounts(file.path, environ=file.env)) as slow:
        started = time.monotonic()
        proven = slow.prove(deadline=0.5)
        listed = slow.open_orders(deadline=0.5)
        assert time.monotonic() - started < 5  # not the 6 s answers, twice
    assert sorted(proven) == sorted(listed) == ["ks", "lm", "pm-a", "pm-b"]
    for outcome in (*proven.values(), *listed.values()):
        assert isinstance(outcome, TimeoutError)
        assert str(outcome) == "no answer within 0.5 s"


@pytest.mark.parametrize("spares", ["none", "made beforehand", "one removed"])
def test_each_journal_header_is_written_before_the_first_cancel_and_never_waited_on(
    desk: tuple[DeskFile, dict[str, list[str]]],
    cancelkit_sandbox: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    spares: str,
) -> None:
    """The write-ahead rule on the firing path: every account's journal header is in
    its file (write(2)) before any cancel arrives, and the run waits on no disk flush
    before its first request: each header is fsynced in a thread of its own, started
    as the account's first request leaves; the run's own thread fsyncs only at the end.
    So too with the journals an armed guard makes beforehand (renamed to the run's own
    name as it fires), and when one of them was removed before the firing (that
    account's journal is then opened as any run's)."""
    import io
    import threading

    from cancelkit._cli._everywhere import run_everywhere
    from cancelkit._cli._guard_journals import Spares

    box = cancelkit_sandbox
    file, _ = desk
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    monkeypatch.setenv("CANCELKIT_STATE_DIR", str(state))
    writes: dict[str, float] = {}  # journal -> first write(2), time.monotonic()
    sent_lines: dict[str, float] = {}  # journal -> its cancel-all's sent line written
    syncs: list[tuple[str, bool, float]] = []  # journal, on the run's thread?, when
    real_write, real_fsync = os.write, os.fsync
    runner = threading.get_ident()

    def path_of(fd: int) -> str:
        try:
            return os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return ""

    def write(fd: int, data: bytes) -> int:
        if path_of(fd).endswith(".jsonl"):
            writes.setdefault(path_of(fd), time.monotonic())
            text = bytes(data)  # the journal writes a memoryview
            if b'"cancel_all": true' in text and b'"status": "sent"' in text:
                sent_lines.setdefault(path_of(fd), time.monotonic())
        return real_write(fd, data)

    def fsync(fd: int) -> None:
        if path_of(fd).endswith(".jsonl"):
            syncs.append((path_of(fd), threading.get_ident() == runner, time.monotonic()))
        real_fsync(fd)

    accounts = load_accounts(file.path, environ=file.env)
    made = Spares(state, [a.name for a in accounts])
    if spares != "none":
        made.prepare()
    taken = made.take()
    if spares == "one removed":
        os.unlink(taken[accounts[0].name].path)
    monkeypatch.setattr(os, "write", write)
    monkeypatch.setattr(os, "fsync", fsync)

    async def run() -> int:
        async with AsyncDesk(accounts) as warm:
            await warm.warm(20)
            box.clear_requests()
            return await run_everywhere(
                warm, deadline=20, as_json=True, cause="test", out=io.StringIO(), spares=taken
            )

    assert anyio.run(run) == 0
    assert open_ids(box) == set()
    cancels = [r.arrived for r in box.requests if r.method in ("POST", "DELETE")]
    journals = sorted(str(p) for p in state.glob("run-*.jsonl"))
    assert len(journals) == 3
    assert len(cancels) == 3
    assert sorted(writes) == journals
    assert max(writes.values()) < min(cancels), "a header was written after a cancel"
    waited = [when for _, on_runner, when in syncs if on_runner and when < max(cancels)]
    assert not waited, "the run waited on an fsync before its cancels"
    assert sorted({path for path, on_runner, _ in syncs if not on_runner}) == journals
    # Each account's cancel-all has its own sent line, written before that cancel
    # arrived (and, as the header, fsynced beside the run, never before a cancel).
    # (Per venue, the k-th sent line before the k-th cancel to arrive.)
    assert sorted(sent_lines) == journals
    lines_of: dict[str, list[float]] = {}
    for path in journals:
        header = json.loads(Path(path).read_text().splitlines()[0])
        assert header["cause"] == "test"
        assert header["orders"] == 0
        lines_of.setdefault(header["venue"], []).append(sent_lines[path])
    for venue, written in lines_of.items():
        arrived = sorted(
            r.arrived for r in box.requests if r.method in ("POST", "DELETE") and r.venue == venue
        )
        assert len(arrived) == len(written)
        assert all(w < a for w, a in zip(sorted(written), arrived, strict=True)), venue
    assert not list(state.glob(".armed-*")), "a journal made beforehand was left behind"
    # Each made beforehand is that account's journal (the one removed too: its run
    # keeps the id, its file opened afresh).
    runs = {json.loads(Path(p).read_text().splitlines()[0])["cancelkit_run"] for p in journals}
    assert {spare.run for spare in taken.values()} <= runs
    assert len(taken) == (0 if spares == "none" else 3)


def test_every_account_s_first_request_is_written_before_any_line_is_said(
    desk3: tuple[DeskFile, dict[str, list[str]]],
    cancelkit_sandbox: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On an armed guard's firing path (its clients' account-wide order streams
    live: every kill's first request is its cancel), only the journals' headers
    come before the accounts' first requests: the line saying what each account's
    run covers is said once every account's cancel is written to its socket, and
    still before any outcome and any report."""
    import asyncio
    import io
    import threading
    from asyncio import selector_events

    from cancelkit._cli import _everywhere
    from cancelkit._cli._everywhere import run_everywhere

    file, orders = desk3
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    monkeypatch.setenv("CANCELKIT_STATE_DIR", str(state))
    runner = threading.get_ident()
    events: list[tuple[str, object]] = []  # in the run's thread: writes, lines said, outcomes
    transport = selector_events._SelectorSocketTransport  # type: ignore[attr-defined]
    real_write, real_writelines = transport.write, transport.writelines

    def write(self: asyncio.Transport, data: bytes) -> None:
        if threading.get_ident() == runner:
            events.append(("write", id(self)))
        real_write(self, data)

    def writelines(self: asyncio.Transport, data: list[bytes]) -> None:
        if threading.get_ident() == runner:
            events.append(("write", id(self)))
        real_writelines(self, data)

    class Out(io.StringIO):
        def write(self, text: str) -> int:
            events.append(("out", text))
            return len(text)

    monkeypatch.setattr(_everywhere, "_say", lambda text: events.append(("say", text)))
    accounts = load_accounts(file.path, environ=file.env)

    async def run() -> int:
        async with AsyncDesk(accounts) as warm, anyio.create_task_group() as streams:
            live = {name: anyio.Event() for name in ("pm-a", "pm-b", "ks")}

            async def read(name: str) -> None:  # as an armed guard reads them
                async for event in warm.client(name).order_events():
                    if getattr(event, "eof", False):
                        live[name].set()

            for name in live:
                streams.start_soon(read, name)
            with anyio.fail_after(20):
                for ready in live.values():
                    await ready.wait()
            with monkeypatch.context() as patched:
                patched.setattr(transport, "write", write)
                patched.setattr(transport, "writelines", writelines)
                await warm.warm(20)  # each client's connection open: one socket each
                events.append(("warm", None))
                cancelkit_sandbox.clear_requests()
                status = await run_everywhere(
                    warm, deadline=20, as_json=True, cause="test", out=Out()
                )
            streams.cancel_scope.cancel()
            return status

    assert anyio.run(run) == 0
    assert open_ids(cancelkit_sandbox) == set()
    said = [i for i, (kind, _) in enumerate(events) if kind == "say"]
    banners = [i for i in said if "every open order" in str(events[i][1])]
    assert len(banners) == len(orders) == 4
    warmed = events.index(("warm", None))
    connections = {who for kind, who in events[:warmed] if kind == "write"}
    assert len(connections) == 4  # one per account's client, where its cancel goes
    written = {who for kind, who in events[warmed : said[0]] if kind == "write"}
    assert connections <= written, "a line was said before every account's cancel was written"
    outputs = [i for i, (kind, _) in enumerate(events) if kind == "out"]
    assert outputs
    assert max(banners) < min(outputs), "an outcome came before the lines said"
    # Kalshi's stream live and reconciled: its cancel-all first, no listing before it.
    kalshi = [(r.method, r.path) for r in cancelkit_sandbox.requests if r.venue == "kalshi"]
    assert kalshi[0] == ("DELETE", "/trade-api/v2/portfolio/events/orders")


def test_a_kept_cancel_all_is_signed_at_each_send_and_is_only_its_own_arguments(
    desk3: tuple[DeskFile, dict[str, list[str]]], cancelkit_sandbox: Sandbox
) -> None:
    """A client keeps its cancel-alls built for the wire (a guard fires them again and
    again), all but the signature: each send is signed then, and each kept request
    is the one its arguments make (subaccount 7's after subaccount 0's reaches
    subaccount 7, and subaccount 0's again is subaccount 0's)."""
    file, orders = desk3
    box = cancelkit_sandbox
    accounts = [a for a in load_accounts(file.path, environ=file.env) if a.name == "ks"]

    async def run() -> list[list[str]]:
        async with AsyncDesk(accounts) as desk:
            client = desk.client("ks")
            box.clear_requests()
            done = []
            for subaccount in (0, 7, 0):
                results = await client.cancel_all(subaccount=subaccount, deadline=10)
                done.append(sorted(str(r.target) for r in results if r.ok))
            return done

    first, second, third = anyio.run(run)
    assert first == sorted(orders["ks"][:3])  # seeded in subaccount 0
    assert second == sorted(orders["ks"][3:])  # in subaccount 7
    assert third == []
    deletes = [r for r in box.requests if r.method == "DELETE"]
    assert [r.query for r in deletes] == [
        (("subaccount", "0"),),
        (("subaccount", "7"),),
        (("subaccount", "0"),),
    ]
    assert all(r.verified for r in box.requests)


@pytest.mark.parametrize("path", ["command", "library"])
def test_a_run_opens_each_account_s_client_in_its_own_task_as_its_work_starts(
    path: str,
    desk: tuple[DeskFile, dict[str, list[str]]],
    cancelkit_sandbox: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A desk for one run (the command's, ``acancel_everywhere``) builds each
    account's client in that account's task, as its kill starts: the first
    account's kill is under way before the last account's client (another venue's,
    its code imported with it) is built; before, every client was built before any
    kill began. Each is built once and every book ends empty. Told by the order of
    what happened, not by any clock."""
    import io

    import cancelkit.limitless._desk as lm_hook
    import cancelkit.polymarket._desk as pm_hook
    from cancelkit import acancel_everywhere
    from cancelkit._cli._everywhere import run_everywhere
    from cancelkit._desk import one_shot_desk

    file, _ = desk
    monkeypatch.setenv("CANCELKIT_STATE_DIR", str(tmp_path / "state"))
    (tmp_path / "state").mkdir(mode=0o700)
    events: list[tuple[str, str]] = []
    for hook in (pm_hook, lm_hook):

        def client(account: Any, *args: Any, build: Any = hook.client) -> Any:
            events.append(("built", account.name))
            return build(account, *args)

        async def kill(client: Any, account: Any, *args: Any, run: Any = hook.kill) -> Any:
            events.append(("kill", account.name))
            return await run(client, account, *args)

        monkeypatch.setattr(hook, "client", client)
        monkeypatch.setattr(hook, "kill", kill)
    accounts = load_accounts(file.path, environ=file.env)

    async def run() -> bool:
        if path == "library":
            runs = await acancel_everywhere(accounts, deadline=20)
            return all(r.ok for r in runs)
        async with one_shot_desk(accounts) as one:
            status = await run_everywhere(
                one, deadline=20, as_json=True, cause="test", out=io.StringIO()
            )
            return status == 0

    assert anyio.run(run)
    assert open_ids(cancelkit_sandbox) == set()
    assert sorted(name for kind, name in events if kind == "built") == ["lm", "pm-a", "pm-b"]
    assert events.index(("kill", "pm-a")) < events.index(("built", "lm")), events


def test_a_refused_account_on_a_venue_loaded_beside_the_run_is_named_and_the_others_finish(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    """The command opens each client in its account's task: here Limitless's first
    (on the run's thread), then Polymarket's code loaded beside it, with an account
    whose secret is no key among its own. That account is named before any report
    and fails alone (exit 1); the others empty their books; every banner says where
    its account sends, as before, and each record carries it."""
    box = cancelkit_sandbox
    pm_a, lm = demo_keys(box)
    pm_b = box.add_account("polymarket")
    bad = box.add_account("polymarket")
    file = DeskFile(box, tmp_path)
    file.add("lm", lm, markets='"m-one"')
    file.add("pm-a", pm_a)
    file.add("pm-bad", bad)
    file.add("pm-b", pm_b)
    file.env["SECRET_PM_BAD"] = "bm90IGEga2V5"  # base64, but no Ed25519 key
    kept = seed(box, bad, 2)
    for key in (lm, pm_a, pm_b):
        seed(box, key, 4)
    done = file.run("cancel", "--everywhere", "--json", "--deadline", "20")
    assert done.returncode == 1, done.stderr
    assert open_ids(box) == set(kept), done.stderr
    lines = done.stderr.splitlines()
    keys = {"lm": lm, "pm-a": pm_a, "pm-bad": bad, "pm-b": pm_b}
    for name, key in keys.items():
        scope = " in market(s) m-one" if name == "lm" else ""
        banner = (
            f"cancelkit: {name}: {key.venue} at {key.base_url}, key {key.key_id}:"
            f" every open order{scope}; deadline 20 s"
        )
        assert lines.count(banner) == 1, done.stderr
    unusable = next(i for i, line in enumerate(lines) if "pm-bad: cannot be used: Invalid" in line)
    reports = [i for i, line in enumerate(lines) if "left" in line and "deadline" not in line]
    assert len(reports) == 4
    assert unusable < min(reports)
    assert any("pm-bad: no orders; left: unknown" in line and "FAILED" in line for line in lines)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    summaries = {r["account"]: r for r in records if r.get("summary")}
    assert {n: s["ok"] for n, s in summaries.items()} == {
        "lm": True,
        "pm-a": True,
        "pm-bad": False,
        "pm-b": True,
    }
    assert summaries["pm-bad"]["error"]["type"] == "InvalidRequest"
    for record in records:
        assert record["base_url"] == keys[record["account"]].base_url
    outcomes = [r for r in records if "summary" not in r]
    assert len(outcomes) == 12
    assert {r["status"] for r in outcomes} == {"cancelled"}


def test_the_library_is_told_of_an_account_whose_client_cannot_be_built(
    desk: tuple[DeskFile, dict[str, list[str]]], cancelkit_sandbox: Sandbox
) -> None:
    """``on_unusable`` names the account whose client could not be built, with why,
    once, whether the desk opened it up front (Desk) or in its task (a one-run desk,
    as the command's); the others' books still end empty."""
    from cancelkit import InvalidRequest
    from cancelkit._desk import one_shot_desk

    file, orders = desk
    env = {**file.env, "SECRET_PM_B": "bm90IGEga2V5"}  # base64, but no Ed25519 key
    accounts = load_accounts(file.path, environ=env)
    told: list[tuple[str, str]] = []

    def unusable(account: Any, problem: BaseException) -> None:
        assert isinstance(problem, InvalidRequest)
        told.append((account.name, type(problem).__name__))

    with Desk(accounts) as sync_desk:
        assert sync_desk.base_url("pm-b") is None  # no client: where it sends is unknown
        runs = sync_desk.cancel_everywhere(deadline=20, accounts=["pm-b"], on_unusable=unusable)
    assert told == [("pm-b", "InvalidRequest")]
    assert [(r.account.name, r.ok, type(r.error).__name__) for r in runs] == [
        ("pm-b", False, "InvalidRequest")
    ]

    async def one_run() -> list[bool]:
        async with one_shot_desk(accounts) as one:
            assert one.unusable == {}  # nothing built yet: learned as each task starts
            done = await one.cancel_everywhere(deadline=20, on_unusable=unusable)
            assert list(one.unusable) == ["pm-b"]
            return [r.ok for r in done]

    assert anyio.run(one_run) == [True, False, True]
    assert told == [("pm-b", "InvalidRequest")] * 2
    assert open_ids(cancelkit_sandbox) == set(orders["pm-b"])


def test_an_on_unusable_callback_that_raises_ends_no_other_account_s_run(
    desk: tuple[DeskFile, dict[str, list[str]]], cancelkit_sandbox: Sandbox
) -> None:
    """The library's callback is the caller's code: one that raises is logged, and
    the other accounts' kills run to their end (their books empty), as an
    ``on_result`` that raises ends only its own account's run."""
    from cancelkit._desk import one_shot_desk

    file, orders = desk
    env = {**file.env, "SECRET_PM_B": "bm90IGEga2V5"}  # base64, but no Ed25519 key
    accounts = load_accounts(file.path, environ=env)

    def unusable(account: Any, problem: BaseException) -> None:
        raise RuntimeError("the caller's bug")

    async def one_run() -> list[tuple[str, bool]]:
        async with one_shot_desk(accounts) as one:
            done = await one.cancel_everywhere(deadline=20, on_unusable=unusable)
            return [(r.account.name, r.ok) for r in done]

    assert anyio.run(one_run) == [("pm-a", True), ("pm-b", False), ("lm", True)]
    assert open_ids(cancelkit_sandbox) == set(orders["pm-b"])

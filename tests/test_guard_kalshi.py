"""``cancelkit guard`` on a Kalshi account, as a real process against the sandbox:
its open orders come from Kalshi's private order stream (``orders_from: stream``),
and its firing sends the cancel-all before any listing, naming every order the
stream knows, each confirmed gone by the listing after it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from cancelkit.sandbox import Sandbox
from test_everywhere import DeskFile, seed
from test_guard import Guard, _start, guards  # noqa: F401  (the fixture)

CANCEL_ALL = ("DELETE", "/trade-api/v2/portfolio/events/orders")
LISTING = ("GET", "/trade-api/v2/portfolio/orders")
KEY_CHECK = "/trade-api/v2/portfolio/orders/cancelkit-key-check"  # the hook's proof


def _outcomes(state_dir: Path, account: str) -> dict[str, str]:
    """Each order's last status in the account's journaled runs."""
    found: dict[str, str] = {}
    for path in sorted(state_dir.glob("run-*.jsonl")):
        lines = [json.loads(line) for line in path.read_text().splitlines() if line]
        if not lines or lines[0].get("account") != account:
            continue
        for record in lines[1:]:
            if record.get("order") and "status" in record:
                found[record["order"]] = record["status"]
    return found


@pytest.mark.parametrize("subaccount", [None, 4])
def test_a_kalshi_accounts_orders_come_from_its_stream_and_its_firing_deletes_first(
    cancelkit_sandbox: Sandbox,
    tmp_path: Path,
    state_dir: Path,
    guards: list[Guard],  # noqa: F811
    subaccount: int | None,
) -> None:
    box = cancelkit_sandbox
    kalshi = box.add_account("kalshi")
    desk = DeskFile(box, tmp_path)
    settings = {} if subaccount is None else {"subaccount": subaccount}
    desk.tables.append(kalshi.table("ks", "SECRET_KS", **settings))
    desk.env["SECRET_KS"] = kalshi.secret
    desk.path.write_text("\n".join(desk.tables))
    primary = seed(box, kalshi, 3)
    fourth = seed(box, kalshi, 2, subaccount=4)
    ours = fourth if subaccount == 4 else primary + fourth
    # No read of the upkeep's while the test runs: what it knows is the stream's.
    guard = _start(guards, desk, state_dir, "--prove-every", "3600")
    guard.armed()

    def account(status: dict[str, object]) -> dict[str, object]:
        (found,) = status["accounts"]  # type: ignore[misc]
        assert isinstance(found, dict)
        return found

    status = guard.wait_for(lambda s: account(s)["stream"] == "live", "streaming Kalshi")
    assert account(status)["orders_from"] == "stream"
    assert account(status)["open_orders"] == len(ours)
    # Orders placed since are learned from the stream.
    later = seed(box, kalshi, 2, subaccount=4)
    primary += seed(box, kalshi, 1)
    ours += later + (primary[-1:] if subaccount is None else [])
    guard.wait_for(lambda s: account(s)["open_orders"] == len(ours), "told of the new orders")
    box.clear_requests()
    fired_at = time.monotonic()
    done = guard.cli("trigger")
    assert done.returncode == 0, done.stdout + done.stderr
    assert guard.fired()["last_run"]["status"] == 0
    # Its orders' requests (not an idle connection's unsigned warm-up, GET /, nor the
    # upkeep's proof of the key, a lookup of an id no order has, made after a firing).
    sent = [
        r
        for r in box.requests
        if r.path.startswith("/trade-api/v2/portfolio/") and r.path != KEY_CHECK
    ]
    requests = [(r.method, r.path) for r in sent]
    # The cancel-all first, before any listing; then listings until it is confirmed.
    assert requests[0] == CANCEL_ALL, requests
    assert LISTING in requests[1:]
    assert all(r.arrived >= fired_at for r in sent)
    assert {dict(r.query).get("subaccount") for r in sent} == {
        None if subaccount is None else str(subaccount)
    }
    resting = {o.id for o in box.kalshi.on_book(kalshi.owner)}
    assert resting == (set(primary) if subaccount == 4 else set())
    # Every order named, each confirmed by its leaving the listing after the 204.
    assert _outcomes(state_dir, "ks") == dict.fromkeys(ours, "not_open")
    # The firing's journal: the cancel-all's sent line before anything else of it, its
    # answer next, then the orders' outcomes (a resume knows it was sent and answered).
    (journal,) = sorted(state_dir.glob("run-*.jsonl"))
    body = [json.loads(line) for line in journal.read_text().splitlines()[1:]]
    assert [(r.get("cancel_all"), r.get("answered")) for r in body[:2]] == [
        (True, None),
        (True, True),
    ]
    assert {r["order"] for r in body[2:]} == set(ours)
    assert guard.stop() == 0


def test_a_live_kalshi_stream_turns_the_minutes_listing_into_one_lookup(
    cancelkit_sandbox: Sandbox,
    tmp_path: Path,
    state_dir: Path,
    guards: list[Guard],  # noqa: F811
) -> None:
    """The armed guard's signed read, against the sandbox (which serves ``GetOrder``
    from its verbatim block and verifies each signature): while the account's stream
    is live, the lookup of an id no order has (2 Read tokens), never the listing (10)."""
    box = cancelkit_sandbox
    kalshi = box.add_account("kalshi")
    desk = DeskFile(box, tmp_path)
    desk.add("ks", kalshi)
    seed(box, kalshi, 2)
    guard = _start(guards, desk, state_dir, "--prove-every", "1")
    guard.armed()
    guard.wait_for(lambda s: s["accounts"][0]["stream"] == "live", "streaming Kalshi")
    box.clear_requests()
    lookup = ("GET", KEY_CHECK)
    waited = time.monotonic() + 20
    while time.monotonic() < waited:
        signed = [(r.method, r.path) for r in box.requests if r.path.startswith("/trade-api/")]
        if signed.count(lookup) >= 2:
            break
        time.sleep(0.1)
    assert signed.count(lookup) >= 2, signed
    assert LISTING not in signed, signed
    assert all(r.verified for r in box.requests if r.path == lookup[1])
    status = guard.status()
    assert status is not None
    assert status["accounts"][0]["key"] == "accepted"
    assert guard.stop() == 0

"""A desk learns markets for the accounts whose venue lists per market (issue 33: the
guard adds every market an account's order stream shows): a learned market is
listed and killed with the named ones, and the run says which it learned. A venue
that covers the whole account learns nothing; a market the venue would refuse, or
one past the bound, is not learned."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from cancelkit import AsyncDesk, Desk, load_accounts
from cancelkit._desk import MAX_LEARNED, AccountRun
from cancelkit.sandbox import Sandbox
from test_everywhere import DeskFile, demo_keys


def _desk_file(box: Sandbox, tmp_path: Path, markets: str = "") -> DeskFile:
    pm, lm = demo_keys(box)
    file = DeskFile(box, tmp_path)
    file.add("pm", pm)
    file.add("lm", lm, markets=markets)
    return file


def test_a_learned_market_is_listed_and_killed_and_named_as_learned(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    file = _desk_file(box, tmp_path, markets='"named"')
    in_named = box.seed_limitless(market_slug="named")
    in_seen = box.seed_limitless(market_slug="seen")
    elsewhere = box.seed_limitless(market_slug="never-seen")
    accounts = load_accounts(file.path, environ=file.env)

    async def run() -> tuple[dict[str, list[str] | BaseException], list[AccountRun], bool]:
        async with AsyncDesk(accounts) as desk:
            assert desk.learn("lm", "seen") is True
            assert desk.learn("lm", "seen") is False  # once
            assert desk.learn("lm", "named") is False  # named already
            assert desk.learn("pm", "seen") is False  # Polymarket cancels account-wide
            listed = await desk.open_orders(10)
            runs = await desk.cancel_everywhere(deadline=10)
            return listed, runs, desk.learned("lm") == ("seen",)

    listed, runs, kept = anyio.run(run)
    assert kept
    assert sorted(listed["lm"]) == sorted([in_named.id, in_seen.id])  # type: ignore[arg-type]
    pm_run, lm_run = runs
    assert (lm_run.covered, lm_run.learned, lm_run.ok) == (("named", "seen"), ("seen",), True)
    assert lm_run.account.markets == ("named",)  # the account as configured
    assert (pm_run.covered, pm_run.learned) == (None, ())
    assert box.limitless.get(in_seen.id).status == "cancelled"  # type: ignore[union-attr]
    assert box.limitless.get(elsewhere.id).status == "open"  # type: ignore[union-attr]


def test_an_account_without_markets_is_covered_once_one_is_learned(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    file = _desk_file(box, tmp_path)
    order = box.seed_limitless(market_slug="seen")
    accounts = load_accounts(file.path, environ=file.env)

    async def run() -> tuple[AccountRun, AccountRun]:
        async with AsyncDesk(accounts) as desk:
            (before,) = await desk.cancel_everywhere(deadline=10, accounts=["lm"])
            desk.learn("lm", "seen")
            (after,) = await desk.cancel_everywhere(deadline=10, accounts=["lm"])
            return before, after

    before, after = anyio.run(run)
    assert (before.covered, before.ok) == ((), False)  # not covered
    assert (after.covered, after.learned, after.ok) == (("seen",), ("seen",), True)
    assert box.limitless.get(order.id).status == "cancelled"  # type: ignore[union-attr]


def test_a_market_the_venue_would_refuse_or_past_the_bound_is_not_learned(
    cancelkit_sandbox: Sandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    file = _desk_file(cancelkit_sandbox, tmp_path)
    accounts = load_accounts(file.path, environ=file.env)

    async def run() -> tuple[bool, bool, int]:
        async with AsyncDesk(accounts) as desk:
            bad = desk.learn("lm", "x" * 5000)
            for n in range(MAX_LEARNED):
                desk.learn("lm", f"m-{n}")
            over = desk.learn("lm", "one-too-many")
            with pytest.raises(KeyError):
                desk.learn("nobody", "m")
            return bad, over, len(desk.learned("lm"))

    bad, over, count = anyio.run(run)
    assert (bad, over, count) == (False, False, MAX_LEARNED)
    assert "not learned" in caplog.text


def test_the_sync_desk_learns_too(cancelkit_sandbox: Sandbox, tmp_path: Path) -> None:
    box = cancelkit_sandbox
    file = _desk_file(box, tmp_path)
    order = box.seed_limitless(market_slug="seen")
    with Desk(load_accounts(file.path, environ=file.env)) as desk:
        assert desk.learn("lm", "seen") is True
        (run,) = desk.cancel_everywhere(deadline=10, accounts=["lm"])
    assert (run.covered, run.learned, run.ok) == (("seen",), ("seen",), True)
    assert box.limitless.get(order.id).status == "cancelled"  # type: ignore[union-attr]

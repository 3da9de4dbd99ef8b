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

"""``cancel polymarket ID... --market SLUG``: the operator names the market, so the
cancels go at once, with no listing before them (issue 33, the cold command's goal
beside the official SDK's script, which is given the market too), and every order
still ends on the exchange's word. Through the real command, against the sandbox."""

from __future__ import annotations

from cancelkit.sandbox import Sandbox
from test_operator import cli, open_ids, records

MARKET = "mkt-given"
OTHER = "mkt-other"


def _polymarket_requests(box: Sandbox) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in box.requests if r.venue == "polymarket"]


def test_market_given_sends_the_cancel_first_and_still_confirms(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    order = box.seed_polymarket("given-1", market_slug=MARKET).id
    box.clear_requests()
    result = cli(box, "cancel", "polymarket", order, "--market", MARKET, "--json")
    assert result.returncode == 0, result.stderr
    sent = _polymarket_requests(box)
    assert sent[0] == ("POST", "/v1/orders/batched/cancel"), sent  # nothing before it
    assert ("GET", "/v1/orders/open") in sent[1:], sent  # confirmed by the listing after
    [record] = records(result.stdout)
    # No listing saw it open before the cancel: the exchange's word is "not open", and
    # the run does not claim the cancel was its own.
    assert record["status"] == "not_open", record
    assert "ORDER_STATE_CANCELED" in record["message"]
    assert order not in open_ids(box)


def test_a_wrong_market_is_said_and_never_reported_cancelled(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    order = box.seed_polymarket("given-2", market_slug=OTHER).id
    result = cli(box, "cancel", "polymarket", order, "--market", MARKET, "--json")
    [record] = records(result.stdout)
    assert record["status"] == "failed", record
    assert f"in market {OTHER}, not --market {MARKET}" in record["message"]
    assert result.returncode == 1, result.stderr
    assert order in open_ids(box)  # a cancel naming another market does not reach it


def test_an_unknown_id_with_market_given_is_not_found(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    result = cli(box, "cancel", "polymarket", "no-such-order", "--market", MARKET, "--json")
    [record] = records(result.stdout)
    assert record["status"] == "not_found", record
    assert result.returncode == 1, result.stderr


def test_many_ids_with_market_given_end_on_the_streams_word(cancelkit_sandbox: Sandbox) -> None:
    """More ids than a few: the order stream is subscribed before the first cancel, so
    each execution it reports after that is this run's cancel: ``cancelled``."""
    box = cancelkit_sandbox
    ids = [box.seed_polymarket(f"given-m{i:02d}", market_slug=MARKET).id for i in range(25)]
    box.clear_requests()
    result = cli(box, "cancel", "polymarket", *ids, "--market", MARKET, "--json")
    assert result.returncode == 0, result.stderr
    sent = [r for r in _polymarket_requests(box) if not r[1].startswith("/v1/ws")]
    assert sent[0] == ("POST", "/v1/orders/batched/cancel"), sent
    outcome = {r["order"]: r["status"] for r in records(result.stdout)}
    assert set(outcome.values()) == {"cancelled"}, outcome
    assert not (set(ids) & open_ids(box))

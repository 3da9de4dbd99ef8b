"""What an armed, idle guard costs each venue: the issue's "requests at most 1 % of any
venue's budget", counting every request (the unsigned keep-alives too), whatever the
number of markets an account names."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from cancelkit import Account, SecretRef
from cancelkit._cli import _guard_desk
from cancelkit._cli._guard_desk import Upkeep
from cancelkit._desk_hook import desk_hook, venues


class _Client:
    """A Limitless client as the upkeep uses it: each request written down."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def open_orders(self, slug: str) -> list[Any]:
        self.sent.append(f"list {slug}")
        return [SimpleNamespace(id=f"{slug}-order")]

    async def order_status(self, items: Any) -> None:
        self.sent.append("status")

    async def warm(self) -> float:
        self.sent.append("GET /")
        return 0.0


class _Desk:
    def __init__(self, account: Account, client: _Client) -> None:
        self.accounts = [account]
        self._client = client

    def client(self, name: str) -> _Client:
        return self._client

    def covering(self, account: Account) -> Account:
        return account  # no market learned from a stream here

    def learn(self, name: str, market: str) -> bool:
        return False


def _limitless(markets: tuple[str, ...]) -> Account:
    return Account("lm-1", "limitless", "token", SecretRef(env="LM"), markets=markets)


@pytest.mark.parametrize("venue", venues())
def test_an_idle_accounts_default_cadence_is_within_a_percent_of_its_budget(venue: str) -> None:
    # Limitless with many markets: still one request a gap (one market a read).
    markets = tuple(f"m{i}" for i in range(12)) if venue == "limitless" else ()
    account = Account("a", venue, "key", SecretRef(env="X"), markets=markets)
    upkeep = Upkeep(_Desk(account, _Client()))  # type: ignore[arg-type]
    gap = upkeep.gap(account)
    share = (1 / gap) / desk_hook(venue).upkeep_rate(account)
    assert share <= 0.01, f"{venue}: one request every {gap} s is {share:.2%} of its budget"
    assert upkeep.read_every <= 300  # a revoked key shows within 5 minutes


def test_limitless_spends_one_request_a_gap_each_a_listing_of_one_market_in_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Scaled down a thousandfold: a gap of 0.06 s, reads due every 0.15 s, and
    # keep-alives that would come every 0.02 s if nothing capped them.
    monkeypatch.setattr(_guard_desk, "WARM_EVERY", 0.02)
    monkeypatch.setattr(_guard_desk, "UPKEEP_SHARE", 1 / (0.06 * (1 / 0.3)))
    client = _Client()
    account = _limitless(("a", "b", "c"))
    upkeep = Upkeep(_Desk(account, client), read_every=0.15)  # type: ignore[arg-type]
    assert upkeep.gap(account) == pytest.approx(0.06)

    async def main() -> None:
        with anyio.move_on_after(1.2):
            await upkeep.run()

    anyio.run(main)
    # At most one request a gap (and the first at once); never the 60 a keep-alive
    # every 0.02 s would send.
    assert 8 <= len(client.sent) <= 1.2 / 0.06 + 2, client.sent
    listings = [sent for sent in client.sent if sent.startswith("list")]
    assert listings[:4] == ["list a", "list b", "list c", "list a"], client.sent
    assert client.sent[0] == "list a"  # the first at once: its orders known from the start
    # Each listing answers for its market; the account's orders are the union.
    assert upkeep.orders["lm-1"] == {"a-order", "b-order", "c-order"}
    assert upkeep.keys["lm-1"] == "accepted"


def test_a_prove_every_shorter_than_the_gap_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    account = _limitless(("a",))
    upkeep = Upkeep(_Desk(account, _Client()), read_every=5)  # type: ignore[arg-type]
    assert upkeep.gap(account) == 5  # the operator asked for a read every 5 s


class _Kalshi:
    """A Kalshi client as the upkeep uses it: each request written down, and an order
    stream the test drives (its reconciling snapshot, then an interruption)."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.go_live = anyio.Event()
        self.interrupt = anyio.Event()

    async def open_orders(self, subaccount: int | None = None) -> list[Any]:
        self.sent.append("list")
        return [SimpleNamespace(order_id="listed-1")]

    async def get_order(self, order_id: str) -> Any:
        from cancelkit import OrderNotFound

        self.sent.append(f"lookup {order_id}")
        raise OrderNotFound("order not found")  # a signed read answered: the key works

    async def warm(self) -> float:
        self.sent.append("GET /")
        return 0.0

    async def order_events(self) -> Any:
        from cancelkit.kalshi import OrderSnapshot, StreamInterrupted, StreamOrder

        await self.go_live.wait()
        yield OrderSnapshot((StreamOrder("streamed-1", status="resting"),))
        await self.interrupt.wait()
        yield StreamInterrupted("connection closed", 1)
        await anyio.sleep_forever()


def test_kalshi_reads_with_a_lookup_while_its_stream_is_live_and_lists_when_it_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A signed read due every 0.05 s (scaled down from a minute), no keep-alive between.
    monkeypatch.setattr(_guard_desk, "WARM_EVERY", 0.05)
    client = _Kalshi()
    account = Account("ks-1", "kalshi", "key", SecretRef(env="KS"))
    upkeep = Upkeep(_Desk(account, client), read_every=0.05)  # type: ignore[arg-type]
    marks: dict[str, int] = {}
    known: set[str] = set()  # what it knew while live: the orders, and where from

    async def until(done: Any) -> None:
        with anyio.fail_after(10):  # generous: each step takes a few reads of 0.05 s
            while not done():
                await anyio.sleep(0.01)

    async def main() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(upkeep.run)
            await until(lambda: "list" in client.sent)  # no stream yet: the listing
            client.go_live.set()
            await until(lambda: upkeep.streams.get("ks-1") == "live")
            marks["live"] = len(client.sent)
            await until(lambda: len(client.sent) >= marks["live"] + 3)
            marks["interrupted"] = len(client.sent)
            known.update(upkeep.orders["ks-1"], {upkeep.orders_from["ks-1"]})
            client.interrupt.set()
            await until(lambda: "list" in client.sent[marks["interrupted"] :])
            group.cancel_scope.cancel()

    anyio.run(main)
    live = client.sent[marks["live"] : marks["interrupted"]]
    # Live and reconciled: the stream's word is the open orders; the read is the one
    # order lookup (2 Read tokens, not a listing's 10) and it still proves the key.
    assert len(live) >= 3, client.sent
    assert set(live) == {"lookup cancelkit-key-check"}, client.sent
    assert upkeep.keys["ks-1"] == "accepted"
    assert known == {"streamed-1", "stream"}
    # Interrupted: the listing again (its answer is the account's orders once more).
    assert upkeep.streams["ks-1"].startswith("reconnecting")
    assert upkeep.orders["ks-1"] == {"listed-1"}

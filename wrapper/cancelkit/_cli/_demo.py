"""``cancelkit demo``: the main job, end to end, on the embedded sandbox: cancels on
every venue (Polymarket US, Limitless, Kalshi with both kinds of key)."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from .._exceptions import CancelKitError


class _Wire(logging.Handler):
    """Collects the client's per-attempt DEBUG lines: what was actually sent."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage().split(" (attempt")[0])


def _squeeze(lines: list[str]) -> list[str]:
    """Repeated request lines once, with a count (a kill switch sends a few kinds)."""
    counts = Counter(lines)
    return [f"{line}  x{counts[line]}" if counts[line] > 1 else line for line in counts]


def _reduced(answer: Any) -> str:
    return str(getattr(answer, "reduced_by", "-"))


def _on_book(book: Any) -> int:
    """How many of one venue's orders are still on its book."""
    return sum(1 for o in list(book.orders.values()) if o.on_book())


def run() -> int:
    """Run the demo; 0 when every step ended as expected."""
    from ..sandbox import Sandbox

    # Wide enough for the table when output is not a terminal (make, CI logs).
    console = Console(width=None if Console().is_terminal else 150)
    wire = _Wire()
    logger = logging.getLogger("cancelkit")
    logger.addHandler(wire)
    logger.setLevel(logging.DEBUG)
    started = time.perf_counter()
    rows: list[tuple[str, str, str, str, bool]] = []
    with Sandbox() as box:
        c = box.credentials
        pm_order = box.seed_polymarket("pm-ord-001", market_slug="nba-lal-bos-2026-11-22")
        by_id = box.seed_limitless()
        by_client = box.seed_limitless(client_order_id="partner-order-001")
        sub = box.seed_limitless(owner=c.limitless_sub_account)
        kill = [
            box.seed_polymarket(f"pm-kill-{i:03d}", market_slug=f"m-{i % 3}").id for i in range(60)
        ]
        box.seed_polymarket("pm-filled-1", status="filled")
        ks_one = box.seed_kalshi(ticker="KXBTC-26DEC31-T100000")
        ks_rsa = box.seed_kalshi(ticker="KXBTC-26DEC31-T100000")
        ks_kill = [box.seed_kalshi(ticker=f"KXDEMO-{i % 3}").id for i in range(60)]
        ks_filled = box.seed_kalshi(status="executed").id
        ks_all = [box.seed_kalshi(subaccount=i % 4).id for i in range(8)]
        console.print(
            f"Sandbox: Polymarket US {box.polymarket_url}, Limitless {box.limitless_url},"
            f" Kalshi {box.kalshi_url}"
        )

        def step(
            asked: str, action: Callable[[], Any], recorded: Callable[[], str], expect: str
        ) -> None:
            wire.lines.clear()
            try:
                outcome = f"ok: {action() or 'cancelled'}"
            except CancelKitError as exc:
                outcome = f"{type(exc).__name__}: {exc}"
            sent = "\n".join(_squeeze(wire.lines)) or "nothing (0 requests)"
            rows.append((asked, sent, recorded(), outcome, outcome.startswith(expect)))

        with (
            box.polymarket_client() as pm,
            box.limitless_client() as lm,
            box.kalshi_client() as ks,
            box.kalshi_client(key="rsa") as ks_pss,
        ):
            step(
                f"Polymarket: cancel {pm_order.id} in {pm_order.market_slug}",
                lambda: pm.cancel_order(pm_order.id, market_slug=pm_order.market_slug),
                lambda: f"{pm_order.id}: {pm_order.status}",
                "ok",
            )
            step(
                f"Limitless: cancel by order id {by_id.id[:8]}...",
                lambda: lm.cancel_order(order_id=by_id.id),
                lambda: f"{by_id.id[:8]}...: {by_id.status}",
                "ok",
            )
            step(
                f"Limitless: cancel by client order id {by_client.client_order_id}",
                lambda: lm.cancel_order(client_order_id=by_client.client_order_id or ""),
                lambda: f"{by_client.client_order_id}: {by_client.status}",
                "ok",
            )
            step(
                f"Limitless: cancel {sub.id[:8]}... on behalf of sub-account {sub.owner}",
                lambda: lm.cancel_order(order_id=sub.id, on_behalf_of=c.limitless_sub_account),
                lambda: f"{sub.id[:8]}... (owner {sub.owner}): {sub.status}",
                "ok",
            )

            def kill_switch() -> str:
                results = pm.cancel_orders([*kill, "pm-filled-1"])
                counts = Counter(r.status for r in results)
                # cancelled: the exchange said so; not_open: it left the listing
                # (cancelled or filled) and was not asked within the lookup budget.
                shown = ", ".join(f"{n} {status}" for status, n in counts.items())
                return f"{sum(r.ok for r in results)} of {len(results)} not open ({shown})"

            before_pm = box.polymarket.stats.requests
            step(
                f"Polymarket kill switch: {len(kill)} open orders in 3 markets + 1 filled",
                kill_switch,
                lambda: (
                    f"{box.polymarket.stats.requests - before_pm} requests;"
                    f" {_on_book(box.polymarket)} orders still open"
                ),
                "ok: 61 of 61 not open",
            )
            before = box.limitless.stats.requests
            step(
                "Limitless: both identifiers at once (bad input)",
                # The misuse on show: refused before sending (and by a type checker).
                lambda: lm.cancel_order(order_id=by_id.id, client_order_id="x"),  # type: ignore[call-overload]
                lambda: f"{box.limitless.stats.requests - before} requests received",
                "InvalidRequest",
            )
            step(
                "Polymarket: cancel unknown order pm-ord-404",
                lambda: pm.cancel_order("pm-ord-404"),
                lambda: "no such order; book unchanged",
                "OrderNotFound",
            )
            step(
                f"Kalshi: cancel {ks_one.id[:8]}... (V2, Ed25519 key)",
                lambda: f"reduced by {_reduced(ks.cancel_order(ks_one.id))}",
                lambda: f"{ks_one.id[:8]}...: {ks_one.status}",
                "ok",
            )
            step(
                f"Kalshi: cancel {ks_rsa.id[:8]}... (V2, RSA-PSS key)",
                lambda: f"reduced by {_reduced(ks_pss.cancel_order(ks_rsa.id))}",
                lambda: f"{ks_rsa.id[:8]}...: {ks_rsa.status}",
                "ok",
            )

            def kalshi_kill() -> str:
                results = ks.cancel_orders([*ks_kill, ks_filled])  # Basic: 50 per batch
                counts = Counter(r.status for r in results)
                shown = ", ".join(f"{n} {status}" for status, n in counts.items())
                return f"{sum(r.ok for r in results)} of {len(results)} not open ({shown})"

            step(
                f"Kalshi kill switch: {len(ks_kill)} resting orders in 3 markets + 1 executed",
                kalshi_kill,
                lambda: (
                    f"{_on_book(box.kalshi)} Kalshi orders still resting (the"
                    f" {len(ks_all)} for the cancel-all next)"
                ),
                "ok: 61 of 61 not open",
            )

            def kalshi_all() -> str:
                results = ks.cancel_all()  # every subaccount: none given
                return f"{sum(r.ok for r in results)} of {len(results)} left the listing"

            step(
                f"Kalshi cancel-all: {len(ks_all)} resting orders in subaccounts 0-3",
                kalshi_all,
                lambda: f"{_on_book(box.kalshi)} Kalshi orders still resting",
                f"ok: {len(ks_all)} of {len(ks_all)}",
            )
            before_ks = len(box.requests)
            step(
                "Kalshi: cancel id '../portfolio/events/orders' (bad input)",
                lambda: ks.cancel_order("../portfolio/events/orders"),
                lambda: f"{len(box.requests) - before_ks} requests received",
                "InvalidRequest",
            )
    logger.removeHandler(wire)
    table = Table(title="cancelkit demo", show_lines=True)
    for header in ("asked", "sent", "sandbox recorded", "result", ""):
        table.add_column(header)
    for asked, sent, recorded, outcome, good in rows:
        table.add_row(
            asked, sent, recorded, outcome, "[green]as expected" if good else "[red]UNEXPECTED"
        )
    console.print(table)
    elapsed = time.perf_counter() - started
    ok = all(row[4] for row in rows)
    console.print(
        f"{'All steps as expected' if ok else 'Some steps went wrong'} in {elapsed:.2f} s."
    )
    return 0 if ok else 1

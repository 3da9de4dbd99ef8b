"""``cancelkit demo``: the main job, end to end, on the embedded sandbox."""

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
        console.print(f"Sandbox: Polymarket US {box.polymarket_url}, Limitless {box.limitless_url}")

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

        with box.polymarket_client() as pm, box.limitless_client() as lm:
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
                    f" {len(box.open_orders())} orders still open"
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

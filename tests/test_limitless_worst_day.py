"""The batched Limitless kill switch on a bad day: the write-ahead "sent" record, a
deadline that passes while the pace holds a batch back, a bug inside the run, and a
kill -9 resumed from the journal alone."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from cancelkit import AsyncLimitlessClient, CancelResult, Control
from cancelkit._generated.limitless_api.models import CancelByOrderId
from cancelkit.limitless import _kill as kill
from cancelkit.sandbox import Sandbox
from helpers import LM_SECRET, LM_TOKEN_ID

BATCH = kill.BATCH


def _targets(count: int) -> list[Any]:
    return [CancelByOrderId(order_id=UUID(int=i + 1)) for i in range(count)]


def _canceling(request: httpx.Request) -> httpx.Response:
    """batch-cancel: every id given is canceled."""
    ids = json.loads(request.content)["orderIds"]
    return httpx.Response(200, json={"message": "ok", "canceled": ids, "failed": []})


def _run(
    exchange: Any, targets: list[Any], control: Control, **kwargs: Any
) -> list[CancelResult[Any]]:
    async def main() -> list[CancelResult[Any]]:
        async with AsyncLimitlessClient(
            LM_TOKEN_ID, LM_SECRET, transport=httpx.MockTransport(exchange)
        ) as lm:
            return await lm.cancel_orders(targets, control=control, **kwargs)  # type: ignore[no-any-return]

    return asyncio.run(main())


def test_each_batch_is_marked_sent_before_it_leaves_and_only_its_orders() -> None:
    marked: list[list[int]] = []
    arrived: list[list[str]] = []
    control = Control(30)
    control.on_sent = lambda indices: marked.append(list(indices))

    def exchange(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/orders/batch-cancel" and len(arrived) == 1:
            arrived.append([])
            return httpx.Response(429, headers={"Retry-After": "0"}, json={"message": "slow"})
        ids = json.loads(request.content)["orderIds"]
        # Write-ahead: the journal heard of this batch before the exchange did.
        assert len(marked) == len([a for a in arrived if a]) + 1
        arrived.append(ids)
        return _canceling(request)

    results = _run(exchange, _targets(120), control)
    assert [r.status for r in results] == ["cancelled"] * 120
    # Three batches, each marked once with exactly its orders (the 429's retry is the
    # same request: not marked again).
    assert marked == [list(range(0, 50)), list(range(50, 100)), list(range(100, 120))]
    assert control.sent == 3
    assert control.throttled == 1  # the run's Control saw the 429 (progress counts it)
    assert control.key_accepted


def test_a_deadline_that_passes_while_the_pace_holds_a_batch_reports_it_not_sent() -> None:
    control = Control(2.0)
    batches: list[int] = []

    async def exchange(request: httpx.Request) -> httpx.Response:
        batches.append(len(json.loads(request.content)["orderIds"]))
        # Answer when less than the 300 ms spacing is left: the next batch's slot
        # comes after the deadline, however loaded the machine.
        await asyncio.sleep(max(0.0, control.left() - 0.2))
        return _canceling(request)

    started = time.monotonic()
    results = _run(exchange, _targets(150), control)
    elapsed = time.monotonic() - started
    assert batches == [BATCH]  # the other two never left the process
    counted = Counter(r.status for r in results)
    assert counted == {"cancelled": 50, "not_sent": 100}
    assert all("deadline" in (r.message or "") for r in results if r.status == "not_sent")
    assert elapsed < control.seconds + 1  # nothing waited for the slot past the deadline


def test_an_answer_cut_off_at_the_deadline_is_settled_by_one_lookup_in_the_grace() -> None:
    control = Control(1.0)
    control.grace = 1.5
    paths: list[str] = []

    async def exchange(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        if request.url.path == "/orders/batch-cancel":
            await asyncio.sleep(60)  # sent, never answered: cut off by the grace
        items = json.loads(request.content)["items"]
        found = [
            {
                "index": n,
                "status": "found",
                "orderId": i["orderId"],
                "data": {"id": i["orderId"], "status": "CANCELED"},
            }
            for n, i in enumerate(items)
        ]
        return httpx.Response(200, json={"results": found})

    started = time.monotonic()
    results = _run(exchange, _targets(3), control)
    # The batch left and got no answer; the one lookup (bounded by the grace) found
    # the orders not open: the exchange's word, never "not sent", never a guess.
    assert time.monotonic() - started < control.seconds + control.grace + 1
    assert paths == ["/orders/batch-cancel", "/orders/status/batch"]
    assert [r.status for r in results] == ["not_open"] * 3
    assert all(r.message.startswith("CANCELED") for r in results)


def test_an_unexpected_exception_inside_the_run_still_ends_every_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers: list[int] = []
    record_answer = kill._Run.record_answer

    def buggy(self: Any, kind: str, values: list[str], *args: Any) -> None:
        answers.append(len(values))
        if len(answers) == 2:
            raise RuntimeError("a bug somewhere below")
        record_answer(self, kind, values, *args)

    monkeypatch.setattr(kill._Run, "record_answer", buggy)
    control = Control(30)
    results = _run(_canceling, _targets(150), control)
    assert [r.index for r in results] == list(range(150))
    # The first batch was answered; the second was sent (its answer is lost to the
    # bug): unknown; the third never left: not_sent. Nothing is called cancelled
    # without the exchange's word, and the run says why it stopped.
    assert [r.status for r in results] == ["cancelled"] * 50 + ["unknown"] * 50 + ["not_sent"] * 50
    assert "RuntimeError" in (control.reason or "")


def test_an_unexpected_exception_in_cancel_all_still_ends_with_an_outcome(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug somewhere below")

    monkeypatch.setattr(AsyncLimitlessClient, "_cancel_all", broken)

    async def main() -> list[CancelResult[str]]:
        async with AsyncLimitlessClient(
            LM_TOKEN_ID, LM_SECRET, transport=httpx.MockTransport(_canceling)
        ) as lm:
            return await lm.cancel_all("btc-100k", control=Control(5))

    (result,) = asyncio.run(main())
    assert (result.target, result.status) == ("btc-100k", "unknown")
    assert "RuntimeError" in (result.message or "")


# --- the real command, killed -------------------------------------------------------------


def _uuid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


@pytest.mark.faults
@pytest.mark.cancelkit_sandbox(latency=0.25)
def test_kill_9_mid_batches_then_the_journal_alone_leaves_nothing_open(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    import os
    import sys

    box = cancelkit_sandbox
    ids = [box.seed_limitless(_uuid(i)).id for i in range(300)]  # six batches
    journal = tmp_path / "journal.jsonl"
    command = [sys.executable, "-m", "cancelkit", "cancel", "limitless", "--journal", str(journal)]
    command += [a for i in ids for a in ("--order-id", i)]
    env = {**os.environ, **box.env()}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while box.limitless.stats.cancels < BATCH and time.monotonic() < deadline:
        time.sleep(0.005)
    process.kill()
    process.wait(timeout=10)
    still_open = {o.id for o in box.open_orders()}
    assert still_open, "the run finished before the kill: nothing tested"
    lines = [json.loads(x) for x in journal.read_text().splitlines() if x.startswith("{")]
    sent = {r["order"].partition(":")[2] for r in lines if r.get("status") == "sent"}
    # Write-ahead: every order the exchange cancelled was journaled "sent" first, in
    # whole batches.
    assert set(ids) - still_open <= sent
    assert len(sent) % BATCH == 0
    env_run = subprocess.run(
        [sys.executable, "-m", "cancelkit", "cancel", "limitless", "--from-file", str(journal)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert env_run.returncode == 0, env_run.stderr
    assert not {o.id for o in box.open_orders()}
    assert "300 order(s)" in env_run.stderr


def test_a_filled_order_in_a_batch_is_filled_not_cancelled(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    open_one = box.seed_limitless()
    filled = box.seed_limitless(status="filled")
    cancelled = box.seed_limitless(status="cancelled")
    targets = [CancelByOrderId(order_id=UUID(o.id)) for o in (open_one, filled, cancelled)]
    with box.limitless_client() as client:
        results = client.cancel_orders(targets)
    assert [r.status for r in results] == ["cancelled", "filled", "not_open"]
    assert "MATCHED" in (results[1].message or "")
    assert not box.open_orders()

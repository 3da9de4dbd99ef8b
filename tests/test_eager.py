"""``cancelkit._eager.started``: a coroutine's first step run at once (what aiohttp's
request-body writer gets on Python 3.11, so that a request's bytes leave as it is
sent), and the rest of it run by the task as if it had run it all: its value, its
exception, its cancellation."""

from __future__ import annotations

import asyncio

import pytest
from cancelkit._eager import started


def test_the_first_step_runs_at_once_and_the_task_gets_the_value() -> None:
    steps: list[str] = []

    async def work() -> int:
        steps.append("first")
        return 7

    async def main() -> None:
        coro = started(work())
        assert steps == ["first"]  # before any task ran it
        assert await asyncio.create_task(coro) == 7

    asyncio.run(main())


def test_a_wait_in_it_is_handed_to_the_task_which_resumes_it() -> None:
    steps: list[str] = []

    async def main() -> None:
        ready = asyncio.get_running_loop().create_future()

        async def work() -> str:
            steps.append("before the wait")
            value = await ready
            steps.append(f"after the wait: {value}")
            await asyncio.sleep(0)
            return "done"

        task = asyncio.create_task(started(work()))
        assert steps == ["before the wait"]
        await asyncio.sleep(0)
        assert not task.done()  # still waiting on the future
        ready.set_result("set")
        assert await task == "done"
        assert steps == ["before the wait", "after the wait: set"]

    asyncio.run(main())


def test_cancelling_the_task_while_it_waits_cancels_the_coroutine() -> None:
    seen: list[str] = []

    async def main() -> None:
        async def work() -> None:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                seen.append("cancelled")
                raise
            finally:
                seen.append("finally")

        task = asyncio.create_task(started(work()))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert seen == ["cancelled", "finally"]


def test_an_error_in_the_first_step_is_raised_by_the_task() -> None:
    async def work() -> None:
        raise ValueError("refused at once")

    async def main() -> None:
        task = asyncio.create_task(started(work()))
        with pytest.raises(ValueError, match="refused at once"):
            await task

    asyncio.run(main())


def test_an_error_after_a_wait_is_raised_by_the_task() -> None:
    async def work() -> None:
        await asyncio.sleep(0)
        raise ValueError("refused later")

    async def main() -> None:
        with pytest.raises(ValueError, match="refused later"):
            await asyncio.create_task(started(work()))

    asyncio.run(main())

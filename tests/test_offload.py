"""Where poll work runs: one CPU thread for the daemon, inline for one-shot commands."""

from __future__ import annotations

import asyncio
import threading
import time

from monitor.offload import on_cpu_thread, run_inline


def test_inline_runs_on_the_callers_thread() -> None:
    async def main() -> str:
        return await run_inline(lambda: threading.current_thread().name)

    assert asyncio.run(main()) == threading.current_thread().name


def test_cpu_work_runs_one_call_at_a_time_on_one_thread() -> None:
    running = 0
    most = 0
    names: set[str] = set()
    lock = threading.Lock()

    def work(seconds: float) -> str:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(seconds)
        with lock:
            running -= 1
        names.add(threading.current_thread().name)
        return "done"

    async def main() -> list[str]:
        return await asyncio.gather(*(on_cpu_thread(work, 0.01) for _ in range(6)))

    assert asyncio.run(main()) == ["done"] * 6
    assert most == 1  # never two at once, unlike the default executor
    assert len(names) == 1
    assert next(iter(names)).startswith("newsmon-cpu")


def test_the_loop_stays_free_while_the_cpu_thread_works() -> None:
    async def main() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        task = asyncio.create_task(ticker())
        await on_cpu_thread(time.sleep, 0.2)
        task.cancel()
        return ticks

    assert asyncio.run(main()) >= 5

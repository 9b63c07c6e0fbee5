"""Where poll work runs: one CPU thread for the daemon, inline for one-shot commands."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
import time
from pathlib import Path

import pytest

from monitor.offload import on_cpu_thread, on_daemon_thread, run_inline, run_main


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


class _Counted:
    """A result that counts the times its repr is made (asyncio.run made it twice on CPython
    3.11.7; reprlib swallows an error raised there, so a count, not a raise)."""

    def __init__(self) -> None:
        self.reprs = 0

    def __repr__(self) -> str:
        self.reprs += 1
        return "<counted>"


def test_run_main_hands_back_the_result_without_its_repr() -> None:
    async def main() -> _Counted:
        await asyncio.sleep(0)
        return _Counted()

    got = run_main(main())
    assert isinstance(got, _Counted)
    assert got.reprs == 0


def test_run_main_raises_what_the_main_coroutine_raised() -> None:
    async def main() -> int:
        raise LookupError("no such feed")

    with pytest.raises(LookupError, match="no such feed"):
        run_main(main())


def test_check_never_formats_its_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    """`check` hands every item and match back through the event loop: their repr (each match
    explained, every item's text) must not be made on the way (it was most of check's CPU)."""
    from monitor.cli.oneshot import check_feeds
    from monitor.config import Config
    from monitor.model import Match

    formatted: list[str] = []

    def counted(self: Match) -> str:
        formatted.append(self.rule.id)
        return "Match(...)"

    monkeypatch.setattr(Match, "__repr__", counted)
    root = Path(__file__).parent.parent
    result = check_feeds(Config(rules=str(root / "rules")), [str(root / "seeds" / "article.rss")])
    assert sorted(m.rule.id for _, ms in result.found for m in ms) == [
        "arms-to-ukraine",
        "nato-delegation",
        "troop-dispatch",
    ]
    assert formatted == []


_WHO: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")


def test_on_daemon_thread_carries_the_context_and_hands_back_result_and_error() -> None:
    def who(suffix: str) -> str:
        return _WHO.get() + suffix

    def fails() -> None:
        raise ValueError("refused")

    async def main() -> tuple[str, str]:
        _WHO.set("feed-1")
        got = await on_daemon_thread(who, "!")
        try:
            await on_daemon_thread(fails)
        except ValueError as exc:
            return got, str(exc)
        return got, ""

    assert asyncio.run(main()) == ("feed-1!", "refused")


def test_a_stop_does_not_wait_for_a_call_still_blocked_on_a_daemon_thread() -> None:
    """On the default executor, asyncio.run's end waited for the blocked call (smtplib waiting
    on a silent server): a stop took the whole delivery deadline."""
    release = threading.Event()

    async def main() -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.1):
                await on_daemon_thread(release.wait, 30)

    started = time.monotonic()
    asyncio.run(main())
    took = time.monotonic() - started
    release.set()
    assert took < 10  # the call would hold it 30 s

"""Where a poll's blocking work runs: on a worker thread, or inline on the event loop's thread.

Parsing, matching and fingerprinting are pure Python, so with the GIL extra threads add no
throughput, only handoffs and contention, and several feeds parsed at once hold their documents
in memory at once. Measured on a 200-feed cold round (docs/performance.md): the default executor
(six threads here) cost 3.8 s of CPU and 63 MB peak; one worker thread 3.5 s and 60 MB; inline
2.9 s and 55 MB.

- The daemon keeps its event loop free for /healthz, /metrics and the other fetches: CPU work
  goes to `on_cpu_thread` (one thread, so no two parses contend), store calls to
  `asyncio.to_thread` (they wait on disk or network and may overlap a parse).
- A one-shot `newsmon check --deliver` has nobody to keep waiting: `run_inline`. A parse then
  delays the reads of the fetches in flight by its own duration (milliseconds for a news feed,
  about a second for the largest feed `max_body` admits), far inside their deadlines.
- A one-shot's event loop runs in `run_main`: `asyncio.run` without the repr of its result that
  CPython 3.11.7 and 3.12.1 make twice as it ends (python/cpython#112559; 3.13.0 does not).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import Any, ParamSpec, Protocol, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class Offload(Protocol):
    """Runs `func(*args, **kwargs)` somewhere and awaits its result (`asyncio.to_thread`'s
    signature)."""

    def __call__(
        self, func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs
    ) -> Awaitable[R]: ...


_CPU = ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsmon-cpu")


async def on_cpu_thread(func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """`asyncio.to_thread` on the process's one CPU-work thread (context variables go along)."""
    call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_CPU, call)


async def on_daemon_thread(func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """`asyncio.to_thread`, but on a daemon thread of its own (context variables go along): a
    stop waits for no call still blocked in it. For a call that cannot be interrupted (smtplib):
    on the default executor, which the end of `asyncio.run` and of the interpreter wait for, a
    send to a server gone silent made SIGTERM take the whole delivery deadline (31 s), not the
    grace period. Cut off as the process ends, its work is left undone."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[R] = loop.create_future()
    call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)

    def settle(outcome: tuple[R] | BaseException) -> None:
        if future.done():  # cancelled: a stop, or the caller's own deadline
            return
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome[0])

    def work() -> None:
        outcome: tuple[R] | BaseException
        try:
            outcome = (call(),)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            outcome = exc
        with suppress(RuntimeError):  # the loop closed meanwhile: nobody awaits it any more
            loop.call_soon_threadsafe(settle, outcome)

    threading.Thread(target=work, name=f"newsmon-{_name(func)}", daemon=True).start()
    return await future


def _name(func: Callable[..., object]) -> str:
    return getattr(func, "__name__", "call")


async def run_inline(func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Run it here, now: for one-shot commands, where blocking the loop costs nobody."""
    return func(*args, **kwargs)


def run_main(main: Coroutine[Any, Any, R]) -> R:
    """`asyncio.run(main)`, its result handed back outside the main task.

    As asyncio.run ends it reads the SIGINT handler back, and those CPython versions format the
    handler's repr, which holds the main task, so the repr of the task's result: for `check`,
    every item with its whole text and every match, each explained on the way, into strings
    thrown away (on four 10 MB feeds of matching items, most of the command's CPU)."""
    got: list[R] = []

    async def boxed() -> None:
        got.append(await main)

    asyncio.run(boxed())
    return got[0]

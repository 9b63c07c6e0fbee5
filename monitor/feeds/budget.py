"""A parse budget: each document is parsed in a long-lived worker process under CPU and memory
limits; one that exceeds them is `FeedError("too_costly")`. Does I/O (processes, pipes).

    ParsePool(ParseBudget(cpu_s=5, memory=256 MiB), size=2)
      await pool.parse(body, feed_id=..., ...)     # a ParsedFeed, or raises FeedError
        → an idle ParseWorker (asyncio queue), its blocking exchange on the pool's own threads
          → `python -m monitor.feeds.parse_worker`: parse_feed under RLIMIT_CPU (per document)
            and RLIMIT_AS (the worker's size at start plus `memory`)

Why a process: whatever the next trap in feedparser or our own code, a thread cannot be stopped,
and a parse holds the GIL the daemon's loop needs for /healthz and the other polls. The workers
live as long as the daemon (a process per document would cost its ~0.3 s start each time); one
that overruns is killed by the kernel (SIGXCPU past its CPU limit), runs out of address space
(MemoryError, then it exits), or is killed by its pid past a wall-clock backstop, and the next
document gets a fresh one. The pool has its own threads for the waiting, so a slow parse holds
neither the daemon's CPU thread (matching) nor the threads of store calls; with two workers a
hostile document occupies one while the other feeds' documents go to the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import os
import pickle
import select
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from monitor.errors import FeedError
from monitor.feeds.parse_worker import FRAME as _FRAME
from monitor.net.bodies import ALLOWANCE

if TYPE_CHECKING:  # the parser is imported at the first body parsed here: a 304 round has none
    from monitor.feeds.parse import ParsedFeed

log = structlog.get_logger("newsmon.parse")

_MIB = 1024 * 1024


@dataclass(frozen=True)
class ParseBudget:
    """CPU seconds and bytes of memory one document may cost a worker."""

    cpu_s: float = 5.0
    memory: int = 256 * _MIB

    @property
    def wall_s(self) -> float:
        """How long the daemon waits for an answer at most: the CPU limit is the real bound, this
        backstop catches a worker that spins in C without the kernel's limit taking it down."""
        return self.cpu_s * 10 + 5


class ParseWorker:
    """One worker process; `parse` is blocking and not thread-safe (the pool hands it out)."""

    def __init__(self, budget: ParseBudget) -> None:
        self.budget = budget
        self._proc: subprocess.Popen[bytes] | None = None
        self.started = 0  # processes started, for tests and logs
        self._answered = 0  # documents the running process answered
        self._closing = False

    def __enter__(self) -> ParseWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def warm(self) -> bool:
        """Whether the next document goes to a process that has answered before: the first
        answer of a new one also waits for its start (about 0.3 s, more on a busy machine)."""
        return self._proc is not None and self._proc.poll() is None and self._answered > 0

    def parse(self, body: bytes, **kwargs: Any) -> ParsedFeed:
        """`parse_feed(body, **kwargs)` in the worker. Raises FeedError (too_costly or other)."""
        if self._closing:  # no fresh worker once the pool is being closed
            raise FeedError("parse", "not parsed: newsmon is stopping")
        options = pickle.dumps(kwargs, protocol=pickle.HIGHEST_PROTOCOL)
        proc = self._running()
        try:
            _write_job(proc, body, options)
        except OSError:  # it died between documents; one fresh try
            self._stop()
            proc = self._running()
            _write_job(proc, body, options)
        deadline = time.monotonic() + self.budget.wall_s
        reply = _read_frame(proc, deadline)
        if reply is not None:
            self._answered += 1
        if reply is None and self._closing:  # `kill` at shutdown: not the document's fault
            self._stop()
            raise FeedError("parse", "not parsed: newsmon is stopping")
        if reply is None:
            raise FeedError("too_costly", self._overrun(proc, ended=time.monotonic() < deadline))
        try:
            kind, value = _Replies(io.BytesIO(reply)).load()
        except (pickle.UnpicklingError, ValueError, EOFError) as e:
            self._stop()
            raise FeedError("parse", f"the parse worker's answer was unreadable: {e}") from e
        if kind == "ok":
            from monitor.feeds.parse import ParsedFeed

            assert isinstance(value, ParsedFeed)
            return value
        error_kind, message = value
        if error_kind == "too_costly":
            self._stop()  # a MemoryError leaves the worker in doubt: it exits, so reap it
        raise FeedError(error_kind, message)

    def close(self) -> None:
        self._stop()

    def kill(self) -> None:
        """End the process, but leave its pipes to a `parse` still reading them (from another
        thread): it reads the end of the file and returns. `close` once no parse runs."""
        self._closing = True
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()  # our own child, by its pid

    def start(self) -> None:
        self._running()

    def _running(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            self._stop()
            self._proc = subprocess.Popen(  # noqa: S603 - our own module, no input in argv
                [
                    sys.executable,
                    "-m",
                    "monitor.feeds.parse_worker",
                    repr(self.budget.cpu_s),
                    str(self.budget.memory),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                close_fds=True,
                env=_worker_env(),
                # A group of its own: Ctrl-C (or a hangup) at the terminal is for the daemon,
                # which ends its workers itself; it reached a worker still importing as a
                # KeyboardInterrupt traceback, before the worker could ignore it.
                process_group=0,
            )
            self.started += 1
            self._answered = 0
        return self._proc

    def _overrun(self, proc: subprocess.Popen[bytes], *, ended: bool) -> str:
        """Why no answer came, with the worker stopped (a new one starts for the next document).
        `ended`: its pipe closed before the deadline, so it is exiting; wait for its status."""
        if ended:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        still_running = proc.poll() is None
        self._stop()
        if still_running:
            why = f"parsing took more than {self.budget.wall_s:g} s"
        elif proc.returncode == -signal.SIGXCPU:
            why = f"parsing took more than {self.budget.cpu_s:g} s of CPU"
        else:
            why = f"the parse worker ended without an answer (exit {proc.returncode})"
        log.warning("parse_worker_stopped", reason=why, pid=proc.pid)
        return f"{why}; the document is refused to keep the other feeds on time"

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()  # our own child, by its pid
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()


# What a worker needs to start Python and find newsmon; the daemon's secrets (webhook URLs,
# signing keys in NEWSMON_* variables) stay out of the process that reads hostile documents.
_WORKER_ENV = ("PATH", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "HOME", "LANG", "LC_ALL",
               "LC_CTYPE", "TZ", "TMPDIR")  # fmt: skip


def _worker_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k in _WORKER_ENV}


# A document over HEAVY_BYTES, or one from a feed whose last parse took more than SLOW_S seconds,
# is heavy: heavy documents hold at most all workers but one, so a changed document of an
# ordinary feed never waits behind a queue of them (six feeds serving 10 MB that parses within
# the budget, about 2 s each, held a busy healthy feed's parse for 14 s). The size is the body
# turns' allowance: a document heavy by its size holds one of those turns (a bound on memory,
# `body_memory / max_body` of them) while it waits here for a worker (a bound on CPU).
HEAVY_BYTES = ALLOWANCE
SLOW_S = 0.5


class ParsePool:
    """`size` workers; `await parse(...)` waits for an idle one on the loop, not in a thread.

    With two workers or more, heavy documents (over `heavy_bytes`, or from a feed whose previous
    parse took more than `slow_s` or failed as `too_costly`) take turns on all workers but
    one: what a poll with a small, cheap document waits for is at most the ordinary documents
    ahead of it."""

    def __init__(
        self,
        budget: ParseBudget,
        size: int = 2,
        *,
        heavy_bytes: int = HEAVY_BYTES,
        slow_s: float = SLOW_S,
    ) -> None:
        if size < 1:
            raise ValueError(f"a parse pool needs at least one worker, not {size}")
        self.budget = budget
        self.heavy_bytes = heavy_bytes
        self.slow_s = slow_s
        self.workers = [ParseWorker(budget) for _ in range(size)]
        self._threads = ThreadPoolExecutor(max_workers=size, thread_name_prefix="newsmon-parse")
        self._idle: asyncio.Queue[ParseWorker] | None = None
        self._heavy_lane: asyncio.Semaphore | None = None
        # Feeds whose last parse was slow; one entry per feed at most, gone once a parse is quick.
        self._slow: set[str] = set()

    def start(self) -> None:
        """Start every worker now, so the first documents do not wait for their imports."""
        for worker in self.workers:
            worker.start()

    async def parse(self, body: bytes, **kwargs: Any) -> ParsedFeed:
        if self._idle is None:
            self._idle = asyncio.Queue()
            for worker in self.workers:
                self._idle.put_nowait(worker)
            self._heavy_lane = asyncio.Semaphore(len(self.workers) - 1)
        idle = self._idle
        feed_id = kwargs.get("feed_id")
        heavy = len(body) > self.heavy_bytes or feed_id in self._slow
        lane = self._heavy_lane if heavy and len(self.workers) > 1 else None
        if lane is not None:
            await lane.acquire()
        try:
            worker = await idle.get()
        except BaseException:
            if lane is not None:
                lane.release()
            raise
        call = functools.partial(self._timed, worker, body, feed_id, kwargs)
        future = asyncio.get_running_loop().run_in_executor(self._threads, call)

        def done(finished: asyncio.Future[ParsedFeed]) -> None:
            # Back to the queue only when the exchange is over, even if this poll is cancelled;
            # the error of a cancelled poll's parse is looked at here, or asyncio logs it with a
            # traceback ("exception was never retrieved").
            idle.put_nowait(worker)
            if lane is not None:
                lane.release()
            if not finished.cancelled():
                finished.exception()

        future.add_done_callback(done)
        return await asyncio.shield(future)

    def _timed(
        self, worker: ParseWorker, body: bytes, feed_id: object, kwargs: dict[str, Any]
    ) -> ParsedFeed:
        """`worker.parse`, noting whether the feed's document was slow (in the pool's thread; a
        set's add and discard are atomic under the GIL)."""
        warm = worker.warm  # a new process's start is no fault of the document's
        started = time.monotonic()
        costly = False
        try:
            return worker.parse(body, **kwargs)
        except FeedError as e:
            costly = e.kind == "too_costly"
            raise
        finally:
            if isinstance(feed_id, str):
                slow = costly or (warm and time.monotonic() - started > self.slow_s)
                (self._slow.add if slow else self._slow.discard)(feed_id)

    def close(self) -> None:
        # A parse still waiting on a worker (its poll was cancelled at shutdown) must see the
        # worker end, not its pipe closed under it by this thread (EBADF, or another file that
        # took the descriptor's number): kill, let those parses return, then close.
        for worker in self.workers:
            worker.kill()
        self._threads.shutdown(wait=True)
        for worker in self.workers:
            worker.close()


class _Replies(pickle.Unpickler):
    """Unpickles what a worker answers, and only those types: a worker reads hostile documents,
    so its reply is treated as no better than the document itself."""

    _ALLOWED = frozenset(
        {
            ("monitor.feeds.parse", "ParsedFeed"),
            ("monitor.model", "Item"),
            ("datetime", "datetime"),
            ("datetime", "timezone"),
            ("datetime", "timedelta"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"a parse worker answered with {module}.{name}")
        return super().find_class(module, name)


def _write_job(proc: subprocess.Popen[bytes], body: bytes, options: bytes) -> None:
    """Two frames: the pickled options, then the body as it is. Pickling the body with them
    copied it once more here (10 MB for the largest document, per parse in flight) and once
    more in the worker."""
    assert proc.stdin is not None
    proc.stdin.write(_FRAME.pack(len(options)) + options + _FRAME.pack(len(body)))
    proc.stdin.write(body)
    proc.stdin.flush()


def _read_frame(proc: subprocess.Popen[bytes], deadline: float) -> bytes | None:
    """One framed reply, or None when the worker ends or the deadline passes first."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    header = _read_exact(fd, _FRAME.size, deadline)
    if header is None:
        return None
    return _read_exact(fd, _FRAME.unpack(header)[0], deadline)


def _read_exact(fd: int, size: int, deadline: float) -> bytes | None:
    chunks: list[bytes] = []
    left = size
    while left:
        wait = deadline - time.monotonic()
        if wait <= 0 or not select.select([fd], [], [], wait)[0]:
            return None
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# `newsmon run` starts its workers as soon as it has read its config, so their imports overlap
# the daemon's own (about 1.5 s) instead of delaying its first parse: a daemon restarted in a
# loop must still poll in each short life.
_early: ParsePool | None = None


def start_early(budget: ParseBudget, size: int) -> None:
    """Start the pool `pool_for` will hand out (once) with the same budget and size."""
    global _early
    if _early is not None:
        _early.close()
    _early = ParsePool(budget, size)
    _early.start()


def pool_for(budget: ParseBudget, size: int) -> ParsePool:
    """The pool started early if it matches, else a new one; started either way."""
    global _early
    pool, _early = _early, None
    if pool is not None and pool.budget == budget and len(pool.workers) == size:
        return pool
    if pool is not None:
        pool.close()
    pool = ParsePool(budget, size)
    pool.start()
    return pool

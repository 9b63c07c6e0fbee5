"""`newsmon run`: the long-running loop. Does I/O.

APScheduler 3 is the clock and this is the only module that knows it; the store holds when each
feed is due. Jobs:

    poll tick (every second)      claim due feeds up to the free fetch slots, poll each in a task;
                                  after a full claim, claim again whenever half the slots are free
    delivery tick (every second)  claim due outbox rows, deliver them
                                  (both at a random point of each second, for fair replica shares)
    rules tick (every 2 s)        reload the rules when their files changed (SIGHUP: at once)
    housekeeping (every 10 min)   prune seen keys and finished alerts past the retention window
    stats (every 5 s)             outbox depth and age, feeds in error, for /metrics

A poll that enqueued alerts wakes the deliverer at once: an alert does not wait for the next tick.

APScheduler times its jobs by the wall clock: set back an hour (by hand, or a step of NTP), it
ran none of them for that hour, and /healthz still said the daemon was alive. A watch on the
wall clock against the event loop's (monotonic) one makes every job due at once after a step
back, so the ticks go on at their pace, and tells the store (`clock_set_back`: on SQLite, the
due times written before the step move back with it).

SIGTERM or SIGINT: stop claiming (`on_stop` tells the deliverer to start no further alert), let
in-flight polls and deliveries finish within the grace period, cancel what is left (a cancelled poll
releases its feed; the caller releases alert leases), exit 0. A second signal cancels at once and
exits 130.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import signal
import threading
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, timedelta
from typing import Any, Final

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from structlog.contextvars import bound_contextvars

from monitor.clock import Clock, SystemClock
from monitor.errors import StoreError
from monitor.model import FeedState
from monitor.process.outage import StoreBackoff

log = structlog.get_logger("newsmon.daemon")

WALL_STEP_S = 1.0  # a wall clock set back by more than this re-times the jobs

FORCED_EXIT = 130  # a second signal: work was cut short, as after an interrupted command

_hup_while_starting = False
_stops_while_starting = 0


# Open files `newsmon run` asks for: the listener alone held up to 2,300 under seven kinds of
# flood at once (256 connections sending their request, 256 bodies read, 256 dropped, 256
# refusals lingering, those answered and those closing), and each fetch, delivery and store
# file is one more.
OPEN_FILES: Final = 65_536


def raise_open_files_limit(want: int = OPEN_FILES) -> tuple[int, int] | None:
    """Raise the soft limit of open files towards the hard one (at most `want`); (old, new)
    when raised. The usual soft limit is 1,024 (systemd's default, hard limit 524,288): a flood
    of connections to the listener took them all, and the daemon could neither poll nor
    deliver while asyncio logged thousands of accept errors a second."""
    try:
        import resource
    except ImportError:  # not on this platform
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(hard, want)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return None
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):  # refused here (a sandbox): run with what we have
        return None
    return soft, target


def defer_sighup() -> None:
    """From the start of `newsmon run` until `Daemon.run` installs the loop's handler, a SIGHUP
    (reload the rules: `systemctl reload`, a deploy script) must not end the process, which is
    its default action; it is remembered, and answered with a reload once the daemon runs."""

    def remember(_signum: int, _frame: object) -> None:
        global _hup_while_starting  # a signal handler has nowhere else to write
        _hup_while_starting = True

    with contextlib.suppress(AttributeError, ValueError):  # no SIGHUP here, or not main thread
        signal.signal(signal.SIGHUP, remember)


def _take_deferred_sighup() -> bool:
    global _hup_while_starting
    sent, _hup_while_starting = _hup_while_starting, False
    return sent


def defer_stop(earlier: int = 0) -> None:
    """From the start of `newsmon run` until `Daemon.run` installs the loop's handlers, a SIGTERM
    is remembered, and answered once the daemon runs, before its first claim (exit 0); a second
    one stops at once (KeyboardInterrupt: exit 130, as a second signal does later). As PID 1 (a
    container) the kernel drops a SIGTERM that finds no handler: one sent while the daemon
    started (`docker stop` just after `docker start`) was lost, and the stop waited for SIGKILL.
    `earlier`: those `monitor.cli.entry` remembered before this."""
    global _stops_while_starting  # a signal handler has nowhere else to write
    _stops_while_starting += earlier

    def remember(_signum: int, _frame: object) -> None:
        global _stops_while_starting
        _stops_while_starting += 1
        if _stops_while_starting > 1:
            raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # not the main thread
        signal.signal(signal.SIGTERM, remember)


def _take_deferred_stop() -> bool:
    global _stops_while_starting
    sent, _stops_while_starting = _stops_while_starting > 0, 0
    return sent


class StopLatch:
    """A stop asked for from outside the loop, from any thread and at any time (before the
    daemon runs too): the daemon answers it once, as the first SIGTERM (`newsmon run`'s log
    reader gone: monitor.logs.ReaderWatch)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._set = False
        self._answer: Callable[[], None] | None = None

    def set(self) -> None:
        with self._lock:
            if self._set:
                return
            self._set = True
            answer = self._answer
        if answer is not None:
            answer()

    def attach(self, answer: Callable[[], None]) -> bool:
        """Call `answer` when set from now on; True (and no call) if it is set already."""
        with self._lock:
            self._answer = answer
            return self._set


class TaskSet:
    """In-flight tasks, so shutdown can wait for them and count free slots."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._running = False  # `rerun`'s job is running
        self._again = False  # and was asked for again meanwhile

    def rerun(self, job: Callable[[], Awaitable[object]], stopping: asyncio.Event) -> None:
        """Run `job` here; if it is running, once more when it finishes (unless `stopping`):
        what was asked for meanwhile, however often, is one more run that sees it all. The flag
        that says it runs is cleared inside the task, so an ask between its end and the set's
        callback is a new run, not an `again` nobody reads."""
        if self._running:
            self._again = True
            return
        self._running = True
        self.spawn(self._rounds(job, stopping))

    async def _rounds(self, job: Callable[[], Awaitable[object]], stopping: asyncio.Event) -> None:
        try:
            while True:
                self._again = False
                await job()
                if not self._again or stopping.is_set():
                    return
        finally:
            self._running = False

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        # A fresh context: a delivery woken by a poll must not inherit that poll's `feed=`.
        task = asyncio.get_running_loop().create_task(coro, context=contextvars.Context())
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task_failed", error=repr(task.exception()))

    def __len__(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout: float) -> bool:  # noqa: ASYNC109 - asyncio.wait's own
        """Wait up to `timeout` for every task; True when all finished."""
        if not self._tasks:
            return True
        _done, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        return not pending

    def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()


class Daemon:
    """Runs the jobs until a signal; the work itself is injected as callables."""

    def __init__(
        self,
        *,
        claim_feeds: Callable[[int], Awaitable[list[FeedState]]],
        poll_feed: Callable[[FeedState], Awaitable[object]],
        release_feed: Callable[[str], Awaitable[None]],
        deliver: Callable[[], Awaitable[object]],
        reload_rules: Callable[[bool], Awaitable[object]],
        housekeeping: Callable[[], Awaitable[object]],
        stats: Callable[[], Awaitable[object]],
        concurrency: int,
        grace_period: timedelta,
        heartbeat: Callable[[], None] = lambda: None,
        on_stop: Callable[[], None] = lambda: None,
        tick: float = 1.0,
        stop: StopLatch | None = None,
        wall_clock: Clock | None = None,
        clock_set_back: Callable[[timedelta], Awaitable[object]] | None = None,
    ) -> None:
        self._claim_feeds = claim_feeds
        self._poll_feed = poll_feed
        self._release_feed = release_feed
        self._deliver = deliver
        self._reload_rules = reload_rules
        self._housekeeping = housekeeping
        self._stats = stats
        self._concurrency = concurrency
        self._grace = grace_period.total_seconds()
        self._tick = tick
        self._wall = wall_clock or SystemClock()  # the clock APScheduler reads
        self._clock_set_back = clock_set_back
        self._polls = TaskSet()
        self._refills = TaskSet()
        self._active = 0  # polls not yet finished (a finished task leaves _polls a bit later)
        self._claiming = False
        self._backlog = False
        self._deliveries = TaskSet()
        self._reloads = TaskSet()
        self._stopping = asyncio.Event()
        self._signals = 0
        self._forced = asyncio.Event()  # a second stop signal: cancel now
        self._heartbeat = heartbeat  # for /healthz: the loop and the scheduler are ticking
        self._on_stop = on_stop
        self._stop_latch = stop
        # A StoreError (database down, file unwritable) must not kill a job or spin on it.
        self._poll_backoff = StoreBackoff("poll")
        self._delivery_backoff = StoreBackoff("deliver")
        self._stats_backoff = StoreBackoff("stats")
        self._housekeeping_backoff = StoreBackoff("housekeeping")

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    # -- jobs ------------------------------------------------------------------------------
    async def poll_tick(self) -> None:
        self._heartbeat()
        await self._claim()

    async def _claim(self) -> None:
        if self._stopping.is_set() or self._claiming:
            return
        free = self._concurrency - self._active
        if free <= 0:
            return
        self._claiming = True
        try:
            # Feeds claimed: the store is back once one of their polls commits. A commit that
            # keeps failing while claims answer (a damaged page, a full disk) reset the backoff
            # at every claim, and the feed was fetched again every second for as long.
            feeds = (
                await self._poll_backoff.run(
                    lambda: self._claim_feeds(free), done=lambda claimed: not claimed
                )
                or []
            )
        finally:
            self._claiming = False
        # A full batch means more feeds may be due: refill as slots free up (see _poll_one)
        # instead of idling until the next tick, which capped a replica at `concurrency` polls
        # a second.
        self._backlog = len(feeds) == free
        for feed in feeds:
            self._active += 1
            self._polls.spawn(self._poll_one(feed))

    async def _poll_one(self, feed: FeedState) -> None:
        # Every log line of this poll (fetch, parse, store, the poller's own) carries the feed;
        # each task runs in its own copy of the context, so polls never see each other's.
        with bound_contextvars(feed=feed.id):
            await self._poll_one_bound(feed)

    async def _poll_one_bound(self, feed: FeedState) -> None:
        try:
            await self._poll_feed(feed)
            self._poll_backoff.succeeded()
        except asyncio.CancelledError:
            try:
                await self._release_feed(feed.id)
            except StoreError as exc:
                # Stopping while the store fails: the lease waits for the holder row to expire
                # (a restart on this host ends it at once). A warning, not a failed task.
                log.warning("feed_release_failed", error=str(exc))
            raise
        except StoreError as exc:  # nothing of this poll was written; its lease expires
            self._poll_backoff.failed(exc)
        except Exception as exc:  # a bug must not kill the loop; the lease expires and retries
            log.exception("poll_crashed", feed=feed.id, error=repr(exc))
        finally:
            self._active -= 1
        if self._backlog and self._active <= self._concurrency // 2:
            self._refills.spawn(self._claim())

    async def delivery_tick(self) -> None:
        self.wake_delivery()

    def wake_delivery(self) -> None:
        """Run the deliverer now; if it is running, run it once more when it finishes."""
        if self._stopping.is_set():
            return
        self._deliveries.rerun(self._deliver_round, self._stopping)

    async def _deliver_round(self) -> None:
        await self._delivery_backoff.run(self._deliver)

    async def rules_tick(self) -> None:
        await self._reload_rules(False)

    async def housekeeping_tick(self) -> None:
        await self._housekeeping_backoff.run(self._housekeeping)

    async def stats_tick(self) -> None:
        await self._stats_backoff.run(self._stats)

    def _job(self, tick: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        """`tick` as a scheduler job.

        Every run beats the heartbeat (/healthz: the loop and the scheduler are ticking). A run
        that finds the last one still going (waiting on a store that does not answer) returns at
        once: the store says that once (`store_not_answering`), where APScheduler, left to skip
        it, warned of every skipped run, once a second. The scheduler's shutdown cancels a tick
        in flight: that is the stop, not a job that failed, which APScheduler would log with a
        traceback."""
        running = False

        @functools.wraps(tick)
        async def job() -> None:
            nonlocal running
            self._heartbeat()
            if running:
                return
            running = True
            try:
                await tick()
            except asyncio.CancelledError:
                if not self._stopping.is_set():
                    raise
            finally:
                running = False

        return job

    # -- lifecycle -------------------------------------------------------------------------
    def request_stop(self) -> None:
        self._signals += 1
        if self._signals > 1:
            log.warning("shutdown_forced")
            self._forced.set()
            self._polls.cancel()
            self._deliveries.cancel()
        elif not self._stopping.is_set():
            log.info("shutdown_requested", grace_s=self._grace)
            try:
                self._on_stop()
            except Exception as exc:  # noqa: BLE001 - stopping goes on whatever the hook does
                log.error("on_stop_failed", error=repr(exc))  # noqa: TRY400 - one line is enough
        self._stopping.set()

    def request_reload(self) -> None:
        """Reload now (SIGHUP). Signals that come while a reload runs are answered by one more
        reload after it, which reads the files as they are then: a signal each started a load of
        its own, all at once, and 500 SIGHUPs in 10 s (a deploy script's loop) held 5 GB."""
        self._reloads.rerun(self._forced_reload, self._stopping)

    async def _forced_reload(self) -> None:
        await self._reload_rules(True)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        with contextlib.suppress(AttributeError, NotImplementedError):
            loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        if _take_deferred_sighup():
            self.request_reload()
        if self._stop_latch is not None:

            def answer() -> None:
                with contextlib.suppress(RuntimeError):  # the loop is closed: the stop is done
                    loop.call_soon_threadsafe(self.request_stop)

            if self._stop_latch.attach(answer):
                self.request_stop()  # asked while starting: stop before the first claim
        if _take_deferred_stop() and not self._stopping.is_set():
            self.request_stop()  # a SIGTERM while starting: the same
        # UTC, not the local zone: the jobs are intervals, which no zone changes, and APScheduler
        # asks tzlocal for the local one, which raised (a traceback, exit 1) on a TZ that libc
        # takes but that names no zoneinfo file (`TZ=UTC+2`, `TZ=CET-1CEST,M3.5.0,M10.5.0/3`).
        scheduler = AsyncIOScheduler(event_loop=loop, timezone=UTC)
        # Two instances: the one waiting on the store and the one that sees it and returns.
        common: dict[str, Any] = {"max_instances": 2, "coalesce": True, "misfire_grace_time": None}
        # Claims fire at a random point of each tick: replicas ticking at fixed phases would
        # split the due work by their phase gaps (one takes most of it), not evenly.
        claims = common | {"jitter": self._tick}
        job = self._job
        scheduler.add_job(job(self.poll_tick), "interval", seconds=self._tick, id="poll", **claims)
        scheduler.add_job(
            job(self.delivery_tick), "interval", seconds=self._tick, id="deliver", **claims
        )
        scheduler.add_job(job(self.rules_tick), "interval", seconds=2, id="rules", **common)
        scheduler.add_job(
            job(self.housekeeping_tick), "interval", minutes=10, id="housekeeping", **common
        )
        scheduler.add_job(job(self.stats_tick), "interval", seconds=5, id="stats", **common)
        scheduler.start()
        log.info("daemon_started")
        watch = asyncio.ensure_future(self._follow_wall_clock(scheduler))
        await self.poll_tick()  # do not wait a whole tick for the first claim
        try:
            await self._stopping.wait()
        finally:
            watch.cancel()
            scheduler.shutdown(wait=False)
        started = loop.time()
        log.info("shutdown_started", polls=len(self._polls), deliveries=len(self._deliveries))
        finished = await self._drain()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        forced = self._signals > 1
        log.info(
            "shutdown_finished",
            clean=finished,
            forced=forced,
            seconds=round(loop.time() - started, 3),
        )
        return FORCED_EXIT if forced else 0

    async def _follow_wall_clock(self, scheduler: AsyncIOScheduler) -> None:
        """Make every job due now when the wall clock steps back (see the module's doc)."""
        loop = asyncio.get_running_loop()
        gap = self._wall.now().timestamp() - loop.time()
        while True:
            await asyncio.sleep(min(self._tick, WALL_STEP_S))
            now = self._wall.now()
            step = now.timestamp() - loop.time() - gap
            gap += step
            if step < -WALL_STEP_S:
                log.warning("wall_clock_set_back", seconds=round(-step, 1))
                for job in scheduler.get_jobs():
                    job.modify(next_run_time=now)
                if self._clock_set_back is not None:
                    try:
                        await self._clock_set_back(timedelta(seconds=-step))
                    except StoreError as exc:  # the due times come round late, as before
                        log.warning("clock_set_back_failed", error=str(exc))

    async def _drain(self) -> bool:
        deadline = self._grace
        waiter: asyncio.Future[Any] = asyncio.ensure_future(
            asyncio.gather(self._polls.drain(deadline), self._deliveries.drain(deadline))
        )
        stop_twice: asyncio.Future[Any] = asyncio.ensure_future(self._forced.wait())
        done, _ = await asyncio.wait({waiter, stop_twice}, return_when=asyncio.FIRST_COMPLETED)
        stop_twice.cancel()
        if waiter in done and all(waiter.result()):
            return True
        # Out of time (or told twice): cancel; cancelled polls release their leases, and an
        # undelivered alert stays pending in the outbox for the next start.
        self._polls.cancel()
        self._deliveries.cancel()
        await asyncio.wait({waiter}, timeout=1.0)
        return False

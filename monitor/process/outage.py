"""Riding out a store outage: the daemon's jobs back off after a StoreError. Pure but for the log.

A job (poll, deliver, stats, housekeeping) that hits a StoreError is skipped for 1 s, then 2 s,
4 s, … up to 30 s while the store keeps failing, with one `store_unavailable` error per failed
attempt (no traceback: the store's message says what failed) and one `store_available` when the
store answers again. Nothing is retried here: the next tick simply tries again, and the store's
transactions guarantee that a failed attempt wrote nothing half-way.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from monitor.errors import StoreError

T = TypeVar("T")
log = structlog.get_logger("newsmon.daemon")


class StoreBackoff:
    def __init__(
        self,
        job: str,
        *,
        first: float = 1.0,
        cap: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.job = job
        self.first = first
        self.cap = cap
        self.clock = clock
        self.delay = 0.0  # 0: the store answered last time
        self.until = 0.0
        self.failures = 0

    def ready(self) -> bool:
        """May the job touch the store now?"""
        return self.clock() >= self.until

    def failed(self, exc: StoreError) -> None:
        self.failures += 1
        self.delay = min(self.cap, self.delay * 2 if self.delay else self.first)
        self.until = self.clock() + self.delay
        log.error("store_unavailable", job=self.job, error=str(exc), retry_in_s=self.delay,
                  failures=self.failures)  # fmt: skip

    def succeeded(self) -> None:
        if self.delay:
            log.info("store_available", job=self.job, failures=self.failures)
        self.delay = 0.0
        self.until = 0.0
        self.failures = 0

    async def run(
        self, work: Callable[[], Awaitable[T]], *, done: Callable[[T], bool] = lambda _: True
    ) -> T | None:
        """`await work()` unless backing off; None when skipped or when the store failed. A
        result `done` says is not the job's end leaves the backoff as it is: the rest of the
        job reports (a claim answered, but its polls' commits may still fail)."""
        if not self.ready():
            return None
        try:
            result = await work()
        except StoreError as exc:
            self.failed(exc)
            return None
        if done(result):
            self.succeeded()
        return result

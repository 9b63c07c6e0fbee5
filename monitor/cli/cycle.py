"""`newsmon check --deliver`: one daemon cycle, for cron. Does I/O.

claim every configured feed (those backing off after errors stay put)
poll them all, at most `concurrency` at once as in the daemon
  (new items only, baseline respected, alerts enqueued in the poll's transaction)
deliver what is due in the outbox (retries keep their schedule for the next run)
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from monitor.config import Config
from monitor.model import SKIP_REASONS, FeedState, Item, Match
from monitor.pipeline.poll import PollReport
from monitor.process.app import make_context
from monitor.process.runtime import FAR_FUTURE, Runtime, open_runtime


@dataclass
class CycleOutcome:
    matches: list[tuple[Item, list[Match]]] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    enqueued: int = 0
    feeds: int = 0
    parsed_items: int = 0
    new_items: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> items, all feeds
    titles: dict[str, str] = field(default_factory=dict)  # feed id -> the feed's own title
    delivered: int = 0
    retried: int = 0
    dead: int = 0

    def summary(self) -> str:
        """One line for the person or cron mail reading stderr: what the cycle did and, when
        nothing alerted, why (`check` without `--deliver` prints matches the daemon skips)."""
        feeds = f"{self.feeds} feed{'s' if self.feeds != 1 else ''}"
        line = (
            f"polled {feeds}: {self.parsed_items} items ({self.new_items} new), "
            f"{self.enqueued} alerts enqueued; "
            f"delivered {self.delivered}, retried {self.retried}, dead {self.dead}"
        )
        skipped = ", ".join(f"{n} {reason}" for reason, n in self.skipped.items() if n)
        return f"{line}; skipped {skipped}" if skipped else line


def run_cycle(config: Config, rules_override: str | None = None) -> CycleOutcome:
    return asyncio.run(_cycle(config, rules_override))


async def _cycle(config: Config, rules_override: str | None) -> CycleOutcome:
    ctx = make_context(config)
    async with open_runtime(ctx, rules_override, inline=True) as rt:
        outcome = await poll_all(rt)
        await deliver_due(rt, outcome)
    return outcome


async def deliver_due(
    rt: Runtime, outcome: CycleOutcome | None = None, rounds: int = 10_000
) -> None:
    """Deliver until nothing is due now; rate limits are waited out, retries keep their time.
    The counts are added to `outcome` when one is given."""
    for _ in range(rounds):
        stats = await rt.deliverer.run_once()
        if outcome is not None:
            outcome.delivered += stats.delivered
            outcome.retried += stats.retried
            outcome.dead += stats.dead
        if stats.next_in is not None:
            await asyncio.sleep(min(stats.next_in, 5.0))
            continue
        if not (stats.delivered or stats.retried or stats.dead or stats.released):
            return


async def poll_all(rt: Runtime) -> CycleOutcome:
    now = rt.ctx.clock.now()
    feeds = await asyncio.to_thread(
        rt.store.claim_due_feeds, now + FAR_FUTURE, 1_000_000, rt.config.feed_lease, rt.ctx.owner
    )
    due = []
    for feed in feeds:
        if feed.error_count and feed.next_poll_at and feed.next_poll_at > now:
            # Backing off after errors: cron must not hammer a failing server.
            await asyncio.to_thread(rt.store.release_feed, feed.id, rt.ctx.owner)
        else:
            due.append(feed)
    # At most `concurrency` polls in flight, as in the daemon: a poll that has fetched holds its
    # body until a thread has parsed it, and with every feed started at once the bodies of
    # hundreds of fetched-but-unparsed feeds piled up (the cold round's peak memory).
    slots = asyncio.Semaphore(max(1, rt.config.concurrency))

    async def bounded(feed: FeedState) -> PollReport:
        async with slots:
            return await rt.poller.poll(feed)

    reports = await asyncio.gather(*(bounded(feed) for feed in due))
    outcome = CycleOutcome(feeds=len(reports), skipped=dict.fromkeys(SKIP_REASONS, 0))
    for report in reports:
        outcome.enqueued += report.alerts_enqueued
        outcome.new_items += report.new_items
        outcome.parsed_items += report.parsed_items
        if report.title:
            outcome.titles[report.feed_id] = report.title
        for reason, count in report.skipped:
            outcome.skipped[reason] = outcome.skipped.get(reason, 0) + count
        outcome.matches.extend((item, list(ms)) for item, ms in report.matched)
        if report.status == "error":
            outcome.failures.append((report.feed_id, f"{report.error_kind}: {report.error}"))
    return outcome

"""One claim → poll → deliver cycle, for the daemon's jobs and for `newsmon check --deliver` (cron).
Does I/O (the store, through the runtime's poller and deliverer).

    claim    the daemon: the feeds due now, at most `poll_batch` (and the free fetch slots);
             cron: every configured feed, due or not, except those backing off after errors
             (released at once: cron must not hammer a failing server)
    poll     one leased feed (`Poller.poll`: new items only, baseline respected, alerts enqueued
             in the poll's transaction); the daemon logs each match and wakes the deliverer
    deliver  one run of the deliverer over what is due; the daemon comes back early when a
             rate-limited destination has a token before its next tick, cron delivers until
             nothing is due now (rate limits waited out, retries keep their time)

After a StoreError (the database went away): the feed whose poll failed, and the alerts a failed
delivery run had claimed, are still leased to this process. The next claim gives those feeds back
first, and the next delivery run those alerts, so they are worked on as soon as the store answers,
not after their leases (2 minutes by default) run out. A claim whose answer was lost with the
connection may have leased rows this process never heard of: those still wait for their lease.

The daemon (`monitor.process.service`) calls `claim`, `poll`, `release` and `deliver` from its
scheduler's jobs; cron calls `run_once`, which does them in order with at most `concurrency`
polls in flight, as the daemon does. The differences are the constructor's parameters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from monitor.config import Config
from monitor.delivery.deliverer import DeliveryStats
from monitor.errors import StoreError
from monitor.model import SKIP_REASONS, FeedState, Item, Match
from monitor.offload import run_main
from monitor.pipeline.poll import PollReport, poll_contained
from monitor.plural import counted
from monitor.process.bootstrap import Runtime, make_context, open_runtime
from monitor.process.lifeline import Lifeline
from monitor.store.roles import Deliveries

log = structlog.get_logger("newsmon.service")

FAR_FUTURE = timedelta(days=3650)
CRON_CLAIM = 1_000_000  # every configured feed


def backing_off(feed: FeedState, now: datetime) -> bool:
    """A feed whose last polls failed and whose next poll is still ahead."""
    return bool(feed.error_count and feed.next_poll_at and feed.next_poll_at > now)


@dataclass
class CycleOutcome:
    """What one cycle did: feeds polled, items, matches, alerts enqueued and delivered."""

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
    # feed id -> its next poll: feeds a cron cycle left alone, backing off after errors
    backing_off: dict[str, datetime] = field(default_factory=dict)
    # destinations that pending alerts wait for and the config no longer names (cron cycles)
    unconfigured: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, reports: Sequence[PollReport]) -> CycleOutcome:
        outcome = cls(feeds=len(reports), skipped=dict.fromkeys(SKIP_REASONS, 0))
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

    def add(self, stats: DeliveryStats) -> None:
        self.delivered += stats.delivered
        self.retried += stats.retried
        self.dead += stats.dead

    def summary(self) -> str:
        """One line for the person or cron mail reading stderr: what the cycle did and, when
        nothing alerted, why (`check` without `--deliver` prints matches the daemon skips)."""
        line = (
            f"polled {counted(self.feeds, 'feed')}: {counted(self.parsed_items, 'item')} "
            f"({self.new_items} new), {counted(self.enqueued, 'alert')} enqueued; "
            f"delivered {self.delivered}, retried {self.retried}, dead {self.dead}"
        )
        skipped = ", ".join(f"{n} {reason}" for reason, n in self.skipped.items() if n)
        if skipped:
            line += f"; skipped {skipped}"
        if self.backing_off:
            # "polled 0 feeds" right after fixing a feed's server, and nothing said why.
            shown = sorted(self.backing_off.items(), key=lambda pair: (pair[1], pair[0]))
            named = ", ".join(
                f"{feed} until {when.strftime('%Y-%m-%d %H:%M UTC')}" for feed, when in shown[:3]
            )
            more = f" and {len(shown) - 3} more" if len(shown) > 3 else ""
            line += f"; left alone, backing off after errors: {named}{more}"
        if self.unconfigured:
            # A renamed or removed destination's queue: no run sends it, and none said so.
            names = ", ".join(self.unconfigured)
            line += f"; not sent, no such destination in the config: alerts pending for {names}"
        return line


def log_matches(report: PollReport) -> None:
    """One `item_matched` line per rule that matched a new item (the feed is in the context)."""
    for item, matches in report.matched:
        for match in matches:
            log.info(
                "item_matched",
                rule=match.rule.id,
                severity=match.rule.severity,
                item=item.key,
                title=(item.title or "")[:120],
            )


class Cycle:
    """Claim → poll → deliver over one runtime.

    `every_feed`: claim every configured feed, due or not, except those backing off (cron);
    otherwise the feeds due now, at most `poll_batch` a claim (the daemon). `log_matches`: one
    log line per match (the daemon; cron prints its matches). `wake`: delivery should run now
    (a poll enqueued alerts); `come_back`: run it again in so many seconds (a rate-limited
    destination has a token again before the next tick). Both None: the caller delivers by
    itself (`deliver_due`)."""

    def __init__(
        self,
        rt: Runtime,
        *,
        every_feed: bool = False,
        log_matches: bool = False,
        wake: Callable[[], None] | None = None,
        come_back: Callable[[float], None] | None = None,
    ) -> None:
        self.rt = rt
        self.every_feed = every_feed
        self.log_matches = log_matches
        self.wake = wake
        self.come_back = come_back
        self._orphans: set[str] = set()  # feeds whose poll a StoreError ended, still leased
        self._left_alone: dict[str, datetime] = {}  # cron: feeds backing off, to their next poll
        self._delivery_failed = False  # the last delivery run ended in a StoreError

    async def claim(self, limit: int) -> list[FeedState]:
        rt = self.rt
        if self._orphans:
            await self._release_orphans()
        config, clock, owner = rt.config, rt.ctx.clock, rt.ctx.owner
        if not self.every_feed:
            # At most poll_batch a claim, so one replica does not lease every due feed at once.
            batch = min(limit, config.poll_batch)
            return await asyncio.to_thread(
                rt.store.claim_due_feeds, clock.now(), batch, config.feed_lease, owner
            )
        now = clock.now()
        # Due or not, but leased from now: a feed a live daemon is polling stays its own, and a
        # run killed here leaves leases of `feed_lease`, not of ten years.
        feeds = await asyncio.to_thread(
            rt.store.claim_due_feeds, now, limit, config.feed_lease, owner, due_by=now + FAR_FUTURE
        )
        due = []
        for feed in feeds:
            if backing_off(feed, now):
                self._left_alone[feed.id] = feed.next_poll_at or now
                await self.release(feed.id)
            else:
                due.append(feed)
        return due

    async def release(self, feed_id: str) -> None:
        await asyncio.to_thread(self.rt.store.release_feed, feed_id, self.rt.ctx.owner)

    async def _release_orphans(self) -> None:
        # Only our own lease is cleared (the owner is checked), and a feed whose commit did land
        # keeps its new next_poll_at: releasing never makes a feed due early.
        for feed_id in sorted(self._orphans):
            await self.release(feed_id)  # a StoreError here: the rest wait for the next claim
            self._orphans.discard(feed_id)
            log.info("feed_released_after_store_error", feed=feed_id)

    async def poll(self, feed: FeedState) -> PollReport:
        try:
            report = await self.rt.poller.poll(feed)
        except StoreError:
            self._orphans.add(feed.id)
            raise
        if self.log_matches:
            log_matches(report)
        if report.alerts_enqueued and self.wake is not None:
            self.wake()  # deliver now, not at the next tick
            await self.outbox_stats()
        return report

    async def poll_all(self, feeds: Sequence[FeedState]) -> list[PollReport]:
        # At most `concurrency` polls in flight, as in the daemon: a poll that has fetched holds
        # its body until a thread has parsed it, and with every feed started at once the bodies
        # of hundreds of fetched-but-unparsed feeds piled up (the cold round's peak memory).
        slots = asyncio.Semaphore(max(1, self.rt.config.concurrency))

        async def bounded(feed: FeedState) -> PollReport:
            async with slots:
                report = await poll_contained(self.poll, feed)
            if report.error_kind == "crash":
                await self.release(feed.id)  # polled again next run, not after its lease
            return report

        return list(await asyncio.gather(*(bounded(feed) for feed in feeds)))

    async def deliver(self) -> DeliveryStats:
        if self._delivery_failed:
            released = await asyncio.to_thread(self.rt.leases.release_held)
            self._delivery_failed = False
            if released:
                log.info("alerts_released_after_store_error", alerts=released)
        try:
            done = await self.rt.deliverer.run_once()
        except StoreError:
            self._delivery_failed = True
            raise
        if done.delivered or done.retried or done.dead:
            await self.outbox_stats()
        if self.come_back is not None and done.next_in is not None and done.next_in < 1.0:
            self.come_back(done.next_in)
        return done

    async def deliver_due(self, outcome: CycleOutcome | None = None, rounds: int = 10_000) -> None:
        """Deliver until nothing is due now; rate limits are waited out, retries keep their time.
        The counts are added to `outcome` when one is given."""
        for _ in range(rounds):
            stats = await self.deliver()
            if outcome is not None:
                outcome.add(stats)
            if stats.next_in is not None:
                await asyncio.sleep(min(stats.next_in, 5.0))
                continue
            if not (stats.delivered or stats.retried or stats.dead or stats.released):
                return

    async def outbox_stats(self) -> None:
        """The outbox gauges, when there are metrics (cheap: an indexed count)."""
        metrics = self.rt.metrics
        if metrics is None:
            return
        depth, oldest = await asyncio.to_thread(self.rt.store.outbox_stats, self.rt.ctx.clock.now())
        metrics.set_outbox(depth, oldest)

    async def run_once(self) -> CycleOutcome:
        """Claim, poll and deliver once (cron)."""
        feeds = await self.claim(CRON_CLAIM)
        outcome = CycleOutcome.of(await self.poll_all(feeds))
        outcome.backing_off = dict(self._left_alone)
        await self.deliver_due(outcome)
        return outcome


def run_cycle(config: Config, rules_override: str | None = None) -> CycleOutcome:
    """`newsmon check --deliver`: one cycle over every configured feed."""
    return run_main(_cycle(config, rules_override))


async def unconfigured_destinations(store: Deliveries, config: Config) -> list[str]:
    """The destinations that pending alerts wait for and the config no longer names (renamed,
    removed): nothing sends those alerts. Empty when the store does not answer now: what asks
    (`run`'s start, a cron cycle's summary) goes on without it."""
    try:
        waiting = await asyncio.to_thread(store.pending_destinations)
    except StoreError:
        return []
    return sorted(set(waiting) - {d.name for d in config.destinations})


async def _cycle(config: Config, rules_override: str | None) -> CycleOutcome:
    async with open_runtime(make_context(config), rules_override, inline=True) as rt:
        # A heartbeat, as the daemon keeps: a run killed mid-poll or mid-delivery (a cron
        # `timeout -s KILL`, the OOM killer) leaves leases that the daemon takes over within
        # the holder TTL, and a next run or a restart on this host at once, not after the
        # leases (2 minutes by default).
        lifeline = Lifeline(rt.store, rt.ctx.owner, rt.ctx.clock)
        await lifeline.open()
        rt.deliverer.life = lifeline.life
        beats = asyncio.create_task(lifeline.run())
        try:
            outcome = await Cycle(rt, every_feed=True).run_once()
            outcome.unconfigured = await unconfigured_destinations(rt.store, config)
            return outcome
        finally:
            beats.cancel()
            await asyncio.to_thread(lifeline.close)

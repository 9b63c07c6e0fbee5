"""The daemon's wiring: runtime + jobs + HTTP endpoints + rule reloads. Does I/O.

Shutdown: at the first signal every destination's rate bucket is paused, so the deliverer sends
no further alert and gives back the rows it had claimed but not started; the alert being posted
finishes (or is cancelled when the grace period runs out). `AlertLeases` watches the deliverer's
store calls, and every alert lease still held at the end is released, so a restart (or another
replica) delivers it at once instead of after the lease expires. A cancelled post may have
reached the receiver: it is sent again with the same `webhook-id` (at-least-once).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import structlog

from monitor.clock import SystemClock
from monitor.config import Config
from monitor.errors import NewsmonError
from monitor.metrics import Metrics
from monitor.model import FeedState, OutboxRow
from monitor.pipeline.poll import PollReport
from monitor.process.app import Context, load_checked_rules, make_context, rules_dir, settle_heap
from monitor.process.daemon import Daemon
from monitor.process.httpserver import Heartbeat, ReadyState, serve
from monitor.process.lifeline import Lifeline
from monitor.process.runtime import Runtime, open_runtime
from monitor.query.rulefiles import rule_files
from monitor.store.base import Store

log = structlog.get_logger("newsmon.service")


PAUSE_ON_STOP_S = 24 * 3600.0  # longer than any grace period: no alert is started after a signal
# Housekeeping runs every 10 minutes on whichever replica holds this lease; it outlasts one
# interval, so the leader keeps it, and a dead leader's lease is free when its heartbeat stops.
HOUSEKEEPING_LEASE = timedelta(minutes=15)
SETTLE_S = 0.2  # a file still being written is looked at again on the next tick

Fingerprint = tuple[tuple[str, str, int, int, int], ...]


def rules_fingerprint(folder: Path) -> Fingerprint:
    """What changes when a rules file is edited, added or removed (cheap: no reading).

    Follows symlinks to the real file (its path, inode, mtime and size), so a Kubernetes
    ConfigMap update, which swaps the `..data` symlink to a new hidden folder, is seen; hidden
    entries themselves (`..data`, `..2026_11_27_...`) are skipped, as the rules loader skips them.
    """
    found = []
    for path in rule_files(folder):  # the files the loader reads: hidden entries skipped
        rel = path.relative_to(folder) if path != folder else Path(path.name)
        try:
            real = path.resolve(strict=True)
            stat = real.stat()
        except (OSError, RuntimeError):  # removed mid-scan or a symlink loop: next tick sees it
            continue
        found.append((str(rel), str(real), stat.st_ino, stat.st_mtime_ns, stat.st_size))
    return tuple(found)


class RuleReloader:
    """Reloads the rules when their files change; a broken change keeps the old rules."""

    def __init__(self, rt: Runtime, metrics: Metrics, override: str | None) -> None:
        self.rt = rt
        self.metrics = metrics
        self.override = override
        self.folder = rules_dir(rt.config, override)
        self.fingerprint = rules_fingerprint(self.folder)
        self.last_error: str | None = None

    async def __call__(self, force: bool) -> None:
        current = await asyncio.to_thread(rules_fingerprint, self.folder)
        if current == self.fingerprint and not force:
            return
        if not force:
            # An editor or `kubectl cp` may still be writing: wait until the files hold still.
            await asyncio.sleep(SETTLE_S)
            if await asyncio.to_thread(rules_fingerprint, self.folder) != current:
                return
        self.fingerprint = current
        try:
            rules = await asyncio.to_thread(load_checked_rules, self.rt.config, self.override)
        except NewsmonError as exc:
            self.last_error = str(exc)
            self.metrics.rules_reload(ok=False)
            # TRY400: a user's broken rule: the message, not a traceback
            log.error("rules_reload_refused", error=str(exc), kept=self.rt.rules.version)  # noqa: TRY400
            return
        self.last_error = None
        old = self.rt.rules.version
        if rules.version == old:
            # A SIGHUP is a person asking: answer it. A file touched but not changed is not news.
            (log.info if force else log.debug)(
                "rules_unchanged", version=old, rules=len(rules.rules)
            )
            return
        self.rt.set_rules(rules)
        settle_heap(replaced=True)
        self.metrics.rules_reload(ok=True)
        self.metrics.set_rules_version(rules.version, len(rules.rules))
        log.info("rules_reloaded", version=rules.version, previous=old, rules=len(rules.rules))


class AlertLeases:
    """The deliverer's store, watched: which alert leases this process holds right now.

    After a signal `claim_due_alerts` claims nothing; at the end `release_all` gives back every
    lease still held (an alert whose post was cancelled). Every other call goes to the store.
    """

    def __init__(self, store: Store, owner: str) -> None:
        self._store = store
        self._owner = owner
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self.closed = False

    def claim_due_alerts(
        self,
        now: datetime,
        limit: int,
        lease: timedelta,
        owner: str,
        destinations: Sequence[str] | None = None,
    ) -> list[OutboxRow]:
        if self.closed:
            return []
        rows = self._store.claim_due_alerts(now, limit, lease, owner, destinations)
        with self._lock:
            self._held.update(row.id for row in rows)
        return rows

    def _done(self, alert_id: str) -> None:
        with self._lock:
            self._held.discard(alert_id)

    def mark_delivered(self, alert_id: str, owner: str, now: datetime) -> bool:
        self._done(alert_id)
        return self._store.mark_delivered(alert_id, owner, now)

    def schedule_retry(
        self, alert_id: str, owner: str, now: datetime, next_attempt_at: datetime, error: str
    ) -> bool:
        self._done(alert_id)
        return self._store.schedule_retry(alert_id, owner, now, next_attempt_at, error)

    def dead_letter(self, alert_id: str, owner: str | None, now: datetime, error: str) -> bool:
        self._done(alert_id)
        return self._store.dead_letter(alert_id, owner, now, error)

    def release_alert(self, alert_id: str, owner: str) -> None:
        self._done(alert_id)
        self._store.release_alert(alert_id, owner)

    def postpone_alert(self, alert_id: str, owner: str, until: datetime, note: str) -> bool:
        self._done(alert_id)
        return self._store.postpone_alert(alert_id, owner, until, note)

    def settle_grouped(self, alert_ids: Sequence[str], now: datetime, note: str) -> int:
        for alert_id in alert_ids:
            self._done(alert_id)
        return self._store.settle_grouped(alert_ids, now, note)

    @property
    def held(self) -> int:
        with self._lock:
            return len(self._held)

    def release_all(self) -> int:
        """Give back every alert lease still held; how many."""
        self.closed = True
        with self._lock:
            held, self._held = sorted(self._held), set()
        for alert_id in held:
            self._store.release_alert(alert_id, self._owner)
        return len(held)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


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


async def serve_forever(config: Config, rules_override: str | None = None) -> int:
    ctx = make_context(config)
    return await run_service(ctx, rules_override)


async def run_service(ctx: Context, rules_override: str | None = None) -> int:
    config = ctx.config
    metrics = Metrics()
    # The console's credentials are read before anything starts: a missing one is a config
    # error at once, not a console that nobody can log in to.
    ui_credentials = config.resolve_ui_credentials() if config.ui.enabled else []
    if config.ui.enabled and not config.http_addr:
        log.warning("console_off", reason="ui.enabled needs the listener: http_addr is empty")
    if not config.feeds:
        where = str(config.path) if config.path is not None else "no config file found"
        log.warning(
            "no_feeds",
            config=where,
            hint="nothing will be polled: add feeds ([{id, url}]) to the config and restart",
        )
    async with open_runtime(ctx, rules_override) as rt:
        metrics.set_rules_version(rt.rules.version, len(rt.rules.rules))
        rt.poller.metrics = metrics
        rt.deliverer.metrics = metrics
        for secret in rt.deliverer.secret_values():
            metrics.register_secret(secret)
        reloader = RuleReloader(rt, metrics, rules_override)
        heartbeat = Heartbeat(SystemClock(), max_silence_s=30.0)
        leases = AlertLeases(rt.store, ctx.owner)
        rt.deliverer.store = cast(Store, leases)

        async def claim(limit: int) -> list[FeedState]:
            # At most poll_batch a claim, so one replica does not lease every due feed at once.
            batch = min(limit, config.poll_batch)
            return await asyncio.to_thread(
                rt.store.claim_due_feeds, ctx.clock.now(), batch, config.feed_lease, ctx.owner
            )

        async def release(feed_id: str) -> None:
            await asyncio.to_thread(rt.store.release_feed, feed_id, ctx.owner)

        async def poll(feed: FeedState) -> PollReport:
            report = await rt.poller.poll(feed)
            log_matches(report)
            if report.alerts_enqueued:
                daemon.wake_delivery()  # deliver now, not at the next tick
                await outbox_stats()
            return report

        async def deliver() -> None:
            done = await rt.deliverer.run_once()
            if done.delivered or done.retried or done.dead:
                await outbox_stats()
            if done.next_in is not None and done.next_in < 1.0:
                # A rate-limited destination has a token again before the next tick: come back
                # then, so the shared rate is used in full rather than up to a tick late.
                asyncio.get_running_loop().call_later(done.next_in, daemon.wake_delivery)

        def stop_delivering() -> None:
            # No alert is started after a signal: the deliverer finds every bucket empty,
            # releases the rows it claimed but did not start, and returns after the post in flight.
            leases.closed = True
            for destination in rt.deliverer.destinations.values():
                rt.deliverer.bucket(destination).pause(PAUSE_ON_STOP_S)

        async def housekeeping() -> None:
            now = ctx.clock.now()
            lead = rt.store.lead
            if not await asyncio.to_thread(lead, "housekeeping", ctx.owner, now,
                                           now + HOUSEKEEPING_LEASE):  # fmt: skip
                log.debug("housekeeping_elsewhere")  # another replica is the leader
                return
            pruned = await asyncio.to_thread(
                rt.store.prune,
                ctx.clock.now(),
                config.retention,
                config.story_window,
                config.archive_kept,
            )
            log.info("housekeeping", pruned=pruned)

        async def outbox_stats() -> None:
            # Cheap (an indexed count), so the gauges follow every enqueue and delivery run.
            depth, oldest = await asyncio.to_thread(rt.store.outbox_stats, ctx.clock.now())
            metrics.set_outbox(depth, oldest)

        async def stats() -> None:
            await outbox_stats()
            # Reads every feed row: only on the 5 s tick, never per poll.
            in_error = await asyncio.to_thread(rt.store.count_feeds_in_error)
            metrics.set_feeds_in_error(in_error)

        daemon = Daemon(
            claim_feeds=claim,
            poll_feed=poll,
            release_feed=release,
            deliver=deliver,
            reload_rules=reloader,
            housekeeping=housekeeping,
            stats=stats,
            concurrency=config.concurrency,
            grace_period=config.grace_period,
            heartbeat=heartbeat.beat,
            on_stop=stop_delivering,
        )

        store_ok = [True]  # the last ping's answer

        async def ready() -> ReadyState:
            # Stopping: answer at once, without waiting on a store that the drain keeps busy.
            if not daemon.stopping:
                store_ok[0] = await asyncio.to_thread(rt.store.ping)
            return ReadyState(
                store=store_ok[0],
                rules_version=rt.rules.version,
                rules=len(rt.rules.rules),
                stopping=daemon.stopping,
            )

        # Before the first claim: a predecessor on this host that died (SIGKILL) holds leases
        # that are ours to take at once; then our own row, renewed until the very end.
        lifeline = Lifeline(rt.store, ctx.owner, ctx.clock)
        await asyncio.to_thread(lifeline.take_over_dead_predecessors)
        await asyncio.to_thread(lifeline.beat)
        # The listener starts last, just before the daemon's signal handlers: an orchestrator
        # that sees /healthz answer may signal at once, and a SIGHUP or SIGTERM that came before
        # the handlers would end the process.
        server = None
        console_store: Store | None = None
        if config.http_addr:
            feedback = None
            if config.feedback_token:
                from monitor.feedback.http import feedback_handler
                from monitor.logs import register_secret

                register_secret(config.feedback_token)
                feedback = feedback_handler(rt.store, config.feedback_token, ctx.clock)
            console = None
            try:
                if config.ui.enabled:
                    from monitor.console import build_console
                    from monitor.store import open_store

                    # A connection of its own: a playground run reading the archive never
                    # holds the daemon's store lock.
                    console_store = open_store(config.database_url, migrate=False)
                    console = build_console(
                        config.ui, ui_credentials, store=console_store,
                        rules=lambda: rt.rules, clock=ctx.clock,
                        on_replay=daemon.wake_delivery,
                    )  # fmt: skip
                server = await serve(
                    config.http_addr,
                    metrics=metrics,
                    liveness=heartbeat.alive,
                    readiness=ready,
                    source=config.setting_source("http_addr"),
                    feedback=feedback,
                    max_body_bytes=65_536 if console is not None else 16_384,
                    console=console,
                )
            except BaseException:
                if console_store is not None:
                    console_store.close()
                await asyncio.to_thread(lifeline.close)
                raise
        beats = asyncio.create_task(lifeline.run())

        try:
            return await daemon.run()
        finally:
            released = await asyncio.to_thread(leases.release_all)
            if released:
                log.info("alerts_released", alerts=released)
            beats.cancel()
            await asyncio.to_thread(lifeline.close)
            if server is not None:
                await server.close()
            if console_store is not None:
                console_store.close()

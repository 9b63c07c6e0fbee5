"""The daemon's wiring: runtime + jobs + HTTP endpoints + rule reloads. Does I/O."""

from __future__ import annotations

import asyncio
from pathlib import Path

import structlog

from monitor.app import Context, load_checked_rules, make_context, rules_dir
from monitor.clock import SystemClock
from monitor.config import Config
from monitor.daemon import Daemon
from monitor.errors import NewsmonError
from monitor.httpserver import Heartbeat, ReadyState, serve
from monitor.metrics import Metrics
from monitor.model import FeedState
from monitor.query.rulefiles import rule_files
from monitor.runtime import Runtime, open_runtime

log = structlog.get_logger("newsmon.service")


def rules_fingerprint(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """What changes when a rules file is edited, added or removed (cheap: no reading)."""
    found = []
    for path in rule_files(folder):
        stat = path.stat()  # follows symlinks: a ConfigMap update swaps the `..data` link
        found.append((str(path), stat.st_mtime_ns, stat.st_size))
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
        self.fingerprint = current
        try:
            rules = await asyncio.to_thread(load_checked_rules, self.rt.config, self.override)
        except NewsmonError as exc:
            self.last_error = str(exc)
            self.metrics.rules_reload(ok=False)
            log.error("rules_reload_refused", error=str(exc), kept=self.rt.rules.version)
            return
        self.last_error = None
        old = self.rt.rules.version
        self.rt.set_rules(rules)
        self.metrics.rules_reload(ok=True)
        self.metrics.set_rules_version(rules.version, len(rules.rules))
        log.info("rules_reloaded", version=rules.version, previous=old, rules=len(rules.rules))


async def serve_forever(config: Config, rules_override: str | None = None) -> int:
    ctx = make_context(config)
    return await run_service(ctx, rules_override)


async def run_service(ctx: Context, rules_override: str | None = None) -> int:
    config = ctx.config
    metrics = Metrics()
    async with open_runtime(ctx, rules_override) as rt:
        metrics.set_rules_version(rt.rules.version, len(rt.rules.rules))
        rt.poller.metrics = metrics
        rt.deliverer.metrics = metrics
        for secret in rt.deliverer.secret_values():
            metrics.register_secret(secret)
        reloader = RuleReloader(rt, metrics, rules_override)
        heartbeat = Heartbeat(SystemClock(), max_silence_s=30.0)

        async def claim(limit: int) -> list[FeedState]:
            return await asyncio.to_thread(
                rt.store.claim_due_feeds, ctx.clock.now(), limit, config.feed_lease, ctx.owner
            )

        async def release(feed_id: str) -> None:
            await asyncio.to_thread(rt.store.release_feed, feed_id, ctx.owner)

        async def deliver() -> None:
            await rt.deliverer.run_once()

        async def housekeeping() -> None:
            pruned = await asyncio.to_thread(
                rt.store.prune, ctx.clock.now(), config.retention, config.story_window
            )
            log.info("housekeeping", pruned=pruned)

        async def stats() -> None:
            depth, oldest = await asyncio.to_thread(rt.store.outbox_stats, ctx.clock.now())
            metrics.set_outbox(depth, oldest)
            feeds = await asyncio.to_thread(rt.store.list_feeds)
            metrics.set_feeds_in_error(sum(1 for f in feeds if f.status == "error"))

        daemon = Daemon(
            claim_feeds=claim,
            poll_feed=rt.poller.poll,
            release_feed=release,
            deliver=deliver,
            reload_rules=reloader,
            housekeeping=housekeeping,
            stats=stats,
            concurrency=config.concurrency,
            grace_period=config.grace_period,
            heartbeat=heartbeat.beat,
        )

        async def ready() -> ReadyState:
            ok = await asyncio.to_thread(rt.store.ping)
            return ReadyState(store=ok, rules_version=rt.rules.version, rules=len(rt.rules.rules))

        server = None
        if config.http_addr:
            server = await serve(
                config.http_addr, metrics=metrics, liveness=heartbeat.alive, readiness=ready
            )
        try:
            return await daemon.run()
        finally:
            if server is not None:
                await server.close()

"""`newsmon run`: the daemon's jobs, its HTTP endpoints and its heartbeat, over the runtime the
bootstrap builds. Does I/O.

    bootstrap (monitor.process.bootstrap)   config -> store, rules, poller, deliverer, secrets
    cycle     (monitor.process.cycle)       claim, poll, release, deliver: the scheduler's work
    reload    (monitor.process.reload)      the rules follow their files
    daemon    (monitor.process.daemon)      the scheduler, the signals, the drain
    lifeline, httpserver                    heartbeat in the store, /healthz /readyz /metrics

Shutdown: at the first signal every destination's rate bucket is paused, so the deliverer sends
no further alert and gives back the rows it had claimed but not started; the alert being posted
finishes (or is cancelled when the grace period runs out). The deliverer's store is
`AlertLeases` (monitor.process.leases): every alert lease still held at the end is released, so
a restart (or another replica) delivers it at once instead of after the lease expires.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog

from monitor.clock import SystemClock
from monitor.config import Config
from monitor.errors import StoreError
from monitor.metrics import Metrics
from monitor.process.bootstrap import Context, make_context, open_runtime
from monitor.process.cycle import Cycle, unconfigured_destinations
from monitor.process.daemon import Daemon, StopLatch
from monitor.process.feedreload import FeedReloader
from monitor.process.httpserver import Heartbeat, ReadyState, serve
from monitor.process.lifeline import Lifeline
from monitor.process.reload import RuleReloader
from monitor.store.base import Store

log = structlog.get_logger("newsmon.service")


PAUSE_ON_STOP_S = 24 * 3600.0  # longer than any grace period: no alert is started after a signal
# Housekeeping runs every 10 minutes on whichever replica holds this lease; it outlasts one
# interval, so the leader keeps it, and a dead leader's lease is free when its heartbeat stops.
HOUSEKEEPING_LEASE = timedelta(minutes=15)
STOP_WAIT_S = 0.5  # how long each store call after the drain waits for another process's lock


async def _say_unconfigured(store: Store, config: Config, where: str) -> None:
    """Warn of pending alerts for destinations the config no longer names: a restart after the
    edit said nothing of them (only `deliveries list` did)."""
    missing = await unconfigured_destinations(store, config)
    if missing:
        log.warning(
            "alerts_for_unconfigured_destinations",
            destinations=missing,
            config=where,
            hint="their pending alerts are not sent: configure a destination of that name"
            " again (`newsmon deliveries list` shows them)",
        )


async def serve_forever(
    config: Config, rules_override: str | None = None, stop: StopLatch | None = None
) -> int:
    ctx = make_context(config)
    return await run_service(ctx, rules_override, stop)


async def run_service(
    ctx: Context, rules_override: str | None = None, stop: StopLatch | None = None
) -> int:
    """Run the daemon until a signal, or until `stop` is set (from any thread)."""
    config = ctx.config
    metrics = Metrics()
    # The console's credentials are read before anything starts: a missing one is a config
    # error at once, not a console that nobody can log in to.
    ui_credentials = config.resolve_ui_credentials() if config.ui.enabled else []
    if config.ui.enabled and not config.http_addr:
        log.warning("console_off", reason="ui.enabled needs the listener: http_addr is empty")
    where = str(config.path) if config.path is not None else "no config file found"
    async with open_runtime(ctx, rules_override, metrics=metrics) as rt:
        first = rt.rules.rules
        metrics.set_rules_version(first.version, len(first.rules))
        # What this daemon watches, in one line: the first thing a person starting it reads.
        log.info(
            "config_loaded",
            config=where,
            feeds=len(config.feeds),
            rules=len(first.rules),
            rules_version=first.version,
            destinations=[d.name for d in config.destinations],
            # Keys of the file that a NEWSMON_ variable replaces (the image sets three): never
            # the values, which may hold a password.
            **({"env_overrides": overrides} if (overrides := config.env_overrides()) else {}),
        )
        # After the rules loaded: a start that fails says only why it failed.
        if not config.feeds:
            log.warning(
                "no_feeds",
                config=where,
                hint="nothing will be polled: add feeds ([{id, url}]) to the config and "
                + ("send SIGHUP" if config.path is not None else "restart"),
            )
        if not config.destinations:
            # Matches are recorded and logged; a first run that sends nothing says why, at once.
            log.warning(
                "no_destinations",
                config=where,
                hint="matches are recorded, and nothing is sent: add one under destinations: in the"
                " config and restart",
            )
        await _say_unconfigured(rt.store, config, where)
        feeds = FeedReloader(rt.store, ctx.clock, metrics)
        reloader = RuleReloader(rt.rules, config, metrics, rules_override, feeds)
        heartbeat = Heartbeat(SystemClock(), max_silence_s=30.0)

        def come_back(seconds: float) -> None:
            asyncio.get_running_loop().call_later(seconds, daemon.wake_delivery)

        cycle = Cycle(
            rt, log_matches=True, wake=lambda: daemon.wake_delivery(), come_back=come_back
        )

        def stop_delivering() -> None:
            # No alert is started after a signal: the deliverer finds every bucket empty,
            # releases the rows it claimed but did not start, and returns after the post in flight.
            rt.leases.closed = True
            # No store call begun from now on waits for another process's lock beyond the
            # grace period (a post's record still may, within it).
            rt.store.hurry(config.grace_period.total_seconds())
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

        async def stats() -> None:
            # The outbox gauges follow every enqueue and delivery run too (see Cycle).
            await cycle.outbox_stats()
            # Reads every feed row: only on the 5 s tick, never per poll.
            in_error = await asyncio.to_thread(rt.store.count_feeds_in_error)
            metrics.set_feeds_in_error(in_error)

        daemon = Daemon(
            claim_feeds=cycle.claim,
            poll_feed=cycle.poll,
            release_feed=cycle.release,
            deliver=cycle.deliver,
            reload_rules=reloader,
            housekeeping=housekeeping,
            stats=stats,
            concurrency=config.concurrency,
            grace_period=config.grace_period,
            heartbeat=heartbeat.beat,
            on_stop=stop_delivering,
            stop=stop,
            clock_set_back=lambda step: asyncio.to_thread(
                rt.store.clock_set_back, step, ctx.clock.now()
            ),
        )

        store_ok = [True]  # the last ping's answer

        async def ready() -> ReadyState:
            # Stopping: answer at once, without waiting on a store that the drain keeps busy.
            if not daemon.stopping:
                # A SQLite file on a full disk or made read-only still answers the ping's read:
                # the heartbeat, a write every 2.5 s, says whether the daemon can record work.
                store_ok[0] = lifeline.writing and await asyncio.to_thread(rt.store.ping)
            live = rt.rules.rules  # one read: the version and the count of the same rules
            return ReadyState(
                store=store_ok[0],
                rules_version=live.version,
                rules=len(live.rules),
                stopping=daemon.stopping,
            )

        # Before the first claim: a predecessor on this host that died (SIGKILL) holds leases
        # that are ours to take at once; then our own row, renewed until the very end.
        lifeline = Lifeline(rt.store, ctx.owner, ctx.clock)
        await lifeline.open()
        rt.deliverer.life = lifeline.life
        # The store's gauges (feeds in error, the outbox) before the first scrape can read them:
        # a 0 until the first 5 s stats tick reset every `for:` of the alerts built on them at
        # each restart. A store error here is the stats job's own (logged, backed off).
        await daemon.stats_tick()
        # The listener starts last, just before the daemon's signal handlers: an orchestrator
        # that sees /healthz answer may signal at once, and a SIGHUP or SIGTERM that came before
        # the handlers would end the process.
        server = None
        console_store: Store | None = None
        if config.http_addr:
            feedback = None
            if config.feedback_token:  # registered for redaction by the bootstrap
                from monitor.feedback.http import feedback_handler

                feedback = feedback_handler(
                    rt.store, config.feedback_token, ctx.clock, lambda: rt.rules.rules.rules
                )
            console = None
            try:
                if config.ui.enabled:
                    from monitor.console import build_console
                    from monitor.store import open_store

                    # A connection of its own: a playground run reading the archive never
                    # holds the daemon's store lock.
                    console_store = open_store(
                        config.database_url, timeout=config.database_timeout, migrate=False
                    )
                    console = build_console(
                        config.ui, ui_credentials, store=console_store,
                        rules=lambda: rt.rules.rules, clock=ctx.clock,
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
                    allowed_hosts=config.http_allowed_hosts,
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
            # Past the grace period: another process holding the SQLite write lock (a backup,
            # a sqlite3 shell) must not keep us 10 s per call; what is not given back expires.
            rt.store.hurry(STOP_WAIT_S)
            try:
                released = await asyncio.to_thread(rt.leases.release_all)
            except StoreError as exc:
                # The store is failing as we stop: the exit stays graceful and the leases wait
                # for the holder row to expire (or for a restart here, which ends it at once).
                log.warning("alerts_release_failed", alerts=rt.leases.held, error=str(exc))
            else:
                if released:
                    log.info("alerts_released", alerts=released)
            beats.cancel()
            await asyncio.to_thread(lifeline.close)
            if server is not None:
                await server.close()
            if console_store is not None:
                console_store.close()

"""The long-lived parts of a process that polls and delivers, built from a Config. Does I/O.

`newsmon check --deliver` (one cycle) and `newsmon run` (the daemon) share them, so a cron job
and the daemon behave the same way against the same store.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import httpx

from monitor.config import Config
from monitor.delivery.deliverer import Deliverer
from monitor.feeds.budget import ParseBudget, ParsePool, pool_for
from monitor.net.client import make_client
from monitor.net.hostlimits import HostLimiter
from monitor.offload import on_cpu_thread, run_inline
from monitor.pipeline.poll import FetchPolicy, Poller, http_fetcher
from monitor.process.app import (
    Context,
    load_checked_rules,
    make_guard,
    poll_policy,
    routes,
    settle_heap,
)
from monitor.query.ruleset import RuleSet
from monitor.store import open_store
from monitor.store.base import Store


@dataclass
class Runtime:
    ctx: Context
    store: Store
    rules: RuleSet
    poller: Poller
    deliverer: Deliverer
    client: httpx.AsyncClient

    @property
    def config(self) -> Config:
        return self.ctx.config

    def set_rules(self, rules: RuleSet) -> None:
        """Swap in a newly loaded rule set; polls already running finish with the old one."""
        self.rules = rules
        self.poller.rules = rules
        self.poller.destinations = routes(self.config, rules)


@asynccontextmanager
async def open_runtime(
    ctx: Context, rules_override: str | None = None, *, inline: bool = False
) -> AsyncIterator[Runtime]:
    """The store, client, poller and deliverer of one process. `inline`: a one-shot command's
    polls parse and write on the loop's own thread (see monitor.offload)."""
    config = ctx.config
    rules = load_checked_rules(config, rules_override)
    settle_heap()
    store = await asyncio.to_thread(open_store, config.database_url)
    parser: ParsePool | None = None
    try:
        await asyncio.to_thread(store.migrate)
        await asyncio.to_thread(store.sync_feeds, config.feed_specs(), ctx.clock.now())
        guard = make_guard(config)
        policy = FetchPolicy(
            deadline=config.fetch_deadline.total_seconds(),
            max_body=config.max_body,
            max_redirects=config.max_redirects,
            max_items=config.max_items_per_poll,
        )
        # The daemon parses in budgeted worker processes; a one-shot command parses inline.
        if not inline and config.parse_workers > 0:
            budget = ParseBudget(cpu_s=config.parse_cpu.total_seconds(), memory=config.parse_memory)
            parser = await asyncio.to_thread(pool_for, budget, config.parse_workers)
        async with make_client(
            guard, connect_timeout=config.connect_timeout.total_seconds()
        ) as client:
            limiter = HostLimiter(per_host=config.per_host_concurrency, total=config.concurrency)
            poller = Poller(
                store=store,
                fetcher=http_fetcher(client, limiter, policy),
                rules=rules,
                destinations=routes(config, rules),
                clock=ctx.clock,
                owner=ctx.owner,
                max_items=config.max_items_per_poll,
                poll_policy=poll_policy(config),
                cpu=run_inline if inline else on_cpu_thread,
                io=run_inline if inline else asyncio.to_thread,
                archive=config.archive_kept > timedelta(0),
                parser=parser,
            )
            # Resolves destination URLs and secrets now: a missing one fails early and clearly.
            async with Deliverer.from_config(
                config, store, clock=ctx.clock, owner=ctx.owner
            ) as deliverer:
                yield Runtime(ctx, store, rules, poller, deliverer, client)
    finally:
        if parser is not None:
            await asyncio.to_thread(parser.close)
        await asyncio.to_thread(store.close)


FAR_FUTURE = timedelta(days=3650)

"""Live feeds: a SIGHUP applies the config's `feeds:` to the running daemon. Does I/O (the store).

The store is the schedule, so applying the feeds is the start-up sync run again
(`Store.sync_feeds`, one transaction): a new feed is due at once and baselined by its first poll
as at start, a removed one is deactivated (its state and its pending alerts kept, a poll of it
in flight finishes and does not bring it back), a changed one takes its url, name, tags,
interval and backfill. Replicas that each sync the same file agree: the second sync finds
nothing to do. `default_interval` fills a feed's missing interval, so it is applied with them.

Every other key is read at start only; `config_changed` names those that differ.
"""

from __future__ import annotations

import asyncio

import structlog

from monitor.clock import Clock
from monitor.config import Config
from monitor.errors import StoreError
from monitor.metrics import Metrics
from monitor.net.urls import url_credentials
from monitor.process.bootstrap import register_secrets, rule_problems
from monitor.query.ruleset import RuleSet
from monitor.store.base import Store

log = structlog.get_logger("newsmon.service")

# The keys a SIGHUP applies: together they make `Config.feed_specs()`.
APPLIED = ("feeds", "default_interval")


def unapplied_changes(running: Config, fresh: Config) -> list[str]:
    """The top-level keys whose value differs, but which a SIGHUP does not apply."""
    return sorted(
        name
        for name in type(running).model_fields
        if name not in APPLIED and getattr(running, name) != getattr(fresh, name)
    )


def with_fresh_feeds(running: Config, fresh: Config) -> Config:
    """The running config with the feeds of `fresh` (validated already, as part of `fresh`)."""
    return running.model_copy(update={name: getattr(fresh, name) for name in APPLIED})


class FeedReloader:
    """Syncs the store's feeds with a config read again."""

    def __init__(self, store: Store, clock: Clock, metrics: Metrics | None) -> None:
        self.store = store
        self.clock = clock
        self.metrics = metrics

    async def apply(self, running: Config, fresh: Config, rules: RuleSet) -> Config:
        """The config the daemon runs on from now: `running` with the feeds of `fresh` when they
        are applied, else `running` as it was (logged: `config_invalid`, `feeds_reload_failed`).
        `rules`: the rules to check the new feeds against, as the SIGHUP read them (a rule
        naming a feed that is gone would never fire: a restart refuses that, so a SIGHUP does
        too)."""
        candidate = with_fresh_feeds(running, fresh)
        specs = candidate.feed_specs()
        config_changed = specs != running.feed_specs()
        if config_changed:
            problems = await asyncio.to_thread(rule_problems, candidate, rules)
            if problems:
                log.error(
                    "config_invalid",
                    error="\n".join(str(p) for p in problems),
                    hint="the feeds are kept as they run; a restart would fail on this",
                )
                return running
        # A new feed URL's password or API key is hidden before its first poll can log it.
        known = {c for spec in running.feed_specs() for c in url_credentials(spec.url)}
        new = {c for spec in specs for c in url_credentials(spec.url)} - known
        if new:
            register_secrets(sorted(new), self.metrics)
        try:
            plan = await asyncio.to_thread(self.store.sync_feeds, specs, self.clock.now())
        except StoreError as exc:
            log.error(  # noqa: TRY400 - the store's message says it
                "feeds_reload_failed",
                error=str(exc),
                hint="the feeds are as they were; send SIGHUP again once the store answers",
            )
            return running
        revived = len(plan.revived)
        if config_changed or plan.inserts or plan.updates or plan.gone:
            log.info(
                "feeds_reloaded",
                added=len(plan.inserts) + revived,
                removed=len(plan.gone),
                changed=len(plan.updates) - revived,
                feeds=len({s.id for s in specs}),
            )
        return candidate

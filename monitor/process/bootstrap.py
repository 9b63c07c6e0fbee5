"""The bootstrap: builds a process's runtime from its config, each part given what it needs when
it is made. Does I/O (reads the rules, opens the store, starts the parse workers, resolves the
destinations' secrets).

    rules     read and checked against the config, held in `CurrentRules` (a reload swaps them)
    store     opened, migrated, its feeds synced with the config
    poller    the store's seen items, a guarded client under host limits, the current rules,
              the metrics (None for one-shot commands), where its CPU work runs
    deliverer the store through `AlertLeases` (which alert leases this process holds), the
              destinations with their secrets, the metrics
    secrets   every destination URL, signing key and token, and the feedback token, registered
              for redaction in the log and in /metrics labels before anything is sent

`newsmon run` (the daemon, `monitor.process.service`) and `newsmon check --deliver` (one cycle,
`monitor.process.cycle`) open the same runtime, so a cron job and the daemon behave the same
way against the same store. One factory with overridable keyword arguments (a FakeClock, an
allow-listing guard), so tests need no patching.
"""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from monitor import logs
from monitor.clock import Clock, StoreClock
from monitor.config import Config
from monitor.delivery.deliverer import Deliverer, configured_destinations
from monitor.errors import ConfigError, SourceLocation, did_you_mean
from monitor.net.feedclient import FeedClient, make_feed_client
from monitor.net.guard import AddressGuard
from monitor.net.hostlimits import HostLimiter, patience_for
from monitor.net.urls import url_credentials
from monitor.offload import on_cpu_thread, run_inline
from monitor.pipeline.decide import PollPolicy
from monitor.pipeline.poll import FetchPolicy, Poller, http_fetcher
from monitor.pipeline.rules import CurrentRules
from monitor.process.leases import AlertLeases
from monitor.process.lifeline import set_to_store
from monitor.query.rulefiles import load_rules
from monitor.query.ruleset import RuleSet
from monitor.store import open_store
from monitor.store.base import Store

if TYPE_CHECKING:  # prometheus_client and the parse workers are imported by the daemon only
    from monitor.feeds.budget import ParsePool
    from monitor.metrics import Metrics


def owner_id() -> str:
    """Who holds a lease: host, pid and a random part (pids repeat across containers)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def rules_dir(config: Config, override: str | None) -> Path:
    return Path(override or config.rules)


def load_checked_rules(config: Config, override: str | None = None) -> RuleSet:
    """Load the rules and check them against the config (`rule_problems`): raise every problem
    at once, each located at its rule."""
    rules = load_rules(rules_dir(config, override), named_by=config.rules_named_by(override))
    return checked_rules(config, rules)


def checked_rules(config: Config, rules: RuleSet) -> RuleSet:
    """`rules`, when the config can serve them (`rule_problems`); else raise every problem at
    once, each located at its rule."""
    problems = rule_problems(config, rules)
    if problems:
        if len(problems) == 1:
            raise problems[0]
        raise ConfigError("\n".join(str(p) for p in problems))
    return rules


def rule_problems(config: Config, rules: RuleSet) -> list[ConfigError]:
    """What in the rules the config cannot serve: a `notify` naming no destination, a `feeds`
    entry naming no feed id or tag (the rule would never fire). `newsmon run`, `check` and
    `rules check --config` all ask this, so they agree."""
    names = {d.name for d in config.destinations}
    specs = config.feed_specs()
    ids = {s.id for s in specs}
    tags = {t for s in specs for t in s.tags}
    problems = []
    # In the order of the files and lines, as every other list of located errors is.
    for rule in sorted(rules.rules.values(), key=lambda r: (r.file, r.line)):
        where = SourceLocation(rule.file, rule.line, 1) if rule.file else None
        for name in (n for n in rule.notify if n not in names):
            hint = _a_list(name) or did_you_mean([name], names)
            if not hint and names:
                hint = f" (configured: {', '.join(sorted(names))})"
            elif not hint:
                hint = ": the config has no destinations; add one under `destinations:`"
            problems.append(ConfigError(
                f"rule {rule.id!r}: notify: {name!r} is no destination name in the config{hint}",
                where,
            ))  # fmt: skip
        # Without feeds in the config there is nothing to name (`check --feed FILE` on a bare
        # config); with some, an entry that is neither an id nor a tag is a typo.
        missing = [f for f in rule.feeds if specs and f not in ids and f not in tags]
        for name in missing:
            hint = _a_list(name) or did_you_mean([name], ids | tags)
            problems.append(ConfigError(
                f"rule {rule.id!r}: feeds: {name!r} is no feed id or tag in the config, so the "
                f"rule would never fire{hint}",
                where,
            ))  # fmt: skip
    return problems


def _a_list(name: str) -> str:
    """The hint for `notify: a, b` (one name holding a comma, as YAML reads it): write a list."""
    parts = [p.strip() for p in name.split(",") if p.strip()]
    return f"; several are written as a list: [{', '.join(parts)}]" if len(parts) > 1 else ""


def startup_secret_problems(config: Config) -> list[str]:
    """What `newsmon run` would refuse to start with here, one line each: a destination URL or
    secret that cannot be read (an unset `secret_env`, a missing `url_file`) or is unusable, and,
    with `ui.enabled`, console credentials that cannot be read or are not set. The same checks
    `run` makes when it starts (`configured_destinations`, `resolve_ui_credentials`); `rules
    check` asks them without starting anything. Empty when all is well."""
    problems: list[str] = []
    try:
        configured_destinations(config)
    except ConfigError as exc:
        problems += str(exc).splitlines()  # resolving lists each destination's problem on a line
    if config.ui.enabled:
        try:
            config.resolve_ui_credentials()
        except ConfigError as exc:
            problems += str(exc).splitlines()
    return problems


def settle_heap(*, replaced: bool = False) -> None:
    """Move the (long-lived) modules and compiled rules out of the garbage collector's way, so
    that collections while items are matched do not walk them. After a reload (`replaced`),
    unfreeze and collect first so the rules it replaced are freed; at start-up there is nothing
    worth a full collection (about 20 ms of every one-shot check). Turns the collector on: the
    `newsmon` command pauses it for the start (monitor.cli.entry)."""
    if replaced:
        gc.unfreeze()
        gc.collect()
    gc.freeze()
    gc.enable()


def make_guard(config: Config) -> AddressGuard:
    return AddressGuard(list(config.allow_networks))


def fetch_policy(config: Config) -> FetchPolicy:
    """How the configured feeds are fetched (`run`, `check`): the config's deadline, body,
    redirect and item limits."""
    return FetchPolicy(
        deadline=config.fetch_deadline.total_seconds(),
        max_body=config.max_body,
        max_redirects=config.max_redirects,
        max_items=config.max_items_per_poll,
        body_memory=config.body_memory,
    )


def named_feed_policy(config: Config) -> FetchPolicy:
    """How a feed a person names once is fetched (`rules test --feed`, `archive import`): the
    config's body and item limits, the fetch's own deadline and redirect limit."""
    return FetchPolicy(
        max_body=config.max_body,
        max_items=config.max_items_per_poll,
        body_memory=config.body_memory,
    )


def poll_policy(config: Config) -> PollPolicy:
    return PollPolicy(
        retention=config.retention,
        story_window=config.story_window,
        alert_on_edit=config.alert_on_edit,
        jitter=config.jitter,
        max_interval_s=config.max_interval.total_seconds(),
        max_backoff_s=config.max_backoff.total_seconds(),
    )


@dataclass(frozen=True)
class Context:
    """The configuration, clock and owner id a process runs with."""

    config: Config
    clock: Clock
    owner: str


def make_context(config: Config, clock: Clock | None = None) -> Context:
    # The store's clock once the heartbeat has read it (replicas on several machines agree).
    return Context(config=config, clock=clock or StoreClock(), owner=owner_id())


@dataclass(frozen=True)
class Runtime:
    """The long-lived parts of a process that polls and delivers."""

    ctx: Context
    store: Store
    rules: CurrentRules
    poller: Poller
    deliverer: Deliverer
    leases: AlertLeases  # the deliverer's store: the alert leases held, released at shutdown
    client: FeedClient
    metrics: Metrics | None

    @property
    def config(self) -> Config:
        return self.ctx.config


def register_secrets(values: Sequence[str], metrics: Metrics | None) -> None:
    """Redact these values from every later log line and from every /metrics label."""
    logs.register_secrets(values)
    if metrics is not None:
        for value in values:
            metrics.register_secret(value)


MIN_FEED_SECRET = 8  # characters; see open_runtime


# A one-shot command's SQLite page cache. The default 2,000 KiB filled up with the pages a cold
# round over 200 feeds writes (5 MB) and was ≈1.7 MB of its peak memory; the pages a poll reads
# again (its feed's index ranges, the tables' ends) fit in 512 KiB, and the rounds' CPU measured
# the same. The daemon keeps the default: its console and story lookups read more widely.
ONE_SHOT_PAGE_CACHE_KIB = 512


@asynccontextmanager
async def open_runtime(
    ctx: Context,
    rules_override: str | None = None,
    *,
    inline: bool = False,
    metrics: Metrics | None = None,
) -> AsyncIterator[Runtime]:
    """The store, client, poller and deliverer of one process. `inline`: a one-shot command's
    polls parse and write on the loop's own thread (see monitor.offload). `metrics`: the
    daemon's /metrics, counted by the poller and the deliverer; None counts nothing."""
    config = ctx.config
    rules = CurrentRules(
        load_checked_rules(config, rules_override), [d.name for d in config.destinations]
    )
    settle_heap()
    cache = ONE_SHOT_PAGE_CACHE_KIB if inline else None
    store = await asyncio.to_thread(
        open_store, config.database_url, page_cache_kib=cache, timeout=config.database_timeout
    )
    parser: ParsePool | None = None
    try:
        await asyncio.to_thread(store.migrate)
        if isinstance(ctx.clock, StoreClock):
            # Before the first time written: new feeds are due at "now", and a machine whose
            # clock ran an hour ahead of the database server's made them due an hour late for
            # every replica, their items of that hour taken silently into the baseline.
            await asyncio.to_thread(set_to_store, ctx.clock, store)
        await asyncio.to_thread(store.sync_feeds, config.feed_specs(), ctx.clock.now())
        guard = make_guard(config)
        policy = fetch_policy(config)
        # The daemon parses in budgeted worker processes; a one-shot command parses inline.
        if not inline and config.parse_workers > 0:
            from monitor.feeds.budget import ParseBudget, pool_for

            budget = ParseBudget(cpu_s=config.parse_cpu.total_seconds(), memory=config.parse_memory)
            parser = await asyncio.to_thread(pool_for, budget, config.parse_workers)
        async with make_feed_client(
            guard, connect_timeout=config.connect_timeout.total_seconds()
        ) as client:
            limiter = HostLimiter(
                per_host=config.per_host_concurrency,
                total=config.concurrency,
                patience=patience_for(policy.deadline),
            )
            turns = policy.body_turns()
            if metrics is not None:
                metrics.watch_body_turns(turns)
            poller = Poller(
                store=store,
                fetcher=http_fetcher(client, limiter, policy, turns),
                rules=rules,
                clock=ctx.clock,
                owner=ctx.owner,
                max_items=config.max_items_per_poll,
                poll_policy=poll_policy(config),
                cpu=run_inline if inline else on_cpu_thread,
                io=run_inline if inline else asyncio.to_thread,
                archive=config.archive_kept > timedelta(0),
                parser=parser,
                metrics=metrics,
            )
            leases = AlertLeases(store, ctx.owner)
            # Resolves destination URLs and secrets now: a missing one fails early and clearly.
            async with Deliverer.from_config(
                config, leases, clock=ctx.clock, owner=ctx.owner, metrics=metrics
            ) as deliverer:
                secrets = deliverer.secret_values()
                if config.feedback_token:
                    secrets.append(config.feedback_token)
                # A feed URL's password or API key: errors hide them where they are made, and
                # a line that quotes them some other way (a library's, a traceback) is redacted.
                # Not a short one (`?key=demo`): a feed id or rule id equal to it, or a metric
                # label holding it, would be hidden too.
                secrets += [
                    c
                    for spec in config.feed_specs()
                    for c in url_credentials(spec.url)
                    if len(c) >= MIN_FEED_SECRET
                ]
                register_secrets(secrets, metrics)
                yield Runtime(ctx, store, rules, poller, deliverer, leases, client, metrics)
    finally:
        if parser is not None:
            await asyncio.to_thread(parser.close)
        await asyncio.to_thread(store.close)

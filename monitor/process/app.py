"""Wiring: builds the runtime parts from a Config. Does I/O (opens the store, reads rules).

One factory with overridable keyword arguments, so tests can pass a FakeClock or an
allow-listing guard instead of patching.
"""

from __future__ import annotations

import difflib
import gc
import os
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path

from monitor.clock import Clock, SystemClock
from monitor.config import Config
from monitor.errors import ConfigError, SourceLocation
from monitor.net.guard import AddressGuard
from monitor.pipeline.decide import PollPolicy, route
from monitor.query.rulefiles import load_rules
from monitor.query.ruleset import RuleSet


def owner_id() -> str:
    """Who holds a lease: host, pid and a random part (pids repeat across containers)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def rules_dir(config: Config, override: str | None) -> Path:
    return Path(override or config.rules)


def load_checked_rules(config: Config, override: str | None = None) -> RuleSet:
    """Load the rules and check them against the config (`rule_problems`): raise every problem
    at once, each located at its rule."""
    rules = load_rules(rules_dir(config, override))
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
    for rule in rules.rules.values():
        where = SourceLocation(rule.file, rule.line, 1) if rule.file else None
        unknown = [n for n in rule.notify if n not in names]
        if unknown:
            problems.append(ConfigError(
                f"rule {rule.id!r} notifies {', '.join(map(repr, unknown))}, which no destination "
                f"in the config is named (configured: {', '.join(sorted(names)) or 'none'})",
                where,
            ))  # fmt: skip
        # Without feeds in the config there is nothing to name (`check --feed FILE` on a bare
        # config); with some, an entry that is neither an id nor a tag is a typo.
        missing = [f for f in rule.feeds if specs and f not in ids and f not in tags]
        for name in missing:
            close = difflib.get_close_matches(name, sorted(ids | tags), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(ConfigError(
                f"rule {rule.id!r}: feeds: {name!r} is no feed id or tag in the config, so the "
                f"rule would never fire{hint}",
                where,
            ))  # fmt: skip
    return problems


def settle_heap(*, replaced: bool = False) -> None:
    """Move the (long-lived) modules and compiled rules out of the garbage collector's way, so
    that collections while items are matched do not walk them. After a reload (`replaced`),
    unfreeze and collect first so the rules it replaced are freed; at start-up there is nothing
    worth a full collection (about 20 ms of every one-shot check)."""
    if replaced:
        gc.unfreeze()
        gc.collect()
    gc.freeze()


def routes(config: Config, rules: RuleSet) -> dict[str, set[str]]:
    """Destination name -> ids of the enabled rules whose alerts go there."""
    enabled = {r.id: list(r.notify) for r in rules.rules.values() if r.enabled}
    return route(enabled, [d.name for d in config.destinations])


def make_guard(config: Config) -> AddressGuard:
    return AddressGuard(list(config.allow_networks))


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
    config: Config
    clock: Clock
    owner: str


def make_context(config: Config, clock: Clock | None = None) -> Context:
    return Context(config=config, clock=clock or SystemClock(), owner=owner_id())

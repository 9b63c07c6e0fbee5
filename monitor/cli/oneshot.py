"""`newsmon check` without `--deliver`: fetch, parse and match every current item; no state.

Does I/O (fetches, reads named local files) but writes nothing and sends nothing: the feeds go
through the daemon's poll path without a store (monitor.pipeline.source.poll_named).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from monitor.config import Config
from monitor.model import Item, Match
from monitor.offload import run_main
from monitor.pipeline.source import NamedSource, name_source, poll_named
from monitor.process.bootstrap import fetch_policy, load_checked_rules, make_guard, settle_heap
from monitor.query.ruleset import RuleSet

Found = list[tuple[Item, list[Match]]]


@dataclass
class CheckResult:
    found: Found = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    titles: dict[str, str] = field(default_factory=dict)  # feed id -> the feed's own title
    # Rules with `feeds:` tried on a `--feed` the config does not list: "id (feeds: a, b)"
    scoped: list[str] = field(default_factory=list)


class Progress(Protocol):
    """Told how many feeds there are, then of each fetched (a progress bar on a terminal)."""

    def start(self, total: int) -> None: ...

    def advance(self, feed_id: str) -> None: ...


class NoProgress:
    def start(self, total: int) -> None:
        pass

    def advance(self, feed_id: str) -> None:
        pass


def check_feeds(
    config: Config,
    named: Sequence[str],
    *,
    rules_override: str | None = None,
    progress: Progress | None = None,
) -> CheckResult:
    """Match every current item of the named feeds (or of the configured ones)."""
    rules = load_checked_rules(config, rules_override)
    settle_heap()
    scoped: list[str] = []
    if named:
        # A feed the config does not list is tried with every rule, as `rules test` does: the
        # README sends a person here to try the rules on a feed file.
        scopes = sorted({name for rule in rules.rules.values() for name in rule.feeds})
        sources = named_sources(config, named, scopes)
        listed = {(spec.id, spec.url) for spec in config.feed_specs()}
        if any((s.feed_id, s.url) not in listed for s in sources):
            scoped = [
                f"{r.id} (feeds: {', '.join(r.feeds)})"
                for r in rules.rules.values()
                if r.enabled and r.feeds
            ]
    else:
        sources = [
            NamedSource(feed_id=s.id, url=s.url, tags=s.tags, interval_s=s.interval_s)
            for s in config.feed_specs()
        ]
    result = run_main(_check_all(config, rules, sources, progress or NoProgress()))
    result.scoped = scoped
    return result


def named_sources(
    config: Config, named: Sequence[str], other_tags: Sequence[str] = ()
) -> list[NamedSource]:
    """Each `--feed` argument as a source. One whose URL the config lists is that feed, with its
    id and tags, so that a rule watching only some feeds sees it as the daemon does (named by
    its URL it had an id of its own and no tags, and those rules never fired); any other has
    `other_tags`."""
    by_url = {spec.url: spec for spec in config.feed_specs()}
    out = []
    for arg in named:
        source = name_source(arg)
        spec = by_url.get(source.url) if source.path is None else None
        if spec is not None:
            source = NamedSource(
                feed_id=spec.id, url=spec.url, tags=spec.tags, interval_s=spec.interval_s
            )
        elif other_tags:
            source = replace(source, tags=tuple(other_tags))
        out.append(source)
    return out


async def _check_all(
    config: Config,
    rules: RuleSet,
    sources: Sequence[NamedSource],
    progress: Progress,
) -> CheckResult:
    policy = fetch_policy(config)
    progress.start(len(sources))
    reports = await poll_named(
        sources,
        rules,
        guard=make_guard(config),
        policy=policy,
        connect_timeout=config.connect_timeout.total_seconds(),
        per_host=config.per_host_concurrency,
        total=config.concurrency,
        fetched=progress.advance,
    )
    out = CheckResult()
    for report in reports:
        if report.status == "error":
            out.failures.append((report.feed_id, f"{report.error_kind}: {report.error}"))
            continue
        if report.title:
            out.titles[report.feed_id] = report.title
        out.found.extend((item, list(matches)) for item, matches in report.matched)
    return out

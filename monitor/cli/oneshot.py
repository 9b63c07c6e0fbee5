"""`newsmon check` without `--deliver`: fetch, parse and match every current item; no state.

Does I/O (fetches, reads named local files) but writes nothing and sends nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

from monitor.config import Config
from monitor.errors import FeedError
from monitor.feeds.fetch import FetchResult, fetch
from monitor.model import Item, Match
from monitor.net.client import make_client
from monitor.net.hostlimits import HostLimiter
from monitor.pipeline.source import NamedSource, name_source, parse_result, read_local
from monitor.process.app import load_checked_rules, make_guard
from monitor.query.ruleset import RuleSet

Found = list[tuple[Item, list[Match]]]


@dataclass
class CheckResult:
    found: Found = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    titles: dict[str, str] = field(default_factory=dict)  # feed id -> the feed's own title


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
    if named:
        sources = [name_source(arg) for arg in named]
        tags: dict[str, tuple[str, ...]] = {}
    else:
        specs = config.feed_specs()
        sources = [NamedSource(feed_id=s.id, url=s.url) for s in specs]
        tags = {s.id: s.tags for s in specs}
    return asyncio.run(_check_all(config, rules, sources, tags, progress or NoProgress()))


async def _check_all(
    config: Config,
    rules: RuleSet,
    sources: Sequence[NamedSource],
    tags: dict[str, tuple[str, ...]],
    progress: Progress,
) -> CheckResult:
    limiter = HostLimiter(per_host=config.per_host_concurrency, total=config.concurrency)
    out = CheckResult()
    found, failures = out.found, out.failures
    async with make_client(
        make_guard(config), connect_timeout=config.connect_timeout.total_seconds()
    ) as client:

        async def one(source: NamedSource) -> FetchResult:
            try:
                if source.path is not None:
                    return read_local(source, config.max_body)
                async with limiter.slot(urlsplit(source.url).hostname or ""):
                    return await fetch(
                        client,
                        source.url,
                        max_bytes=config.max_body,
                        deadline=config.fetch_deadline.total_seconds(),
                        max_redirects=config.max_redirects,
                    )
            finally:
                progress.advance(source.feed_id)

        progress.start(len(sources))
        results = await asyncio.gather(*(one(s) for s in sources), return_exceptions=True)
    for source, result in zip(sources, results, strict=True):
        if isinstance(result, FeedError):
            failures.append((source.feed_id, f"{result.kind}: {result}"))
            continue
        if isinstance(result, BaseException):
            raise result
        try:
            parsed = await asyncio.to_thread(
                parse_result, source.feed_id, result, config.max_items_per_poll
            )
        except FeedError as exc:
            failures.append((source.feed_id, f"{exc.kind}: {exc}"))
            continue
        if parsed.title:
            out.titles[source.feed_id] = parsed.title
        feed_tags = (*tags.get(source.feed_id, ()), source.feed_id)
        for item in parsed.items:
            matches = rules.match(item, feed_tags)
            if matches:
                found.append((item, matches))
    return out

"""Polls one feed end to end: fetch, parse, decide, commit. Does I/O.

The one poll path: the daemon and `check --deliver` poll leased feeds with state (a store's
`SeenItems`); `check`, `rules test --feed` and `archive import` poll named feeds without it
(`store=None`: nothing read, nothing written, every current item matched; see
monitor.pipeline.source). `http_fetcher` is the one fetch under the per-host limits.

The decisions are `monitor.pipeline.decide`'s; this module only carries them out, so that what is
written for a poll is exactly one `SeenItems.commit_poll` call (one transaction), or, for a poll
that found nothing new, its feed row in one `commit_unchanged` shared with the polls that
finished beside it (monitor.pipeline.unchanged). Blocking work
(store calls, parsing and matching) runs in a worker thread so the event loop keeps serving
other fetches and the HTTP endpoints; in the daemon, parsing runs in the budgeted worker
processes of `monitor.feeds.budget` (a document past its budget is `too_costly`).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import structlog

from monitor.clock import Clock
from monitor.errors import FeedError, StoreError
from monitor.feeds.fetch import FetchResult, fetch
from monitor.model import ArchivedItem, FeedState, Item, Match, StoryRecord
from monitor.net.bodies import BodyTurns
from monitor.net.feedclient import FeedClient
from monitor.net.hostlimits import HostLimiter, HostStuckError
from monitor.net.urls import hide_url_secrets, public_url, shown_url
from monitor.offload import Offload, on_cpu_thread
from monitor.pipeline.archive import poll_archive
from monitor.pipeline.decide import (
    FetchOutcome,
    Matcher,
    PollPlan,
    PollPolicy,
    decide,
    plan_current,
    plan_error,
    plan_lookups,
    plan_unchanged,
    unchanged,
)
from monitor.pipeline.rules import CurrentRules
from monitor.pipeline.unchanged import UnchangedCommits
from monitor.query.ruleset import prepare
from monitor.store.roles import SeenItems
from monitor.store.stories import SETTLE_MARGIN

if TYPE_CHECKING:  # prometheus_client is imported by the daemon only
    from monitor.feeds.budget import ParsePool
    from monitor.feeds.parse import ParsedFeed
    from monitor.metrics import Metrics

log = structlog.get_logger("newsmon.poller")

Fetcher = Callable[[FeedState], Awaitable[FetchResult]]


@dataclass(frozen=True)
class FetchPolicy:
    """The limits of one fetch: deadline (s), body size, redirects, items taken, and the
    memory all fetches' large bodies may hold together (see monitor.net.bodies)."""

    deadline: float = 30.0
    max_body: int = 10 * 1024 * 1024
    max_redirects: int = 5
    max_items: int = 1000
    body_memory: int = 64 * 1024 * 1024

    def body_turns(self) -> BodyTurns:
        return BodyTurns.for_budget(self.body_memory, self.max_body)


@dataclass(frozen=True)
class PollReport:
    """What one poll of one feed did: its status, counts, error and matches."""

    feed_id: str
    status: str
    new_items: int = 0
    parsed_items: int = 0
    alerts_enqueued: int = 0
    error: str | None = None
    error_kind: str | None = None
    seconds: float = 0.0
    matched: tuple[tuple[Item, tuple[Match, ...]], ...] = ()
    skipped: tuple[tuple[str, int], ...] = ()  # (reason, items), see monitor.model.SKIP_REASONS
    title: str | None = None  # the feed's own title, when this poll parsed it
    items: tuple[Item, ...] = ()  # every parsed item, when the poller was told to keep them
    document_items: int = 0  # items the document had, past max_items too (a poll without state)

    def failure(self) -> FeedError | None:
        """The fetch or parse error this poll ended in, as the error it was."""
        if self.status != "error":
            return None
        return FeedError(self.error_kind or "parse", self.error or "")


CRASH_DETAIL_MAX = 1_000  # characters of an unexpected error kept in the report


async def poll_contained(
    poll: Callable[[FeedState], Awaitable[PollReport]], feed: FeedState
) -> PollReport:
    """`poll(feed)`, with an unexpected error (a bug) turned into this feed's failed report, as
    the daemon turns it into a log line and goes on: one feed that trips a bug must not end a
    one-shot run over every feed (their matches unreported, cron's deliveries never run). A
    StoreError still ends the run (every feed needs the store), and so does a cancellation."""
    try:
        return await poll(feed)
    except StoreError:
        raise
    except Exception as exc:
        log.exception("poll_crashed", feed=feed.id, error=repr(exc))
        detail = f"unexpected error (a bug: please report it): {exc!r}"[:CRASH_DETAIL_MAX]
        return PollReport(feed.id, "error", error=detail, error_kind="crash")


def only_feed_row(plan: PollPlan, archive: Sequence[ArchivedItem]) -> bool:
    """A poll that found nothing new: its commit writes the feed row and nothing else."""
    nothing = not (plan.seen or plan.kept or plan.alerts or plan.sources or archive)
    return nothing and plan.update.status in ("not_modified", "unchanged")


def _sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class _NoCandidates:
    """A story index that knows no story: every item founds its own."""

    def story_candidates(self, bands: Sequence[str], since: datetime) -> list[StoryRecord]:
        return []


_NO_CANDIDATES = _NoCandidates()


def _memoised(match: Callable[[Item, Collection[str]], list[Match]]) -> Matcher:
    """The matcher, evaluated once per item of a poll (the feed's tags are the same for all)."""
    found: dict[int, list[Match]] = {}

    def cached(item: Item, feed_tags: Collection[str]) -> list[Match]:
        key = id(item)  # items live for the whole poll, so their ids stay theirs
        if key not in found:
            found[key] = match(item, feed_tags)
        return found[key]

    return cached


def _no_match(item: Item, feed_tags: Collection[str]) -> list[Match]:
    return []


def http_fetcher(
    client: FeedClient,
    limiter: HostLimiter,
    policy: FetchPolicy,
    turns: BodyTurns | None = None,
) -> Fetcher:
    """The usual fetcher: a guarded conditional GET, polite per host, its large bodies taking
    turns (`turns`, by default the policy's own). The poller releases a result's turn."""
    turns = turns if turns is not None else policy.body_turns()

    async def fetch_feed(feed: FeedState) -> FetchResult:
        try:
            async with limiter.slot(urlsplit(feed.url).hostname or ""):
                return await fetch(
                    client,
                    feed.url,
                    etag=feed.etag,
                    last_modified=feed.last_modified,
                    max_bytes=policy.max_body,
                    deadline=policy.deadline,
                    max_redirects=policy.max_redirects,
                    turns=turns,
                )
        except HostStuckError as e:  # named as every feed error is: by the feed's URL
            raise FeedError(e.kind, f"{shown_url(feed.url)}: {e}") from e

    return fetch_feed


class Poller:
    """Everything a poll needs, wired once; `poll(feed)` does one feed.

    `store`: the feed's memory (seen items, stories, the commit); None polls without state, for
    a person looking at feeds once: no store read or write, no log line, every current item
    matched. `rules`: the rules in force and their routes, read once a poll (a reload swaps
    them between polls); None matches nothing (a poll that only reads, as `archive import`).
    `keep_items`: hand every parsed item back in the report (`archive import` wants them; a
    check of many feeds would hold every document's items to the end for nothing).
    """

    def __init__(
        self,
        *,
        store: SeenItems | None,
        fetcher: Fetcher,
        rules: CurrentRules | None,
        clock: Clock,
        owner: str,
        max_items: int = 1000,
        poll_policy: PollPolicy = PollPolicy(),  # noqa: B008 - frozen
        rng: random.Random | None = None,
        cpu: Offload = on_cpu_thread,
        io: Offload = asyncio.to_thread,
        archive: bool = True,
        parser: ParsePool | None = None,
        keep_items: bool = False,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.archive = archive  # archive each poll's new items (archive_retention > 0)
        self.cpu = cpu  # parsing and matching (see monitor.offload)
        self.io = io  # store calls
        self.parser = parser  # documents parsed under a budget; None: on `cpu`, unbounded
        self.keep_items = keep_items
        self.fetcher = fetcher
        self.rules = rules
        self.clock = clock
        self.owner = owner
        self.max_items = max_items
        self.poll_policy = poll_policy
        self.rng = rng or random.Random()
        self.metrics = metrics  # the daemon's /metrics; None: a one-shot command counts nothing
        # Polls that found nothing new share a transaction (monitor.pipeline.unchanged).
        self.unchanged = UnchangedCommits(store, owner, io) if store is not None else None

    async def poll(self, feed: FeedState) -> PollReport:
        started = self.clock.now()
        try:
            return await self._poll(feed, started)
        except StoreError:
            raise  # the store's turn: the cycle backs off and polls the feed again
        except Exception:
            # A bug (poll_contained logs it and reports the feed in error): counted, so an
            # operator can alert on it, not seen in the log alone.
            if self.metrics is not None:  # no fetch time: where it broke is not known
                self.metrics.poll_finished(feed.id, "crash", math.nan)
            raise

    async def _poll(self, feed: FeedState, started: datetime) -> PollReport:
        try:
            result = await self.fetcher(feed)
        except FeedError as exc:
            fetch_s = (self.clock.now() - started).total_seconds()
            outcome = FetchOutcome(
                status=0,
                error=hide_url_secrets(str(exc), feed.url),  # a fetcher's message may quote it
                error_kind=exc.kind,
                retry_after=getattr(exc, "retry_after", None),
            )
            plan = plan_error(feed, outcome, self.clock.now(), self.rng, self.poll_policy)
            archive: list[ArchivedItem] = []
        else:
            # newsmon_fetch_seconds is the fetch alone: parsing and matching a large document
            # took seconds on the CPU thread and read as a slow server.
            fetch_s = (self.clock.now() - started).total_seconds()
            turn = result.turn
            try:
                # A 304 has nothing to parse: deciding costs less than a hop to the CPU thread.
                if result.body is None:
                    plan, archive = self._decide(feed, result)
                elif self.parser is None:
                    plan, archive = await self.cpu(self._decide, feed, result)
                else:
                    plan, archive = await self._decide_parsed_apart(feed, result, self.parser)
            finally:
                # The body goes, then its turn (if it held one) lets another large body in: the
                # commit below may wait for the store, and needs no body.
                del result
                if turn is not None:
                    turn.release()
        if self.store is None:
            return self._report(plan, 0, self.clock.now() - started, feed.id)
        return await self._commit(self.store, feed, plan, started, fetch_s, archive)

    async def _decide_parsed_apart(
        self, feed: FeedState, result: FetchResult, parser: ParsePool
    ) -> tuple[PollPlan, list[ArchivedItem]]:
        """Parse in the budgeted worker pool, off the CPU thread; decide on it."""
        assert result.body is not None
        body = result.body
        # hashlib lets the GIL go: a large body is hashed off the loop, a small one costs less
        # than the hop (50 KB: about 0.1 ms).
        body_hash = _sha256(body) if len(body) < 256 * 1024 else await self.io(_sha256, body)
        if unchanged(feed, FetchOutcome(status=result.status, body_hash=body_hash)):
            return self._decide(feed, result, body_hash=body_hash)
        parsed: ParsedFeed | FeedError
        try:
            parsed = await parser.parse(
                result.body,
                feed_id=feed.id,
                feed_url=public_url(result.url),  # it goes into alerts
                content_type=result.content_type,
                max_items=self.max_items,
            )
        except FeedError as exc:
            parsed = exc
        return await self.cpu(self._decide, feed, result, body_hash=body_hash, parsed=parsed)

    def _decide(
        self,
        feed: FeedState,
        result: FetchResult,
        *,
        body_hash: str | None = None,
        parsed: ParsedFeed | FeedError | None = None,
    ) -> tuple[PollPlan, list[ArchivedItem]]:
        """The poll's plan, and the archive rows of its new items. `parsed`: the document as the
        parse pool gave it; None parses it here."""
        now = self.clock.now()
        if body_hash is None and result.body is not None:
            body_hash = _sha256(result.body)
        outcome = FetchOutcome(
            status=result.status,
            body_hash=body_hash,
            etag=result.etag,
            last_modified=result.last_modified,
            permanent_url=result.permanent_url,
            cache_max_age=result.cache_max_age,
            retry_after=result.retry_after,
        )
        if unchanged(feed, outcome):
            return plan_unchanged(feed, outcome, now, self.rng, self.poll_policy), []
        assert result.body is not None  # a body hash was taken of it
        if parsed is None:
            # Imported here, like story_assignments below: a round where every feed answers
            # 304 (the common cron run) never parses, and these modules cost ~20 ms to import.
            from monitor.feeds.parse import parse_feed

            try:
                parsed = parse_feed(
                    result.body,
                    feed_id=feed.id,
                    feed_url=public_url(result.url),  # it goes into alerts
                    content_type=result.content_type,
                    max_items=self.max_items,
                )
            except FeedError as exc:
                parsed = exc
        if isinstance(parsed, FeedError):
            error = hide_url_secrets(str(parsed), feed.url, result.url)
            failed = FetchOutcome(status=0, error=error, error_kind=parsed.kind)
            return plan_error(feed, failed, now, self.rng, self.poll_policy), []
        live = self.rules.get() if self.rules is not None else None
        matcher = live.rules.match if live is not None else _no_match
        store = self.store
        if store is None:
            # Every match of a poll without state is read (printed): explained now, on the
            # analysis it was found on, which then goes (a lazy match analyses its item again).
            if live is not None:
                matcher = partial(live.rules.match, explained=True)
            plan = plan_current(feed, outcome, parsed.items, parsed.title, matcher, now)
            return replace(plan, document_items=parsed.total_items), []
        keys = [item.key for item in parsed.items]
        seen = store.seen_kept(feed.id, keys, now - self.poll_policy.keep_after)
        prepare(live.rules if live else None, parsed.items, seen)  # rules with examples: batch
        match = _memoised(matcher)
        look = plan_lookups(feed, parsed.items, seen, match, now, self.poll_policy)
        index = store if look.candidates else _NO_CANDIDATES
        window = self.poll_policy.story_window
        from monitor.dedup.lookup import story_assignments

        stories = story_assignments(index, look.story_items, seen, now, window, shared=look.shared)
        known = store.known_stories(sorted({a.story_key for a in stories.values()}), look.since)
        hashes = store.seen_hashes(feed.id, look.hash_keys) if look.hash_keys else None
        plan = decide(
            feed,
            outcome,
            parsed.items,
            parsed.ttl_s,
            parsed.title,
            seen,
            known,
            match,
            live.routes if live is not None else {},
            now,
            self.rng,
            self.poll_policy,
            stories=stories,
            seen_hashes=hashes,
            stale={key: since for key, since in seen.items() if since is not None},
        )
        archive = poll_archive(parsed.items, plan.seen, now) if self.archive else []
        return plan, archive

    async def _commit(
        self,
        store: SeenItems,
        feed: FeedState,
        plan: PollPlan,
        started: datetime,
        fetch_s: float,
        archive: Sequence[ArchivedItem] = (),
    ) -> PollReport:
        if plan.update.status == "error":
            log.warning(
                "feed_error",
                feed=feed.id,
                kind=plan.update.error_kind,
                error=plan.update.error,
                errors=plan.update.error_count,
            )
        now = self.clock.now()
        # The commit settles the stories this poll founded against the wordings indexed since
        # its lookup (at plan.update.fetched_at).
        since = plan.update.fetched_at - SETTLE_MARGIN
        nothing_new = only_feed_row(plan, archive)
        # What the commit inserted, per destination: the plan's alerts less those that settling
        # or a concurrent commit of the same story left out (they were counted as enqueued).
        enqueued_to: dict[str, int] = {}
        if self.unchanged is not None and nothing_new:
            await self.unchanged.commit(feed.id, plan.update)  # with the tick's other 304s
            enqueued = 0
        else:
            enqueued = await self.io(
                store.commit_poll, feed.id, self.owner, now, plan.update, plan.seen,
                plan.alerts, plan.sources, stories_since=since, archive=archive,
                kept=plan.kept, enqueued_to=enqueued_to,
            )  # fmt: skip
        # Nothing new is the usual poll: at info it was most of the daemon's log (a line per
        # feed every few minutes) and about a tenth of such a poll's own CPU; it is counted in
        # newsmon_polls_total, and logged at debug.
        (log.debug if nothing_new else log.info)(
            "feed_polled",
            feed=feed.id,
            status=plan.update.status,
            new_items=plan.new_items,
            baseline=plan.baseline_items,
            alerts=enqueued,
            skipped=plan.skipped,
            next_poll_in=round((plan.update.next_poll_at - now) / timedelta(seconds=1), 1),
        )
        if self.metrics is not None:
            self._count(feed, plan, enqueued_to, fetch_s)
        return self._report(plan, enqueued, now - started, feed.id)

    def _report(self, plan: PollPlan, enqueued: int, took: timedelta, feed_id: str) -> PollReport:
        return PollReport(
            feed_id=feed_id,
            status=plan.update.status,
            new_items=plan.new_items,
            parsed_items=plan.parsed_items,
            alerts_enqueued=enqueued,
            error=plan.update.error,
            error_kind=plan.update.error_kind,
            seconds=took.total_seconds(),
            matched=tuple((item, tuple(ms)) for item, ms in plan.matches),
            skipped=tuple(plan.skipped.items()),
            title=plan.update.title,
            items=tuple(plan.items) if self.keep_items else (),
            document_items=plan.document_items,
        )

    def _count(
        self, feed: FeedState, plan: PollPlan, enqueued_to: dict[str, int], seconds: float
    ) -> None:
        assert self.metrics is not None
        status = plan.update.error_kind or plan.update.status
        self.metrics.poll_finished(feed.id, status, seconds)
        if plan.update.status == "ok":
            self.metrics.items_parsed(plan.parsed_items)
            for reason, count in plan.skipped.items():
                self.metrics.items_skipped(reason, count)
        for _item, matches in plan.matches:
            for match in matches:
                self.metrics.rule_matched(match.rule.id)
        for destination, count in enqueued_to.items():
            self.metrics.alerts_enqueued(destination, count)

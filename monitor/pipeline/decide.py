"""The decisions of one poll, as pure functions. No I/O.

The poller (monitor.pipeline.poll) does the I/O around them:

    feed   = store.claim_due_feeds(...)                    # leased to us
    fetch  = fetch(feed.url, etag, last_modified)          # or a FeedError
    if unchanged(feed, outcome): plan_unchanged(...)       # 304, or the body hash we parsed last
    parsed = parse_feed(fetch.body)
    seen   = store.seen_kept(feed, keys of parsed items, now - keep_after)  # and the stale
    look   = plan_lookups(feed, parsed items, seen, ...)   # which reads the decision needs
    story  = story_assignments(store or none, look.story_items, seen, ...)  # monitor.dedup
    known  = store.known_stories(their story keys, since=look.since)
    hashes = store.seen_hashes(feed, look.hash_keys)       # only with alert_on_edit
    plan   = decide(...)
    store.commit_poll(feed, plan.update, plan.seen, plan.alerts, plan.sources,
                      kept=plan.kept)                      # ONE transaction

A poll without state (`newsmon check`, `rules test --feed`, `archive import`) reads nothing and
writes nothing: `plan_current` matches every current item of the document instead.

`decide` says which items are new, which of them may alert (not the baseline of a new feed, not
older than the retention window, not a story already alerted), which rules each matches, and
builds one alert per story and destination carrying every rule that matched for it.

A new item's story is the one monitor.dedup assigned (an earlier story it repeats, found by its
fingerprint even when its GUID and link changed, or a new one); without an assignment it falls
back to `identity.story_key`. A story this poll founds is marked (`SeenItem.new_story`): the
commit settles it against stories other polls committed since the lookup (monitor.dedup.settle),
so two polls of one story at the same time still make one story and one alert.

An item whose key was seen but whose text changed (an edit) alerts again only with
`alert_on_edit`, under a story key of its own for that version of the text.

An item that stays in its feed keeps its seen key past the retention window: a poll that finds
it with a key older than `PollPolicy.keep_after` restarts the key's retention (`PollPlan.kept`),
and pruning waits for a changed document without it (monitor.store.sql.PRUNE_SEEN), so an
undated "about us" item or standing advisory never comes back as new.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from monitor.delivery.document import alert_id, build_alert_document
from monitor.feeds.identity import content_hash, digest, shared_links, story_key
from monitor.feeds.schedule import backoff_at, next_poll_at
from monitor.model import (
    SKIP_REASONS,
    FeedState,
    FeedUpdate,
    Item,
    Match,
    NewAlert,
    SeenItem,
    StorySource,
)
from monitor.plural import counted

if TYPE_CHECKING:  # story resolution is imported when a poll has new items, not for a 304
    from monitor.dedup.resolve import StoryAssignment

Matcher = Callable[[Item, Collection[str]], list[Match]]


@dataclass(frozen=True)
class PollPolicy:
    """The settings that shape a poll's decisions."""

    retention: timedelta = timedelta(days=90)
    story_window: timedelta = timedelta(hours=72)
    jitter: float = 0.1
    max_interval_s: float = 6 * 3600.0
    max_backoff_s: float = 6 * 3600.0
    alert_on_edit: bool = False

    @property
    def keep_after(self) -> timedelta:
        """How old a seen key's retention start may grow before a poll that still finds its
        item restarts it (`PollPlan.kept`): a quarter of the retention, so an item that stays
        in a changing feed costs one row write about every three weeks (at 90 days), and its
        key is never pruned while the feed still carries it (see monitor.store.sql.PRUNE_SEEN,
        which waits for a document parsed a whole `retention` after the key's time: this leaves
        room for `retention` to be lowered up to fourfold between runs)."""
        return self.retention / 4


@dataclass(frozen=True)
class FetchOutcome:
    """What the fetch stage produced, reduced to what the decisions need."""

    status: int  # 200, 304, or 0 for an error
    body_hash: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    permanent_url: str | None = None
    cache_max_age: float | None = None
    retry_after: float | None = None
    error: str | None = None
    error_kind: str | None = None


@dataclass(frozen=True)
class PollPlan:
    """Everything one poll writes (the feed's update, seen items, alerts) and reports."""

    update: FeedUpdate
    seen: list[SeenItem] = field(default_factory=list)
    # Seen keys whose items are still in the feed and whose retention must restart now
    # (PollPolicy.keep_after), so that pruning them cannot make those items new again.
    kept: list[str] = field(default_factory=list)
    alerts: list[NewAlert] = field(default_factory=list)
    matches: list[tuple[Item, list[Match]]] = field(default_factory=list)
    new_items: int = 0
    parsed_items: int = 0
    baseline_items: int = 0
    repeated_stories: list[tuple[Item, str]] = field(default_factory=list)
    sources: list[StorySource] = field(default_factory=list)
    edited: list[Item] = field(default_factory=list)
    # Items of this poll that could not alert, by reason (monitor.model.SKIP_REASONS): what
    # tells a user why `newsmon check` printed a match the daemon did not send.
    skipped: dict[str, int] = field(default_factory=dict)
    # Every parsed item: kept only by a poll without state, whose caller wants what was read
    # (`archive import`); a daemon poll does not hold a document's items past its commit.
    items: Sequence[Item] = ()
    # Items the document had, past max_items too (a poll without state: `archive import` says
    # what the cap left out); 0 when not counted.
    document_items: int = 0


@dataclass(frozen=True)
class Lookups:
    """The store reads a poll needs before `decide`, chosen from what it parsed."""

    story_items: list[Item]  # the items whose stories must be found (monitor.dedup.lookup)
    candidates: bool  # ask the story index for candidates; False: each item founds its own
    since: datetime  # stories count as known when seen at or after this
    hash_keys: list[str]  # seen keys whose stored content hashes are read; empty: none read
    shared: frozenset[str] = frozenset()  # links several items share: no story keys (identity)


def unchanged(feed: FeedState, outcome: FetchOutcome) -> bool:
    """Nothing to parse: a 304, no body, or the body we parsed last time."""
    return outcome.status == 304 or outcome.body_hash is None or outcome.body_hash == feed.body_hash


def plan_lookups(
    feed: FeedState,
    items: Sequence[Item],
    seen_keys: Collection[str],
    match: Matcher,
    now: datetime,
    policy: PollPolicy = PollPolicy(),
) -> Lookups:
    """Which reads the poll of `items` needs, given the keys the feed has seen.

    Only items that match a rule can alert, so only they need a story: fingerprinting and
    looking up every item would cost far more than matching (baseline items included, so a
    churned re-issue of one is still recognised). A new feed's baseline alerts nothing, so its
    items ask the index for no candidates: they found their own stories (indexed, so a churned
    re-issue later is known), skipping the costly part of dedup when a whole feed is new. The
    seen items' content hashes are read only when an edit can alert (`alert_on_edit`).
    """
    tags = (*feed.tags, feed.id)
    return Lookups(
        story_items=[i for i in items if i.key not in seen_keys and match(i, tags)],
        candidates=feed.baseline_done,
        since=now - policy.story_window,
        hash_keys=sorted(seen_keys) if policy.alert_on_edit and seen_keys else [],
        shared=shared_links(items),
    )


def plan_current(
    feed: FeedState,
    outcome: FetchOutcome,
    items: Sequence[Item],
    feed_title: str,
    match: Matcher,
    now: datetime,
) -> PollPlan:
    """A poll without state: every current item that matches, nothing seen or scheduled.

    No item is new or old to it, none is skipped, no alert is built; the update is only what
    the fetch said (it is never written).
    """
    tags = (*feed.tags, feed.id)
    matched = [(item, found) for item in items if (found := match(item, tags))]
    update = FeedUpdate(
        status="ok",
        next_poll_at=now,
        fetched_at=now,
        etag=outcome.etag,
        last_modified=outcome.last_modified,
        body_hash=outcome.body_hash,
        new_url=outcome.permanent_url,
        title=feed_title or None,
        baseline_done=feed.baseline_done,
    )
    return PollPlan(update=update, matches=matched, parsed_items=len(items), items=items)


# A feed error quotes what the server sent (a reason phrase, a Location, a Content-Encoding):
# up to the 100 KiB of a response head, which went to the log, the store and `check`'s output at
# every poll. The cause is in the first few hundred characters.
MAX_ERROR_CHARS = 1000


def _short(error: str | None) -> str | None:
    if error is None or len(error) <= MAX_ERROR_CHARS:
        return error
    return (
        f"{error[:MAX_ERROR_CHARS]}... ({counted(len(error) - MAX_ERROR_CHARS, 'more character')})"
    )


def held_by_baseline(item: Item, backfill_s: float, now: datetime) -> bool:
    """Whether a feed's first poll (its silent baseline) records `item` without alerting it:
    always, unless the feed's `backfill` reaches back to when the item was published."""
    return (
        backfill_s <= 0
        or item.published is None
        or item.published < now - timedelta(seconds=backfill_s)
    )


def plan_error(
    feed: FeedState,
    outcome: FetchOutcome,
    now: datetime,
    rng: random.Random,
    policy: PollPolicy = PollPolicy(),
) -> PollPlan:
    """A failed fetch: count the error and back off; keep the validators."""
    errors = feed.error_count + 1
    return PollPlan(
        update=FeedUpdate(
            status="error",
            next_poll_at=backoff_at(
                now,
                feed.interval_s,
                errors,
                rng,
                retry_after=outcome.retry_after,
                jitter=policy.jitter,
                max_backoff_s=policy.max_backoff_s,
            ),
            fetched_at=now,
            etag=feed.etag,
            last_modified=feed.last_modified,
            body_hash=feed.body_hash,
            error=_short(outcome.error),
            error_kind=outcome.error_kind,
            error_count=errors,
            baseline_done=feed.baseline_done,
        )
    )


def plan_unchanged(
    feed: FeedState,
    outcome: FetchOutcome,
    now: datetime,
    rng: random.Random,
    policy: PollPolicy,
) -> PollPlan:
    """A 304, or a 200 whose body hash is the one we parsed last time: nothing to parse."""
    return PollPlan(
        update=FeedUpdate(
            status="not_modified" if outcome.status == 304 else "unchanged",
            next_poll_at=_next(feed, outcome, now, rng, policy, ttl_s=None),
            fetched_at=now,
            etag=outcome.etag or feed.etag,
            last_modified=outcome.last_modified or feed.last_modified,
            body_hash=feed.body_hash,
            new_url=outcome.permanent_url,
            baseline_done=feed.baseline_done,
        )
    )


def decide(
    feed: FeedState,
    outcome: FetchOutcome,
    items: Sequence[Item],
    ttl_s: float | None,
    feed_title: str,
    seen_keys: Collection[str],
    known_stories: Collection[str],
    match: Matcher,
    destinations: Mapping[str, Collection[str]],
    now: datetime,
    rng: random.Random,
    policy: PollPolicy = PollPolicy(),
    *,
    stories: Mapping[str, StoryAssignment] | None = None,
    seen_hashes: Mapping[str, str] | None = None,
    stale: Mapping[str, datetime] | None = None,
) -> PollPlan:
    """Decide a successful poll that parsed `items`.

    `destinations` maps each destination name to the rule ids routed to it (a rule with no
    `notify` is routed everywhere; the caller resolves that). `stories` maps new item keys to
    their stories (monitor.dedup.lookup); `seen_hashes` the seen keys to their stored content
    hashes (needed only with `policy.alert_on_edit`); `stale` the seen keys whose retention
    started before `now - policy.keep_after` to when it started (`SeenItems.seen_kept`).

    A stale key whose item is here is kept (`PollPlan.kept`) unless the "too old" guard will
    skip that item by the time its key could be pruned: an item dated at or before the key's
    start is older than the retention once the key is, so only undated and later-dated items
    (an item first seen before its date) cost a write.
    """
    oldest_kept = now - policy.retention
    baseline = not feed.baseline_done
    seen: list[SeenItem] = []
    alerts: list[NewAlert] = []
    matched: list[tuple[Item, list[Match]]] = []
    repeated: list[tuple[Item, str]] = []
    stories_this_poll: set[str] = set()
    keys_this_poll: set[str] = set()
    skipped = dict.fromkeys(SKIP_REASONS, 0)
    feed_tags = (*feed.tags, feed.id)
    shared = shared_links(items)  # links that name no article: no story keys

    sources: list[StorySource] = []
    edited: list[Item] = []
    kept: set[str] = set()
    hashes = seen_hashes if policy.alert_on_edit and seen_hashes is not None else {}

    for item in items:
        if item.key in keys_this_poll:
            skipped["seen"] += 1
            continue
        if item.published is not None and item.published < oldest_kept:
            skipped["too_old"] += 1
            continue  # older than the memory: alerting it now could repeat a pruned alert
        if item.key in seen_keys:
            since = stale.get(item.key) if stale else None
            if since is not None and (item.published is None or item.published > since):
                kept.add(item.key)
            chash = content_hash(item)
            if not hashes.get(item.key) or hashes[item.key] == chash:
                skipped["seen"] += 1
                continue
            # An edit, and alert_on_edit is on: the new text is a story version of its own.
            keys_this_poll.add(item.key)
            ekey = "e:" + digest(item.feed_id, item.key, chash)
            seen.append(SeenItem(item.key, ekey, item.published, chash))
            edited.append(item)
            matches = match(item, feed_tags)
            if matches:
                matched.append((item, matches))
                alerts.extend(_alerts(feed.id, item, matches, ekey, destinations, now))
            continue
        keys_this_poll.add(item.key)
        story = stories.get(item.key) if stories is not None else None
        skey = story.story_key if story is not None else story_key(item, shared)
        # The story's wording in this feed is indexed (a new story, or a first sighting here),
        # so that this feed re-issuing it under new GUIDs is churn next time.
        fp = story.fingerprint if story is not None and not story.churn else None
        # A story founded after a lookup is settled at commit against stories committed since
        # (a baseline poll looked nothing up and alerts nothing: it has nothing to settle).
        founded = story is not None and story.new_story and not baseline
        seen.append(SeenItem(item.key, skey, item.published, content_hash(item),
                             fp.bands if fp else (), fp.to_bytes() if fp else b"",
                             founded))  # fmt: skip
        if story is not None and not story.churn:
            sources.append(StorySource(skey, feed.id, item.key, now, item.url or item.link,
                                       item.title))  # fmt: skip
        if baseline and held_by_baseline(item, feed.backfill_s, now):
            skipped["baseline"] += 1
            continue
        matches = match(item, feed_tags)
        if not matches:
            continue
        matched.append((item, matches))
        stored = story is not None and story.stored
        if stored or skey in known_stories or skey in stories_this_poll:
            repeated.append((item, skey))
            skipped["repeated_story"] += 1
            continue
        stories_this_poll.add(skey)
        alerts.extend(_alerts(feed.id, item, matches, skey, destinations, now))

    update = FeedUpdate(
        status="ok",
        next_poll_at=_next(feed, outcome, now, rng, policy, ttl_s=ttl_s),
        fetched_at=now,
        etag=outcome.etag,
        last_modified=outcome.last_modified,
        body_hash=outcome.body_hash,
        new_url=outcome.permanent_url,
        title=feed_title or None,
        baseline_done=True,
    )
    return PollPlan(
        update=update,
        seen=seen,
        kept=sorted(kept),
        alerts=alerts,
        matches=matched,
        new_items=len(seen) - len(edited),
        parsed_items=len(items),
        baseline_items=skipped["baseline"],
        repeated_stories=repeated,
        sources=sources,
        edited=edited,
        skipped={reason: n for reason, n in skipped.items() if n},
    )


def _alerts(
    feed_id: str,
    item: Item,
    matches: list[Match],
    skey: str,
    destinations: Mapping[str, Collection[str]],
    now: datetime,
) -> list[NewAlert]:
    """One alert per destination that some matching rule is routed to."""
    alerts = []
    for dest, routed in destinations.items():
        dest_matches = [m for m in matches if m.rule.id in routed]
        if not dest_matches:
            continue
        aid = alert_id(dest, skey)
        document = build_alert_document(
            item, dest_matches, alert_id=aid, destination=dest, created_at=now
        )
        alerts.append(NewAlert(aid, dest, skey, feed_id, item.key, document, now))
    return alerts


def route(
    rule_notify: Mapping[str, Sequence[str]], destinations: Sequence[str]
) -> dict[str, set[str]]:
    """Destination name -> the ids of the rules whose alerts go there.

    `rule_notify` maps each rule id to its `notify` list; an empty list means every destination.
    """
    routed: dict[str, set[str]] = {name: set() for name in destinations}
    for rule_id, notify in rule_notify.items():
        for name in notify or destinations:
            if name in routed:
                routed[name].add(rule_id)
    return routed


def _next(
    feed: FeedState,
    outcome: FetchOutcome,
    now: datetime,
    rng: random.Random,
    policy: PollPolicy,
    ttl_s: float | None,
) -> datetime:
    return next_poll_at(
        now,
        feed.interval_s,
        rng=rng,
        jitter=policy.jitter,
        cache_max_age=outcome.cache_max_age,
        ttl_s=ttl_s,
        retry_after=outcome.retry_after,
        max_interval_s=policy.max_interval_s,
    )

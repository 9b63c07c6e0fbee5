"""The data that flows between the stages: items, matches, alerts, feed state. Pure.

Stages exchange these frozen dataclasses only; no stage reaches into another's internals.
All datetimes are timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

# Why an item of a successful poll did not alert:
#   too_old         published before now - retention (alerting it could repeat a pruned alert)
#   seen            its key was seen in an earlier poll (or earlier in this one)
#   baseline        a new feed's first poll records its items silently (see a feed's `backfill`)
#   repeated_story  it matched, but its story already alerted within `story_window`
SKIP_REASONS = ("too_old", "seen", "baseline", "repeated_story")

# ---------------------------------------------------------------------------------------------
# Items (feeds.parse -> pipeline -> query)


@dataclass(frozen=True, slots=True)
class Item:
    """One entry of a feed, as text ready for matching.

    `title`, `summary` and `content` are plain text (HTML already turned into text).
    `key` is the identity key within the feed (see monitor.feeds.identity); `url` is the canonical
    link, `link` the link as the feed gave it.
    """

    feed_id: str
    key: str
    title: str = ""
    summary: str = ""
    content: str = ""
    link: str | None = None
    url: str | None = None
    author: str = ""
    categories: tuple[str, ...] = ()
    published: datetime | None = None
    guid: str | None = None
    feed_title: str = ""
    feed_url: str = ""


# ---------------------------------------------------------------------------------------------
# Rules and matches (query -> pipeline -> delivery)

Severity = Literal["info", "low", "medium", "high", "critical"]
# How a rule combines its query with its `like` examples: the query alone; query OR similar;
# query AND similar; similar alone (docs/rules.md, "Examples").
Mode = Literal["query", "widen", "narrow", "similar"]


@dataclass(frozen=True, slots=True)
class Rule:
    """A watch rule as written in a rules file."""

    id: str
    name: str
    query: str = ""
    feeds: tuple[str, ...] = ()  # feed ids or tags; empty = every feed
    notify: tuple[str, ...] = ()  # destination names; empty = every destination
    severity: Severity = "medium"
    tags: tuple[str, ...] = ()
    enabled: bool = True
    file: str = ""
    line: int = 0
    like: tuple[str, ...] = ()  # example texts (files already read)
    unlike: tuple[str, ...] = ()  # counter-examples
    threshold: float = 0.5  # the similarity to a `like` example an item must reach
    mode: Mode = "query"


@dataclass(frozen=True, slots=True)
class Hit:
    """One matched word: the field it is in, its token position, and its character span there."""

    field: str
    word: str  # the word as written in the item
    term: str  # the query term it satisfied, e.g. "dispatch" or "=NATO" or "\"special forces\""
    position: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Similarity:
    """Why an item is similar to a rule's examples: its best `like` and best `unlike`."""

    score: float  # cosine similarity to the closest `like` example
    example: str  # that example's first words
    threshold: float
    unlike: float | None = None  # similarity to the closest `unlike` example, when there is one

    def to_json(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 4),
            "example": self.example,
            "threshold": self.threshold,
            "unlike": None if self.unlike is None else round(self.unlike, 4),
        }


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a rule matched: the clauses that were true and the words that made them true, and for
    a rule with examples, how similar the item is to them."""

    clauses: tuple[str, ...]
    hits: tuple[Hit, ...]
    similarity: Similarity | None = None

    def to_json(self) -> dict[str, Any]:
        out = self._json()
        if self.similarity is not None:
            out["similarity"] = self.similarity.to_json()
        return out

    def _json(self) -> dict[str, Any]:
        return {
            "clauses": list(self.clauses),
            "hits": [
                {
                    "field": h.field,
                    "word": h.word,
                    "term": h.term,
                    "position": h.position,
                    "start": h.start,
                    "end": h.end,
                }
                for h in self.hits
            ],
        }


class Match:
    """A rule that matched an item, with its explanation and a marked snippet (<= 300 chars).

    In `snippet`, matched words are wrapped in `**` (e.g. `North Korea has **dispatched**`).

    Read-only like the other records. The matcher passes `explain` instead of the two values: they
    are then computed on first access (most matches of a busy rule set are never explained, e.g.
    items of a story already alerted), once; equality and hashing use the computed values.
    """

    __slots__ = ("_explain", "_explanation", "_rule", "_snippet")
    _rule: Rule
    _explanation: Explanation | None
    _snippet: str | None
    _explain: Callable[[], tuple[Explanation, str]] | None

    def __init__(
        self,
        rule: Rule,
        explanation: Explanation | None = None,
        snippet: str | None = None,
        *,
        explain: Callable[[], tuple[Explanation, str]] | None = None,
    ) -> None:
        if explain is None and (explanation is None or snippet is None):
            raise TypeError("Match needs an explanation and a snippet, or explain=")
        set_ = object.__setattr__
        set_(self, "_rule", rule)
        set_(self, "_explanation", explanation)
        set_(self, "_snippet", snippet)
        set_(self, "_explain", explain)

    @classmethod
    def lazy(cls, rule: Rule, explain: Callable[[], tuple[Explanation, str]]) -> Match:
        """`Match(rule, explain=explain)`, its slots set directly (a matcher makes one per
        match of every item: half the time of `__init__`'s checks and setattr calls)."""
        m = _new_object(cls)
        _SET_RULE(m, rule)
        _SET_EXPLANATION(m, None)
        _SET_SNIPPET(m, None)
        _SET_EXPLAIN(m, explain)
        return m

    @property
    def rule(self) -> Rule:
        return self._rule

    def _resolve(self) -> tuple[Explanation, str]:
        if self._explanation is None or self._snippet is None:
            assert self._explain is not None
            why, snip = self._explain()
            _SET_EXPLANATION(self, why)
            _SET_SNIPPET(self, snip)
            _SET_EXPLAIN(self, None)  # let the analysed item go
            return why, snip
        return self._explanation, self._snippet

    @property
    def explanation(self) -> Explanation:
        why = self._explanation
        return self._resolve()[0] if why is None else why

    @property
    def snippet(self) -> str:
        snip = self._snippet
        return self._resolve()[1] if snip is None else snip

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Match is read-only: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Match is read-only: cannot delete {name!r}")

    def _key(self) -> tuple[Rule, Explanation, str]:
        return (self._rule, *self._resolve())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Match):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __reduce__(self) -> tuple[type[Match], tuple[Rule, Explanation, str]]:
        return (Match, self._key())  # copy and pickle the computed values, not the closure

    def __repr__(self) -> str:
        why, snip = self._resolve()
        return f"Match(rule={self._rule!r}, explanation={why!r}, snippet={snip!r})"


# Match.lazy sets the slots through their descriptors (Match's own __setattr__ refuses writes).
_new_object = object.__new__
_SET_RULE = Match.__dict__["_rule"].__set__
_SET_EXPLANATION = Match.__dict__["_explanation"].__set__
_SET_SNIPPET = Match.__dict__["_snippet"].__set__
_SET_EXPLAIN = Match.__dict__["_explain"].__set__


# ---------------------------------------------------------------------------------------------
# Feeds in the store


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """A feed as configured."""

    id: str
    url: str
    name: str = ""
    tags: tuple[str, ...] = ()
    interval_s: float = 300.0
    backfill_s: float = 0.0  # items published within this window of the first poll do alert


FeedStatus = Literal["new", "ok", "not_modified", "unchanged", "error"]


@dataclass(frozen=True, slots=True)
class FeedState:
    """A feed row of the store: its spec plus what polling has learnt."""

    id: str
    url: str
    name: str
    tags: tuple[str, ...]
    interval_s: float
    backfill_s: float
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    next_poll_at: datetime | None = None
    last_fetch_at: datetime | None = None
    last_success_at: datetime | None = None
    status: FeedStatus = "new"
    last_error: str | None = None
    error_kind: str | None = None
    error_count: int = 0
    baseline_done: bool = False
    title: str = ""


@dataclass(frozen=True, slots=True)
class FeedUpdate:
    """What one poll learnt about a feed; written in the poll's transaction."""

    status: FeedStatus
    next_poll_at: datetime
    fetched_at: datetime
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    error: str | None = None
    error_kind: str | None = None
    error_count: int = 0
    new_url: str | None = None  # a permanent redirect moves the feed
    title: str | None = None
    baseline_done: bool = True


@dataclass(frozen=True, slots=True)
class SeenItem:
    """An item key to remember, with the story key it belongs to (for cross-feed dedup)."""

    key: str
    story_key: str
    published: datetime | None = None
    title_hash: str = ""  # lets an edited item be noticed without storing the text
    # The item's wording of its story: LSH band keys and encoded fingerprint
    # (monitor.dedup.fingerprint), so later polls and other processes can find the story.
    bands: tuple[str, ...] = ()
    fingerprint: bytes = b""
    # This poll founded the story after looking the index up: the commit settles it against
    # stories committed since that lookup (monitor.dedup.settle).
    new_story: bool = False


@dataclass(frozen=True, slots=True)
class StorySource:
    """A sighting of a story: the first item that made it, or a later one from another feed or
    outlet (recorded as a further source instead of a second alert)."""

    story_key: str
    feed_id: str
    item_key: str
    seen_at: datetime
    url: str | None = None
    title: str = ""


@dataclass(frozen=True, slots=True)
class StoryRecord:
    """A story of the store's story index that shares band keys with a lookup (monitor.dedup)."""

    story_key: str
    feed_id: str  # the feed of its first sighting
    fingerprint: bytes
    bands: tuple[str, ...]  # those of the looked-up band keys that it has
    first_seen: datetime
    last_seen: datetime


# ---------------------------------------------------------------------------------------------
# The item archive (pipeline.archive -> store -> pipeline.backtest)


@dataclass(frozen=True, slots=True)
class ArchivedItem:
    """An archived item: an `Item`'s matchable text (capped), its story and when it was seen."""

    feed_id: str
    key: str
    story_key: str
    first_seen: datetime
    title: str = ""
    summary: str = ""
    content: str = ""
    link: str | None = None
    author: str = ""
    categories: tuple[str, ...] = ()
    feed_title: str = ""
    published: datetime | None = None

    def to_item(self) -> Item:
        """The item a rule is tried on (the same fields `rules test` and the daemon match)."""
        return Item(
            feed_id=self.feed_id,
            key=self.key,
            title=self.title,
            summary=self.summary,
            content=self.content,
            link=self.link,
            url=self.link,
            author=self.author,
            categories=self.categories,
            published=self.published,
            feed_title=self.feed_title,
        )


# ---------------------------------------------------------------------------------------------
# Alerts (pipeline -> store outbox -> delivery)

AlertStatus = Literal["pending", "delivered", "dead"]


@dataclass(frozen=True, slots=True)
class NewAlert:
    """An alert to enqueue: one per story and destination.

    `id` is the idempotency key (stable across retries and replays); `document` is the versioned
    alert document (monitor.delivery.document) that every destination type renders from.
    """

    id: str
    destination: str
    story_key: str
    feed_id: str
    item_key: str
    document: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """An alert in the outbox, as the deliverer sees it."""

    id: str
    destination: str
    story_key: str
    feed_id: str
    item_key: str
    document: dict[str, Any]
    created_at: datetime
    status: AlertStatus = "pending"
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # The note of the digest or fold message (or part) recorded as carrying it before that
    # message's first post (store.group_alerts); None: never offered in one.
    grouped_in: str | None = None
    # The email recipients still owed it after an attempt some of them took or refused for good
    # (store.owe_recipients); None: no such attempt, every recipient is owed it.
    owed_to: tuple[str, ...] | None = None


# ---------------------------------------------------------------------------------------------
# Feedback (monitor.feedback)


@dataclass(frozen=True, slots=True)
class Label:
    """A person's verdict on an item: relevant (or not) for `rule`, or for whichever rule matched
    it when `rule` is ''. Labels are never overwritten: the newest per (item, rule) is in force.
    `alert_id` and `title` say what the person saw, so an exported set still reads well where the
    item is not archived."""

    feed_id: str
    item_key: str
    rule: str
    relevant: bool
    who: str
    at: datetime
    note: str = ""
    alert_id: str | None = None
    title: str = ""

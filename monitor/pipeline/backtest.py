"""Backtests: rules run over archived items, as the daemon would have run them. Pure.

The items come in batches (the store streams them); each is matched by the same `RuleSet.match`
the daemon uses, with its feed's tags. Per rule the tally counts matches, the alerts it would
have sent (distinct story keys: the daemon alerts a story once) and matches per day (of first
sight), and keeps the first `limit` matches to show. A diff runs two rule sets over the same
items at once and keeps, per rule id, the items one matches and the other does not.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

from monitor.model import ArchivedItem, Item, Match
from monitor.query.ruleset import RuleSet

Change = Literal["gained", "lost"]
SPARKS = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True, slots=True)
class Found:
    """One match of a backtest (`change` set in a diff: which side has it)."""

    item: Item
    match: Match
    story_key: str
    seen: datetime  # first seen: what --since and the per-day counts go by
    change: Change | None = None

    @property
    def day(self) -> date:
        return self.seen.date()


@dataclass
class RuleTally:
    """What one rule did over the archive."""

    rule_id: str
    matches: int = 0
    stories: set[str] = field(default_factory=set)
    per_day: Counter[date] = field(default_factory=Counter)
    shown: list[Found] = field(default_factory=list)
    changes: Counter[str] = field(default_factory=Counter)  # a diff's "gained" and "lost"

    @property
    def alerts(self) -> int:
        """Alerts it would have sent: one per story (the daemon's story dedup)."""
        return len(self.stories)


Matcher = Callable[[Item, Sequence[str]], list[Match]]


def matches(
    batches: Iterable[Sequence[ArchivedItem]],
    match: Matcher,
    feed_tags: Mapping[str, Sequence[str]],
) -> Iterator[Found]:
    """Every (item, rule) match over the archived items, in archive order."""
    for batch in batches:
        for archived in batch:
            item = archived.to_item()
            tags = feed_tags.get(archived.feed_id, ())
            for m in match(item, tags):
                yield Found(item, m, archived.story_key, archived.first_seen)


def diff_matches(
    batches: Iterable[Sequence[ArchivedItem]],
    old: RuleSet,
    new: RuleSet,
    feed_tags: Mapping[str, Sequence[str]],
) -> Iterator[Found]:
    """The matches of `new` that `old` lacks ("gained") and those of `old` that `new` lacks
    ("lost"), by rule id, over the same items."""
    for batch in batches:
        for archived in batch:
            item = archived.to_item()
            tags = feed_tags.get(archived.feed_id, ())
            seen = archived.first_seen
            before = {m.rule.id: m for m in old.match(item, tags)}
            after = {m.rule.id: m for m in new.match(item, tags)}
            for rule_id in sorted(before.keys() | after.keys()):
                if rule_id in after and rule_id not in before:
                    yield Found(item, after[rule_id], archived.story_key, seen, "gained")
                elif rule_id in before and rule_id not in after:
                    yield Found(item, before[rule_id], archived.story_key, seen, "lost")


def tally(found: Iterable[Found], rule_ids: Iterable[str], limit: int | None) -> list[RuleTally]:
    """Per rule (every id in `rule_ids`, in that order, and any other that matched): counts and
    its newest `limit` matches by first sight, newest first (None: all)."""
    tallies = {rule_id: RuleTally(rule_id) for rule_id in rule_ids}
    heaps: dict[str, list[tuple[datetime, int, Found]]] = {}
    for n, f in enumerate(found):
        t = tallies.setdefault(f.match.rule.id, RuleTally(f.match.rule.id))
        t.matches += 1
        t.stories.add(f.story_key)
        t.per_day[f.day] += 1
        if f.change is not None:
            t.changes[f.change] += 1
        if limit is None or limit > 0:
            heap = heaps.setdefault(t.rule_id, [])
            entry = (f.seen, -n, f)  # on a tie the earlier found counts as newer
            if limit is None or len(heap) < limit:
                heapq.heappush(heap, entry)
            elif entry[:2] > heap[0][:2]:
                heapq.heapreplace(heap, entry)
    for rule_id, heap in heaps.items():
        tallies[rule_id].shown = [f for *_, f in sorted(heap, key=lambda e: e[:2], reverse=True)]
    return list(tallies.values())


def sparkline(per_day: Mapping[date, int], days: Sequence[date]) -> str:
    """One character a day, its height the day's count against the busiest day (blank: none)."""
    top = max((per_day.get(d, 0) for d in days), default=0)
    if top == 0:
        return " " * len(days)
    chars = []
    for d in days:
        n = per_day.get(d, 0)
        chars.append(" " if n == 0 else SPARKS[min(len(SPARKS) - 1, (n * len(SPARKS) - 1) // top)])
    return "".join(chars)


def buckets(first: date, last: date, width: int = 60) -> tuple[int, list[date]]:
    """(days per column, each column's first day) for a chart at most `width` columns wide."""
    span = (last - first).days + 1
    size = max(1, -(-span // width))
    return size, [first + timedelta(days=k) for k in range(0, span, size)]


def bucketed(per_day: Mapping[date, int], size: int, starts: Sequence[date]) -> dict[date, int]:
    """The counts summed per column (each `size` days from its start)."""
    out = dict.fromkeys(starts, 0)
    if not starts:
        return out
    first = starts[0]
    for day, n in per_day.items():
        k = (day - first).days // size
        if 0 <= k < len(starts):
            out[starts[k]] += n
    return out

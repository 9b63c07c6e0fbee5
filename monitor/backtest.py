"""Backtests: rules run over archived items, as the daemon would have run them. Pure.

The items come in batches (the store streams them); each is matched by the same `RuleSet.match`
the daemon uses, with its feed's tags. Per rule the tally counts matches, the alerts it would
have sent (distinct story keys: the daemon alerts a story once) and matches per day (of first
sight), and keeps the first `limit` matches to show. A diff runs two rule sets over the same
items at once and keeps, per rule id, the items one matches and the other does not.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

from monitor.archive import ArchivedItem
from monitor.model import Item, Match
from monitor.query.ruleset import RuleSet

Change = Literal["gained", "lost"]
SPARKS = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True, slots=True)
class Found:
    """One match of a backtest (`change` set in a diff: which side has it)."""

    item: Item
    match: Match
    story_key: str
    day: date
    change: Change | None = None


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
            day = archived.first_seen.date()
            for m in match(item, tags):
                yield Found(item, m, archived.story_key, day)


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
            day = archived.first_seen.date()
            before = {m.rule.id: m for m in old.match(item, tags)}
            after = {m.rule.id: m for m in new.match(item, tags)}
            for rule_id in sorted(before.keys() | after.keys()):
                if rule_id in after and rule_id not in before:
                    yield Found(item, after[rule_id], archived.story_key, day, "gained")
                elif rule_id in before and rule_id not in after:
                    yield Found(item, before[rule_id], archived.story_key, day, "lost")


def tally(found: Iterable[Found], rule_ids: Iterable[str], limit: int | None) -> list[RuleTally]:
    """Per rule (every id in `rule_ids`, in that order, and any other that matched): counts and
    the first `limit` matches (None: all)."""
    tallies = {rule_id: RuleTally(rule_id) for rule_id in rule_ids}
    for f in found:
        t = tallies.setdefault(f.match.rule.id, RuleTally(f.match.rule.id))
        t.matches += 1
        t.stories.add(f.story_key)
        t.per_day[f.day] += 1
        if f.change is not None:
            t.changes[f.change] += 1
        if limit is None or len(t.shown) < limit:
            t.shown.append(f)
    return list(tallies.values())


def day_span(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


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


def weekly(per_day: Mapping[date, int], days: Sequence[date]) -> list[tuple[date, int]]:
    """Counts per week (7 days from the first), for a span too long for one line a day."""
    out: list[tuple[date, int]] = []
    for start in range(0, len(days), 7):
        week = days[start : start + 7]
        out.append((week[0], sum(per_day.get(d, 0) for d in week)))
    return out

"""The playground: a query, or an edit of a live rule, run as a backtest over the archive. Does
I/O (reads the archive through the store) but decides nothing itself: matching is
`RuleSet.match` and the counting `monitor.pipeline.backtest.tally`, as `newsmon rules backtest`.

One pass over the archive, one batch in memory at a time. With a live rule chosen, the same pass
also runs the live rule, and the difference is what the edit gains and loses. A run stops after
`max_items` items or `deadline_s` seconds and says so.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from monitor.errors import NewsmonError
from monitor.model import ArchivedItem, Match, Rule
from monitor.pipeline.backtest import Change, Found, RuleTally, tally
from monitor.query.ruleset import RuleSet
from monitor.store.roles import Archive

__all__ = ["Outcome", "Trial", "run"]

BATCH = 2000
SHOWN = 50
CHANGES_KEPT = 5000
QUERY_ID = "query"


@dataclass(frozen=True)
class Trial:
    """What to run: `query` alone (an ad hoc rule), or a live rule's id with the query to try
    in its place (empty: the rule as it is)."""

    query: str = ""
    rule_id: str = ""
    since: datetime | None = None


@dataclass
class Outcome:
    items: int = 0
    seconds: float = 0.0
    stopped: str = ""  # why the run ended early, if it did
    result: RuleTally | None = None
    gained: RuleTally | None = None  # with a live rule: what the trial matches and it does not
    lost: RuleTally | None = None
    first: date | None = None
    last: date | None = None
    rule: Rule | None = None  # the live rule compared against
    diffed: bool = False
    shown: list[Found] = field(default_factory=list)


class TrialError(NewsmonError):
    """A trial that cannot run: an unknown rule, an empty or invalid query."""


def compile_trial(trial: Trial, live: RuleSet) -> tuple[RuleSet, RuleSet | None, Rule | None]:
    """(the rule set to try, the live rule to diff against or None, that live rule)."""
    query = trial.query.strip()
    if trial.rule_id:
        rule = live.rules.get(trial.rule_id)
        if rule is None:
            raise TrialError(f"no rule {trial.rule_id!r} in the live rules")
        old = live.select([rule.id])
        if not query or query == rule.query.strip():
            return old, None, rule
        tried = replace(rule, query=query, enabled=True)
        return _compile(tried, live), old, rule
    if not query:
        raise TrialError("write a query, or choose a rule")
    return _compile(Rule(id=QUERY_ID, name="playground query", query=query), live), None, None


def _compile(rule: Rule, live: RuleSet) -> RuleSet:
    # With the live rules' word sets: the example rules name `$sets`, and so may an edit of one.
    try:
        return RuleSet.from_rules([rule], live.sets)
    except NewsmonError as exc:
        raise TrialError(str(exc)) from None


def run(
    store: Archive,
    trial: Trial,
    live: RuleSet,
    feed_tags: Mapping[str, Sequence[str]],
    *,
    max_items: int,
    deadline_s: float,
    timer: Callable[[], float] = time.monotonic,
) -> Outcome:
    """Run `trial` over the archive (see the module doc). Raises TrialError for a trial that
    cannot run, StoreError when the store fails."""
    tried, old, rule = compile_trial(trial, live)
    out = Outcome(rule=rule, diffed=old is not None)
    started = timer()

    def batches() -> Iterator[list[ArchivedItem]]:
        after = 0
        while out.items < max_items:
            if timer() - started > deadline_s:
                out.stopped = f"stopped after {deadline_s:g} s"
                return
            rows = store.read_archive(after, min(BATCH, max_items - out.items), since=trial.since)
            if not rows:
                return
            after = rows[-1][0]
            out.items += len(rows)
            yield [a for _, a in rows]
        if store.read_archive(after, 1, since=trial.since):
            out.stopped = f"stopped after {max_items:,} items"

    gained: Counter[date] = Counter()
    lost: Counter[date] = Counter()
    changes: list[Found] = []  # the first CHANGES_KEPT, to show; the counters count them all

    def matched() -> Iterator[Found]:
        for batch in batches():
            for archived in batch:
                item = archived.to_item()
                tags = feed_tags.get(archived.feed_id, ())
                day = archived.first_seen.date()
                out.first = day if out.first is None or day < out.first else out.first
                out.last = day if out.last is None or day > out.last else out.last
                new = {m.rule.id: m for m in tried.match(item, tags)}
                for m in new.values():
                    yield Found(item, m, archived.story_key, archived.first_seen)
                if old is None:
                    continue
                before = {m.rule.id: m for m in old.match(item, tags)}
                sides: tuple[tuple[Change, set[str], dict[str, Match], Counter[date]], ...] = (
                    ("gained", new.keys() - before.keys(), new, gained),
                    ("lost", before.keys() - new.keys(), before, lost),
                )
                for side, ids, source, count in sides:
                    for rid in ids:
                        count[day] += 1
                        if len(changes) < CHANGES_KEPT:
                            changes.append(
                                Found(
                                    item, source[rid], archived.story_key, archived.first_seen, side
                                )
                            )

    # Matches stream through the tally (which keeps the newest SHOWN): memory stays one batch.
    rule_ids = list(tried.rules)
    out.result = tally(matched(), rule_ids, SHOWN)[0]
    if old is not None:
        out.gained = tally((f for f in changes if f.change == "gained"), rule_ids, SHOWN)[0]
        out.lost = tally((f for f in changes if f.change == "lost"), rule_ids, SHOWN)[0]
        out.gained.per_day, out.lost.per_day = gained, lost
        out.gained.matches, out.lost.matches = sum(gained.values()), sum(lost.values())
    out.shown = out.result.shown
    out.seconds = timer() - started
    return out

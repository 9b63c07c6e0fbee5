"""A compiled, indexed set of rules: which rules match an item, and why. Pure.

analyse the item once -> presearcher candidates -> keep enabled rules watching this feed
-> evaluate each candidate -> ordered by rule id; each match explains itself (clauses, hits,
snippet) when first read
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from monitor.errors import RuleError, RuleErrors
from monitor.model import Explanation, Item, Match, Rule
from monitor.query import evaluate as ev
from monitor.query.compiler import SetMemberError, check_set, compile_query
from monitor.query.explain import explain, snippet
from monitor.query.index import (
    Presearcher,
    required_any,
    required_prefixes,
    required_stems,
)
from monitor.query.lexer import QueryError
from monitor.query.normalize import Document, analyze


@dataclass(frozen=True, slots=True)
class CompiledRule:
    rule: Rule
    matcher: ev.Matcher
    feeds: frozenset[str]
    required: frozenset[str] = frozenset()  # stems the item must hold, all of them
    required_any: tuple[frozenset[str], ...] = ()  # and one stem of each of these
    required_prefixes: tuple[str, ...] = ()  # and a word starting with each of these

    @classmethod
    def of(cls, rule: Rule, matcher: ev.Matcher) -> CompiledRule:
        return cls(
            rule,
            matcher,
            frozenset(rule.feeds),
            required_stems(matcher),
            required_any(matcher),
            required_prefixes(matcher),
        )


def _explainer(m: ev.Matcher, doc: Document) -> Callable[[], tuple[Explanation, str]]:
    """Explain a match when it is first read: most of the cost of a match, often never needed."""

    def run() -> tuple[Explanation, str]:
        why = explain(m, doc)
        return why, snippet(doc, why.hits)

    return run


class RuleSet:
    """Every rule (enabled or not) by id, the compiled enabled ones, and their presearcher."""

    def __init__(self, compiled: Sequence[CompiledRule], version: str) -> None:
        ordered = sorted(compiled, key=lambda c: c.rule.id)
        self._compiled = ordered
        self.rules: Mapping[str, Rule] = {c.rule.id: c.rule for c in ordered}
        self.version = version
        self._active = [c for c in ordered if c.rule.enabled]
        self._index = Presearcher([c.matcher for c in self._active])

    @classmethod
    def from_rules(
        cls, rules: Iterable[Rule], sets: Mapping[str, Sequence[str]] | None = None
    ) -> RuleSet:
        """Compile rules given in code (tests, benchmarks). Raises RuleErrors listing each fault."""
        sets = dict(sets or {})
        errors: list[RuleError] = []
        for name, members in sets.items():
            try:
                check_set(name, members)
            except SetMemberError as exc:
                errors.append(RuleError(f"set ${name}: {exc}"))
        compiled: list[CompiledRule] = []
        seen: set[str] = set()
        rules = list(rules)
        for rule in rules:
            if rule.id in seen:
                errors.append(RuleError(f"rule {rule.id!r}: duplicate id"))
                continue
            seen.add(rule.id)
            try:
                compiled.append(CompiledRule.of(rule, compile_query(rule.query, sets)))
            except QueryError as exc:
                errors.append(RuleError(f"rule {rule.id!r}: {exc}"))
        if errors:
            raise RuleErrors(errors)
        digest = hashlib.sha256(repr([(r.id, r.query, r.enabled) for r in rules]).encode())
        digest.update(repr(sorted(sets.items())).encode())
        return cls(compiled, digest.hexdigest()[:12])

    def select(self, ids: Collection[str]) -> RuleSet:
        """Only these rules, each enabled (to try one rule, even a disabled one)."""
        chosen = [
            replace(c, rule=replace(c.rule, enabled=True))
            for c in self._compiled
            if c.rule.id in ids
        ]
        return RuleSet(chosen, self.version)

    def __len__(self) -> int:
        return len(self.rules)

    @staticmethod
    def _watches(c: CompiledRule, feed: str, feed_tags: Collection[str]) -> bool:
        feeds = c.feeds
        return not feeds or feed in feeds or any(t in feeds for t in feed_tags)

    def match_document(
        self, item: Item, doc: Document, feed_tags: Collection[str] = ()
    ) -> list[Match]:
        """Like `match`, for an item already analysed (the pipeline analyses once)."""
        active, stems, feed = self._active, doc.stems, item.feed_id
        out = []
        # Ascending rule numbers are rule id order. One loop, no generator: it runs per candidate.
        for number in sorted(self._index.candidates(doc)):
            c = active[number]
            if not c.required <= stems:
                continue
            if c.required_any and not all(not stems.isdisjoint(g) for g in c.required_any):
                continue
            if c.required_prefixes and not all(doc.has_prefix(p) for p in c.required_prefixes):
                continue
            if c.feeds and not self._watches(c, feed, feed_tags):
                continue
            if c.matcher.matches(doc):
                out.append(Match(c.rule, explain=_explainer(c.matcher, doc)))
        return out

    def match(self, item: Item, feed_tags: Collection[str] = ()) -> list[Match]:
        """The enabled rules watching this item's feed (or one of its tags) that match it."""
        return self.match_document(item, analyze(item), feed_tags)

    def match_every_rule(self, item: Item, feed_tags: Collection[str] = ()) -> list[Match]:
        """The same result as `match`, evaluating every rule (no index): baseline and oracle."""
        doc = analyze(item)
        return [
            Match(c.rule, explain=_explainer(c.matcher, doc))
            for c in self._active
            if self._watches(c, item.feed_id, feed_tags) and c.matcher.matches(doc)
        ]

"""A compiled, indexed set of rules: which rules match an item, and why. Pure.

analyse the item once -> presearcher candidates -> keep enabled rules watching this feed
-> evaluate each candidate -> ordered by rule id; each match explains itself (clauses, hits,
snippet) when first read

Rules with `like` examples add the semantic stage (monitor.query.semantic): a `narrow` or
`similar` rule must also be similar to its examples once its query holds (a `similar` rule has
none, so it holds always); a `widen` rule that its query missed fires when the item is similar.
The item is embedded at most once per match, on the first rule that asks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial

from monitor.errors import RuleError, RuleErrors
from monitor.model import Explanation, Item, Match, Rule
from monitor.query import evaluate as ev
from monitor.query import semantic as sem
from monitor.query.compiler import CompiledSets, SetMemberError, check_set, compile_query
from monitor.query.embed import Embedder, load_embedder
from monitor.query.examples import example_problems
from monitor.query.explain import HeldBack, explain, held_back, snippet
from monitor.query.index import Presearcher, required_prefixes, requirements
from monitor.query.lexer import QueryError
from monitor.query.near import Near
from monitor.query.normalize import FIELDS, TEXT_FIELDS, Document, analyze


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule with its compiled matcher and what an item must hold for it to match."""

    rule: Rule
    matcher: ev.Matcher
    feeds: frozenset[str]
    required: frozenset[str] = frozenset()  # stems the item must hold, all of them
    required_any: tuple[frozenset[str], ...] = ()  # and one stem of each of these
    required_prefixes: tuple[str, ...] = ()  # and a word starting with each of these
    # The query is words, OR-groups of words and NOTs of them, anywhere in the text
    # (`a (b OR c) NOT d`): it holds exactly when the item's text holds `required`, a stem of
    # each of `required_any` and none of `excluded`; set tests, without evaluating the query.
    proven: bool = False
    excluded: frozenset[str] = frozenset()

    @classmethod
    def of(cls, rule: Rule, matcher: ev.Matcher) -> CompiledRule:
        required, anys = requirements(matcher)
        excluded = _proven(matcher)
        return cls(
            rule,
            matcher,
            frozenset(rule.feeds),
            required,
            anys,
            required_prefixes(matcher),
            excluded is not None,
            excluded or frozenset(),
        )


def _is_word(m: ev.Matcher) -> bool:
    """A word compared by its stem, anywhere in the text."""
    if not (isinstance(m, ev.Terms) and len(m.elements) == 1 and m.fields == TEXT_FIELDS):
        return False
    one = m.elements[0]
    return one.kind == "stem" and one.value == one.index_key


def _any_word(m: ev.Matcher) -> frozenset[str] | None:
    """The stems of a word or an OR-group of words anywhere in the text (it holds exactly when
    the text holds one of them); None for any other clause."""
    if _is_word(m):
        assert isinstance(m, ev.Terms)
        return frozenset([m.elements[0].index_key])
    if not (isinstance(m, ev.AnyOf) and m.fields == TEXT_FIELDS):
        return None
    parts = m.parts  # kept there, shared by every reference to a set
    words = parts.child_words
    if isinstance(words, ev.Later):
        words = parts.child_words = _words_of(m.children)
    return words


def _words_of(children: Iterable[ev.Matcher]) -> frozenset[str] | None:
    """The stems of clauses that are each a word or an OR-group of words (`_any_word`)."""
    out: set[str] = set()
    for c in children:
        got = _any_word(c)
        if got is None:
            return None
        out |= got
    return frozenset(out)


def _proven(m: ev.Matcher) -> frozenset[str] | None:
    """The stems `m` excludes, when it holds exactly when the text holds its required stems, a
    stem of each of its required groups (`index.requirements`) and none of these; else None.

    Such a query is an AND of words, OR-groups of words and NOTs of either, in the text fields:
    `requirements` then gives each word as a required stem and each group as a set of stems
    (a group holding a required stem is implied by it), and nothing else."""
    kids = m.children if isinstance(m, ev.AllOf) else (m,)
    excluded: set[str] = set()
    for c in kids:
        if isinstance(c, ev.AllOf):
            inner = _proven(c)
            if inner is None:
                return None
            excluded |= inner
        elif isinstance(c, ev.Without):
            got = _any_word(c.child)
            if got is None:
                return None
            excluded |= got
        elif _any_word(c) is None:
            return None
    return frozenset(excluded)


def fields_read(m: ev.Matcher) -> set[str]:
    """The fields a query reads (its clauses' scopes): those an item is analysed in."""
    if isinstance(m, Near):  # its own fields, and (a superset) whatever its sides name
        return {*m.fields, *fields_read(m.left), *fields_read(m.right)}
    if isinstance(m, ev.AnyOf):  # each member in its own scope (`title:(a) OR url:(b)`), and
        parts = m.parts  # its own: explained (the members' kept on the parts a set shares)
        read = parts.child_fields
        if isinstance(read, ev.Later):
            read = parts.child_fields = frozenset().union(*(fields_read(c) for c in m.children))
        return {*m.fields, *read}
    if isinstance(m, ev.Positional):
        return set(m.fields)
    if isinstance(m, ev.AllOf | ev.EitherOf):
        return set().union(*(fields_read(c) for c in m.children))
    if isinstance(m, ev.Without):
        return fields_read(m.child)
    return set()  # the empty query


def _lacks_a_group(stems: set[str], groups: tuple[frozenset[str], ...]) -> bool:
    """Whether `stems` holds no stem of one of the groups (a loop: no generator per rule)."""
    for g in groups:  # noqa: SIM110
        if stems.isdisjoint(g):
            return True
    return False


def _lacks_a_prefix(doc: Document, prefixes: tuple[str, ...]) -> bool:
    for p in prefixes:  # noqa: SIM110
        if not doc.has_prefix(p):
            return True
    return False


# A lazy match holds its item, never the item's analysis: a Document takes about 28 bytes per
# character of text (its words, stems, positions and the spans its clauses found), and a match
# may be kept long after its item was matched (`check` printed every match when every feed was
# done; a poll's report outlives its commit; a backtest keeps the newest matches of each rule).
# Held by the matches, 50 KB items took 1.4 MB each: 11 GB for `check` over 40 feeds of 10 MB.
# When the first of an item's lazy matches is read, the item is analysed again and all of them
# are explained on that one analysis, which then goes (an alert carries every match of its
# item; an analysis a match would cost the 10,000-rule set dear). Callers that read every match
# (`match(..., explained=True)`) have them explained at once on the analysis they were found on.

Why = Callable[[Document], tuple[Explanation, str]]


def _query_why(m: ev.Matcher, doc: Document) -> tuple[Explanation, str]:
    """A rule without examples: its query's explanation and snippet."""
    why = explain(m, doc)
    return why, snippet(doc, why.hits)


class _Later:
    """An item's lazy matches' explanations (see above): made together when the first is read."""

    __slots__ = ("fields", "item", "made", "whys")

    def __init__(self, item: Item, fields: tuple[str, ...]) -> None:
        self.item = item
        self.fields = fields
        self.whys: list[Why] = []
        self.made: list[tuple[Explanation, str]] | None = None

    def add(self, why: Why) -> Callable[[], tuple[Explanation, str]]:
        """A match's explainer: `why` on the item's analysis, when first read."""
        self.whys.append(why)
        return partial(self.read, len(self.whys) - 1)

    def read(self, n: int) -> tuple[Explanation, str]:
        made = self.made
        if made is None:  # two threads may both make it: equal lists, each stored whole
            doc = analyze(self.item, self.fields)
            made = self.made = [why(doc) for why in self.whys]
        return made[n]


def _with_similarity(why: Explanation, rule: Rule, probe: sem.Probe) -> Explanation:
    """`why` with how similar the item is to the rule's examples: its clause and its scores."""
    scores = probe.of(rule.id)
    return Explanation(
        (*why.clauses, sem.clause(rule, scores)), why.hits, sem.similarity(rule, scores)
    )


def _explainer(
    m: ev.Matcher,
    rule: Rule | None = None,
    probe: sem.Probe | None = None,
    query: bool = True,
) -> Why:
    """A match's explanation and snippet on the item's analysis: most of the cost of a match,
    often never needed.

    With a probe, the rule has examples: the explanation adds how similar the item is to them,
    and keeps the query's clauses and words only when the query held (`query`)."""

    def run(doc: Document) -> tuple[Explanation, str]:
        why = explain(m, doc) if query else Explanation((), ())
        if rule is not None and probe is not None:
            why = _with_similarity(why, rule, probe)
        return why, snippet(doc, why.hits)

    return run


def _made(rule: Rule, why: Why, doc: Document, later: _Later | None) -> Match:
    """A match explained by `later` when first read, or now on `doc` without it."""
    return Match(rule, *why(doc)) if later is None else Match(rule, explain=later.add(why))


class RuleSet:
    """Every rule (enabled or not) by id, the compiled enabled ones, and their presearcher."""

    def __init__(
        self,
        compiled: Sequence[CompiledRule],
        version: str,
        embedder: Embedder | None = None,
        sets: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        ordered = sorted(compiled, key=lambda c: c.rule.id)
        self._compiled = ordered
        # The named word sets the rules were compiled with: a query written beside them (the
        # console's playground, an edit of a live rule) may name them too.
        self.sets: Mapping[str, Sequence[str]] = dict(sets or {})
        self.rules: Mapping[str, Rule] = {c.rule.id: c.rule for c in ordered}
        self.version = version
        self._active = [c for c in ordered if c.rule.enabled]
        self._read: tuple[str, ...] | None = None  # `_fields`, found on the first match
        self._index = Presearcher(
            [c.matcher for c in self._active],
            [(c.required, c.required_any) for c in self._active],
        )
        semantic = [c for c in self._active if c.rule.mode != "query"]
        self._embedder = embedder
        self._stage: sem.SemanticStage | None = None
        if semantic:
            # The packaged model unless one is given (tests, benchmarks); raises
            # SemanticUnavailable without the extra (load_rules reports it at each rule).
            self._embedder = embedder = embedder or load_embedder()
            self._stage = sem.SemanticStage([c.rule for c in semantic], embedder)
        # Rules that may fire when their query does not (or is not even a candidate).
        self._widen = [
            (c, self._stage.rules[c.rule.id])
            for c in semantic
            if c.rule.mode == "widen" and self._stage is not None
        ]
        # Rules that ask about (nearly) every item: worth scoring a poll's items in one batch.
        self._asks_all = any(c.rule.mode in ("widen", "similar") for c in semantic)

    @classmethod
    def from_rules(
        cls,
        rules: Iterable[Rule],
        sets: Mapping[str, Sequence[str]] | None = None,
        embedder: Embedder | None = None,
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
        shared = CompiledSets(sets)  # each set compiled once, for every rule naming it
        for rule in rules:
            if rule.id in seen:
                errors.append(RuleError(f"rule {rule.id!r}: duplicate id"))
                continue
            seen.add(rule.id)
            errors += [RuleError(f"rule {rule.id!r}: {m}") for _, m in example_problems(rule)]
            try:
                compiled.append(CompiledRule.of(rule, compile_query(rule.query, shared)))
            except QueryError as exc:
                errors.append(RuleError(f"rule {rule.id!r}: {exc}"))
        if errors:
            raise RuleErrors(errors)
        digest = hashlib.sha256(
            repr(
                [(r.id, r.query, r.enabled, r.mode, r.like, r.unlike, r.threshold) for r in rules]
            ).encode()
        )
        digest.update(repr(sorted(sets.items())).encode())
        return cls(compiled, digest.hexdigest()[:12], embedder, sets)

    def select(self, ids: Collection[str]) -> RuleSet:
        """Only these rules, each enabled (to try one rule, even a disabled one)."""
        chosen = [
            replace(c, rule=replace(c.rule, enabled=True))
            for c in self._compiled
            if c.rule.id in ids
        ]
        return RuleSet(chosen, self.version, self._embedder, self.sets)

    def with_examples(
        self, rule_id: str, like: Sequence[str] = (), unlike: Sequence[str] = ()
    ) -> RuleSet:
        """These rules, one rule given more examples (`rules tune`)."""
        changed = [
            replace(
                c,
                rule=replace(c.rule, like=(*c.rule.like, *like), unlike=(*c.rule.unlike, *unlike)),
            )
            if c.rule.id == rule_id
            else c
            for c in self._compiled
        ]
        return RuleSet(changed, self.version, self._embedder, self.sets)

    def without_examples(self) -> RuleSet:
        """These rules with their queries alone (to measure what the examples add)."""
        plain = [
            replace(c, rule=replace(c.rule, mode="query", like=(), unlike=()))
            for c in self._compiled
        ]
        return RuleSet(plain, self.version, sets=self.sets)

    def query_holds(self, item: Item, rule_id: str, feed_tags: Collection[str] = ()) -> bool:
        """Whether the rule watches the item's feed and its query holds, examples aside."""
        c = next(c for c in self._compiled if c.rule.id == rule_id)
        return self._watches(c, item.feed_id, feed_tags) and c.matcher.matches(analyze(item))

    def __len__(self) -> int:
        return len(self.rules)

    @property
    def _fields(self) -> tuple[str, ...]:
        """The fields an item is analysed in: those the enabled rules read, not all seven (the
        example rules read the text alone, and a URL was a fifth of an item's words). The text
        is always read: a match without hits (a match-all or pure-exclusion rule) takes its
        snippet from it. Found on the first match: a run that matches nothing does not pay."""
        read = self._read
        if read is None:
            found = set(TEXT_FIELDS).union(*(fields_read(c.matcher) for c in self._active))
            read = self._read = tuple(f for f in FIELDS if f in found)
        return read

    @staticmethod
    def _watches(c: CompiledRule, feed: str, feed_tags: Collection[str]) -> bool:
        feeds = c.feeds
        return not feeds or feed in feeds or any(t in feeds for t in feed_tags)

    @classmethod
    def _may_match(
        cls,
        c: CompiledRule,
        doc: Document,
        feed: str,
        feed_tags: Collection[str],
        stems: set[str] | None = None,
    ) -> bool:
        """A candidate's cheap checks before its query is evaluated: the stems, stem groups
        and prefixes every match needs, and whether it watches the item's feed. `stems`: the
        ones to test (the document's in every field unless given)."""
        if stems is None:
            stems = doc.stems
        if not c.required <= stems:
            return False
        if c.required_any and _lacks_a_group(stems, c.required_any):
            return False
        if c.required_prefixes and _lacks_a_prefix(doc, c.required_prefixes):
            return False
        return not c.feeds or cls._watches(c, feed, feed_tags)

    def match_document(
        self,
        item: Item,
        doc: Document,
        feed_tags: Collection[str] = (),
        *,
        explained: bool = False,
    ) -> list[Match]:
        """Like `match`, for the item analysed in `self._fields`."""
        active, feed = self._active, item.feed_id
        later: _Later | None = None  # made on the first lazy match (most items match nothing)
        out: list[Match] = []
        lazy = Match.lazy
        probe: sem.Probe | None = None
        # Ascending rule numbers are rule id order. One loop, no generator: it runs per candidate.
        for number in sorted(self._index.candidates(doc)):
            c = active[number]
            if c.proven:  # set tests on the text's stems decide it (see CompiledRule)
                text = doc.text_stems
                if not self._may_match(c, doc, feed, feed_tags, text):
                    continue
                if not text.isdisjoint(c.excluded):
                    continue
            elif not self._may_match(c, doc, feed, feed_tags) or not c.matcher.matches(doc):
                continue
            if not explained and later is None:
                later = _Later(item, self._fields)
            if c.rule.mode == "query":
                if later is None:
                    out.append(Match(c.rule, *_query_why(c.matcher, doc)))
                else:
                    out.append(lazy(c.rule, later.add(partial(_query_why, c.matcher))))
                continue
            probe = probe or self._probe(item)
            if c.rule.mode == "widen" or probe.similar(c.rule.id):
                out.append(_made(c.rule, _explainer(c.matcher, c.rule, probe), doc, later))
        if self._widen:
            if not explained and later is None:
                later = _Later(item, self._fields)
            out = self._widened(item, doc, later, feed_tags, out, probe)
        return out

    def prepare(self, items: Sequence[Item]) -> None:
        """Score these items against the rules' examples in one batch, ahead of matching them
        one by one (a poll's new items): a tenth of the cost of scoring each alone. Does nothing
        unless a `widen` or `similar` rule would ask about every item; matching does not need
        it (an item not in the last batch is scored when asked)."""
        if self._stage is not None and self._asks_all:
            self._stage.prepare(items)

    def _probe(self, item: Item) -> sem.Probe:
        assert self._stage is not None  # only rules of the stage ask
        return sem.Probe(self._stage, item)

    def _widened(
        self,
        item: Item,
        doc: Document,
        later: _Later | None,
        feed_tags: Collection[str],
        out: list[Match],
        probe: sem.Probe | None,
    ) -> list[Match]:
        """`out` with the `widen` rules that their query missed but whose examples the item is
        similar to, in rule id order (explained by `later`, or at once without it)."""
        fired = {m.rule.id for m in out}
        asking = [
            (c, n)
            for c, n in self._widen
            if c.rule.id not in fired and self._watches(c, item.feed_id, feed_tags)
        ]
        if not asking:
            return out
        probe = probe or self._probe(item)
        similar = probe.scores().similar_flags  # one look for every rule (in stage order)
        more = [
            _made(c.rule, _explainer(c.matcher, c.rule, probe, query=False), doc, later)
            for c, n in asking
            if similar[n]
        ]
        return sorted(out + more, key=lambda m: m.rule.id) if more else out

    def similarity(self, item: Item) -> dict[str, sem.Scores]:
        """The item's scores against each enabled rule with examples (tuning, benchmarks)."""
        if self._stage is None:
            return {}
        probe = self._probe(item)
        return {rid: probe.of(rid) for rid in self._stage.rules}

    def match(
        self, item: Item, feed_tags: Collection[str] = (), *, explained: bool = False
    ) -> list[Match]:
        """The enabled rules watching this item's feed (or one of its tags) that match it.

        Each match is explained when first read, the item then analysed again (see
        `_explain_query`); `explained`: each explained now, for a caller that reads them all."""
        fields = self._fields
        return self.match_document(item, analyze(item, fields), feed_tags, explained=explained)

    def held_back(
        self,
        item: Item,
        fired: Collection[str],
        feed_tags: Collection[str] = (),
        only: Collection[str] | None = None,
    ) -> list[tuple[Rule, HeldBack]]:
        """The enabled rules watching the item's feed that did not fire (not in `fired`, the
        ids `match` returned) because an exclusion vetoed them (`explain.held_back`), in rule
        id order (`only`: of these rules alone). For `rules test` and `rules backtest`, never
        the daemon's matching.

        The presearcher prunes as for a match: a rule's index terms and required stems come
        from its positive clauses alone (a `NOT` needs no term), so an item without them
        cannot hold the positive part, and is not held back.

        A `narrow` rule counts only when the item is also similar to its examples (else its
        examples held it back too, and dropping the exclusion would not make it fire); a
        `similar` rule has no query to hold back."""
        doc = analyze(item)
        probe: sem.Probe | None = None
        out: list[tuple[Rule, HeldBack]] = []
        for number in sorted(self._index.candidates(doc)):
            c = self._active[number]
            rule = c.rule
            if rule.id in fired or rule.mode == "similar":
                continue
            if only is not None and rule.id not in only:
                continue
            if not self._may_match(c, doc, item.feed_id, feed_tags):
                continue
            got = held_back(c.matcher, doc)
            if got is None:
                continue
            if rule.mode == "narrow":
                probe = probe or self._probe(item)
                if not probe.similar(rule.id):
                    continue
                got = replace(got, positive=_with_similarity(got.positive, rule, probe))
            out.append((rule, got))
        return out

    def match_every_rule(self, item: Item, feed_tags: Collection[str] = ()) -> list[Match]:
        """The same result as `match`, evaluating every rule (no index): baseline and oracle."""
        doc = analyze(item)
        probe = self._probe(item) if self._stage is not None else None
        later = _Later(item, FIELDS)
        out = []
        for c in self._active:
            if not self._watches(c, item.feed_id, feed_tags):
                continue
            query = c.matcher.matches(doc)
            if c.rule.mode == "query" or probe is None:
                if query:
                    out.append(Match(c.rule, explain=later.add(_explainer(c.matcher))))
                continue
            similar = probe.similar(c.rule.id)
            if (query or similar) if c.rule.mode == "widen" else (query and similar):
                why = _explainer(c.matcher, c.rule, probe, query=query)
                out.append(Match(c.rule, explain=later.add(why)))
        return out


def prepare(rules: RuleSet | None, items: Sequence[Item], seen: Collection[str]) -> None:
    """Before a poll matches its items: score the new ones (not in `seen`) against the rules'
    examples in one batch (`RuleSet.prepare`)."""
    if rules is not None:
        rules.prepare([i for i in items if i.key not in seen])

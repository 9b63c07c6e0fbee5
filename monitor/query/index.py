"""The presearcher: index rules by the terms they need, find an item's candidate rules. Pure.

The idea of Lucene Monitor: every compiled query is reduced to a set of terms of which a matching
document must contain at least one (a word: its stem; a phrase or NEAR: its most selective part;
AND: its most selective child; OR: the terms of every child). An item is then evaluated only
against the rules whose terms it contains. Rules that need no term (match-all, pure exclusions,
an OR with such a branch) are always candidates. Exact forms (`=arms`) are indexed by their stem,
since a text holding the exact word holds its stem too; prefixes by the prefix itself, looked up
with each document word's leading characters.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from monitor.query import evaluate as ev
from monitor.query.near import Near
from monitor.query.normalize import HEAD, Document
from monitor.query.selectivity import COMMON, key_cost

# A requirement: a set of ("stem", s) / ("prefix", p); None when the clause needs no term.
Need = frozenset[tuple[str, str]] | None


def _cost(key: tuple[str, str]) -> float:
    return key_cost(*key)


def cost(need: Need) -> float:
    return float("inf") if need is None else sum(_cost(k) for k in need)


def _element_key(el: ev.Element) -> tuple[str, str]:
    return ("prefix" if el.kind == "prefix" else "stem", el.index_key)


def need(m: ev.Matcher) -> Need:
    """The terms of which a document must hold one for `m` to match (None: no such terms)."""
    return _need(m)[0]


def _need(m: ev.Matcher) -> tuple[Need, float]:
    """`need(m)` and its `cost`; an OR's are kept on its parts, shared by every reference to
    the same set (a set of 2,000 members named by 200 rules is walked once)."""
    if isinstance(m, ev.Terms):
        n: Need = frozenset([min((_element_key(e) for e in m.elements), key=_cost)])
        return n, cost(n)
    if isinstance(m, ev.AnyOf):
        parts = m.parts
        got = parts.need
        if isinstance(got, ev.Later):
            got = parts.need = _union_need(m.children)
        return got
    if isinstance(m, ev.EitherOf):
        return _union_need(m.children)
    if isinstance(m, ev.AllOf):
        return min((_need(c) for c in m.children), key=_by_cost)
    if isinstance(m, Near):
        return min(_need(m.left), _need(m.right), key=_by_cost)
    return None, cost(None)  # Without, Everything


def _by_cost(need_cost: tuple[Need, float]) -> float:
    return need_cost[1]


def _union_need(children: Sequence[ev.Matcher]) -> tuple[Need, float]:
    out: set[tuple[str, str]] = set()
    first: tuple[Need, float] | None = None
    alike = True  # every child has the same need (`$b OR $b`): kept as it is, cost and all
    for c in children:
        got = _need(c)
        n = got[0]
        if n is None:
            return None, cost(None)
        if first is None:
            first = got
        elif n is first[0]:
            continue  # in `out` already
        else:
            alike = False
        out |= n
    if alike and first is not None:
        return first
    union = frozenset(out)
    return union, cost(union)


def _groups(m: ev.Matcher) -> list[frozenset[str]]:
    """Sets of stems of which a document must hold one each, all the sets, for `m` to match."""
    if isinstance(m, ev.Terms):
        return [frozenset([e.index_key]) for e in m.elements if e.kind != "prefix"]
    if isinstance(m, ev.AllOf):
        return [g for c in m.children for g in _groups(c)]
    if isinstance(m, Near):
        return _groups(m.left) + _groups(m.right)
    if isinstance(m, ev.AnyOf):  # kept on its parts, shared by every reference to a set
        parts = m.parts
        got = parts.groups
        if isinstance(got, ev.Later):
            got = parts.groups = tuple(_or_groups(m.children))
        return list(got)
    if isinstance(m, ev.EitherOf):
        return _or_groups(m.children)
    return []  # Without, Everything


def _smallest(g: frozenset[str]) -> tuple[int, int]:
    """The most selective group first: the fewest stems, then the longest shortest one."""
    return len(g), -min(len(s) for s in g)


def _or_groups(children: Sequence[ev.Matcher]) -> list[frozenset[str]]:
    """An OR's `_groups`: one set per child (its most selective); the OR needs a stem of one."""
    either: set[str] = set()
    for c in children:
        mine = _groups(c)
        if not mine:
            return []
        best = mine[0] if len(mine) == 1 else min(mine, key=_smallest)
        either |= best
    return [frozenset(either)]


Requirements = tuple[frozenset[str], tuple[frozenset[str], ...]]


def requirements(m: ev.Matcher) -> Requirements:
    """`required_stems(m)` and `required_any(m)` at once (one walk of the query)."""
    groups = _groups(m)
    required = frozenset(s for g in groups if len(g) == 1 for s in g)
    anys = {g for g in groups if len(g) > 1 and g.isdisjoint(required)}
    return required, tuple(sorted(anys, key=len))


def required_stems(m: ev.Matcher) -> frozenset[str]:
    """Stems that a document must hold, all of them, for `m` to match (a cheap test per rule)."""
    return requirements(m)[0]


def required_any(m: ev.Matcher) -> tuple[frozenset[str], ...]:
    """Sets of stems of which a document must hold at least one each (beyond `required_stems`):
    `(a OR b) c` needs c and one of a, b; a set needs one of its members."""
    return requirements(m)[1]


def required_prefixes(m: ev.Matcher) -> tuple[str, ...]:
    """Prefixes that some word of the document must start with, each of them, for `m` to match."""
    if isinstance(m, ev.Terms):
        return tuple(e.value for e in m.elements if e.kind == "prefix")
    if isinstance(m, ev.AllOf):
        return tuple(dict.fromkeys(p for c in m.children for p in required_prefixes(c)))
    if isinstance(m, Near):
        return tuple(dict.fromkeys(required_prefixes(m.left) + required_prefixes(m.right)))
    return ()  # OR, Without, Everything


_FEW_PREFIXES = 16  # up to this many indexed prefixes, each is searched for in the document
_SCAN_PAIRS = 8  # up to this many second stems a bucket is scanned, beyond it intersected
_NO_PAIRS: dict[str, tuple[int, ...]] = {}  # shared by the stems that file no pair (never written)


def _pair(needs: Requirements, uses: Mapping[str, int]) -> tuple[str, frozenset[str]] | None:
    """A stem the rule needs and a set of stems of which it needs one more, if it has such.

    Of the required stems, the one more rules require (`uses`) is filed first, unless it is a
    common word: rules then share fewer first stems, which an item is looked up by, and a big
    bucket of second stems costs an item at most a lookup per stem it holds."""
    required = sorted(needs[0], key=lambda s: (s in COMMON, -uses[s], _cost(("stem", s))))
    if len(required) >= 2:
        return required[0], frozenset([required[1]])
    groups = needs[1]
    if len(required) == 1 and groups:
        return required[0], groups[0]  # the smallest set
    return None


class Presearcher:
    """Postings from terms to rule numbers (positions in the rule list given)."""

    def __init__(
        self, matchers: Sequence[ev.Matcher], needs: Sequence[Requirements] | None = None
    ) -> None:
        """`needs[i]` is `requirements(matchers[i])`, when the caller has it already."""
        by_stem: dict[str, list[int]] = {}
        # Prefixes of HEAD characters or more are filed under their first HEAD characters, then
        # searched for whole in the document's folded text: a lookup per distinct word head.
        # Shorter prefixes (rare) are looked up with the heads' first one or two characters.
        self.by_prefix: dict[str, dict[str, list[int]]] = {}
        self.short_prefixes: dict[str, list[int]] = {}
        # A rule that needs two stems, or one stem and one of a set, is filed under a pair:
        # the most selective stem, then the other stem or each member of the set. An item is
        # then a candidate only when it holds both, so two-word rules cost nothing until then.
        by_pair: dict[str, dict[str, list[int]]] = {}
        always: list[int] = []
        every = needs if needs is not None else [requirements(m) for m in matchers]
        uses = Counter(s for required, _ in every for s in required)
        for number, m in enumerate(matchers):
            n = need(m)
            if n is None:
                always.append(number)
                continue
            pair = _pair(every[number], uses)
            if pair is not None:
                first, seconds = pair
                bucket = by_pair.setdefault(first, {})
                for second in seconds:
                    bucket.setdefault(second, []).append(number)
                continue
            for kind, value in n:
                if kind == "stem":
                    by_stem.setdefault(value, []).append(number)
                elif len(value) < HEAD:
                    self.short_prefixes.setdefault(value, []).append(number)
                else:
                    bucket = self.by_prefix.setdefault(value[:HEAD], {})
                    bucket.setdefault(value, []).append(number)
        self.always = tuple(always)
        prefixes = [(p, ns) for bucket in self.by_prefix.values() for p, ns in bucket.items()]
        prefixes += self.short_prefixes.items()
        self.few_prefixes = tuple(prefixes) if len(prefixes) <= _FEW_PREFIXES else ()
        # One lookup per stem of the document: the rules filed under it alone, and its pairs.
        self._postings: dict[str, tuple[tuple[int, ...], dict[str, tuple[int, ...]]]] = {
            stem: (
                tuple(by_stem.get(stem, ())),
                {second: tuple(ns) for second, ns in by_pair[stem].items()}
                if stem in by_pair
                else _NO_PAIRS,
            )
            for stem in by_stem.keys() | by_pair.keys()
        }

    def candidates(self, doc: Document) -> set[int]:
        """Numbers of the rules that may match `doc` (a superset of those that do)."""
        found = set(self.always)
        stems, postings = doc.stems, self._postings
        for stem in postings.keys() & stems:
            alone, pairs = postings[stem]
            if alone:
                found.update(alone)
            if not pairs:
                continue
            if len(pairs) <= _SCAN_PAIRS:
                for second, both in pairs.items():
                    if second in stems:
                        found.update(both)
            else:
                for second in pairs.keys() & stems:
                    found.update(pairs[second])
        if self.few_prefixes:  # a substring search each: cheaper than the document's heads
            for prefix, numbers in self.few_prefixes:
                if doc.has_prefix(prefix):
                    found.update(numbers)
            return found
        if self.by_prefix:
            by_prefix = self.by_prefix
            for key in by_prefix.keys() & doc.heads:
                for prefix, numbers in by_prefix[key].items():
                    if len(prefix) == HEAD or doc.has_prefix(prefix):
                        found.update(numbers)
        if self.short_prefixes:
            short = self.short_prefixes
            heads = doc.heads
            for prefix in short.keys() & ({h[:1] for h in heads} | {h[:2] for h in heads}):
                found.update(short[prefix])
        return found

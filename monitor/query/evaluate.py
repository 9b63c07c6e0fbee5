"""Compiled queries: matcher objects that test an analysed document. Pure.

Positional matchers (words, prefixes, exact forms, phrases, sets, OR-groups of them, NEAR) find
spans of token positions, `(first, last)` inclusive, in one field at a time; boolean matchers
combine them. `matches` is the fast path run on every candidate; `hit_spans` and `clauses` run only
for rules that matched, to explain them.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from itertools import chain, count
from typing import TypeVar

from monitor.query import spanset
from monitor.query.normalize import _NOWHERE, HEAD, Document, FieldText
from monitor.query.selectivity import key_cost
from monitor.query.spanset import Spans
from monitor.query.words import _SEP

Span = tuple[int, int]
Labelled = tuple[int, int, str]  # first, last, the query term that matched
# Keys of which a document must hold one for a clause to match: a stem, or a word head (the
# first HEAD characters of a folded word) after _HEAD_KEY. None: the clause needs no such key.
Gate = frozenset[str] | None
_HEAD_KEY = "\x00"  # never a stem's first character


class _Later(Enum):
    """Not found yet: a clause's gate, or an OR's table (an enum member, so that a copied or
    pickled matcher still knows it by identity)."""

    LATER = "later"


_LATER = _Later.LATER
Later = _Later  # for other modules' memos on `OrParts`


@dataclass(frozen=True, slots=True)
class Element:
    """One word of a term or phrase: how to look it up, and its key for the presearcher.

    `kind` is a form of the token to compare (`stem`, `lower`, `raw`), or `prefix` (the diacritics
    folded word starts with `value`). `index_key` is the stem (or, for prefixes, the prefix) that
    a document must contain for this element to match.
    """

    kind: str
    value: str
    index_key: str

    def positions(self, ft: FieldText) -> list[int]:
        if self.kind != "prefix":
            # A field that lacks the stem lacks every form of the word: a set test, before the
            # field files its tokens by the form for `where` (a NEAR or phrase asks each field).
            if self.index_key not in ft.stems:
                return _NOWHERE
            return ft.where(self.kind, self.value)
        return ft.prefixed(self.value)


class Matcher:
    """A compiled clause. `source` is its text in the query (for explanations)."""

    __slots__ = ("_gate_memo", "plan", "source", "whole")

    def __init__(self, source: str = "") -> None:
        self.source = source
        # A field scope such as `title:(a b)` is quoted whole in explanations, not split in clauses.
        self.whole = False
        # How to explain it: monitor.query.explain's Plan, made on its first explanation and
        # kept here. Typed `object` so that this module does not import explain, which imports it.
        self.plan: object = None
        self._gate_memo: Gate | _Later = _LATER  # its gate, found when an OR first asks for it

    def matches(self, doc: Document) -> bool:
        raise NotImplementedError

    def clauses(self, doc: Document, out: list[str]) -> None:
        out.append(self.source)

    def cost(self) -> int:
        """A rough cost of evaluating this clause, so that an AND tries cheap children first."""
        return 1

    def gate(self) -> Gate:
        """Keys of which a document must hold one for this clause to match (None: no such
        keys, as for an exclusion or the empty query). Found once, when first asked: compiling
        a rule does not pay for it, nor does a run that matches nothing."""
        got = self._gate_memo
        if got is _LATER:
            got = self._gate_memo = self._gate()
        return got

    def _gate(self) -> Gate:
        return None


class Positional(Matcher):
    """A clause that occupies positions in a field, in any of `fields`."""

    __slots__ = ("fields", "span_key")
    fields: tuple[str, ...]
    span_key: int  # its span content's number (`span_key`): equal numbers, equal spans

    def spans(self, ft: FieldText) -> list[Span]:
        raise NotImplementedError

    def span_set(self, ft: FieldText, memo: dict[int, Spans]) -> Spans:
        """Every span of this clause in `ft`, as bitsets (`memo` holds those of NEARs already
        computed for this field, by id)."""
        return spanset.of(self.spans(ft))

    def widths(self) -> tuple[int, int]:
        """The least and the greatest width (last - first) a span of this clause can have."""
        raise NotImplementedError

    def work(self) -> int:
        """Bitset operations (of the field's length each) that `span_set` takes at most, beyond
        looking up words: nonzero for NEARs only."""
        return 0

    def maybe(self, doc: Document) -> bool:
        """False when the document lacks a word this clause needs (a cheap first test)."""
        return True

    def hit_spans(self, ft: FieldText) -> list[Labelled]:
        raise NotImplementedError

    def iter_hits(self, ft: FieldText, memo: dict[int, Spans]) -> Iterator[Labelled]:
        """`hit_spans` one by one, as needed (a NEAR's explanation reads only its first ones)."""
        return iter(self.hit_spans(ft))

    def matches(self, doc: Document) -> bool:
        return any(self.spans(doc.fields[f]) for f in self.fields)


class Terms(Positional):
    """A word (one element) or a phrase (consecutive elements)."""

    __slots__ = ("_cost", "_prefixes", "_single", "_stems", "elements", "label")

    def __init__(self, elements: tuple[Element, ...], fields: tuple[str, ...], label: str) -> None:
        super().__init__(label)
        self.elements = elements
        self.fields = fields
        self.label = label
        one = elements[0]
        self._single = one if len(elements) == 1 and one.kind != "prefix" else None
        self._stems = frozenset(e.index_key for e in elements if e.kind != "prefix")
        self._prefixes = tuple(e.value for e in elements if e.kind == "prefix")
        self._cost = len(elements) + 3 * len(self._prefixes)
        self.span_key = span_key(("terms", tuple((e.kind, e.value, e.index_key) for e in elements)))

    def cost(self) -> int:
        return self._cost

    def _gate(self) -> Gate:
        # Any one of a phrase's words will do: the most selective. A prefix of HEAD characters
        # or more needs a word with its head; a shorter one gives no gate.
        if len(self.elements) == 1:  # a word or a prefix, nearly every one
            one = self.elements[0]
            if one.kind != "prefix":
                return frozenset((one.index_key,))
            return frozenset((_HEAD_KEY + one.value[:HEAD],)) if len(one.value) >= HEAD else None
        keys = [frozenset([e.index_key]) for e in self.elements if e.kind != "prefix"]
        keys += [frozenset([_HEAD_KEY + p[:HEAD]]) for p in self._prefixes if len(p) >= HEAD]
        return best_gate(keys)

    def maybe(self, doc: Document) -> bool:
        if not self._stems <= doc.stems:
            return False
        prefixes = self._prefixes
        return not prefixes or all(doc.has_prefix(p) for p in prefixes)

    def matches(self, doc: Document) -> bool:
        one = self._single
        fields = doc.fields
        if one is not None:  # the common case, kept to one set or dict lookup per field
            kind, value = one.kind, one.value
            if kind == "stem":
                for f in self.fields:  # noqa: SIM110 (a loop: no generator per call)
                    if value in fields[f].stems:
                        return True
                return False
            if one.index_key not in doc.stems:  # the stem first: a set lookup
                return False
            return any(fields[f].has(kind, value) for f in self.fields)
        if not self.maybe(doc):
            return False
        if len(self.elements) == 1:  # a prefix: does a word of the field start with it?
            prefix = self.elements[0].value
            return any(fields[f].has_prefix(prefix) for f in self.fields)
        for f in self.fields:
            first = self.elements[0].positions(fields[f])
            if first and self._phrase(fields[f], first):
                return True
        return False

    def spans(self, ft: FieldText) -> list[Span]:
        first = self.elements[0].positions(ft)
        if len(self.elements) == 1 or not first:
            return [(p, p) for p in first]
        last = len(self.elements) - 1
        return [(p, p + last) for p in spanset.ones(self._phrase(ft, first))]

    def _phrase(self, ft: FieldText, first: list[int]) -> int:
        """The starts of the phrase, as bits: the first word's positions ANDed with each next
        word's shifted back by its place. Linear in the field and the phrase (a set per word
        and a test per start and word took 2 GB for a 1,000-word phrase on 20,000 words)."""
        found = spanset.bits(first)
        # Keyed by (kind, value), which decide the positions: a C-speed hash, where hashing the
        # frozen Element runs its generated __hash__ in Python on every word of every phrase.
        one = self.elements[0]
        each: dict[tuple[str, str], int] = {(one.kind, one.value): found}
        for i, el in enumerate(self.elements[1:], 1):
            key = (el.kind, el.value)
            where = each.get(key)
            if where is None:
                where = each[key] = spanset.bits(el.positions(ft))
            found &= where >> i
            if not found:
                return 0
        return found

    def span_set(self, ft: FieldText, memo: dict[int, Spans]) -> Spans:
        first = self.elements[0].positions(ft)
        if not first:
            return {}
        width = len(self.elements) - 1
        found = spanset.bits(first) if width == 0 else self._phrase(ft, first)
        return {width: found} if found else {}

    def widths(self) -> tuple[int, int]:
        return len(self.elements) - 1, len(self.elements) - 1

    def hit_spans(self, ft: FieldText) -> list[Labelled]:
        one = self._single
        if one is not None:  # one word, the common case: its positions straight from the field
            if one.index_key not in ft.stems:
                return []
            label = self.label
            return [(p, p, label) for p in ft.where(one.kind, one.value)]
        if not self._stems <= ft.stems:  # a field without one of the words: a set test
            return []
        label = self.label
        return [(a, b, label) for a, b in self.spans(ft)]


# A number for each distinct content of an OR group's cheap test (its stems, phrases and
# prefixes), the key of a document's `maybes`: equal groups in any rule share one answer. The
# numbers are never reused, so clearing the table (bounded, like the compiler's) only costs
# sharing, never a wrong answer.
_MAYBE_KEYS: dict[tuple[frozenset[str], tuple[str, ...], tuple[frozenset[str], ...]], int] = {}
_MAYBE_KEYS_MAX = 100_000
_next_maybe_key = count()

# A number for each distinct content of a positional clause as far as its spans go (its words'
# forms, an OR's members, a NEAR's sides, distance and order; not its labels or fields, since
# spans are found one field at a time): the key of a field's `span_sets`, so that `$weapons` in
# a dozen NEARs of three rules is looked up once per field. Never reused, like the maybe keys.
_SPAN_KEYS: dict[tuple[object, ...], int] = {}
_next_span_key = count()
_K = TypeVar("_K", bound=Hashable)


def _numbered(table: dict[_K, int], numbers: Iterator[int], content: _K) -> int:
    """The number `table` gives `content`, a fresh one from `numbers` if it gives none; a full
    table is emptied first (numbers are never reused, so a number once given stays its own)."""
    key = table.get(content)
    if key is None:
        if len(table) >= _MAYBE_KEYS_MAX:
            table.clear()
        key = table[content] = next(numbers)
    return key


def span_key(content: tuple[object, ...]) -> int:
    """The number of a clause's span content (see `_SPAN_KEYS`)."""
    return _numbered(_SPAN_KEYS, _next_span_key, content)


def gate_cost(g: Gate) -> float:
    """How many documents a gate lets through, roughly (`selectivity.key_cost` of each key)."""
    if g is None:
        return float("inf")
    return sum(key_cost("prefix", k[1:]) if k[0] == _HEAD_KEY else key_cost("stem", k) for k in g)


def best_gate(gates: Iterable[Gate]) -> Gate:
    """The most selective of gates that must all hold (None if none is given)."""
    return min(gates, key=gate_cost, default=None)


def _union_gate(children: Iterable[Matcher]) -> Gate:
    """An OR's gate: a key of any child's gate, if every child has one."""
    out: set[str] = set()
    for c in children:
        g = c.gate()
        if g is None:
            return None
        out |= g
    return frozenset(out)


# An OR of fewer children with a gate than this asks them all: the gate's set test would cost
# about what it saves.
_GATED_MIN = 4


@dataclass(frozen=True, slots=True)
class GateTable:
    """An OR's children filed by the keys of their gates (see `gate_table`)."""

    stems: frozenset[str]
    heads: frozenset[str]
    by_stem: dict[str, tuple[int, ...]]
    by_head: dict[str, tuple[int, ...]]
    ungated: tuple[int, ...]  # always asked
    headed: tuple[int, ...]  # asked when the document's heads are not made

    def numbers(self, doc: Document) -> Sequence[int]:
        """The children that may match `doc`, by number, in order.

        A word head is looked up only where the document's heads are made already (the
        presearcher makes them for rules with many prefixes); elsewhere its children are
        asked."""
        held = self.stems.intersection(doc.stems)
        if self.heads:
            made = doc.heads_made
            if made is None:
                found = set(self.headed)
            else:
                found = set(self.ungated)
                for h in self.heads.intersection(made):
                    found.update(self.by_head[h])
        elif not held:
            return self.ungated
        else:
            found = set(self.ungated)
        for k in held:
            found.update(self.by_stem[k])
        return sorted(found)


# The tables of ORs of equal gates (a set named in a dozen NEARs of three rules) are one; the
# table is bounded like the key tables above, and clearing it only costs sharing.
_GATE_TABLES: dict[tuple[frozenset[str], ...], GateTable] = {}


def gate_table(children: Sequence[Matcher]) -> GateTable | None:
    """For an OR: its children filed by gate, so that a document asks one or two set
    intersections, not each child, which may match (an OR of dozens of NEARs, the example
    rules' top clause, or a set of dozens of words). None for an OR with too few gates."""
    gates = tuple(c.gate() for c in children)
    if sum(g is not None for g in gates) < _GATED_MIN:
        return None
    content = tuple(frozenset() if g is None else g for g in gates)  # no gate: an empty one
    table = _GATE_TABLES.get(content)
    if table is not None:
        return table
    by_stem: dict[str, list[int]] = {}
    by_head: dict[str, list[int]] = {}
    for i, g in enumerate(gates):
        for k in g or ():
            if k[0] == _HEAD_KEY:
                by_head.setdefault(k[1:], []).append(i)
            else:
                by_stem.setdefault(k, []).append(i)
    ungated = tuple(i for i, g in enumerate(gates) if g is None)
    headed = sorted({*ungated, *(i for v in by_head.values() for i in v)})
    table = GateTable(
        frozenset(by_stem),
        frozenset(by_head),
        {k: tuple(v) for k, v in by_stem.items()},
        {k: tuple(v) for k, v in by_head.items()},
        ungated,
        tuple(headed),
    )
    if len(_GATE_TABLES) >= _MAYBE_KEYS_MAX:
        _GATE_TABLES.clear()
    _GATE_TABLES[content] = table
    return table


def _or_matches(m: AnyOf | EitherOf, doc: Document) -> bool:
    """Whether a child of an OR matches: those its gate table picks (made on the first match),
    or every child of an OR with too few gates."""
    children, gates = m.children, m._gates
    if gates is _LATER:
        gates = m._gates = m._table()
    if gates is None:
        for c in children:  # noqa: SIM110 (a loop, not any(): run for every candidate)
            if c.matches(doc):
                return True
        return False
    for i in gates.numbers(doc):  # noqa: SIM110 (as above)
        if children[i].matches(doc):
            return True
    return False


def _or_clauses(m: AnyOf | EitherOf, doc: Document, out: list[str]) -> None:
    """The clauses an OR explains a match with: itself when quoted whole (a field scope), else
    those of its children that match."""
    if m.whole:
        out.append(m.source)
        return
    for c in m.children:
        if c.matches(doc):
            c.clauses(doc, out)


class OrParts:
    """What an OR of positional clauses works out from its children alone, made once and shared
    by every `AnyOf` of those children: each reference to a named set (`$weapons` in 200 rules)
    is its own `AnyOf` (its own source, scope and explanation plan) over one `OrParts`, so a
    set of 2,000 members is worked out once a load, not once per reference (about 4.5 µs per
    member each time: a folder naming big sets again and again took seconds to load).

    The children are never changed once made (see `compiler.compile_set_member`), so neither
    is anything here; the memos (`_LATER` until first asked) depend on the children alone."""

    __slots__ = (
        "_gate_memo",
        "all_stems",
        "all_terms",
        "any_prefix",
        "any_stem",
        "by_first",
        "child_fields",
        "child_words",
        "children",
        "cost",
        "firsts",
        "gates",
        "groups",
        "maybe_key",
        "need",
        "other",
        "phrase_keys",
        "prefix_first",
        "prefix_heads",
        "span_key",
        "widths",
        "work",
    )

    def __init__(self, children: tuple[Positional, ...]) -> None:
        self.children = children
        # `maybe` asks whether any child might: the example rules' sets hold dozens of members,
        # asked by every NEAR of every candidate item. Members that are words without prefixes
        # need their stems (one stem: one `isdisjoint` for them all; a phrase: a subset test),
        # one prefix a substring search in the folded text (`Document.has_prefix`): asked here
        # without a call per member. Anything else asks its own `maybe`.
        stems: list[str] = []
        phrases: list[frozenset[str]] = []
        prefixes: list[str] = []
        other: list[Positional] = []
        for c in children:
            if isinstance(c, Terms) and not c._prefixes and len(c._stems) == 1:
                stems.extend(c._stems)
            elif isinstance(c, Terms) and not c._prefixes:
                phrases.append(c._stems)
            elif isinstance(c, Terms) and not c._stems and len(c._prefixes) == 1:
                prefixes.append(_SEP + c._prefixes[0])
            elif isinstance(c, AnyOf) and not c._other:  # a set in a group: `($ukraine OR kyiv)`
                stems.extend(c._any_stem)
                phrases.extend(c._all_stems)
                prefixes.extend(c._any_prefix)
            else:
                other.append(c)
        self.any_stem = frozenset(stems)
        self.any_prefix = tuple(dict.fromkeys(prefixes))
        self.all_stems = tuple(dict.fromkeys(phrases))
        # Most documents hold none of a group's phrases or prefixes (a third of the maybe tests
        # of the example rules' groups said no after testing each one): a phrase needs each of
        # its stems, so one set test of a stem of each (the longest: "the" is everywhere)
        # passes every document that may hold one; a prefix of HEAD characters or more needs a
        # word with its first HEAD characters (`Document.heads`, when the presearcher made it).
        self.phrase_keys = frozenset(max(sorted(p), key=len) for p in self.all_stems)
        heads = {p[1 : HEAD + 1] for p in self.any_prefix}
        short = any(len(p) <= HEAD for p in self.any_prefix)  # p holds the NUL before it
        self.prefix_heads: frozenset[str] | None = None if short else frozenset(heads)
        self.other = tuple(other)
        # Only a group of words, phrases and prefixes alone is keyed by its content: another
        # clause inside would have to be compared by value too.
        self.maybe_key: int | None = None
        if not other:
            content = (self.any_stem, self.any_prefix, self.all_stems)
            self.maybe_key = _numbered(_MAYBE_KEYS, _next_maybe_key, content)
        self.span_key = span_key(("any", frozenset(c.span_key for c in children)))
        # A group of words and phrases finds its spans from the members whose first word's stem
        # the field holds (a member lacking it has no span there): a set intersection, not a
        # lookup per member of a set of dozens. Members led by a prefix are each asked.
        self.all_terms = all(isinstance(c, Terms) for c in children)
        self.by_first: dict[str, tuple[Terms, ...]] | None = None
        self.firsts: frozenset[str] = frozenset()
        self.prefix_first: tuple[Terms, ...] = ()
        if self.all_terms:
            by_first: dict[str, list[Terms]] = {}
            led: list[Terms] = []
            for c in children:
                assert isinstance(c, Terms)
                one = c.elements[0]
                if one.kind == "prefix":
                    led.append(c)
                else:
                    by_first.setdefault(one.index_key, []).append(c)
            self.by_first = {k: tuple(v) for k, v in by_first.items()}
            self.firsts = frozenset(by_first)
            self.prefix_first = tuple(led)
        self.widths: tuple[int, int] | None = None  # these three found when first asked
        self.cost: int | None = None
        self.work: int | None = None
        self._gate_memo: Gate | _Later = _LATER
        self.gates: GateTable | _Later | None = _LATER  # made on the first match (`gate_table`)
        # Worked out from the children by other modules, once for every OR sharing these parts:
        # the presearcher's need and its cost (`index.need`), its stem groups (`index._groups`),
        # the stems of an OR of words (`ruleset._any_word`), the fields its members read.
        self.need: tuple[frozenset[tuple[str, str]] | None, float] | _Later = _LATER
        self.groups: tuple[frozenset[str], ...] | _Later = _LATER
        self.child_words: frozenset[str] | _Later | None = _LATER
        self.child_fields: frozenset[str] | _Later = _LATER

    def gate(self) -> Gate:
        """The OR's gate (`Matcher.gate`), found once for every OR sharing these parts."""
        got = self._gate_memo
        if got is _LATER:
            got = self._gate_memo = _union_gate(self.children)
        return got


class AnyOf(Positional):
    """An OR of positional clauses (a set, or a group such as `(troops OR soldiers)`)."""

    __slots__ = (
        "_all_stems",
        "_any_prefix",
        "_any_stem",
        "_by_first",
        "_firsts",
        "_gates",
        "_maybe_key",
        "_other",
        "_phrase_keys",
        "_prefix_first",
        "_prefix_heads",
        "children",
        "parts",
    )
    _any_stem: frozenset[str]
    _any_prefix: tuple[str, ...]
    _all_stems: tuple[frozenset[str], ...]
    _other: tuple[Positional, ...]

    def __init__(
        self,
        children: tuple[Positional, ...],
        fields: tuple[str, ...],
        source: str,
        parts: OrParts | None = None,
    ) -> None:
        """`parts`: the children's `OrParts`, made once for a set named again and again."""
        super().__init__(source)
        if parts is None:
            parts = OrParts(children)
        assert parts.children is children
        self.parts = parts
        self.children = children
        self.fields = fields
        # Copied from the parts: read on every candidate, without a second attribute lookup.
        self._any_stem = parts.any_stem
        self._any_prefix = parts.any_prefix
        self._all_stems = parts.all_stems
        self._phrase_keys = parts.phrase_keys
        self._prefix_heads = parts.prefix_heads
        self._other = parts.other
        self._maybe_key = parts.maybe_key
        self.span_key = parts.span_key
        self._by_first = parts.by_first
        self._firsts = parts.firsts
        self._prefix_first = parts.prefix_first
        self._gates: GateTable | _Later | None = parts.gates  # found on the first match

    def _table(self) -> GateTable | None:
        """Its `gate_table`, made once for every OR sharing its parts."""
        parts = self.parts
        got = parts.gates
        if got is _LATER:
            got = parts.gates = gate_table(self.children)
        return got

    matches = _or_matches  # the method itself: no call in between, run for every candidate

    def _gate(self) -> Gate:
        return self.parts.gate()

    def maybe(self, doc: Document) -> bool:
        key = self._maybe_key
        if key is None:
            return self._maybe(doc)
        memo = doc.maybes
        got = memo.get(key)
        if got is None:
            got = memo[key] = self._maybe(doc)
        return got

    def _maybe(self, doc: Document) -> bool:
        if not self._any_stem.isdisjoint(doc.stems):
            return True
        if self._all_stems and not self._phrase_keys.isdisjoint(doc.stems):
            stems = doc.stems
            for need in self._all_stems:
                if need <= stems:
                    return True
        if self._any_prefix:
            starts, heads = self._prefix_heads, doc.heads_made
            if starts is None or heads is None or not starts.isdisjoint(heads):
                text = doc.fold_text
                for p in self._any_prefix:
                    if p in text:
                        return True
        for c in self._other:  # noqa: SIM110 (a loop: no generator per call)
            if c.maybe(doc):
                return True
        return False

    def cost(self) -> int:
        parts = self.parts
        got = parts.cost
        if got is None:
            got = parts.cost = 2 + sum(c.cost() for c in self.children)
        return got

    def spans(self, ft: FieldText) -> list[Span]:
        out: set[Span] = set()
        for c in self.children:
            out.update(c.spans(ft))
        return sorted(out)

    def span_set(self, ft: FieldText, memo: dict[int, Spans]) -> Spans:
        """The union of the members' spans, found once per field (`FieldText.span_sets`): the
        dict is shared, read it, never change it."""
        got = ft.span_sets.get(self.span_key)
        if got is None:
            by_first = self._by_first
            if by_first is None:
                got = spanset.union(c.span_set(ft, memo) for c in self.children)
            else:
                held = chain.from_iterable(by_first[k] for k in self._firsts.intersection(ft.stems))
                got = spanset.union(c.span_set(ft, memo) for c in chain(held, self._prefix_first))
            ft.remember(self.span_key, got)
        return got

    def widths(self) -> tuple[int, int]:
        parts = self.parts
        got = parts.widths
        if got is None:
            each = [c.widths() for c in self.children]
            got = parts.widths = (min(w[0] for w in each), max(w[1] for w in each))
        return got

    def work(self) -> int:
        parts = self.parts
        got = parts.work
        if got is None:
            got = parts.work = sum(c.work() for c in self.children)
        return got

    def hit_spans(self, ft: FieldText) -> list[Labelled]:
        return [h for c in self.children for h in c.hit_spans(ft)]

    def iter_hits(self, ft: FieldText, memo: dict[int, Spans]) -> Iterator[Labelled]:
        return chain.from_iterable(c.iter_hits(ft, memo) for c in self.children)

    clauses = _or_clauses


class AllOf(Matcher):
    __slots__ = ("_by_cost", "children")

    def __init__(self, children: tuple[Matcher, ...], source: str) -> None:
        super().__init__(source)
        self.children = children  # as written: clauses are explained in this order
        # Cheap children first, and exclusions after the rest: a `NOT` holds on nearly every
        # item, so it seldom decides, where a positive clause fails on most candidates (the
        # example rules' exclusions, asked first, took a third of their matching time).
        self._by_cost = tuple(sorted(children, key=lambda c: (isinstance(c, Without), c.cost())))

    def matches(self, doc: Document) -> bool:
        for c in self._by_cost:  # noqa: SIM110 (a loop, not all(): run for every candidate)
            if not c.matches(doc):
                return False
        return True

    def cost(self) -> int:
        return 2 + sum(c.cost() for c in self.children)

    def _gate(self) -> Gate:
        return best_gate(c.gate() for c in self.children)

    def clauses(self, doc: Document, out: list[str]) -> None:
        if self.whole:
            out.append(self.source)
            return
        for c in self.children:
            c.clauses(doc, out)


class EitherOf(Matcher):
    __slots__ = ("_gates", "children")

    def __init__(self, children: tuple[Matcher, ...], source: str) -> None:
        super().__init__(source)
        self.children = children
        self._gates: GateTable | _Later | None = _LATER  # made on the first match (`gate_table`)

    def cost(self) -> int:
        return 2 + sum(c.cost() for c in self.children)

    def _gate(self) -> Gate:
        return _union_gate(self.children)

    def _table(self) -> GateTable | None:
        return gate_table(self.children)

    matches = _or_matches  # the method itself: no call in between, run for every candidate

    clauses = _or_clauses


class Without(Matcher):
    __slots__ = ("child",)

    def __init__(self, child: Matcher, source: str) -> None:
        super().__init__(source)
        self.child = child

    def matches(self, doc: Document) -> bool:
        return not self.child.matches(doc)

    def cost(self) -> int:
        return 2 + self.child.cost()


class Everything(Matcher):
    """The empty query: every item of the watched feeds."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__("(every item)")

    def matches(self, doc: Document) -> bool:
        return True

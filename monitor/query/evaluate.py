"""Compiled queries: matcher objects that test an analysed document. Pure.

Positional matchers (words, prefixes, exact forms, phrases, sets, OR-groups of them, NEAR) find
spans of token positions, `(first, last)` inclusive, in one field at a time; boolean matchers
combine them. `matches` is the fast path run on every candidate; `hit_spans` and `clauses` run only
for rules that matched, to explain them.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass

from monitor.query.normalize import Document, FieldText

Span = tuple[int, int]
Labelled = tuple[int, int, str]  # first, last, the query term that matched


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
            return ft.positions(self.kind).get(self.value, [])
        out: list[int] = []
        for word, where in ft.positions("fold").items():
            if word.startswith(self.value):
                out.extend(where)
        out.sort()
        return out


class Matcher:
    """A compiled clause. `source` is its text in the query (for explanations)."""

    source: str = ""
    # A field scope such as `title:(a b)` is quoted whole in explanations, not split in clauses.
    whole: bool = False

    def matches(self, doc: Document) -> bool:
        raise NotImplementedError

    def clauses(self, doc: Document, out: list[str]) -> None:
        out.append(self.source)


class Positional(Matcher):
    """A clause that occupies positions in a field, in any of `fields`."""

    fields: tuple[str, ...] = ()

    def spans(self, ft: FieldText) -> list[Span]:
        raise NotImplementedError

    def hit_spans(self, ft: FieldText) -> list[Labelled]:
        raise NotImplementedError

    def matches(self, doc: Document) -> bool:
        return any(self.spans(doc.fields[f]) for f in self.fields)


class Terms(Positional):
    """A word (one element) or a phrase (consecutive elements)."""

    def __init__(self, elements: tuple[Element, ...], fields: tuple[str, ...], label: str) -> None:
        self.elements = elements
        self.fields = fields
        self.source = self.label = label
        one = elements[0]
        self._single = one if len(elements) == 1 and one.kind != "prefix" else None

    def matches(self, doc: Document) -> bool:
        one = self._single
        if one is not None:  # the common case, kept to one dict lookup per field
            kind, value = one.kind, one.value
            return any(value in doc.fields[f].positions(kind) for f in self.fields)
        return any(self.spans(doc.fields[f]) for f in self.fields)

    def spans(self, ft: FieldText) -> list[Span]:
        first = self.elements[0].positions(ft)
        if len(self.elements) == 1 or not first:
            return [(p, p) for p in first]
        rest = []
        for el in self.elements[1:]:
            where = el.positions(ft)
            if not where:
                return []
            rest.append(set(where))
        last = len(rest)
        return [(p, p + last) for p in first if all(p + i + 1 in s for i, s in enumerate(rest))]

    def hit_spans(self, ft: FieldText) -> list[Labelled]:
        return [(a, b, self.label) for a, b in self.spans(ft)]


class AnyOf(Positional):
    """An OR of positional clauses (a set, or a group such as `(troops OR soldiers)`)."""

    def __init__(self, children: tuple[Positional, ...], fields: tuple[str, ...], source: str):
        self.children = children
        self.fields = fields
        self.source = source

    def matches(self, doc: Document) -> bool:
        return any(c.matches(doc) for c in self.children)

    def spans(self, ft: FieldText) -> list[Span]:
        out: set[Span] = set()
        for c in self.children:
            out.update(c.spans(ft))
        return sorted(out)

    def hit_spans(self, ft: FieldText) -> list[Labelled]:
        return [h for c in self.children for h in c.hit_spans(ft)]

    def clauses(self, doc: Document, out: list[str]) -> None:
        if self.whole:
            out.append(self.source)
            return
        for c in self.children:
            if c.matches(doc):
                c.clauses(doc, out)


class Near(Positional):
    """`left NEAR/n right`: at most n other words between them; `ordered` wants left first."""

    def __init__(
        self,
        left: Positional,
        right: Positional,
        distance: int,
        ordered: bool,
        fields: tuple[str, ...],
        source: str,
    ) -> None:
        self.left, self.right = left, right
        self.distance, self.ordered = distance, ordered
        self.fields = fields
        self.source = source

    def pairs(self, ft: FieldText, first_only: bool = False) -> list[tuple[Span, Span]]:
        lefts = self.left.spans(ft)
        if not lefts:
            return []
        rights = self.right.spans(ft)
        if not rights:
            return []
        starts = [s for s, _ in rights]
        longest = max(e - s for s, e in rights)
        n = self.distance
        out: list[tuple[Span, Span]] = []
        for a in lefts:
            s1, e1 = a
            # right after left: its first word within n words after left's last
            i = bisect_left(starts, e1 + 1)
            while i < len(starts) and starts[i] <= e1 + 1 + n:
                out.append((a, rights[i]))
                if first_only:
                    return out
                i += 1
            if self.ordered:
                continue
            # right before left: its last word within n words before left's first
            i = bisect_left(starts, s1 - 1 - n - longest)
            while i < len(starts) and starts[i] < s1:
                e2 = rights[i][1]
                if s1 - 1 - n <= e2 < s1:
                    out.append((a, rights[i]))
                    if first_only:
                        return out
                i += 1
        return out

    def matches(self, doc: Document) -> bool:
        return any(self.pairs(doc.fields[f], first_only=True) for f in self.fields)

    def spans(self, ft: FieldText) -> list[Span]:
        return sorted({(min(a[0], b[0]), max(a[1], b[1])) for a, b in self.pairs(ft)})

    def hit_spans(self, ft: FieldText) -> list[Labelled]:
        pairs = self.pairs(ft)
        in_left = _inside_any({a for a, _ in pairs})
        in_right = _inside_any({b for _, b in pairs})
        out = [h for h in self.left.hit_spans(ft) if in_left(h)]
        out += [h for h in self.right.hit_spans(ft) if in_right(h)]
        return out


def _inside_any(spans: set[Span]) -> Callable[[Labelled], bool]:
    """A test of whether a hit lies inside one of `spans` (log time: texts can be long)."""
    ordered = sorted(spans)
    starts = [s for s, _ in ordered]
    reach, furthest = [], -1
    for _, e in ordered:
        furthest = max(furthest, e)
        reach.append(furthest)  # the furthest end among spans starting at or before this one

    def inside(h: Labelled) -> bool:
        i = bisect_right(starts, h[0]) - 1
        return i >= 0 and reach[i] >= h[1]

    return inside


class AllOf(Matcher):
    def __init__(self, children: tuple[Matcher, ...], source: str) -> None:
        self.children = children
        self.source = source

    def matches(self, doc: Document) -> bool:
        return all(c.matches(doc) for c in self.children)

    def clauses(self, doc: Document, out: list[str]) -> None:
        if self.whole:
            out.append(self.source)
            return
        for c in self.children:
            c.clauses(doc, out)


class EitherOf(Matcher):
    def __init__(self, children: tuple[Matcher, ...], source: str) -> None:
        self.children = children
        self.source = source

    def matches(self, doc: Document) -> bool:
        return any(c.matches(doc) for c in self.children)

    def clauses(self, doc: Document, out: list[str]) -> None:
        if self.whole:
            out.append(self.source)
            return
        for c in self.children:
            if c.matches(doc):
                c.clauses(doc, out)


class Without(Matcher):
    def __init__(self, child: Matcher, source: str) -> None:
        self.child = child
        self.source = source

    def matches(self, doc: Document) -> bool:
        return not self.child.matches(doc)


class Everything(Matcher):
    """The empty query: every item of the watched feeds."""

    source = "(every item)"

    def matches(self, doc: Document) -> bool:
        return True


def positional_children(m: Matcher) -> list[Positional]:
    """Every positional matcher directly under boolean ones (for collecting hits)."""
    if isinstance(m, Positional):
        return [m]
    if isinstance(m, AllOf | EitherOf):
        return [p for c in m.children for p in positional_children(c)]
    return []

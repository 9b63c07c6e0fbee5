"""NEAR and ONEAR: two positional clauses within n words of each other. Pure.

Spans are `(first, last)` token positions, inclusive; the gap between two spans is the number of
words strictly between them, so phrases are measured between their nearest ends.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable

from monitor.query.evaluate import Labelled, Positional, Span
from monitor.query.normalize import Document, FieldText


class Near(Positional):
    """`left NEAR/n right`: at most n other words between them; `ordered` wants left first."""

    __slots__ = ("distance", "left", "ordered", "right")

    def __init__(
        self,
        left: Positional,
        right: Positional,
        distance: int,
        ordered: bool,
        fields: tuple[str, ...],
        source: str,
    ) -> None:
        super().__init__(source)
        self.left, self.right = left, right
        self.distance, self.ordered = distance, ordered
        self.fields = fields

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

    def maybe(self, doc: Document) -> bool:
        return self.left.maybe(doc) and self.right.maybe(doc)

    def cost(self) -> int:
        return 4 + self.left.cost() + self.right.cost()

    def matches(self, doc: Document) -> bool:
        if not (self.left.maybe(doc) and self.right.maybe(doc)):
            return False
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

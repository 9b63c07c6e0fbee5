"""NEAR and ONEAR: two positional clauses within n words of each other. Pure.

Spans are `(first, last)` token positions, inclusive; the gap between two spans is the number of
words strictly between them, so phrases are measured between their nearest ends.

Matching works on every span at once as bitsets (`monitor.query.spanset`), never on pairs of
spans: a field of `n` words costs `O(n)` per bitset operation, and a NEAR `work()` operations at
most, a number known from the query alone and capped when the query is compiled (`MAX_WORK`).
Explanations list at most `MAX_SPANS` spans and hits per NEAR, the first ones in the field.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

from monitor.query import spanset
from monitor.query.evaluate import (
    AnyOf,
    Gate,
    Labelled,
    Positional,
    Span,
    Terms,
    best_gate,
    span_key,
)
from monitor.query.normalize import Document, FieldText
from monitor.query.spanset import Spans

# Bitset operations a NEAR may take (each over the field's length) to find its sides' spans: a
# chain of 15 words joined by NEAR/100, or of 64 by NEAR/5 (as deep as a query may nest), fits.
MAX_WORK = 20_000
MAX_SPANS = 1_000  # spans (and hits) of one NEAR kept for an explanation
# Up to this many pairs of the two sides' hits, a NEAR of flat sides (see `_flat`) pairs them
# one by one for its explanation; beyond it, by bitsets.
_PAIRS_MAX = 64


def _flat(m: Positional) -> bool:
    """Whether every hit of `m` is one of its spans and all its spans have one width: a word, a
    phrase, or an OR of them of one length (a NEAR side's hit then lies inside a span that
    pairs exactly when it is one)."""
    low, high = m.widths()
    if low != high:
        return False
    if isinstance(m, AnyOf):
        return m.parts.all_terms
    return isinstance(m, Terms)


def _pairs_any(left: list[Labelled], right: list[Labelled], distance: int, ordered: bool) -> bool:
    """Whether a hit of `left` pairs with one of `right` (`spanset.near_any` on the hits)."""
    reach = distance + 1
    for s, e, _ in left:
        for t, u, _ in right:
            if 0 < t - e <= reach or (not ordered and 0 < s - u <= reach):
                return True
    return False


def _paired_hits(
    left: list[Labelled], right: list[Labelled], distance: int, ordered: bool
) -> list[Labelled]:
    """The hits of each side that pair with a hit of the other (`spanset.paired` on the hits
    themselves), the left side's first, each side's in its own order."""
    reach = distance + 1
    out = []
    for h in left:
        s, e = h[0], h[1]
        for t, u, _ in right:
            if 0 < t - e <= reach or (not ordered and 0 < s - u <= reach):
                out.append(h)
                break
    if not out:
        return out
    for h in right:
        t, u = h[0], h[1]
        for s, e, _ in left:
            if 0 < t - e <= reach or (not ordered and 0 < s - u <= reach):
                out.append(h)
                break
    return out


class Near(Positional):
    """`left NEAR/n right`: at most n other words between them; `ordered` wants left first."""

    __slots__ = ("_flat", "_widths", "_work", "distance", "left", "ordered", "right")

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
        lw, rw = left.widths(), right.widths()
        self._widths = (lw[0] + 1 + rw[0], lw[1] + distance + 1 + rw[1])
        own = spanset.then_cost(lw, rw, distance) * (1 if ordered else 2)
        self._work = self.match_work() + own
        self._flat = _flat(left) and _flat(right)
        self.span_key = span_key(("near", left.span_key, right.span_key, distance, ordered))

    def widths(self) -> tuple[int, int]:
        return self._widths

    def work(self) -> int:
        return self._work

    def match_work(self) -> int:
        """Bitset operations to find both sides' spans: what a match (or explanation) takes."""
        return self.left.work() + self.right.work()

    def maybe(self, doc: Document) -> bool:
        return self.left.maybe(doc) and self.right.maybe(doc)

    def _gate(self) -> Gate:
        return best_gate((self.left.gate(), self.right.gate()))

    def cost(self) -> int:
        return 4 + self.left.cost() + self.right.cost()

    def _sides(self, ft: FieldText, memo: dict[int, Spans]) -> tuple[Spans, Spans]:
        left = self.left.span_set(ft, memo)
        if not left:
            return {}, {}
        return left, self.right.span_set(ft, memo)

    def matches(self, doc: Document) -> bool:
        if not (self.left.maybe(doc) and self.right.maybe(doc)):
            return False
        n = self.distance
        for f in self.fields:
            ft = doc.fields[f]
            if self._flat:  # a word or phrase on each side: its few hits compared in pairs
                left = self.left.hit_spans(ft)
                if not left:
                    continue
                right = self.right.hit_spans(ft)
                if len(left) * len(right) <= _PAIRS_MAX:
                    if _pairs_any(left, right, n, self.ordered):
                        return True
                    continue
            a, b = self._sides(ft, {})
            if spanset.near_any(a, b, n) or (not self.ordered and spanset.near_any(b, a, n)):
                return True
        return False

    def span_set(self, ft: FieldText, memo: dict[int, Spans]) -> Spans:
        """Its spans, found once per field for every NEAR of the same content (a shared dict:
        read it, never change it)."""
        got = ft.span_sets.get(self.span_key)
        if got is None:
            a, b = self._sides(ft, memo)
            got = spanset.then(a, b, self.distance)
            if not self.ordered:
                got = spanset.union((got, spanset.then(b, a, self.distance)))
            ft.remember(self.span_key, got)
        return got

    def spans(self, ft: FieldText) -> list[Span]:
        """The first MAX_SPANS spans (the unions of near pairs), in order."""
        return spanset.first(self.span_set(ft, {}), MAX_SPANS)

    def hit_spans(self, ft: FieldText) -> list[Labelled]:
        """The hits of each side that lie inside one of its spans that pairs, the left side's
        first: at most MAX_SPANS of them."""
        if self._flat:  # a word or phrase on each side, the usual NEAR: its few hits paired
            left = self.left.hit_spans(ft)
            if not left:
                return left
            right = self.right.hit_spans(ft)
            if len(left) * len(right) <= _PAIRS_MAX:
                return _paired_hits(left, right, self.distance, self.ordered)[:MAX_SPANS]
        return list(islice(self.iter_hits(ft, {}), MAX_SPANS))

    def iter_hits(self, ft: FieldText, memo: dict[int, Spans]) -> Iterator[Labelled]:
        a, b = self._sides(ft, memo)
        in_a, in_b = spanset.paired(a, b, self.distance, self.ordered)
        if not in_a:
            return
        for side, paired in ((self.left, in_a), (self.right, in_b)):
            inside = spanset.covered(paired)
            for h in side.iter_hits(ft, memo):
                if inside(h[0], h[1]):
                    yield h

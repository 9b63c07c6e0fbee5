"""NEAR and ONEAR on bitsets (monitor/query/spanset.py) against a brute-force reference that
builds every pair of spans, on small random texts and NEAR trees: the same match, the same spans
(the first MAX_SPANS of them), the same explanation hits (a prefix of them past the cap)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.query import evaluate as ev
from monitor.query import near as near_module
from monitor.query import spanset
from monitor.query.compiler import compile_query
from monitor.query.lexer import QueryError
from monitor.query.near import MAX_WORK, Near
from monitor.query.normalize import FieldText, analyze_fields

SETS = {"t": ["troops", "special forces", "sold*"], "d": ["sent", "dispatched", "moved to"]}
WORDS = ["troops", "sent", "special", "forces", "soldiers", "moved", "to", "dispatched", "x"]


def brute_spans(m: ev.Positional, ft: FieldText) -> set[tuple[int, int]]:
    """Every span, from every pair: the definition, at quadratic cost."""
    if isinstance(m, Near):
        out = set()
        for a in brute_spans(m.left, ft):
            for b in brute_spans(m.right, ft):
                if 1 <= b[0] - a[1] <= m.distance + 1 or (
                    not m.ordered and 1 <= a[0] - b[1] <= m.distance + 1
                ):
                    out.add((min(a[0], b[0]), max(a[1], b[1])))
        return out
    if isinstance(m, ev.AnyOf):
        return set().union(*(brute_spans(c, ft) for c in m.children))
    return set(m.spans(ft))


def brute_hits(m: ev.Positional, ft: FieldText) -> list[ev.Labelled]:
    """A NEAR's hits: each side's hits inside one of that side's spans that pairs."""
    if isinstance(m, Near):
        lefts, rights = brute_spans(m.left, ft), brute_spans(m.right, ft)
        used_left, used_right = set(), set()
        for a in lefts:
            for b in rights:
                if 1 <= b[0] - a[1] <= m.distance + 1 or (
                    not m.ordered and 1 <= a[0] - b[1] <= m.distance + 1
                ):
                    used_left.add(a)
                    used_right.add(b)

        def inside(h: ev.Labelled, spans: set[tuple[int, int]]) -> bool:
            return any(s <= h[0] and h[1] <= e for s, e in spans)

        return [h for h in brute_hits(m.left, ft) if inside(h, used_left)] + [
            h for h in brute_hits(m.right, ft) if inside(h, used_right)
        ]
    if isinstance(m, ev.AnyOf):
        return [h for c in m.children for h in brute_hits(c, ft)]
    return m.hit_spans(ft)


def nears(m: ev.Matcher) -> Iterator[Near]:
    if isinstance(m, Near):
        yield m
        yield from nears(m.left)
        yield from nears(m.right)
    elif isinstance(m, ev.AnyOf):
        for c in m.children:
            yield from nears(c)


atoms = st.sampled_from(["troops", "sent", '"special forces"', "sold*", "$t", "$d", "=Troops"])
ops = st.sampled_from(["NEAR/0", "NEAR/1", "NEAR/2", "ONEAR/0", "ONEAR/3", "NEAR/5"])
operands = st.recursive(
    atoms,
    lambda inner: st.one_of(
        st.tuples(inner, ops, inner).map(lambda p: f"({p[0]} {p[1]} {p[2]})"),
        st.tuples(inner, inner).map(lambda p: f"({p[0]} OR {p[1]})"),
    ),
    max_leaves=6,
)
queries = st.tuples(operands, ops, operands).map(" ".join)
texts = st.lists(st.sampled_from([*WORDS, "Troops", "."]), max_size=40).map(" ".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(queries, texts, st.integers(min_value=1, max_value=4))
def test_bitset_near_equals_brute_force(query: str, text: str, cap: int) -> None:
    m = compile_query(query, SETS)
    assert isinstance(m, Near)
    doc = analyze_fields({"content": text})
    ft = doc.fields["content"]
    assert m.matches(doc) == bool(brute_spans(m, ft))
    for n in nears(m):
        every = sorted(brute_spans(n, ft))
        assert spanset.first(n.span_set(ft, {}), 10**9) == every
        assert n.spans(ft) == every  # under MAX_SPANS: all of them
        assert n.hit_spans(ft) == brute_hits(n, ft)
    # Past the cap: the first spans and hits, a part of the whole.
    saved = near_module.MAX_SPANS
    near_module.MAX_SPANS = cap
    try:
        for n in nears(m):
            assert n.spans(ft) == sorted(brute_spans(n, ft))[:cap]
            hits = n.hit_spans(ft)
            assert len(hits) <= cap
            assert hits == brute_hits(n, ft)[: len(hits)]
            assert bool(hits) == bool(brute_spans(n, ft))
    finally:
        near_module.MAX_SPANS = saved


def test_then_crosses_widths_both_ways() -> None:
    # Wide left, narrow right and the reverse take the two formulations of `then`.
    wide = {0: spanset.bits([0, 9]), 3: spanset.bits([2]), 7: spanset.bits([20])}
    narrow = {0: spanset.bits([6, 12, 30])}
    for a, b in ((wide, narrow), (narrow, wide)):
        got = set(spanset.first(spanset.then(a, b, 2), 10**6))
        want = {
            (s1, e2)
            for s1, e1 in spanset.first(a, 10**6)
            for s2, e2 in spanset.first(b, 10**6)
            if 1 <= s2 - e1 <= 3
        }
        assert got == want
        assert got


def test_a_query_whose_near_work_is_too_large_is_refused_at_that_operator() -> None:
    chain = " NEAR/100 ".join(["troops"] * 20)
    with pytest.raises(QueryError) as caught:
        compile_query(chain, {})
    assert "needs too much work" in caught.value.message
    assert f"at most {MAX_WORK:,}" in caught.value.message
    assert chain[caught.value.offset :].startswith("NEAR/100")
    # The refused operator is the first one past the limit: the chain up to it compiles.
    ok = chain[: caught.value.offset].strip()
    assert isinstance(compile_query(ok, {}), Near)
    assert isinstance(compile_query(" NEAR/3 ".join(["troops"] * 60), {}), Near)


flat_sides = st.sampled_from(
    ["troops", "sent", '"special forces"', "sold*", "=Troops", "(troops OR sent OR x)",
     '("special forces" OR "moved to")', "(sold* OR dispatched)"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(flat_sides, ops, flat_sides, texts)
def test_a_near_of_flat_sides_pairs_its_hits_as_the_bitsets_do(
    left: str, op: str, right: str, text: str
) -> None:
    """A NEAR whose sides are words, phrases or ORs of one length pairs its sides' hits one
    by one, to match and to explain: the hits the bitsets give, in their order."""
    m = compile_query(f"{left} {op} {right}", {})
    assert isinstance(m, Near)
    assert m._flat
    doc = analyze_fields({"content": text})
    ft = doc.fields["content"]
    assert m.hit_spans(ft) == list(m.iter_hits(ft, {})) == brute_hits(m, ft)
    assert m.matches(doc) == bool(brute_spans(m, ft))

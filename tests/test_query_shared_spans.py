"""Property: a field finds each OR group's and NEAR's spans once, by the clause's content, for
every clause and rule that asks (`FieldText.span_sets`), and a rule tries its exclusions after
its other clauses. Whatever clauses asked the field before, and in whatever order, each gets
what the plain definition gives on a field nobody asked: the same spans, the same NEAR hits, the
same match."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitor.model import Item
from monitor.query import evaluate as ev
from monitor.query import spanset
from monitor.query.compiler import compile_query
from monitor.query.explain import explain
from monitor.query.near import Near
from monitor.query.normalize import Document, analyze
from tests.test_query_near import brute_hits, brute_spans

# Sets equal but for their order (they share spans), and sets that differ only in a member's
# form (stemmed `arms`, exact `=arms`, case-sensitive `=Arms`, prefix `arm*`): they must not.
SETS = {
    "w": ["weapons", "=arms", "anti-tank", "arm*"],
    "v": ["arm*", "anti-tank", "=arms", "weapons"],
    "s": ["weapons", "arms", "anti-tank"],
    "c": ["weapons", "=Arms", "anti tank"],
    "p": ["weapons", "arm*"],  # the prefix and the stem of `arms` have the same letters
    "q": ["weapons", "arms"],
    "t": ["troops", "special forces", "dispatch*", "=Troops"],
    "d": ["sent", "sending", "dispatched", "moved to"],
}
WORDS = ["troops", "Troops", "sent", "sending", "arms", "Arms", "armed", "arm", "anti-tank"]
WORDS += ["weapons", "armour", "special", "forces", "dispatched", "moved", "to", "the", "x"]

atoms = st.one_of(
    st.sampled_from(["$w", "$v", "$s", "$c", "$p", "$q", "$t", "$d"]),
    st.sampled_from(["arms", "=arms", "=Arms", "arm*", "troops", "=Troops", "sent", "weapons"]),
    st.sampled_from(['"special forces"', '"anti tank"', '"troops sent"', "dispatch*", "an*"]),
    st.sampled_from(['"the troops"', '"to the"', "(an* OR sen*)", '("moved to" OR "to the")']),
)
ops = st.sampled_from(["NEAR/0", "NEAR/1", "NEAR/3", "ONEAR/0", "ONEAR/2", "NEAR/6"])
operands = st.recursive(
    atoms,
    lambda inner: st.one_of(
        st.tuples(inner, ops, inner).map(lambda p: f"({p[0]} {p[1]} {p[2]})"),
        st.tuples(inner, inner).map(lambda p: f"({p[0]} OR {p[1]})"),
    ),
    max_leaves=4,
)
clauses = st.one_of(operands, st.tuples(operands, ops, operands).map(" ".join))
rules = st.recursive(
    clauses,
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda p: f"({p[0]} {p[1]})"),
        st.tuples(inner, inner).map(lambda p: f"({p[0]} OR {p[1]})"),
        st.tuples(inner, inner).map(lambda p: f"({p[0]} NOT {p[1]})"),
        st.tuples(st.sampled_from(["title", "content"]), inner).map(lambda p: f"{p[0]}:({p[1]})"),
    ),
    max_leaves=3,
)
texts = st.lists(st.sampled_from([*WORDS, "."]), max_size=40).map(" ".join)


def _doc(title: str, content: str) -> Document:
    return analyze(Item(feed_id="f", key="k", title=title, content=content))


def _positionals(m: ev.Matcher) -> list[ev.Positional]:
    """Every OR group and NEAR in `m`, sides and members included."""
    out: list[ev.Positional] = []
    if isinstance(m, Near):
        out += [m, *_positionals(m.left), *_positionals(m.right)]
    elif isinstance(m, ev.AnyOf):
        out.append(m)
        for c in m.children:
            out += _positionals(c)
    elif isinstance(m, ev.AllOf | ev.EitherOf):
        for k in m.children:
            out += _positionals(k)
    elif isinstance(m, ev.Without):
        out += _positionals(m.child)
    return out


def plain_maybe(m: ev.Positional, doc: Document) -> bool:
    """Whether each word `m` needs is in the document, asked member by member."""
    if isinstance(m, ev.AnyOf):
        return any(plain_maybe(c, doc) for c in m.children)
    if isinstance(m, Near):
        return plain_maybe(m.left, doc) and plain_maybe(m.right, doc)
    return m.maybe(doc)


def plain_matches(m: ev.Matcher, doc: Document) -> bool:
    """The definition: clauses in the order written, every span from every pair of spans."""
    if isinstance(m, ev.AnyOf):  # its members may watch other fields (`title:a OR b`)
        return any(plain_matches(c, doc) for c in m.children)
    if isinstance(m, ev.Positional):
        return any(brute_spans(m, doc.fields[f]) for f in m.fields)
    if isinstance(m, ev.AllOf):
        return all(plain_matches(c, doc) for c in m.children)
    if isinstance(m, ev.EitherOf):
        return any(plain_matches(c, doc) for c in m.children)
    if isinstance(m, ev.Without):
        return not plain_matches(m.child, doc)
    assert isinstance(m, ev.Everything)
    return True


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(clauses, min_size=2, max_size=6), texts, texts)
@example(["$w NEAR/1 troops", "$v NEAR/1 troops", "$s NEAR/1 troops"], "", "arms troops armed")
@example(["$c ONEAR/0 sent", "$w ONEAR/0 sent"], "", "Arms sent arms sent")
@example(["$p NEAR/0 sent", "$q NEAR/0 sent"], "", "armour sent")
@example(["(($t OR $p) OR sent) NEAR/1 x", "($t OR arms) NEAR/1 x"], "", "armour x")
@example(["(sent NEAR/0 troops) NEAR/0 x", "(sent ONEAR/0 troops) NEAR/0 x"], "", "troops sent x")
def test_clauses_asked_of_one_field_share_spans_only_when_equal(
    queries: list[str], title: str, content: str
) -> None:
    shared = _doc(title, content)
    shared.heads  # noqa: B018 (made, as the presearcher of rules with many prefixes makes them)
    compiled = [compile_query(q, SETS) for q in queries]
    asked = [p for m in compiled for p in _positionals(m)]
    for p in asked + asked[::-1]:
        # A group of sets and words (`($t OR x)`) answers `maybe` for its members at once.
        assert p.maybe(shared) == plain_maybe(p, _doc(title, content))
        for name in ("title", "content"):
            ft, fresh = shared.fields[name], _doc(title, content).fields[name]
            want = sorted(brute_spans(p, fresh))
            if isinstance(p, Near | ev.AnyOf):
                assert sorted(spanset.first(p.span_set(ft, {}), 10**9)) == want
            assert sorted(p.spans(ft)) == want
            if isinstance(p, Near):
                assert p.hit_spans(ft) == brute_hits(p, fresh)
    for m in compiled:
        assert isinstance(m, ev.Positional)
        assert m.matches(shared) == plain_matches(m, _doc(title, content))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(rules, min_size=1, max_size=6), texts, texts)
@example(["(troops NOT arms)", "(arms NOT troops)"], "troops", "arms")
def test_rules_asked_of_one_document_match_and_explain_as_on_a_fresh_one(
    queries: list[str], title: str, content: str
) -> None:
    # Each rule on a document other rules asked first (their groups' and NEARs' spans kept)
    # against the plain definition and against the same rule asked first of a fresh document.
    shared = _doc(title, content)
    if len(queries) % 2:
        shared.heads  # noqa: B018 (made, as the presearcher of rules with many prefixes makes them)
    for q in queries + queries[::-1]:
        m = compile_query(q, SETS)
        got = m.matches(shared)
        assert got == plain_matches(m, _doc(title, content))
        if got:
            assert explain(m, shared) == explain(m, _doc(title, content))


def test_an_and_tries_its_exclusions_after_its_other_clauses() -> None:
    m = compile_query("(arms NEAR/3 troops) NOT sent NOT x", {})
    assert isinstance(m, ev.AllOf)
    order = [type(c) for c in m._by_cost]
    assert order == [Near, ev.Without, ev.Without]
    assert [c.source for c in m.children] == ["(arms NEAR/3 troops)", "NOT sent", "NOT x"]
    doc = _doc("", "arms troops sent")
    assert not m.matches(doc)
    assert m.matches(_doc("", "arms troops"))


def test_equal_groups_share_one_span_key_and_different_forms_do_not() -> None:
    def key(q: str) -> int:
        m = compile_query(q, SETS)
        assert isinstance(m, ev.Positional)
        return m.span_key

    assert key("$w") == key("$v") == key("(weapons OR =arms OR anti-tank OR arm*)")
    assert len({key("$w"), key("$s"), key("$c")}) == 3
    assert len({key("$p"), key("$q"), key("(weapons OR =arms)")}) == 3
    assert key("arms NEAR/2 troops") == key("(arms) NEAR/2 (troops)")
    assert len({key("arms NEAR/2 troops"), key("arms ONEAR/2 troops"), key("arms NEAR/3 troops"),
                key("troops NEAR/2 arms")}) == 4  # fmt: skip


def test_a_feeds_shared_field_keeps_no_spans_and_an_items_field_does() -> None:
    m = compile_query("feed:($t NEAR/1 sent) OR ($t NEAR/1 sent)", SETS)
    docs = [analyze(Item(feed_id="f", key=k, title=k, feed_title="troops sent")) for k in "ab"]
    assert docs[0].fields["feed"] is docs[1].fields["feed"]  # one field for the feed's items
    for d in docs:
        assert m.matches(d)
        assert d.fields["feed"].span_sets == {}
    title = analyze(Item(feed_id="f", key="c", title="special forces sent"))
    assert m.matches(title)
    assert title.fields["title"].span_sets  # its own: kept for the other clauses that ask


def test_a_long_fields_kept_spans_stay_within_its_budget_and_stay_right() -> None:
    # A hostile item: thousands of the rules' words, asked by hundreds of distinct nested NEARs
    # (each NEAR's spans a few ints of the field's length each). Kept whole, they grew with the
    # rules to many times the field's own memory; the field keeps what fits its budget, and
    # finds the rest again when asked.
    rng = random.Random(7)
    content = " ".join(rng.choice(WORDS) for _ in range(5000))
    doc = _doc("", content)
    ft = doc.fields["content"]
    queries = [
        f"(($t NEAR/{a} $d) NEAR/{b} arms) NEAR/1 weapons" for a in range(16) for b in range(16)
    ]
    compiled = [compile_query(q, SETS) for q in queries]
    for m in compiled:
        assert m.matches(doc)
    kept = sum(x.bit_length() for s in ft.span_sets.values() for x in s.values())
    assert kept <= max(1 << 22, 1024 * len(ft.words))  # about what the field's words take
    assert ft.span_sets  # the first ones are kept, for the other clauses that ask
    for m in compiled[::37]:  # asked again, kept or not: what a fresh field finds
        assert isinstance(m, Near)
        fresh = _doc("", content).fields["content"]
        assert m.span_set(ft, {}) == m.span_set(fresh, {})
        assert m.hit_spans(ft) == m.hit_spans(fresh)

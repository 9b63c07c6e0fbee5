"""An OR asks only the children whose gate a document holds (monitor.query.evaluate.gate_table).

A gate is a set of keys (stems, or word heads) of which a document must hold one for a clause
to match. Each clause's gate must be necessary, or an OR would skip a child that matches; these
tests hold the gates to what evaluating every child finds, on random queries and texts."""

import copy
import pickle
from collections.abc import Iterator

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitor.model import Item
from monitor.query import evaluate as ev
from monitor.query.compiler import compile_query
from monitor.query.near import Near
from monitor.query.normalize import HEAD, Document, analyze
from monitor.query.rulefiles import load_rules
from tests.test_query_property import SETS
from tests.test_query_property import WORDS as PROPERTY_WORDS

# The property test's vocabulary and sets, with words that OR gates pick between.
WORDS = [*PROPERTY_WORDS, "to", "reinforcements", "presence"]
atoms = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(["=troops", "=to", "=arms", "=Arms"]),
    st.sampled_from(["dis*", "arm*", "ky*", "n*", "reinforc*", "troo*", "weap*", "pres*"]),
    st.sampled_from(['"troops sent"', '"the arms"', '="NATO troops"', "$w", "$t"]),
)
near_ops = st.sampled_from(["NEAR/0", "NEAR/2", "ONEAR/1"])
clauses = st.recursive(
    st.one_of(atoms, st.tuples(atoms, near_ops, atoms).map(" ".join)),
    lambda c: st.one_of(
        st.tuples(c, c).map(lambda p: f"({p[0]} {p[1]})"),
        st.tuples(c, c).map(lambda p: f"({p[0]} NOT {p[1]})"),
        st.tuples(st.sampled_from(["title", "content"]), c).map(lambda p: f"{p[0]}:({p[1]})"),
        st.lists(c, min_size=2, max_size=8).map(lambda cs: "(" + " OR ".join(cs) + ")"),
    ),
    max_leaves=12,
)
texts = st.lists(st.sampled_from([*WORDS, ".", "x", "dispatching", "armies"]), max_size=25).map(
    " ".join
)


def _walk(m: ev.Matcher) -> Iterator[ev.Matcher]:
    yield m
    if isinstance(m, ev.AnyOf | ev.EitherOf | ev.AllOf):
        for c in m.children:
            yield from _walk(c)
    elif isinstance(m, ev.Without):
        yield from _walk(m.child)
    elif isinstance(m, Near):
        yield from _walk(m.left)
        yield from _walk(m.right)


def _holds(gate: ev.Gate, doc: Document) -> bool:
    assert gate is not None
    heads = doc.heads
    return any(k[1:] in heads if k.startswith("\x00") else k in doc.stems for k in gate)


def _asked(m: ev.Matcher, doc: Document) -> list[str]:
    """The sources of the children an OR asks of `doc`."""
    assert isinstance(m, ev.AnyOf | ev.EitherOf)
    m.matches(doc)  # the table is made on the first match
    assert isinstance(m._gates, ev.GateTable)
    return [m.children[i].source for i in m._gates.numbers(doc)]


def _doc(title: str, content: str, heads: bool) -> Document:
    doc = analyze(Item(feed_id="f", key="k", title=title, content=content))
    if heads:
        doc.heads  # noqa: B018 (made, as the presearcher makes them for rules with many prefixes)
    return doc


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clauses, texts, texts, st.booleans())
@example("(troops OR sent OR arms OR kyiv OR reinforc*)", "reinforcements", "", False)
@example("(troops OR sent OR arms OR kyiv OR reinforc*)", "reinforcements", "", True)
@example("((troops OR ky*) NEAR/2 sent)", "Kyïv sent", "", False)  # an OR with an ungated child
def test_every_clause_that_matches_holds_its_gate_and_every_or_its_child(
    query: str, title: str, content: str, heads: bool
) -> None:
    matcher = compile_query(query, SETS)
    doc = _doc(title, content, heads)
    for m in _walk(matcher):
        found = m.matches(doc)
        gate = m.gate()
        if found and gate is not None:
            assert _holds(gate, doc), (m.source, sorted(gate))
        if isinstance(m, ev.EitherOf | ev.AnyOf):
            # What the OR answers, asking only the gated children, is what asking each finds.
            assert found == any(c.matches(doc) for c in m.children), m.source


def test_an_or_asks_only_the_children_whose_gate_the_document_holds() -> None:
    m = compile_query(
        "(troops NEAR/2 sent) OR presence OR (weapons ONEAR/1 kyiv) OR nato OR arms", {}
    )
    assert isinstance(m, ev.AnyOf)
    doc = _doc("the troops were sent with weapons", "", heads=False)
    assert _asked(m, doc) == ["(troops NEAR/2 sent)", "(weapons ONEAR/1 kyiv)"]
    assert _asked(m, _doc("nothing here", "", heads=False)) == []


def test_a_word_head_gates_only_where_the_document_has_its_heads_made() -> None:
    m = compile_query("reinforc* OR presence OR nato OR arms OR kyiv", {})
    assert isinstance(m, ev.EitherOf | ev.AnyOf)
    without = _doc("quiet day", "", heads=False)
    assert _asked(m, without) == ["reinforc*"]  # heads not made: asked
    with_heads = _doc("quiet day", "", heads=True)
    assert _asked(m, with_heads) == []
    assert _asked(m, _doc("reinforcing", "", heads=True)) == ["reinforc*"]
    assert m.matches(_doc("reinforcing", "", heads=True))


def test_a_short_prefix_or_an_exclusion_gives_no_gate_and_is_always_asked() -> None:
    assert compile_query("ky*", {}).gate() is None  # shorter than a word head
    assert compile_query("NOT troops", {}).gate() is None
    m = compile_query("ky* OR presence OR nato OR arms OR weapons", {})
    assert _asked(m, _doc("nothing", "", heads=True)) == ["ky*"]


def test_a_gate_is_the_most_selective_side_not_a_common_word() -> None:
    # `=to` is in nearly every item: the NEAR is gated by its other side.
    assert compile_query("(=for OR =to) ONEAR/0 kyiv", {}).gate() == frozenset({"kyiv"})
    assert compile_query('"the arms"', {}).gate() == frozenset({"arm"})
    assert compile_query("reinforcements troops", {}).gate() in (
        frozenset({"reinforc"}),
        frozenset({"troop"}),
    )
    head = compile_query("reinforc*", {}).gate()
    assert head == frozenset({"\x00" + "reinforc"[:HEAD]})


def test_the_example_rules_ask_few_of_their_clauses_of_an_unrelated_item() -> None:
    rules = load_rules("rules")
    troop = next(c for c in rules._active if c.rule.id == "troop-dispatch")
    top = next(m for m in _walk(troop.matcher) if isinstance(m, ev.EitherOf))
    assert len(top.children) > 30
    assert all(c.gate() is not None for c in top.children)
    doc = _doc("Markets rally as the central bank holds rates", "Shares rose.", heads=True)
    assert len(_asked(top, doc)) <= 2
    assert not troop.matcher.matches(doc)
    moved = _doc("Russia moves troops towards the border", "", heads=True)
    assert troop.matcher.matches(moved)


def test_a_copied_or_pickled_rule_set_matches_as_the_original_before_and_after_a_match() -> None:
    # A clause's gate and an OR's table are found on the first match; a copy taken before or
    # after must know which are found (were "not found yet" a plain value, a copy would take it
    # for a gate, and its ORs would ask no child).
    rules = load_rules("rules")
    moved = Item(feed_id="f", key="k", title="Russia moves troops towards the border")
    calm = Item(feed_id="f", key="c", title="Markets rally as the central bank holds rates")
    fresh = [copy.deepcopy(rules), pickle.loads(pickle.dumps(rules))]
    expected = [[m.rule.id for m in rules.match(i)] for i in (moved, calm)]
    assert expected == [["troop-dispatch"], []]
    used = [copy.deepcopy(rules), pickle.loads(pickle.dumps(rules))]
    for rs in fresh + used:
        assert [[m.rule.id for m in rs.match(i)] for i in (moved, calm)] == expected

"""Explanations share their work across the rules that match one item: each step's hits (a word,
an OR-group of words, a phrase, a NEAR) are found once per document and reused by every rule
that names the same step. What each rule is told must be exactly what it is told alone."""

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitor.model import Item, Rule
from monitor.query.compiler import compile_query
from monitor.query.explain import explain, explain_walk, snippet
from monitor.query.normalize import analyze
from monitor.query.ruleset import RuleSet
from tests.test_query_property import SETS, WORDS, queries

# Long enough that one step, or two merged, can reach MAX_HITS.
long_texts = st.lists(st.sampled_from([*WORDS, ".", "x"]), max_size=160).map(" ".join)


def _item(title: str, content: str) -> Item:
    return Item(feed_id="f", key="k", title=title, content=content, author="troops")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(queries, min_size=2, max_size=8), long_texts, long_texts)
@example(["troops", "arms troops", "(troops OR arms) sent"], "troops arms " * 60, "sent")
@example(['"troops sent" NEAR/1 arms', '"troops sent"', "troops"], "troops sent arms x", "")
@example(["content:(troops)", "troops", "title:(troops OR arms)"], "troops arms", "troops")
@example(['"troops sent"', '"Troops sent"', "troo*", "Troo*"], "troops sent", "")
@example(
    ["troops NEAR/0 arms", "troops NEAR/3 arms", "troops ONEAR/3 arms"],
    "troops x x arms troops",
    "",
)
@example(["arms", "Arms", "=arms", "(arms OR troops)", "(Arms OR troops)"], "arms troops", "")
def test_shared_explanations_equal_fresh_ones(qs: list[str], title: str, content: str) -> None:
    shared = analyze(_item(title, content))
    for q in qs:
        m = compile_query(q, SETS)
        if not m.matches(shared):
            continue
        fresh = analyze(_item(title, content))  # nothing explained in it yet
        why = explain(m, shared)
        assert why == explain(m, fresh) == explain_walk(m, analyze(_item(title, content)))
        assert snippet(shared, why.hits) == snippet(fresh, explain(m, fresh).hits)


def test_rules_matching_one_item_share_hits_and_say_the_same() -> None:
    """Rules that name `troops` (two of them in the same OR-group, one in a NEAR, one as an
    exact form): each match of one item says what that rule says when it is the only rule, and
    a step that two rules share gives them the same hits, made once."""
    rules = [
        Rule("a", "a", "troops sent"),
        Rule("b", "b", "arms troops"),
        Rule("c", "c", "(troops OR weapons) arms"),
        Rule("d", "d", '(troops OR weapons) "arms sent"'),
        Rule("e", "e", "=Troops"),
        Rule("f", "f", "troops NEAR/2 arms"),
    ]
    item = _item("Troops sent, arms sent: more troops", "weapons and arms sent to the troops")
    rs = RuleSet.from_rules(rules)
    matches = rs.match(item)
    assert [m.rule.id for m in matches] == ["a", "b", "c", "d", "e", "f"]
    for m in matches:
        alone = RuleSet.from_rules([m.rule]).match(item)
        assert len(alone) == 1
        assert m.explanation == alone[0].explanation
        assert m.snippet == alone[0].snippet
    by_id = {m.rule.id: m.explanation.hits for m in matches}
    troops_a = [h for h in by_id["a"] if h.term == "troops"]
    troops_b = [h for h in by_id["b"] if h.term == "troops"]
    assert troops_a
    assert troops_b
    assert all(x is y for x, y in zip(troops_a, troops_b, strict=True))  # made once
    # The OR-group is one step for rules c and d: the same Hit objects.
    group_c = [h for h in by_id["c"] if h.term in ("troops", "weapons")]
    group_d = [h for h in by_id["d"] if h.term in ("troops", "weapons")]
    assert group_c
    assert all(x is y for x, y in zip(group_c, group_d, strict=True))
    # `=Troops` is another term: its hit has its own label, never one of `troops`.
    assert [h.term for h in by_id["e"]] == ["=Troops"]

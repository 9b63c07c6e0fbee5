"""Property: the indexed matcher (presearcher + candidates) and a plain evaluate-every-rule matcher
give the same matches, explanations and snippets, on random rules and texts."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.model import Item, Rule
from monitor.query.ruleset import RuleSet

# A small vocabulary so that random texts often contain random rules' words.
WORDS = [
    "troops",
    "sent",
    "sending",
    "arms",
    "armed",
    "Arms",
    "NATO",
    "nato",
    "Kyïv",
    "kyiv",
    "anti-tank",
    "1,500",
    "dispatch",
    "dispatched",
    "the",
    "Russia's",
    "weapons",
]
SETS = {"w": ["weapons", "=arms", "anti-tank"], "t": ["troops", "special forces", "dispatch*"]}

atoms = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(WORDS).map(lambda w: "=" + w.split("-")[0].rstrip("'s")),
    st.sampled_from(["dis*", "arm*", "ky*", "n*", "1*", "dispat*", "armin*", "troo*", "weap*"]),
    st.sampled_from(['"troops sent"', '"the arms"', '="NATO troops"', "$w", "$t"]),
)
near_ops = st.sampled_from(["NEAR/0", "NEAR/1", "NEAR/3", "ONEAR/2"])


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(children, children).map(lambda p: f"({p[0]} {p[1]})"),
        st.tuples(children, children).map(lambda p: f"({p[0]} OR {p[1]})"),
        children.map(lambda c: f"(NOT {c})"),
        st.tuples(st.sampled_from(["title", "content", "text"]), children).map(
            lambda p: f"{p[0]}:({p[1]})"
        ),
    )


positional = st.one_of(atoms, st.tuples(atoms, atoms).map(lambda p: f"({p[0]} OR {p[1]})"))
nears = st.tuples(positional, near_ops, positional).map(lambda p: f"{p[0]} {p[1]} {p[2]}")
queries = st.recursive(st.one_of(atoms, nears), _combine, max_leaves=6) | st.just("")
texts = st.lists(st.sampled_from([*WORDS, ".", ",", "x"]), max_size=30).map(" ".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(queries, min_size=1, max_size=8), texts, texts)
def test_indexed_equals_every_rule(qs: list[str], title: str, content: str) -> None:
    rules = [Rule(f"r{i:02d}", "R", q) for i, q in enumerate(qs)]
    rs = RuleSet.from_rules(rules, SETS)
    item = Item(feed_id="f", key="k", title=title, content=content)
    indexed = rs.match(item)
    every = rs.match_every_rule(item)
    assert [m.rule.id for m in indexed] == [m.rule.id for m in every]
    assert indexed == every

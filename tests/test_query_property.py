"""Property: the indexed matcher (presearcher + candidates) and a plain evaluate-every-rule matcher
give the same matches, explanations and snippets, on random rules and texts."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.model import Item, Mode, Rule
from monitor.query.compiler import compile_query
from monitor.query.evaluate import AnyOf, Positional
from monitor.query.normalize import analyze
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
@given(st.lists(queries, min_size=1, max_size=8), texts, texts, texts)
def test_indexed_equals_every_rule(qs: list[str], title: str, content: str, author: str) -> None:
    rules = [Rule(f"r{i:02d}", "R", q) for i, q in enumerate(qs)]
    rs = RuleSet.from_rules(rules, SETS)
    # The author's words are the item's but not its text's: a rule of words alone, tested on
    # the text's stems without evaluating its query, must not take them for the text's.
    item = Item(feed_id="f", key="k", title=title, content=content, author=author)
    indexed = rs.match(item)
    every = rs.match_every_rule(item)
    assert [m.rule.id for m in indexed] == [m.rule.id for m in every]
    assert indexed == every


MODES: st.SearchStrategy[Mode] = st.sampled_from(["query", "widen", "narrow", "similar"])
examples = st.lists(texts.filter(str.strip), min_size=1, max_size=3).map(tuple)


@st.composite
def semantic_rules(draw: st.DrawFn, n: int) -> Rule:
    mode = draw(MODES)
    query = "" if mode == "similar" else draw(queries.filter(str.strip))
    if mode == "query":
        return Rule(f"r{n:02d}", "R", query)
    unlike = draw(st.one_of(st.just(()), examples))
    threshold = draw(st.sampled_from([0.1, 0.3, 0.5, 0.7, 0.9, 1.0]))
    return Rule(
        f"r{n:02d}", "R", query, like=draw(examples), unlike=unlike, threshold=threshold, mode=mode
    )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), texts, texts)
def test_indexed_equals_every_rule_with_examples(
    data: st.DataObject, title: str, content: str
) -> None:
    from tests.semantic_support import packaged_model

    model = packaged_model()
    n = data.draw(st.integers(1, 6))
    rules = [data.draw(semantic_rules(i)) for i in range(n)]
    rs = RuleSet.from_rules(rules, SETS, embedder=model)
    item = Item(feed_id="f", key="k", title=title, content=content)
    every = rs.match_every_rule(item)
    indexed = rs.match(item)
    assert [m.rule.id for m in indexed] == [m.rule.id for m in every]
    assert indexed == every
    # scored ahead in a batch (as a poll does), the same to the last bit
    batch = [Item(feed_id="f", key="o", title=content), item, Item(feed_id="f", key="p")]
    rs.prepare(batch)
    assert rs.match(item) == every


members = st.one_of(
    atoms.filter(lambda a: not a.startswith("$")),
    st.sampled_from(['"special forces"', '"troops troops"', '"dis* troops"', "forc*"]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(members, min_size=1, max_size=8), texts, texts)
def test_an_or_group_may_match_when_one_member_may(
    group: list[str], title: str, content: str
) -> None:
    # An OR group answers `maybe` for its one-word, one-prefix and phrase members at once (a
    # set test, substring searches); it must say what asking each member would, and never
    # rule out a document the group matches.
    matcher = compile_query(" OR ".join(group), {})
    assert isinstance(matcher, Positional)
    doc = analyze(Item(feed_id="f", key="k", title=title, content=content))
    children = matcher.children if isinstance(matcher, AnyOf) else (matcher,)
    assert matcher.maybe(doc) == any(c.maybe(doc) for c in children)
    if matcher.matches(doc):
        assert matcher.maybe(doc)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(members, min_size=1, max_size=5), min_size=2, max_size=6), texts, texts)
def test_or_groups_asked_of_one_document_share_answers_only_when_equal(
    groups: list[list[str]], title: str, content: str
) -> None:
    # A document remembers each group's answer by the group's content, so that every NEAR and
    # every rule naming the same set asks once: groups compiled apart but equal share it, and a
    # group never gets another's answer, whatever order they are asked in.
    doc = analyze(Item(feed_id="f", key="k", title=title, content=content))
    matchers = [compile_query(" OR ".join(g), {}) for g in groups + groups[::-1]]
    for matcher in matchers + matchers[::-1]:
        assert isinstance(matcher, Positional)
        children = matcher.children if isinstance(matcher, AnyOf) else (matcher,)
        fresh = analyze(Item(feed_id="f", key="k", title=title, content=content))
        assert matcher.maybe(doc) == any(c.maybe(fresh) for c in children)

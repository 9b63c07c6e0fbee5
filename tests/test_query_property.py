"""Property: the indexed matcher (presearcher + candidates) and a plain evaluate-every-rule matcher
give the same matches, explanations and snippets, on random rules and texts."""

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitor.model import Item, Mode, Rule
from monitor.query.compiler import compile_query
from monitor.query.evaluate import AnyOf, Positional
from monitor.query.normalize import analyze
from monitor.query.ruleset import CompiledRule, RuleSet

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
        # The author's field too: a rule set reads only the fields its rules name (`RuleSet`
        # analyses an item in those alone), and must match as if it read every one.
        st.tuples(st.sampled_from(["title", "content", "text", "author"]), children).map(
            lambda p: f"{p[0]}:({p[1]})"
        ),
    )


positional = st.one_of(atoms, st.tuples(atoms, atoms).map(lambda p: f"({p[0]} OR {p[1]})"))
nears = st.tuples(positional, near_ops, positional).map(lambda p: f"{p[0]} {p[1]} {p[2]}")
queries = st.recursive(st.one_of(atoms, nears), _combine, max_leaves=6) | st.just("")
texts = st.lists(st.sampled_from([*WORDS, ".", ",", "x"]), max_size=30).map(" ".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(queries, min_size=1, max_size=8), texts, texts, texts)
@example(["(author:(troops) OR sent)"], "", "", "troops")  # a member's scope beyond its OR's
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


# Rules decided by set tests on the text's stems (`CompiledRule.proven`: ANDs of words,
# OR-groups of words and NOTs of them), mixed with their near misses, which must be evaluated:
# a field scope, an exact form, a phrase, a prefix, a set with such members, a NEAR.
set_words = st.sampled_from(
    ["troops", "sent", "sending", "arms", "armed", "Arms", "nato", "kyiv", "dispatch", "the"]
)
near_misses = st.sampled_from(
    [
        "=arms",
        '"troops sent"',
        "dis*",
        "title:troops",
        "author:nato",
        "text:(arms OR nato)",
        "content:(arms OR troops)",
        "$w",
        "(kyiv NEAR/1 troops)",
    ]
)


def _set_shapes(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(children, children).map(lambda p: f"({p[0]} {p[1]})"),
        st.tuples(children, children, children).map(lambda p: f"({p[0]} {p[1]} {p[2]})"),
        st.tuples(children, children).map(lambda p: f"({p[0]} OR {p[1]})"),
        children.map(lambda c: f"(NOT {c})"),
    )


set_queries = st.recursive(st.one_of(set_words, set_words, near_misses), _set_shapes, max_leaves=6)
feed_scopes = st.sampled_from([(), ("f",), ("g",), ("news",)])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(set_queries, feed_scopes), min_size=1, max_size=8), texts, texts, texts)
# A group's word in the author alone: the index finds it there, the text lacks it.
@example([("troops (arms OR nato)", ())], "troops", "", "nato")
@example([("(arms OR nato) (troops OR sent)", ())], "arms", "", "troops")
@example([("(arms OR nato) NOT (kyiv OR sent)", ("news",))], "arms", "sent", "")
def test_rules_decided_by_set_tests_match_as_evaluated(
    drawn: list[tuple[str, tuple[str, ...]]], title: str, summary: str, author: str
) -> None:
    # A rule taken for one decided by set tests when it is not (a scope, a phrase, a prefix
    # inside), or a wrong test (the item's stems for the text's, a NOT or a group forgotten, a
    # feed scope skipped), shows as a match the full evaluation does not give, or a missed one.
    rules = [Rule(f"r{i:02d}", "R", q, feeds=feeds) for i, (q, feeds) in enumerate(drawn)]
    rs = RuleSet.from_rules(rules, SETS)
    item = Item(feed_id="f", key="k", title=title, summary=summary, author=author)
    indexed = rs.match(item, ("news",))
    every = rs.match_every_rule(item, ("news",))
    assert [m.rule.id for m in indexed] == [m.rule.id for m in every]
    assert indexed == every


@pytest.mark.parametrize(
    ("query", "excluded"),
    [
        ("troops", frozenset()),  # decided by set tests: what it excludes, if anything
        ("troops sent", frozenset()),
        ("(troops OR soldiers) sent NOT kyiv", frozenset({"kyiv"})),
        ("a (b (c OR (d OR e)) NOT (f OR g))", frozenset({"f", "g"})),
        ("text:(troops OR sent) arms", frozenset()),
        ("NOT troops", frozenset({"troop"})),
        ("title:troops sent", None),  # not proven: evaluated
        ("troops =Arms", None),
        ('"troops sent"', None),
        ("troo* sent", None),
        ("troops NEAR/2 sent", None),
        ("(troops sent) OR kyiv", None),
        ("troops NOT title:kyiv", None),
        ("troops NOT (kyiv sent)", None),
        ("troops $w", None),  # a set with an exact form and a phrase
        ("", None),
    ],
)
def test_which_rules_are_decided_by_set_tests(query: str, excluded: frozenset[str] | None) -> None:
    c = CompiledRule.of(Rule("r", "R", query), compile_query(query, SETS))
    assert c.proven == (excluded is not None)
    assert c.excluded == (excluded or frozenset())

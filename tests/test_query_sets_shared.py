"""A named set is compiled once a load and shared by every reference to it: a folder naming a big
set in many rules paid its members again at each `$name` (about 4.5 µs each: 200 rules naming a
set of 2,000 took 1.8 s to load). Each reference is still its own clause, so what a rule is told
(its clauses, hits and snippet) is what it is told alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.model import Item, Rule
from monitor.query import compiler
from monitor.query import evaluate as ev
from monitor.query.normalize import TEXT_FIELDS
from monitor.query.rulefiles import load_rules
from monitor.query.ruleset import RuleSet
from tests.test_query_property import SETS, WORDS

MEMBERS = [f"word{i}" if i % 5 else f'"word{i} thing{i % 7}"' for i in range(300)]


def _set_refs(m: ev.Matcher) -> list[ev.AnyOf]:
    """The ORs of a compiled query that are a reference to `$big` (ORs of its members)."""
    if isinstance(m, ev.AnyOf) and "$big" in m.source and len(m.children) == len(MEMBERS):
        return [m]
    out: list[ev.AnyOf] = []
    for c in getattr(m, "children", ()):
        out += _set_refs(c)
    for side in (getattr(m, "left", None), getattr(m, "right", None), getattr(m, "child", None)):
        if side is not None:
            out += _set_refs(side)
    return out


def test_a_set_named_by_many_rules_is_compiled_once_a_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled: list[str] = []
    real = compiler.compile_set_member

    def counting(member: str, fields: tuple[str, ...]) -> ev.Terms:
        compiled.append(member)
        return real(member, fields)

    monkeypatch.setattr(compiler, "compile_set_member", counting)
    rules = "".join(
        f"  - id: r{i}\n    name: R\n    query: $big NEAR/5 topic{i} OR ($big) other{i}\n"
        for i in range(40)
    )
    members = "[" + ", ".join(MEMBERS) + "]"
    (tmp_path / "r.yaml").write_text(f"sets:\n  big: {members}\nrules:\n{rules}")
    rs = load_rules(tmp_path)
    # Once when the set is checked, once for the rules: not 80 times (a reference each).
    assert len(compiled) == 2 * len(MEMBERS)
    refs = [r for c in rs._compiled for r in _set_refs(c.matcher)]
    assert len(refs) == 80
    assert len({id(r) for r in refs}) == 80  # each reference its own clause
    assert len({id(r.parts) for r in refs}) == 1  # over one compiled set
    assert {r.source for r in refs} == {"$big", "($big)"}


def test_a_set_in_other_fields_is_compiled_apart() -> None:
    rs = RuleSet.from_rules(
        [Rule("a", "A", "$big"), Rule("b", "B", "title:($big)"), Rule("c", "C", "x OR $big")],
        {"big": MEMBERS},
    )
    refs = {c.rule.id: _set_refs(c.matcher)[0] for c in rs._compiled}
    assert refs["a"].parts is refs["c"].parts
    assert refs["b"].parts is not refs["a"].parts
    assert refs["a"].fields == TEXT_FIELDS
    assert all(m.fields == ("title",) for m in refs["b"].children)
    item = Item(feed_id="f", key="k", title="word3 news", content="word1")
    assert [m.rule.id for m in rs.match(item)] == ["a", "b", "c"]
    only_content = Item(feed_id="f", key="k", title="news", content="word1")
    assert [m.rule.id for m in rs.match(only_content)] == ["a", "c"]


# Queries naming the same sets in different clauses: a group, a scope, a NEAR, an exclusion.
shared_queries = st.lists(
    st.sampled_from(
        [
            "$w",
            "($w)",
            "title:($w)",
            "$w NEAR/2 $t",
            "($t OR sent) $w",
            "$t NOT $w",
            "content:($t NEAR/1 $w)",
            "$t ONEAR/3 (arms OR $w)",
            "$w OR $w OR troops",
        ]
    ),
    min_size=2,
    max_size=6,
    unique=True,
)
texts = st.lists(st.sampled_from([*WORDS, ".", "x"]), max_size=30).map(" ".join)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shared_queries, texts, texts)
def test_rules_sharing_a_set_match_and_explain_as_each_alone(
    qs: list[str], title: str, content: str
) -> None:
    rules = [Rule(f"r{i}", "R", q) for i, q in enumerate(qs)]
    item = Item(feed_id="f", key="k", title=title, content=content)
    together = RuleSet.from_rules(rules, SETS)
    got = {m.rule.id: (m.explanation, m.snippet) for m in together.match(item)}
    alone = {}
    for r in rules:
        for m in RuleSet.from_rules([r], SETS).match(item):
            alone[m.rule.id] = (m.explanation, m.snippet)
    assert got == alone
    assert together.match_every_rule(item) == together.match(item)

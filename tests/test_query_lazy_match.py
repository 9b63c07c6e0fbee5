"""A Match computes its explanation and snippet on first access, once, and stays read-only."""

import copy
import pickle

import pytest

from monitor.model import Explanation, Hit, Item, Match, Rule
from monitor.query.ruleset import RuleSet

RULE = Rule("r", "R", "troops")
WHY = Explanation(("troops",), (Hit("title", "Troops", "troops", 0, 0, 6),))


def test_explain_runs_once_on_first_access() -> None:
    calls = []

    def explain() -> tuple[Explanation, str]:
        calls.append(1)
        return WHY, "**Troops**"

    m = Match(RULE, explain=explain)
    assert calls == []
    assert m.rule is RULE
    assert m.snippet == "**Troops**"
    assert m.explanation == WHY
    assert calls == [1]


def test_lazy_equals_eager_and_hashes_alike() -> None:
    lazy = Match(RULE, explain=lambda: (WHY, "**Troops**"))
    eager = Match(RULE, WHY, "**Troops**")
    assert lazy == eager
    assert hash(lazy) == hash(eager)
    assert lazy != Match(RULE, WHY, "other")
    assert "snippet='**Troops**'" in repr(lazy)


def test_read_only_copyable_and_picklable() -> None:
    m = Match(RULE, explain=lambda: (WHY, "**Troops**"))
    with pytest.raises(AttributeError):
        m.snippet = "x"  # type: ignore[misc]  # the refused write is the test
    with pytest.raises(AttributeError):
        m._rule = RULE
    assert pickle.loads(pickle.dumps(m)) == m
    assert copy.deepcopy(m) == m
    with pytest.raises(TypeError):
        Match(RULE, WHY)


def test_ruleset_matches_explain_on_access() -> None:
    rs = RuleSet.from_rules([Rule("t", "T", "troops NEAR/2 sent")])
    item = Item(feed_id="f", key="k", title="Troops were sent north")
    (m,) = rs.match(item)
    assert [h.word for h in m.explanation.hits] == ["Troops", "sent"]
    assert m.snippet == "**Troops** were **sent** north"


def test_lazy_constructor_is_the_lazy_match() -> None:
    """`Match.lazy` (slots set directly, what the matcher uses) makes the Match that
    `Match(rule, explain=...)` makes: explained once on first access, equal, read-only."""
    calls = []

    def explain() -> tuple[Explanation, str]:
        calls.append(1)
        return WHY, "**Troops**"

    m = Match.lazy(RULE, explain)
    assert type(m) is Match
    assert calls == []
    assert m.rule is RULE
    assert m == Match(RULE, explain=lambda: (WHY, "**Troops**"))
    assert m.explanation == WHY
    assert m.snippet == "**Troops**"
    assert calls == [1]
    assert hash(m) == hash(Match(RULE, WHY, "**Troops**"))
    with pytest.raises(AttributeError):
        m._rule = RULE
    assert pickle.loads(pickle.dumps(m)) == m

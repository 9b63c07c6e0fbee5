"""A Match computes its explanation and snippet on first access, once, and stays read-only."""

import copy
import gc
import pickle
import tracemalloc
from collections.abc import Collection

import pytest

from monitor.model import Explanation, Hit, Item, Match, Rule
from monitor.query import ruleset
from monitor.query.normalize import FIELDS, Document, analyze
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


# Two rules that both fire on a long text: a NEAR (whose spans a field keeps while analysed) and a
# word. ~200 KB of text: its analysis takes several MB.
LONG_RULES = RuleSet.from_rules(
    [
        Rule("near", "Near", "(troops OR soldiers) NEAR/3 (sent OR deployed)"),
        Rule("word", "Word", "ukraine"),
    ]
)
LONG = "Troops were sent to Ukraine, and more soldiers deployed near Kyiv. " * 3000


def test_a_lazy_match_holds_its_item_not_the_items_analysis() -> None:
    """The analysis of a long item (about 28 bytes per character) goes once it is matched: a
    kept match holds the item. Held by the matches, 50 KB items took 1.4 MB each, and `check`
    over 40 feeds of 10 MB took 11 GB."""
    item = Item(feed_id="f", key="k", title="Troops sent", summary=LONG)
    LONG_RULES.match(item)  # the word memos warm up
    gc.collect()
    tracemalloc.start()
    try:
        found = LONG_RULES.match(item)
        gc.collect()
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [m.rule.id for m in found] == ["near", "word"]
    assert peak > 2_000_000  # the analysis was made: the bound below means something
    assert held < 50_000


def test_an_items_lazy_matches_are_explained_together_as_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Read later, an item's matches are explained on one new analysis of the item, the same
    explanations and snippets as matches explained at once (`explained=True`)."""
    item = Item(feed_id="f", key="k", title="Troops sent", summary=LONG[:5000])
    at_once = LONG_RULES.match(item, explained=True)
    analysed: list[Item] = []
    real = analyze

    def counted(item: Item, only: Collection[str] = FIELDS) -> Document:
        analysed.append(item)
        return real(item, only)

    monkeypatch.setattr(ruleset, "analyze", counted)
    later = LONG_RULES.match(item)
    assert analysed == [item]  # matching it
    assert [(m.explanation, m.snippet) for m in later] == [
        (m.explanation, m.snippet) for m in at_once
    ]
    assert analysed == [item, item]  # one analysis for both explanations
    assert later[1].explanation.hits[0].word == "Ukraine"

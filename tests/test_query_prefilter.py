"""The per-rule prefilter: stems a document must hold (all of them, and one of each set)."""

import pytest

from monitor.model import Item, Rule
from monitor.query.compiler import compile_query
from monitor.query.index import required_any, required_prefixes, required_stems
from monitor.query.ruleset import RuleSet

SETS = {"arms": ["weapons", "=arms", "anti-tank", "missil*"], "t": ["troops", "special forces"]}


@pytest.mark.parametrize(
    ("query", "stems", "any_of"),
    [
        ("troops sent", {"troop", "sent"}, []),
        ("(troops OR soldiers) sent", {"sent"}, [{"troop", "soldier"}]),
        ("$t NEAR/3 sent", {"sent"}, [{"troop", "special"}]),  # a phrase: its longest stem
        ("$arms sent", {"sent"}, []),  # a prefix member: no stem is certain
        ("troops NOT sent", {"troop"}, []),
        ("troops OR NOT sent", set(), []),
        ("(a OR b) (b OR a) c", {"c"}, [{"a", "b"}]),
    ],
)
def test_requirements(query: str, stems: set[str], any_of: list[set[str]]) -> None:
    m = compile_query(query, SETS)
    assert required_stems(m) == stems
    assert [set(g) for g in required_any(m)] == any_of


def test_any_of_skips_candidates_that_lack_every_alternative() -> None:
    rs = RuleSet.from_rules([Rule("r", "R", "(troops OR soldiers) sent")])
    assert rs.match(Item(feed_id="f", key="1", title="Aid sent north")) == []
    (m,) = rs.match(Item(feed_id="f", key="2", title="Soldiers sent north"))
    assert m.rule.id == "r"


@pytest.mark.parametrize(
    ("query", "prefixes"),
    [
        ("dispatch* troops", ("dispatch",)),
        ("dispatch* NEAR/2 arm*", ("dispatch", "arm")),
        ("(dispatch* OR sent) troops", ()),
        ("troops NOT arm*", ()),
    ],
)
def test_required_prefixes(query: str, prefixes: tuple[str, ...]) -> None:
    assert required_prefixes(compile_query(query, SETS)) == prefixes


def test_prefix_prefilter_skips_items_without_such_a_word() -> None:
    rs = RuleSet.from_rules([Rule("r", "R", "dispat* troops")])
    assert rs.match(Item(feed_id="f", key="1", title="Troops dispersed")) == []
    assert len(rs.match(Item(feed_id="f", key="2", title="Troops dispatched"))) == 1


def test_many_prefixes_use_the_heads_index_and_agree_with_every_rule() -> None:
    words = ["dispatch", "Kyïv", "armoured", "troops", "nato", "1500", "ab", "x"]
    prefixes = {w.lower()[:n] for w in words for n in (1, 2, 3, 4, 6)}
    rules = [Rule(f"p{i:03d}", "P", f"{p}*") for i, p in enumerate(sorted(prefixes))]
    rules += [Rule("n", "N", "troo* NEAR/1 dis*"), Rule("o", "O", "kyi* OR zzz*")]
    rs = RuleSet.from_rules(rules)
    assert not rs._index.few_prefixes
    assert len(rs._index.by_prefix) > 5
    texts = ["Troops dispatched to Kyiv", "armour ab x", "nothing here", "KYÏV 1,500 NATO", ""]
    for k, text in enumerate(texts):
        item = Item(feed_id="f", key=str(k), title=text, content=text[::-1])
        assert rs.match(item) == rs.match_every_rule(item)
        assert rs.match(item) or not text

"""Held back: a rule whose positive part holds but an exclusion vetoes it says which `NOT`
clause did, with the words that tripped it (monitor.query.explain.held_back), and only then."""

from __future__ import annotations

import pytest

from monitor.model import Item, Mode, Rule
from monitor.query.compiler import compile_query
from monitor.query.explain import HeldBack, explain, explain_walk, held_back
from monitor.query.normalize import analyze
from monitor.query.ruleset import RuleSet
from tests.semantic_support import ConceptEmbedder

TWO = 'troops NEAR/3 sent NOT parade NOT "toy soldiers"'


def why(query: str, title: str, content: str = "") -> HeldBack | None:
    item = Item(feed_id="f", key="k", title=title, content=content)
    return held_back(compile_query(query, {}), analyze(item))


def test_the_exclusion_that_tripped_with_its_words_and_the_positive_part() -> None:
    got = why(TWO, "Troops sent to the border", "They will march in the parade on Sunday.")
    assert got is not None
    [veto] = got.vetoes  # `NOT "toy soldiers"` held: not listed
    assert veto.clause == "NOT parade"
    assert [(h.field, h.word) for h in veto.tripped.hits] == [("content", "parade")]
    assert got.positive.clauses == ("troops NEAR/3 sent",)
    assert [(h.field, h.word) for h in got.positive.hits] == [
        ("title", "Troops"),
        ("title", "sent"),
    ]


def test_every_exclusion_that_tripped_in_the_order_written() -> None:
    got = why(TWO, "Troops sent with toy soldiers", "a parade")
    assert got is not None
    assert [v.clause for v in got.vetoes] == ["NOT parade", 'NOT "toy soldiers"']
    assert [h.word for h in got.vetoes[1].tripped.hits] == ["toy", "soldiers"]


def test_nothing_when_the_rule_matches_or_its_positive_part_fails() -> None:
    assert why(TWO, "Troops sent to the border") is None  # it matches
    assert why(TWO, "Troops parade in the capital") is None  # no "sent": not the exclusions
    assert why("troops NEAR/3 sent", "Troops sent to the parade") is None  # no exclusion


def test_nested_ands_are_one_conjunction_and_other_shapes_say_nothing() -> None:
    got = why("(troops NOT parade) NOT drill", "Troops at the drill")
    assert got is not None
    assert [v.clause for v in got.vetoes] == ["NOT drill"]
    # an exclusion inside an OR, inside a field scope, or a rule of exclusions alone: the
    # miss is not explained (quoting `NOT parade` alone would drop its scope or its branch)
    assert why("(troops NOT parade) OR tanks", "Troops parade") is None
    assert why("title:(troops NOT parade)", "Troops parade") is None
    assert why("NOT parade", "A parade") is None


def test_a_field_scoped_member_of_an_or_names_only_its_fields_words() -> None:
    """`title:parade` inside an OR watches the title alone: a "parade" in the content neither
    tripped the exclusion nor matched, and is not named as if it had."""
    got = why("troops NOT (title:parade OR drill)", "Troops at the drill", "after the parade")
    assert got is not None
    [veto] = got.vetoes
    assert [(h.field, h.word) for h in veto.tripped.hits] == [("title", "drill")]
    m = compile_query("(title:parade OR drill) (troops OR title:arms)", {})
    doc = analyze(Item(feed_id="f", key="k", title="Troops drill, parade", content="arms parade"))
    want = [("title", "Troops"), ("title", "drill"), ("title", "parade")]
    assert [(h.field, h.word) for h in explain(m, doc).hits] == want
    assert explain(m, doc) == explain_walk(m, doc)
    nested = compile_query("((title:parade OR drill) OR tanks) troops", {})
    assert [(h.field, h.word) for h in explain(nested, doc).hits] == want


def held(rs: RuleSet, title: str) -> list[str]:
    it = Item(feed_id="wire", key=title, title=title)
    return [r.id for r, _ in rs.held_back(it, {m.rule.id for m in rs.match(it)})]


def test_rule_set_lists_held_back_rules_that_did_not_fire() -> None:
    rules = [
        Rule("moves", "M", TWO),
        Rule("plain", "P", "troops NEAR/3 sent"),
        Rule("other", "O", "tanks NOT parade"),
        Rule("off", "X", TWO, enabled=False),
        Rule("elsewhere", "E", TWO, feeds=("another",)),
    ]
    rs = RuleSet.from_rules(rules)
    assert held(rs, "Troops sent to the parade") == ["moves"]
    assert held(rs, "Troops sent north") == []  # `moves` fired


@pytest.mark.parametrize(
    ("mode", "title", "expected"),
    [
        # narrow: held back only when the item is similar too (else the examples held it back)
        ("narrow", "troops sent to the parade", ["r"]),
        ("narrow", "troops sent to the football parade", []),
        # widen: its examples did not save it, so the exclusion is why it did not fire
        ("widen", "troops sent to the football parade", ["r"]),
        # widen: fired on its examples, so not held back
        ("widen", "reinforcements sent to the parade", []),
    ],
)
def test_semantic_modes(mode: Mode, title: str, expected: list[str]) -> None:
    model = ConceptEmbedder([["troops", "reinforcements"], ["football", "parade"]])
    rule = Rule("r", "R", "sent NOT parade", mode=mode, like=("troops",), threshold=0.7)
    rs = RuleSet.from_rules([rule], embedder=model)
    assert held(rs, title) == expected


def test_the_index_prunes_no_held_back_rule() -> None:
    """`RuleSet.held_back` asks only the presearcher's candidates: on the example rules and
    items that trip their exclusions, it finds what asking every rule finds."""
    from pathlib import Path

    from monitor.query.rulefiles import load_rules

    rs = load_rules(str(Path(__file__).resolve().parent.parent / "rules"))
    texts = [
        ("Germany to send Ukraine advanced air defence systems", "Berlin acts after Russian "
         "strikes destroyed power stations with missiles and drones."),
        ("Troops sent to the border for a parade", "Russia deploys soldiers; NATO delegation"),
        ("Germany to supply tanks to Ukraine", "Iran supplies drones to Russia"),
        ("Weather: sunny", "A calm day."),
    ]  # fmt: skip
    every: list[tuple[str, str]] = []
    indexed: list[tuple[str, str]] = []
    for n, (title, content) in enumerate(texts):
        it = Item(feed_id="f", key=str(n), title=title, content=content)
        fired = {m.rule.id for m in rs.match(it)}
        doc = analyze(it)
        for c in rs._active:
            got = held_back(c.matcher, doc)
            if got is not None and c.rule.id not in fired:
                every.append((it.key, c.rule.id))
        indexed += [(it.key, r.id) for r, _ in rs.held_back(it, fired)]
    assert every == indexed
    assert ("0", "arms-to-ukraine") in indexed

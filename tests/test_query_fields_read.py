"""An item is analysed only in the fields its rule set reads (`RuleSet`, `fields_read`), and
matches as if every field were analysed."""

import pytest

from monitor.model import Item, Rule
from monitor.query.compiler import compile_query
from monitor.query.normalize import TEXT_FIELDS
from monitor.query.rulefiles import load_rules
from monitor.query.ruleset import RuleSet, fields_read


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("troops", set(TEXT_FIELDS)),
        ("title:(troops) url:(bbc)", {"title", "url"}),
        ("title:(troops NEAR/2 sent) OR (author:(smith) NOT title:(x))", {"title", "author"}),
        # An OR of words keeps its own scope beside its members' (its explanation reads it).
        ("(title:(troops) OR author:(smith))", {*TEXT_FIELDS, "author"}),
        ("troops NOT category:(sport)", {*TEXT_FIELDS, "category"}),
        ("feed:(reuters) NOT (arms OR troops)", {*TEXT_FIELDS, "feed"}),
        ("", set()),
    ],
)
def test_a_query_reads_the_fields_of_its_clauses(query: str, fields: set[str]) -> None:
    assert fields_read(compile_query(query, {})) == fields


def test_the_example_rules_read_only_the_text() -> None:
    assert load_rules("rules")._fields == TEXT_FIELDS


def test_every_field_a_rule_names_is_read_beside_rules_of_the_text_alone() -> None:
    rs = RuleSet.from_rules(
        [
            Rule("a-text", "Text", "troops"),
            Rule("b-url", "URL", "url:(ukraine)"),
            Rule("c-author", "Author", "author:(smith) NOT troops"),
            Rule("d-feed", "Feed", "feed:(wire)"),
            Rule("e-not-category", "Not sport", "nato NOT category:(sport)"),
        ]
    )
    item = Item(
        feed_id="f",
        key="k",
        title="NATO meets",
        url="https://example.com/ukraine/story",
        author="Jane Smith",
        categories=("Sport",),
        feed_title="Wire",
    )
    assert [m.rule.id for m in rs.match(item)] == ["b-url", "c-author", "d-feed"]
    assert rs.match(item) == rs.match_every_rule(item)
    text_only = RuleSet.from_rules([Rule("a-text", "Text", "troops OR ukraine")])
    assert text_only._fields == TEXT_FIELDS
    assert text_only.match(item) == []  # "ukraine" is in the URL alone, which it does not read
    # A rule of exclusions alone reads the author; its match's snippet still comes from the
    # title, which every rule set analyses.
    [excluding] = RuleSet.from_rules([Rule("x", "X", "NOT author:(doe)")]).match(item)
    assert excluding.snippet == "NATO meets"
    assert [m.rule.id for m in text_only.match(Item(feed_id="f", key="k", summary="Ukraine"))] == [
        "a-text"
    ]

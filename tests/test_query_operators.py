"""Table tests for every operator and its edges; each case runs through the indexed matcher and
the evaluate-every-rule matcher, which must agree."""

from dataclasses import replace
from typing import Any

import pytest

from monitor.model import Item, Rule
from monitor.query.ruleset import RuleSet

SETS = {
    "troops": ["troops", "soldiers", "special forces"],
    "ukraine": ["ukrain*", "Kyiv"],
    "org": ["=NATO"],
}


def fires(query: str, text: str = "", **fields: Any) -> bool:
    rs = RuleSet.from_rules([Rule("r", "R", query)], SETS)
    item = replace(Item(feed_id="f", key="k", content=text), **fields)
    indexed = [m.rule.id for m in rs.match(item)]
    every = [m.rule.id for m in rs.match_every_rule(item)]
    assert indexed == every
    return indexed == ["r"]


CASES = [
    # words: stemmed, case-insensitive
    ("dispatch", "North Korea has dispatched troops", True),
    ("dispatched", "they dispatch troops", True),
    ("weapons", "a weapon", True),
    ("nato", "a Nato delegation", True),
    ("Nato", "the NATO summit", True),
    ("troop", "a trooper", False),
    # exact forms: no stemming; smart case
    ("=NATO", "the NATO summit", True),
    ("=NATO", "a Nato delegation", False),
    ("=arms", "arms supplies", True),
    ("=arms", "Arms supplies", True),
    ("=arms", "armed groups", False),
    ("=arms", "his arm", False),
    ("arms", "armed groups", True),  # why the example rules say =arms
    ("=café", "un café", True),
    ("=café", "a cafe", False),
    ("café", "a cafe", True),  # diacritics fold for words
    # prefixes
    ("dispatch*", "dispatching units", True),
    ("dispatch*", "the dispatcher", True),
    ("dispatch*", "a dispute", False),
    ("ukrain*", "Ukraine's army", True),
    ("kyi*", "Kyïv", True),
    # punctuation, hyphens, apostrophes, numbers
    ("russia", "Russia's mercenaries", True),
    ("Russia's", "Russia sent", True),
    ("anti-tank", "anti tank weapons", True),
    ("anti-tank", "anti-tank weapons", True),
    ("anti-tank", "tank anti", False),
    ('"anti tank"', "anti-tank", True),
    ("1,500", "about 1500 soldiers", True),
    ("1500", "about 1,500 soldiers", True),
    ("1500", "about 1,5000 soldiers", False),
    # non-Latin scripts
    ("Київ", "удар по Києву", False),
    ("Київ", "Київ заявив", True),
    ("киї*", "Київ", True),
    ("東京", "東京 tower", True),
    ("हिन्दी", "हिन्दी भाषा", True),
    # phrases: consecutive, each word stemmed; sentence ends do not break them
    ('"special forces"', "1,500 special forces personnel", True),
    ('"special forces"', "special elite forces", False),
    ('"special force"', "special forces", True),
    ('"special forces"', "it was special. Forces moved", True),
    ('="Special Forces"', "special forces", False),
    ('="Special Forces"', "Special Forces", True),
    # AND, implied AND, OR, NOT, groups
    ("troops AND russia", "troops in Russia", True),
    ("troops russia", "troops in Russia", True),
    ("troops russia", "troops in Ukraine", False),
    ("troops OR soldiers", "soldiers", True),
    ("troops OR soldiers", "tanks", False),
    ("NOT exercise", "troops deployed", True),
    ("NOT exercise", "a military exercise", False),
    ("troops NOT exercise", "troops on exercise", False),
    ("troops AND NOT exercise", "troops deployed", True),
    ("troops (russia OR ukraine)", "troops in Ukraine", True),
    ("troops (russia NOT ukraine)", "troops in Ukraine and Russia", False),
    ("troops (russia NOT ukraine)", "troops in Russia", True),
    ("troops OR tanks russia", "troops", True),  # AND binds tighter than OR
    ("(troops OR tanks) russia", "troops", False),
    ("NOT troops NEAR/2 sent", "troops were sent", False),  # NEAR binds tighter than NOT
    ("NOT troops NEAR/2 sent", "troops stayed home; others were sent", True),
    # NEAR: at most n words between, either order; at n and at n+1
    ("troops NEAR/2 sent", "troops were not sent", True),
    ("troops NEAR/2 sent", "sent were not troops", True),
    ("troops NEAR/2 sent", "troops were really not sent", False),
    ("troops NEAR/2 sent", "sent were really not troops", False),
    ("troops NEAR/0 sent", "troops sent", True),
    ("troops NEAR/0 sent", "troops were sent", False),
    ("troops NEAR/3 troops", "troops", False),  # one word is not two
    ("troops NEAR/3 troops", "troops and troops", True),
    # ONEAR keeps the order
    ("troops ONEAR/2 sent", "troops were not sent", True),
    ("troops ONEAR/2 sent", "sent were not troops", False),
    # phrases in NEAR: the gap is counted between their nearest ends
    ('"special forces" NEAR/1 dispatched', "dispatched 1,500 special forces", True),
    ('"special forces" NEAR/1 dispatched', "special forces were then dispatched", False),
    ('"special forces" NEAR/2 dispatched', "special forces were then dispatched", True),
    # sets, and sets inside NEAR
    ("$troops", "special forces", True),
    ("$troops NEAR/3 dispatch*", "dispatched approximately 1,500 special forces", True),
    ("$troops NEAR/1 dispatch*", "dispatched approximately 1,500 special forces", False),
    ("(sent OR dispatched) NEAR/2 $troops", "soldiers were sent", True),
    ("$org", "NATO", True),
    ("$org", "Nato", False),
    ("$ukraine", "in Kyiv", True),
    ("a NEAR/3 b NEAR/3 c", "a x b x c", True),
    ("a NEAR/1 b NEAR/1 c", "a x x b c", False),
    # fields
    ("title:troops", "", False),
    ("title:(troops sent)", "troops sent", False),
    ("content:(troops sent)", "troops sent", True),
    ("text:troops", "troops", True),
    ("url:example", "", False),
    # empty text, empty query
    ("troops", "", False),
    ("NOT troops", "", True),
    ("", "", True),
    ("", "anything", True),
]


@pytest.mark.parametrize(("query", "text", "expected"), CASES)
def test_operator(query: str, text: str, expected: bool) -> None:
    assert fires(query, text) is expected


@pytest.mark.parametrize(
    ("query", "fields", "expected"),
    [
        ("title:troops", {"title": "Troops sent"}, True),
        ("title:troops", {"summary": "Troops sent"}, False),
        ("troops", {"title": "Troops sent"}, True),  # the default scope is the text fields
        ("troops", {"author": "Troops"}, False),
        ("author:ann", {"author": "Ann Smith"}, True),
        ("url:example", {"url": "https://example.com/x"}, True),
        ("category:world", {"categories": ("World",)}, True),
        ("feed:wire", {"feed_title": "Seed Wire"}, True),
        ("feed:f", {}, True),  # the feed id is part of the feed field
        ("title:(troops NEAR/2 sent)", {"title": "troops were sent"}, True),
        ("title:(troops NEAR/2 sent)", {"content": "troops were sent"}, False),
        # a field outside a NEAR, beside it or around an OR of NEARs, scopes as before
        (
            "title:parade (drill NEAR/2 troops)",
            {"title": "Parade", "content": "drill troops"},
            True,
        ),
        ("title:parade (drill NEAR/2 troops)", {"content": "parade drill troops"}, False),
        ("title:(parade NEAR/2 troops) OR (drill NEAR/2 troops)", {"title": "parade troops"}, True),
        (
            "title:(parade NEAR/2 troops) OR (drill NEAR/2 troops)",
            {"content": "parade troops"},
            False,
        ),
        (
            "title:(parade NEAR/2 troops) OR (drill NEAR/2 troops)",
            {"content": "drill troops"},
            True,
        ),
    ],
)
def test_fields(query: str, fields: dict[str, str], expected: bool) -> None:
    assert fires(query, **fields) is expected


def test_very_long_text() -> None:
    filler = "lorem ipsum dolor " * 20_000
    text = filler + "troops were dispatched " + filler
    assert fires("troops NEAR/2 dispatch*", text)
    assert fires('"troops were dispatched"', text)
    assert not fires("troops NEAR/0 lorem", text)
    assert fires("lorem NEAR/3 dolor", text)


def test_feed_scope_of_rules() -> None:
    rules = [
        Rule("all", "A", "troops"),
        Rule("by-id", "B", "troops", feeds=("f",)),
        Rule("by-tag", "C", "troops", feeds=("asia",)),
        Rule("other", "D", "troops", feeds=("g",)),
        Rule("off", "E", "troops", enabled=False),
    ]
    rs = RuleSet.from_rules(rules)
    item = Item(feed_id="f", key="k", title="troops")
    got = [m.rule.id for m in rs.match(item, feed_tags=("asia",))]
    assert got == ["all", "by-id", "by-tag"]
    assert [m.rule.id for m in rs.match_every_rule(item, feed_tags=("asia",))] == got
    assert set(rs.rules) == {"all", "by-id", "by-tag", "other", "off"}
    assert [m.rule.id for m in rs.select(["off"]).match(item)] == ["off"]


@pytest.mark.parametrize(
    "query",
    [
        "\u201cspecial forces\u201d NEAR/3 dispatched",  # “…”, as a word processor writes them
        "\u201especial forces\u201c NEAR/3 dispatched",  # „…“
        "\u00abspecial forces\u00bb NEAR/3 dispatched",  # «…»
    ],
)
def test_typographic_quotes_make_a_phrase(query: str) -> None:
    """Read as punctuation, they made the phrase two words anywhere: it fired on both texts."""
    assert fires(query, "They dispatched special forces to the border.")
    assert not fires(query, "They dispatched forces, special units, to the border.")

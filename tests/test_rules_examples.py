"""The three example rules: on the seed article, and on realistic headlines nobody tuned them on."""

from pathlib import Path

import pytest

from monitor.model import Item
from monitor.query.rulefiles import load_rules
from monitor.query.ruleset import RuleSet

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return load_rules(ROOT / "rules")


def fired(ruleset: RuleSet, text: str) -> set[str]:
    item = Item(feed_id="wire", key="k", title=text)
    return {m.rule.id for m in ruleset.match(item)}


def test_seed_article_fires_all_three_and_names_the_words(ruleset: RuleSet, seed_text: str) -> None:
    item = Item(feed_id="seed", key="seed", title="Seoul weighs its response", content=seed_text)
    matches = {m.rule.id: m for m in ruleset.match(item)}
    assert set(matches) == {"troop-dispatch", "arms-to-ukraine", "nato-delegation"}
    words = {rid: {h.word for h in m.explanation.hits} for rid, m in matches.items()}
    assert {"dispatched", "special", "forces"} <= words["troop-dispatch"]
    assert {"supply", "weapons", "Ukraine", "arming"} <= words["arms-to-ukraine"]
    assert {"delegation", "Nato"} <= words["nato-delegation"]
    assert "**dispatched**" in matches["troop-dispatch"].snippet
    assert "**delegation**" in matches["nato-delegation"].snippet
    for m in matches.values():
        assert len(m.snippet) <= 300
        assert all(h.field == "content" for h in m.explanation.hits)
        assert m.explanation.clauses


HEADLINES = [
    # troop-dispatch
    ("North Korea dispatches troops to Russia to support its war effort", {"troop-dispatch"}),
    ("Pentagon to deploy 3,000 more soldiers to Poland", {"troop-dispatch"}),
    ("France sends special forces to the Sahel after the coup", {"troop-dispatch"}),
    ("Britain to station 1,000 troops in Estonia", {"troop-dispatch"}),
    ("Russia has deployed tens of thousands of troops along the border", {"troop-dispatch"}),
    ("Iran sent military advisers to Syria, officials say", {"troop-dispatch"}),
    ("US Marines deployed to the Middle East amid tensions", {"troop-dispatch"}),
    ("India dispatches peacekeepers to South Sudan", {"troop-dispatch"}),
    ("Troops withdraw from northern Syria after ceasefire", set()),
    ("Residents forced to send children away as floods rise", set()),
    ("Police deployed to contain protests in Paris", set()),
    ("Veterans honour fallen soldiers at memorial", set()),
    ("Startup deploys software update to millions of users", set()),
    ("Toy soldiers sent to collectors in limited edition", set()),
    # arms-to-ukraine
    ("Germany to send more Patriot air defence systems to Ukraine", {"arms-to-ukraine"}),
    ("US approves $425 million weapons package for Ukraine", {"arms-to-ukraine"}),
    ("South Korea weighs supplying arms to Kyiv", {"arms-to-ukraine"}),
    ("Netherlands delivers first F-16 fighter jets to Ukraine", {"arms-to-ukraine"}),
    ("Britain pledges artillery ammunition for Ukrainian forces", {"arms-to-ukraine"}),
    ("Ukraine receives new batch of anti-tank weapons from allies", {"arms-to-ukraine"}),
    ("Armed men attack village in eastern Ukraine", set()),
    ("Russia accused of receiving weapons from North Korea", set()),
    ("Ukraine's economy grows as grain supplies resume", set()),
    ("Arms control talks between US and Russia stall", set()),
    ("Shipping companies raise rates for grain exports from Ukraine", set()),
    ("Ukrainian soldier loses an arm in the east", set()),
    # nato-delegation
    ("NATO delegation arrives in Kyiv for talks", {"nato-delegation"}),
    ("Japanese defence officials to visit NATO headquarters in Brussels", {"nato-delegation"}),
    ("South Korean delegation to visit Nato next week", {"nato-delegation"}),
    ("Finnish ministers travel to NATO summit in Vilnius", {"nato-delegation"}),
    ("US congressional delegation meets NATO allies in Brussels", {"nato-delegation"}),
    ("NATO officials say Russia is preparing a new offensive", set()),
    ("NATO summit opens in Washington", set()),
    ("Chinese delegation visits Brazil for trade talks", set()),
    ("Putin warns NATO over Finland membership", set()),
]


@pytest.mark.parametrize(("headline", "expected"), HEADLINES)
def test_headlines(ruleset: RuleSet, headline: str, expected: set[str]) -> None:
    assert fired(ruleset, headline) == expected


def test_the_semantic_example_rules_keep_the_queries_and_fire_on_the_seed(seed_text: str) -> None:
    """examples/rules-semantic/ is rules/ plus examples: the same sets and queries, kept in
    step; with the packaged model it fires all three on the seed article too."""
    import yaml

    from tests.semantic_support import packaged_model

    folder = ROOT / "examples" / "rules-semantic"
    assert (folder / "sets.yaml").read_text() == (ROOT / "rules" / "sets.yaml").read_text()
    for path in (ROOT / "rules").glob("*-*.yaml"):
        (words,) = yaml.safe_load(path.read_text())["rules"]
        (both,) = yaml.safe_load((folder / path.name).read_text())["rules"]
        assert {
            k: v for k, v in both.items() if k not in ("mode", "threshold", "like", "unlike")
        } == words
        assert both["mode"] == "widen"
    ruleset = load_rules(folder, embedder=packaged_model())
    item = Item(feed_id="seed", key="seed", title="Seoul weighs its response", content=seed_text)
    assert {m.rule.id for m in ruleset.match(item)} == {
        "troop-dispatch",
        "arms-to-ukraine",
        "nato-delegation",
    }

"""Explanations: clauses as written, hits with field/word/term/positions, marked snippets."""

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.model import Item, Match, Rule
from monitor.query.explain import (
    _SNIPPET_ORDER,
    _TEXT_BEST_FIRST,
    hit,
    snippet,
    snippet_walk,
)
from monitor.query.normalize import FIELDS, analyze_fields
from monitor.query.ruleset import RuleSet


def one(query: str, item: Item, sets: dict[str, list[str]] | None = None) -> Match:
    (m,) = RuleSet.from_rules([Rule("r", "R", query)], sets).match(item)
    return m


def test_clauses_are_the_true_parts_as_written() -> None:
    item = Item(feed_id="f", key="k", title="Troops sent to Poland")
    m = one("(troops OR tanks) NEAR/3 sent AND NOT exercise OR missiles", item)
    assert m.explanation.clauses == ("(troops OR tanks) NEAR/3 sent", "NOT exercise")
    m = one("title:(troops sent) OR drones", item)
    assert m.explanation.clauses == ("title:(troops sent)",)


def test_hits_carry_field_word_term_position_and_span() -> None:
    item = Item(feed_id="f", key="k", title="NATO", content="Russia's 1,500 special forces.")
    m = one('=NATO "special forces" russia 1500', item)
    got = [(h.field, h.word, h.term, h.position, h.start, h.end) for h in m.explanation.hits]
    assert got == [
        ("title", "NATO", "=NATO", 0, 0, 4),
        ("content", "Russia", "russia", 0, 0, 6),
        ("content", "1,500", "1500", 1, 9, 14),
        ("content", "special", '"special forces"', 2, 15, 22),
        ("content", "forces", '"special forces"', 3, 23, 29),
    ]


def test_near_hits_are_only_the_pairs_that_were_near() -> None:
    item = Item(feed_id="f", key="k", content="troops far far far far away. troops sent.")
    m = one("troops NEAR/1 sent", item)
    assert [h.position for h in m.explanation.hits] == [6, 7]


def test_set_hits_name_the_member() -> None:
    item = Item(feed_id="f", key="k", content="soldiers were dispatched")
    m = one("$troops NEAR/2 dispatch*", item, {"troops": ["troops", "soldiers"]})
    assert [(h.word, h.term) for h in m.explanation.hits] == [
        ("soldiers", "soldiers"),
        ("dispatched", "dispatch*"),
    ]


def test_snippet_is_short_and_marks_words() -> None:
    body = (
        ("Filler words about nothing in particular. " * 30)
        + "Troops were dispatched. "
        + ("More filler follows here. " * 30)
    )
    m = one("troops NEAR/2 dispatch*", Item(feed_id="f", key="k", title="T", content=body))
    assert len(m.snippet) <= 300
    assert "**Troops** were **dispatched**" in m.snippet
    assert m.snippet.startswith("…")
    assert m.snippet.endswith("…")


def test_snippet_of_short_text_and_match_all() -> None:
    m = one("troops", Item(feed_id="f", key="k", title="Troops"))
    assert m.snippet == "**Troops**"
    m = one("", Item(feed_id="f", key="k", title="Hello", summary="World news"))
    assert m.snippet == "World news"
    assert m.explanation.hits == ()
    m = one("", Item(feed_id="f", key="k"))
    assert m.snippet == ""


def test_snippet_with_many_hits_stays_under_300() -> None:
    m = one("a", Item(feed_id="f", key="k", content="a " * 1000))
    assert len(m.snippet) <= 300
    assert m.snippet.startswith("**a a a")  # neighbouring marks merge into one


# Texts for snippets: words of varied length (a window must cut some), and every kind of
# whitespace a feed may hold (runs, tabs, newlines, no-break and thin spaces), at either end too.
_SNIPPET_PIECES = [
    "troops", "a", "Kyïv", "reinforcements", "x" * 40, " ", " ", " ", "  ", "\n", "\t",
    "\xa0", "\u2009", ". ", ", ", "—",
]  # fmt: skip


# And texts with single spaces only, long enough for the window to be cut: the case where
# `snippet` skips folding the whitespace.
_SPACED_WORDS = ["troops", "a", "Kyïv", "reinforcements", "x" * 40, "—", "Russia's", "1,500"]


@settings(max_examples=600, deadline=None)
@given(
    st.one_of(
        st.lists(st.sampled_from(_SNIPPET_PIECES), max_size=120).map("".join),
        st.lists(st.sampled_from(_SPACED_WORDS), min_size=30, max_size=120).map(" ".join),
    ),
    st.lists(st.sampled_from(_SNIPPET_PIECES), max_size=30).map("".join),
    st.lists(st.sampled_from(_SPACED_WORDS), max_size=12).map(" ".join),
    st.data(),
)
def test_a_snippet_is_the_one_of_the_plain_steps(
    title: str, summary: str, other: str, data: st.DataObject
) -> None:
    """`snippet` (its field chosen from the last hit, one loop, whitespace folded only where a
    text needs it) gives the snippet of `snippet_walk`, whatever the whitespace, the window and
    the hits marked, in one field or several, text fields or others (content, url, author)."""
    doc = analyze_fields(
        {"title": title, "summary": summary, "content": other, "url": other, "author": other}
    )
    names = data.draw(
        st.lists(st.sampled_from(("title", "summary", "content", "url", "author")), unique=True),
        label="fields",
    )
    hits = []
    for name in names:
        ft = doc.fields[name]
        chosen = data.draw(st.sets(st.integers(0, max(0, len(ft.words) - 1))), label=name)
        for pos in sorted(p for p in chosen if p < len(ft.words)):
            start, end = ft.spans[pos]
            hits.append(hit(name, ft.text[start:end], "w", pos, start, end))
    hits.sort(key=lambda h: (FIELDS.index(h.field), h.position))
    assert snippet(doc, tuple(hits)) == snippet_walk(doc, tuple(hits))
    assert snippet(doc, ()) == snippet_walk(doc, ())


def test_the_text_fields_best_first_are_the_first_fields_last_first() -> None:
    """What `snippet` takes from the last hit's field (a text field holding it is the best):
    the snippet's order of the text fields is the reverse of the fields' order."""
    assert _TEXT_BEST_FIRST == tuple(reversed(FIELDS[:3])) == _SNIPPET_ORDER[:3]
    assert set(FIELDS[3:]).isdisjoint(_TEXT_BEST_FIRST)

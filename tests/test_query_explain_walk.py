"""Property: the explanation's shortcuts (a one-word term's hits straight from the field, a
one-word hit stored without a loop) give exactly the hits of the plain walk: every positional
clause's labelled spans, each position of each span a hit, the first 100 kept."""

import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitor.model import Hit, Item
from monitor.query import evaluate as ev
from monitor.query.compiler import compile_query
from monitor.query.explain import MAX_HITS, explain, explain_walk, hit
from monitor.query.near import Near
from monitor.query.normalize import FIELDS, Document, analyze
from tests.test_query_property import SETS, WORDS, queries

# Long enough that a field can hold more than MAX_HITS hits.
long_texts = st.lists(st.sampled_from([*WORDS, ".", "x"]), max_size=160).map(" ".join)


def _leaves(m: ev.Matcher) -> Iterator[ev.Terms]:
    if isinstance(m, ev.Terms):
        yield m
    for c in (
        (m.left, m.right)
        if isinstance(m, Near)
        else getattr(m, "children", ()) or ((m.child,) if isinstance(m, ev.Without) else ())
    ):
        yield from _leaves(c)


def _members_scoped(m: ev.Matcher) -> bool:
    """An OR with a member that watches other fields (`troops OR content:sent`)."""
    return isinstance(m, ev.AnyOf) and any(
        c.fields != m.fields or _members_scoped(c) for c in m.children
    )


def _plain(m: ev.Matcher, doc: Document, out: dict[tuple[str, int], Hit]) -> None:
    """The walk without shortcuts: each position of each labelled span, in order; an OR whose
    members watch other fields member by member, each in its own fields."""
    if isinstance(m, ev.AnyOf) and _members_scoped(m):
        for member in m.children:
            _plain(member, doc, out)
    elif isinstance(m, ev.Positional):
        for name in m.fields:
            ft = doc.fields[name]
            for first, last, label in m.hit_spans(ft):
                if len(out) >= MAX_HITS:
                    return
                for pos in range(first, last + 1):
                    if (name, pos) not in out and len(out) < MAX_HITS:
                        start, end = ft.spans[pos]
                        out[name, pos] = Hit(name, ft.text[start:end], label, pos, start, end)
    elif isinstance(m, ev.AllOf):
        for c in m.children:
            _plain(c, doc, out)
    elif isinstance(m, ev.EitherOf):
        for c in m.children:
            if c.matches(doc):
                _plain(c, doc, out)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(queries, long_texts, long_texts)
@example("(troops =troops)", "troops sent", "")  # one word, two terms: the first term's hit
@example("troops OR arms", " ".join(["troops arms"] * 60), "troops")  # over MAX_HITS
@example("troops", " ".join(["troops"] * 80), " ".join(["troops"] * 40))  # one word, over it
@example('"troops sent" arms*', "troops sent armed", "")  # a phrase, a prefix, an empty field
@example("(troops OR content:(sent))", "troops sent", "")  # a member's words in its own fields
# Two steps holding the same positions, more than MAX_HITS together: the first step's labels,
# then the second's new positions, cut at MAX_HITS (the merge, not the union).
@example("troops (=troops OR arms)", " ".join(["troops arms"] * 60), "troops")
@example("troops (=troops OR arms)", " ".join(["troops arms"] * 20), "arms")  # the union
@example("$t OR $t OR arms", "troops sent arms", "")  # one guard, asked once
def test_explanation_is_the_plain_walk(query: str, title: str, content: str) -> None:
    m = compile_query(query, SETS)
    doc = analyze(Item(feed_id="f", key="k", title=title, content=content))
    for leaf in _leaves(m):  # a term's hits: its spans in fields holding all its words
        for name in FIELDS:
            ft = doc.fields[name]
            whole = all(e.kind == "prefix" or e.index_key in ft.stems for e in leaf.elements)
            plain = [(a, b, leaf.label) for a, b in leaf.spans(ft)] if whole else []
            assert leaf.hit_spans(ft) == plain
    if not m.matches(doc):
        return
    out: dict[tuple[str, int], Hit] = {}
    _plain(m, doc, out)
    order = {f: i for i, f in enumerate(FIELDS)}
    assert explain(m, doc).hits == tuple(
        sorted(out.values(), key=lambda h: (order[h.field], h.position))
    )
    # The plan (clauses too) is the walk of the query; kept on the matcher, it gives the same
    # again on another document.
    assert explain(m, doc) == explain_walk(m, doc)
    other = analyze(Item(feed_id="f", key="k", title=content, content=title))
    assert explain(m, other) == explain_walk(m, other)


def test_hits_made_by_slots_are_hits() -> None:
    """`hit` sets the slots of Hit directly: every field, in order, as Hit(...) would."""
    made = hit("title", "Troops", "troops", 3, 10, 16)
    assert type(made) is Hit
    assert made == Hit("title", "Troops", "troops", 3, 10, 16)
    assert hash(made) == hash(Hit("title", "Troops", "troops", 3, 10, 16))
    assert made != Hit("title", "Troops", "troops", 3, 10, 17)


@pytest.mark.parametrize(
    ("query", "clauses"),
    [
        # A word of the OR held by the author or the link alone is not the text's: not listed.
        ("(troops OR arms OR sent) kyiv", ("troops", "arms", "kyiv")),
        ("(sent OR dispatched) kyiv", ()),  # the text holds neither: no match
        ("title:(troops OR arms) kyiv", ("title:(troops OR arms)", "kyiv")),  # quoted whole
        ("(title:troops OR summary:troops OR arms) kyiv", ("title:troops", "arms", "kyiv")),
        ("(=Arms OR =arms OR troops) kyiv", ("=arms", "troops", "kyiv")),  # exact forms
        ("((troops kyiv) OR sent) arms", ("troops", "kyiv", "arms")),  # an OR of an AND
        ("$t $w", ("troops", "=arms")),  # sets: their members the text holds
    ],
)
def test_an_or_lists_the_members_the_text_holds(query: str, clauses: tuple[str, ...]) -> None:
    """The clauses of an OR are its members the item holds where they watch: a word of the
    text only in the text fields (title, summary, content), not in the author or the link."""
    item = Item(
        feed_id="f",
        key="k",
        title="Kyiv troops",
        summary="arms",
        author="Sent Dispatched",
        url="https://example.org/sent",
    )
    doc = analyze(item)
    m = compile_query(query, SETS)
    if not clauses:
        assert not m.matches(doc)
        return
    assert m.matches(doc)
    assert explain(m, doc).clauses == clauses
    assert explain(m, doc) == explain_walk(m, analyze(item))


def test_a_set_named_again_and_again_in_an_or_is_explained_in_bounded_time() -> None:
    """Each member of each `$name` is a clause guarded by its set, and the set was asked again
    for every member: 1,000 words named 50 times took 13.8 s to explain on an item holding
    them (members x members x names), from a rule of a few hundred bytes."""
    sets = {"b": [f"w{i}" for i in range(1_000)]}
    m = compile_query(" OR ".join(["$b"] * 50), sets)
    doc = analyze(Item(feed_id="f", key="k", title="", content=" ".join(sets["b"])))
    assert m.matches(doc)
    start = time.process_time()
    why = explain(m, doc)
    assert time.process_time() - start < 2.0
    assert len(why.hits) == MAX_HITS
    small = compile_query("$b OR $b OR $b", {"b": sets["b"][:30]})
    assert explain(small, doc) == explain_walk(small, doc)

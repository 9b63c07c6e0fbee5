"""Explaining a match on a long item stops once it has what it shows: the first MAX_HITS hits and
their spans, not every word of the field. Counted by the work done (how far into the field its
token spans were found, which steps' hits were looked for), never timed; and told exactly what
the same item cut short is told, when its hits lie before the cut."""

from monitor.model import Explanation, Item
from monitor.query.compiler import compile_query
from monitor.query.explain import MAX_HITS, explain, snippet
from monitor.query.normalize import Document, analyze

SENTENCE = "Troops were sent to the border, officials said, and 1,500 more are coming. "
REPEATS = 4_000  # 56,000 words, 300 KB: each word of the sentence far more than MAX_HITS times


def _doc(content: str) -> Document:
    return analyze(Item(feed_id="f", key="k", title="Border", content=content))


def _spans_found(doc: Document) -> int:
    """How many of the content's tokens have had their character span found."""
    got = doc.fields["content"]._spans
    return 0 if got is None else len(got[0])


def _shown(query: str, doc: Document) -> tuple[Explanation, str]:
    m = compile_query(query, {})
    assert m.matches(doc)
    why = explain(m, doc)
    return why, snippet(doc, why.hits)


def test_a_long_item_is_explained_as_far_as_its_first_hits_and_no_further() -> None:
    for query in ("troops NEAR/3 sent", "(troops OR border) NEAR/5 officials", "troops sent"):
        long, short = _doc(SENTENCE * REPEATS), _doc(SENTENCE * 200)
        words = len(long.fields["content"].words)
        why, snip = _shown(query, long)
        assert len(why.hits) == MAX_HITS
        # What the item cut after 200 sentences is told: its hits lie in them.
        assert (why, snip) == _shown(query, short), query
        # The spans of the words up to the last hit shown (doubled as they are found), not
        # the field's 56,000.
        last = why.hits[-1].position
        assert last < 1_500
        assert _spans_found(long) <= max(2 * (last + 1), 512) < words // 10, query


def test_a_step_is_not_looked_for_once_the_steps_before_fill_the_hits() -> None:
    """`troops sent`: the first step (troops) holds MAX_HITS hits, so the walk keeps none of the
    second's; its hits are not looked for."""
    doc = _doc(SENTENCE * REPEATS)
    why, _ = _shown("troops sent", doc)
    assert {h.term for h in why.hits} == {"troops"}
    assert doc.explained is not None
    assert len(doc.explained) == 1


def test_a_word_that_only_occurs_far_into_the_item_is_still_shown() -> None:
    """Stopping early never drops a hit the explanation shows: a clause's only word at the end
    of a long field is found there, with its span."""
    text = "Troops were sent. " + "Nothing else happened that day. " * 10_000 + "Kremlin."
    doc = _doc(text)
    why, _ = _shown("troops NEAR/2 sent kremlin", doc)
    far = why.hits[-1]
    assert (far.word, far.term) == ("Kremlin", "kremlin")
    assert text[far.start : far.end] == "Kremlin"
    assert far.start == len(text) - 8

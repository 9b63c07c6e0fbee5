import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.model import Item
from monitor.query.normalize import FieldText, analyze, analyze_fields, tokenize
from monitor.query.words import _forms


def words(text: str) -> list[str]:
    return [t.lower for t in tokenize(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("North Korea has dispatched", ["north", "korea", "has", "dispatched"]),
        ("Russia's Far East", ["russia", "far", "east"]),
        ("Russia’s mercenaries", ["russia", "mercenaries"]),
        ("anti-tank mines", ["anti", "tank", "mines"]),
        ("approximately 1,500 special", ["approximately", "1500", "special"]),
        ("12,345,678 people", ["12345678", "people"]),
        ("1,5000", ["1", "5000"]),  # not a thousands separator
        ("3.5 per cent", ["3", "5", "per", "cent"]),
        ("NATO, Nato. nato!", ["nato", "nato", "nato"]),
        ("ＮＡＴＯ", ["nato"]),  # full-width letters, NFKC
        ("Straße", ["strasse"]),  # case folding
        ("Київ і Харків", ["київ", "і", "харків"]),
        ("हिन्दी भाषा", ["हिन्दी", "भाषा"]),  # marks stay inside the word
        ("東京", ["東京"]),
        ("", []),
        ("—  ...  ", []),
        ("don't", ["don", "t"]),
        ("snake_case", ["snake", "case"]),
    ],
)
def test_tokenize(text: str, expected: list[str]) -> None:
    assert words(text) == expected


@pytest.mark.parametrize("text", ["1" + ",234" * 50_000 + "5", "\u00e9 1" + ",234" * 50_000 + "5"])
def test_a_run_of_thousands_groups_that_is_no_number_tokenizes_in_linear_time(text: str) -> None:
    # It ends in a fourth digit, so it is no number; it was scanned again from each of its
    # groups: 64 KB took 20 s, holding the GIL (an item's field may hold 200,000 characters).
    started = time.process_time()
    assert len(words(text)) == 50_001 + text.startswith("\u00e9")
    assert time.process_time() - started < 2


def test_a_number_of_more_than_eleven_groups_is_cut_into_numbers() -> None:
    assert words("1" + ",000" * 10) == ["1" + "000" * 10]
    assert words("1" + ",000" * 12) == ["1", "000", "000" * 11]


def test_positions_and_spans_point_into_the_original_text() -> None:
    text = "Russia's  1,500 anti-tank"
    toks = tokenize(text)
    assert [t.position for t in toks] == [0, 1, 2, 3]
    assert [text[t.start : t.end] for t in toks] == ["Russia", "1,500", "anti", "tank"]


def test_stems_and_folds() -> None:
    (a, b, c) = tokenize("dispatched Kyïv Café")
    assert a.stem == "dispatch"
    assert (b.fold, b.raw) == ("kyiv", "Kyïv")
    assert c.fold == "cafe"


def test_analyze_fields() -> None:
    item = Item(
        feed_id="wire",
        key="k",
        title="Troops sent",
        summary="s",
        content="c",
        url="https://x.example/a-b",
        author="Ann",
        categories=("World", "Asia"),
        feed_title="Seed Wire",
    )
    doc = analyze(item)
    assert [f.raw for f in doc.fields["title"].forms] == ["Troops", "sent"]
    assert [f.lower for f in doc.fields["feed"].forms] == ["seed", "wire", "wire"]
    assert [f.lower for f in doc.fields["category"].forms] == ["world", "asia"]
    assert "troop" in doc.stems
    assert "https" in doc.folds


@pytest.mark.parametrize(
    "text",
    [
        "Russia's 1,500 anti-tank snake_case Kyïv’s don't x's's _a_ 1,5000 9,999,99 __",
        "O'Brien's s 's ’s ʼs Russia'S",
        "",
    ],
)
def test_fast_and_exact_paths_agree(text: str) -> None:
    from monitor.query.words import _spans, _words

    assert _words(text) == [w for w, _, _ in _spans(text)]


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=80))
def test_ascii_fast_path_tokenizes_like_the_unicode_regex(text: str) -> None:
    from monitor.query.words import _ASCII_TOKEN_RE, _spans, _words, token_re

    assert _ASCII_TOKEN_RE.findall(text) == token_re().findall(text)
    assert _words(text) == [w for w, _, _ in _spans(text)]  # _spans: the Unicode regex


# ASCII, the punctuation `_words` stands in for with ASCII, and characters it must not: letters
# with diacritics, a combining mark, the modifier apostrophe (a letter), Cyrillic, other quotes.
_STAND_IN_ALPHABET = (
    "aAsSzZ09 ,.'_-\n"
    "\u2019\u2014\u2013\u00ab\u00bb\u2018\u201c\u201d\u00a0\u200b\u2026"
    "\u00e9\u0301\u02bc\u0441\u201b\u2032\uff07"
)


@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet=_STAND_IN_ALPHABET, max_size=60))
def test_ascii_stand_ins_tokenize_like_the_unicode_regex(text: str) -> None:
    """Punctuation that makes English news non-ASCII (dashes, quotes, guillemets, the no-break
    space) is replaced with ASCII before tokenizing: the same tokens as the Unicode regex."""
    from monitor.query.words import _ASCII_STAND_INS, _spans, _words, token_re

    assert _words(text) == [w for w, _, _ in _spans(text)]
    for char, stand_in in _ASCII_STAND_INS:
        assert len(stand_in) == 1
        assert token_re().findall(f"a{char}b") == token_re().findall(f"a{stand_in}b")


def test_written_out_mark_class_is_the_computed_one() -> None:
    from monitor.query.words import _computed_mark_class, _mark_class

    assert _mark_class() == _computed_mark_class()


def test_a_words_forms_share_equal_strings() -> None:
    # Every distinct word of a run keeps its forms in a memo (about 18,000 words over 200 real
    # feeds): a form equal to the one it was made from is that same string, not a copy.
    plain = _forms("troops")
    assert plain.lower is plain.raw
    assert plain.fold is plain.lower
    assert plain.stem == "troop"
    same = _forms("nato")
    assert same.stem is same.fold
    capital = _forms("Kyïv")
    assert (capital.raw, capital.lower, capital.fold) == ("Kyïv", "kyïv", "kyiv")


_PREFIX_WORDS = ["Kyïv", "kyiv", "KYIV", "arms", "armed", "Arm", "1,500", "150", "café", "x", "a_b"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([*_PREFIX_WORDS, " ", ", ", "'s ", "\n"]), max_size=40).map("".join),
    st.sampled_from(["ky", "kyi", "ar", "arm", "armed", "1", "15", "caf", "x", "a", "b", "zz"]),
)
def test_prefixed_positions_are_the_words_starting_with_the_prefix(text: str, prefix: str) -> None:
    """`prefixed` (found in the NUL-joined folded text) gives the positions of exactly the
    words whose folded form starts with the prefix, in order, repeated words included."""
    ft = FieldText(text)
    want = [i for i, w in enumerate(ft.column("fold")) if w.startswith(prefix)]
    assert ft.prefixed(prefix) == want
    assert FieldText(text).prefixed(prefix) == want  # before any other lookup of the field


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=80))
def test_a_fields_token_spans_are_the_exact_paths(text: str) -> None:
    """Every path of `FieldText.spans` (the C-speed pieces of plain ASCII text among them)
    gives the spans of the exact tokenizer."""
    from monitor.query.words import _spans

    assert FieldText(text).spans == [(s, e) for _, s, e in _spans(text)]
    plain = text.replace("'", " ").replace("_", " ")
    assert FieldText(plain).spans == [(s, e) for _, s, e in _spans(plain)]


# Pieces that stress the search of each token in the text: possessives of every apostrophe
# (whose `s` a one-letter token `s` after them must not be taken for), one-letter words, marks,
# non-ASCII letters and separators, numbers with and without thousands separators, underscores.
_SPAN_PIECES = [
    "s", "S", "'s", "’s", "ʼS", "'", "’", "Russia", "russia's", " ", "  ", "—", "-", ",", ".",
    "1,500", "15", "x_y", "Kyïv", "e\u0301", "\u0301", "日本", "\n", "’ss", "s's",
]  # fmt: skip


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from(_SPAN_PIECES), max_size=30).map("".join))
def test_token_spans_found_by_search_are_the_regex_spans(text: str) -> None:
    """`FieldText.spans` finds each token by searching for its text after the token before:
    the same spans as the tokenizer's regex, for any text (ASCII or not)."""
    from monitor.query.words import _spans, _words, token_spans

    want = [(s, e) for _, s, e in _spans(text)]
    assert token_spans(text, _words(text)) == want
    assert FieldText(text).spans == want


def test_a_position_table_is_stored_only_once_it_is_complete() -> None:
    """A feed's `feed` field is shared by its items and read on more than one thread (the
    daemon's matching, the console's playground): a table stored before it was filled would
    let another thread read a word's positions half found, and miss a phrase or a NEAR."""
    stored: list[tuple[str, dict[str, list[int]]]] = []

    class Watched(dict[str, dict[str, list[int]]]):
        def __setitem__(self, kind: str, table: dict[str, list[int]]) -> None:
            stored.append((kind, {k: list(v) for k, v in table.items()}))  # as seen right then
            super().__setitem__(kind, table)

    ft = FieldText("world news world report world news")
    ft._tables = Watched()
    assert ft.where("fold", "world") == [0, 2, 4]
    assert stored == [("fold", {"world": [0, 2, 4], "news": [1, 5], "report": [3]})]


# ASCII, diacritics, full-width (NFKC), ß, a ligature, dotted İ, Devanagari marks, CJK.
MEMO_WORDS = [
    "Dispatched",
    "Kyïv",
    "Café",
    "ＮＡＴＯ",
    "Straße",
    "ﬁnance",
    "İstanbul",
    "हिन्दी",
    "東京",
]


def test_a_word_asked_only_its_stem_head_or_fold_keeps_no_forms_and_gets_the_same_ones() -> None:
    from monitor.query import words as w

    for word in MEMO_WORDS:
        for memo in (w._memo, w._stem_memo, w._fold_memo, w._head_memo):
            memo.pop(word, None)
        full = w._forms(word)
        assert w._stem_memo[word] == full.stem
        assert w._fold_memo[word] == full.fold
        assert w._head_memo[word] == full.fold[: w.HEAD]
        assert word not in w._memo  # what a cold round's words took most: a Forms each
        assert w._memo[word] == full  # asked for all of them, they are made and kept
    doc = analyze_fields({"title": " ".join(MEMO_WORDS)})
    assert doc.heads == {w._forms(x).fold[: w.HEAD] for x in MEMO_WORDS}


def test_every_word_memo_stays_bounded_on_text_full_of_distinct_words(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from monitor.query import words as w

    monkeypatch.setattr(w, "_MEMO_MAX", 50)
    memos: dict[str, dict[str, Any]] = {
        "forms": w._memo,
        "stems": w._stem_memo,
        "folds": w._fold_memo,
        "heads": w._head_memo,
    }
    doc = analyze_fields({"title": " ".join(f"w{i:04d}x" for i in range(1000))})
    assert len(doc.stems) == len(doc.folds) == len(doc.fields["title"].forms) == 1000
    assert len(doc.heads) == 10
    for name, memo in memos.items():
        for i in range(300):  # each memo alone, asked past its bound
            memo[f"{name}{i}q"]
        assert all(len(m) <= 50 for m in (*memos.values(), w._heads)), name
    assert w._stem_memo["dispatched"] == "dispatch"  # a cleared memo still answers


def test_the_fold_memo_keeps_a_word_that_folding_leaves_as_it_is_once() -> None:
    """A fold equal to its word is the word itself: the memo holds its key alone, not a second
    copy of every lower-case word (the memos' share of a cold round's memory)."""
    from monitor.query import words as w

    for parts in (["troops", "xq"], ["kyiv", "xq"], ["东京", "xq"], ["हिन्दी", "xq"]):
        word = "".join(parts)  # a new string, as the tokenizer makes
        w._fold_memo.pop(word, None)
        assert w._fold_memo[word] is word
    for word in ("Troopsxq", "Kyïvxq", "ＮＡＴＯxq", "Straßexq"):  # folding changes these
        w._fold_memo.pop(word, None)
        assert w._fold_memo[word] == w._forms(word).fold != word


def test_a_word_memo_keeps_no_very_long_token_and_still_gives_its_forms() -> None:
    """The memos are bounded in words; a hostile feed of distinct 10,000-letter words must not
    fill them with gigabytes. Such a token is not kept, and its forms are the same."""
    from monitor.query import words as w

    before = [len(m) for m in (w._memo, w._stem_memo, w._fold_memo, w._head_memo)]
    long_words = ["Kyïv" * 2_500, "troops" * 2_000, "x" * (w._KEPT_MAX + 1)]
    doc = analyze_fields({"title": "NATO " + " ".join(long_words), "summary": long_words[0]})
    assert doc.heads == {"nat", "kyi", "tro", "xxx"}
    assert doc.stems == {"nato"} | {w._forms(x).stem for x in long_words}
    assert doc.folds == {"nato"} | {w._forms(x).fold for x in long_words}
    assert doc.fields["title"].forms[1:] == [w._forms(x) for x in long_words]
    assert doc.fields["summary"].column("fold") == [w._forms(long_words[0]).fold]
    for memo in (w._memo, w._stem_memo, w._fold_memo, w._head_memo):
        assert not any(x in memo for x in long_words)
    after = [len(m) for m in (w._memo, w._stem_memo, w._fold_memo, w._head_memo)]
    assert all(b - a <= 1 for a, b in zip(before, after, strict=True))  # "NATO" at most
    word = "y" * w._KEPT_MAX  # as long as a kept word may be
    assert w._stem_memo[word] == w._forms(word).stem
    assert word in w._stem_memo


@settings(max_examples=1000, deadline=None)
@given(
    st.lists(st.sampled_from(_SPAN_PIECES), max_size=40).map("".join),
    st.lists(st.integers(min_value=0, max_value=45), max_size=6),
)
def test_spans_found_a_part_at_a_time_are_the_regex_spans(text: str, asked: list[int]) -> None:
    """`FieldText.spans_to` finds a field's spans only as far as asked, a part at a time, each
    part resuming where the one before stopped: in any order of asking, what it gives is a
    prefix of the tokenizer's spans, as long as asked (an explanation marks its first hits)."""
    from monitor.query import normalize
    from monitor.query.words import _spans, _words, exact_spans, token_spans_part

    want = [(s, e) for _, s, e in _spans(text)]
    words, how = _words(text), exact_spans(text)
    one_by_one: list[tuple[int, int]] = []
    at = 0
    while len(one_by_one) < len(words):  # a part of one token at a time: every resumption
        part, at = token_spans_part(text, words, len(one_by_one), at, 1, how)
        assert part
        one_by_one += part
    assert one_by_one == want
    ft = FieldText(text)
    old = normalize._SPANS_PART
    normalize._SPANS_PART = 1  # parts of one token: every resumption tested
    try:
        for pos in asked:
            got = ft.spans_to(pos)
            assert got == want[: len(got)]
            assert len(got) >= min(pos + 1, len(want))
    finally:
        normalize._SPANS_PART = old
    assert ft.spans == want

"""`confine_bidi` and the cuts that keep it: feed text's embeddings, overrides and isolates
are closed at the end of the field that opened them, balanced right-to-left text is kept as it
came, and a closer that closes nothing the field opened is dropped. Pure."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.controls import MAX_DEPTH, confine_bidi
from monitor.delivery.channels.markup import HTML, cut, cut_bytes, fit, units
from tests.bidi_support import open_at

LRE, RLE, PDF, LRO, RLO = "\u202a", "\u202b", "\u202c", "\u202d", "\u202e"
LRI, RLI, FSI, PDI = "\u2066", "\u2067", "\u2068", "\u2069"
LRM, RLM, ALM = "\u200e", "\u200f", "\u061c"

BALANCED = [
    "",
    "plain ASCII headline",
    "ערב חדשות: הממשלה החליטה",  # Hebrew
    "الأخبار العاجلة: ارتفاع الأسعار",  # Arabic
    f"Reuters: {RLI}الأخبار العاجلة{PDI} (updated)",
    f"{LRM}2026{RLM} {ALM}مرحبا",
    f"a {RLE}b {LRO}c{PDF} d{PDF} e",
    f"{FSI}שלום{PDI} and {LRI}x {RLO}y{PDF}{PDI}",
    f"{RLO}abc{PDF}\n{RLE}def{PDF}",  # balanced in each paragraph
    "emoji \U0001f4f0 and e\u0301 and \U0001f1eb\U0001f1f7",
]


@pytest.mark.parametrize("text", BALANCED)
def test_balanced_text_is_kept_byte_for_byte(text: str) -> None:
    assert confine_bidi(text).encode() == text.encode()


@pytest.mark.parametrize(
    ("opener", "closer"),
    [(LRE, PDF), (RLE, PDF), (LRO, PDF), (RLO, PDF), (LRI, PDI), (RLI, PDI), (FSI, PDI)],
)
def test_each_kind_of_unclosed_opener_is_closed_at_the_end(opener: str, closer: str) -> None:
    assert confine_bidi(f"news {opener}spoof") == f"news {opener}spoof{closer}"


def test_nested_openers_are_closed_innermost_first() -> None:
    text = f"{RLI}a{LRE}b{RLO}c"
    assert confine_bidi(text) == text + PDF + PDF + PDI


def test_stray_closers_are_dropped() -> None:
    assert confine_bidi(f"{PDF}a{PDI}b{PDF}") == "ab"
    # A PDF does not close an isolate, nor an embedding outside the isolate it is in.
    assert confine_bidi(f"{RLI}a{PDF}b{PDI}") == f"{RLI}ab{PDI}"
    assert confine_bidi(f"{RLE}a{RLI}b{PDF}{PDI}{PDF}") == f"{RLE}a{RLI}b{PDI}{PDF}"


def test_a_pdi_closes_the_embeddings_opened_inside_its_isolate() -> None:
    # UAX #9 X6a: the PDI ends them; their PDFs are written out for renderers without isolates,
    # and a PDF after the PDI, which closed nothing left, is dropped.
    assert confine_bidi(f"{RLI}a{RLO}b{LRE}c{PDI}d{PDF}") == f"{RLI}a{RLO}b{LRE}c{PDF}{PDF}{PDI}d"


def test_a_paragraph_separator_closes_what_is_open_before_it() -> None:
    # The algorithm ends every embedding at a paragraph's end; an HTML renderer does not.
    assert confine_bidi(f"{RLO}a\nb{PDF}c") == f"{RLO}a{PDF}\nbc"
    assert confine_bidi(f"{RLI}a\u2029{PDI}b") == f"{RLI}a{PDI}\u2029b"


def test_nesting_past_the_maximum_depth() -> None:
    # RLO opens the next odd level: 1, 3, ..., 125 are 63 overrides; the rest are ignored by
    # the algorithm and dropped here, each with the closer that would close it.
    deep = RLO * 200 + "x"
    kept = RLO * ((MAX_DEPTH + 1) // 2)
    assert confine_bidi(deep) == kept + "x" + PDF * len(kept)
    assert confine_bidi(deep + PDF * 200 + "y") == kept + "x" + PDF * len(kept) + "y"
    # LRO opens even levels: 2, 4, ..., 124.
    assert confine_bidi(LRO * 100) == LRO * 62 + PDF * 62
    # Isolates count as well, and past the limit an isolate's PDI closes nothing kept.
    text = RLI * 70 + "x" + PDI * 70
    assert confine_bidi(text) == RLI * 63 + "x" + PDI * 63


def test_an_fsi_takes_its_direction_from_its_first_strong_letter() -> None:
    # At level 124, an FSI of Arabic text opens 125 (kept), one of Latin text 126 (ignored).
    base = LRO * 62
    assert confine_bidi(base + FSI + "مرحبا") == base + FSI + "مرحبا" + PDI + PDF * 62
    assert confine_bidi(base + FSI + "hello") == base + "hello" + PDF * 62


CONTROLS = st.sampled_from([LRE, RLE, PDF, LRO, RLO, LRI, RLI, FSI, PDI, "a", "ש", " ", "\n"])


@settings(max_examples=300, deadline=None)
@given(st.lists(CONTROLS, max_size=300).map("".join))
def test_any_text_is_confined_and_confining_again_changes_nothing(text: str) -> None:
    confined = confine_bidi(text)
    assert open_at(confined, len(confined)) == []
    assert open_at(confined + "tail", len(confined) + 1) == []
    assert confine_bidi(confined) == confined
    kept = [ch for ch in text if ch not in (LRE, RLE, PDF, LRO, RLO, LRI, RLI, FSI, PDI)]
    assert [ch for ch in confined if ch in kept] == kept  # every other character kept


@settings(max_examples=200, deadline=None)
@given(st.lists(CONTROLS, max_size=400).map("".join), st.integers(min_value=1, max_value=120))
def test_a_cut_stays_within_its_limit_and_confined(text: str, limit: int) -> None:
    for cut_text, size in (
        (fit(text, HTML, limit), units(fit(text, HTML, limit))),
        (cut(text, limit), units(cut(text, limit))),
        (cut_bytes(text, limit + 3), len(cut_bytes(text, limit + 3).encode()) - 3),
    ):
        assert size <= limit
        assert open_at(cut_text, len(cut_text)) == []


def test_a_cut_closes_what_the_kept_part_opens_before_the_ellipsis() -> None:
    assert cut(f"ab{RLO}" + "x" * 50, 10) == f"ab{RLO}xxxxx{PDF}…"
    assert fit(f"<{RLI}" + "y" * 50, HTML, 12) == f"&lt;{RLI}yyyyy{PDI}…"
    assert cut_bytes(f"ab{RLO}" + "x" * 50, 12) == f"ab{RLO}x{PDF}…"  # 2 + 3 + 1 + 3 + 3 bytes

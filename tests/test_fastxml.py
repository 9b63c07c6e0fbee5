"""The RSS 2.0 fast path gives exactly feedparser's items, or declines (issue 9).

Differential: every feed in tests/data/feeds/ goes through `parse_feed` twice, with the fast path
and with it switched off (feedparser only, its character-set step included); wherever the fast
path accepts a document the whole ParsedFeed (items with keys, titles, links, summaries,
content, dates, authors, categories; feed title, link, ttl, warnings) must be equal.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.feeds import fastxml
from monitor.feeds.parse import ParsedFeed
from tests.fastpath_support import equal_on, fast_and_slow

DATA = Path(__file__).parent / "data" / "feeds"
FEEDS = sorted(p for p in DATA.rglob("*") if p.suffix in (".xml", ".rss", ".atom"))
BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def _both(data: bytes, name: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any, bool]:
    return fast_and_slow(data, name, monkeypatch, "parse_rss20")


@pytest.mark.slow
def test_fast_path_equals_feedparser_on_every_corpus_feed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(FEEDS) > 2000
    accepted = equal_on(FEEDS, monkeypatch, "parse_rss20")
    # The fast path must actually be taken on real feeds, not decline everything.
    assert len(accepted) >= 100, len(accepted)


def test_fast_path_takes_the_benchmark_feeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import feedgen
    finally:
        sys.path.remove(str(BENCH))
    feedgen.generate(tmp_path, 3, feedgen.recent_base(datetime.now(UTC)))
    paths = sorted((tmp_path / "feeds").glob("f*.xml"))
    assert len(paths) == 3
    for path in paths:
        fast, slow, took = _both(path.read_bytes(), path.name, monkeypatch)
        assert took, path
        assert isinstance(fast, ParsedFeed)
        assert len(fast.items) == 50
        assert fast == slow


RSS = (
    '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
    "<link>http://example.com/</link><ttl>30</ttl>{item}</channel></rss>"
)


@pytest.mark.parametrize(
    "item",
    [
        "<item><title>A &amp; B</title><link>http://e.com/a?x=1&amp;y=2</link></item>",
        '<item><guid isPermaLink="true">http:///e.com//a</guid><title>x</title></item>',
        "<item><guid>http://e.com/g</guid><link>http://e.com/l</link></item>",
        '<item><guid isPermaLink="false">id-1</guid><pubDate>Tue, 03 Jun 2003 09:39:21 +0230'
        "</pubDate></item>",
        "<item><pubDate>3 Jun 2003 09:39:21 GMT</pubDate><category>a</category>"
        '<category domain="d">b</category><category>a</category><category></category></item>',
        "<item><description><![CDATA[<p>Hi <b>there</b></p>]]></description>"
        "<enclosure url='http://e.com/x.mp3' type='audio/mpeg'/><comments>c</comments></item>",
        "<item><title>   spaced\n title  </title><description>&lt;p&gt;x&lt;/p&gt;"
        "</description></item>",
    ],
)
def test_fast_path_accepts_and_agrees(item: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow, took = _both(RSS.format(item=item).encode(), "x.xml", monkeypatch)
    assert took
    assert fast == slow


@pytest.mark.parametrize(
    "item",
    [
        "<item><title>a</title><title>b</title></item>",  # repeated single-valued element
        "<item><title>A &lt;/b&gt;</title></item>",  # feedparser guesses HTML
        "<item><author>me@example.com (Me)</author></item>",  # feedparser rewrites it
        '<item><description type="text/plain">x</description></item>',
        "<item><title>caf\u00e9</title></item>",  # U+0080-U+00FF: feedparser may re-decode
        "<item><pubDate>2003-06-03T09:39:21Z</pubDate></item>",  # not RFC 822
        '<item xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>x</dc:creator></item>',
        "<item><title>x<b>y</b></title></item>",  # markup inside a text element
        "<item><unknown>x</unknown></item>",
    ],
)
def test_fast_path_declines_what_it_cannot_read_exactly(
    item: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, slow, took = _both(RSS.format(item=item).encode(), "x.xml", monkeypatch)
    assert not took
    assert fast == slow


def test_fast_path_declines_other_documents() -> None:
    assert fastxml.parse_rss20(b'<rss version="0.91"><channel></channel></rss>') is None
    assert fastxml.parse_rss20(b"<feed xmlns='http://www.w3.org/2005/Atom'></feed>") is None
    assert fastxml.parse_rss20(b'<rss version="2.0"><channel><item></channel></rss>') is None
    assert fastxml.parse_rss20(b'<rss version="2.0"><channel/></rss>') is not None


@settings(max_examples=400, deadline=None)
@given(
    day=st.integers(1, 31),
    month=st.sampled_from(fastxml._MONTH_NAMES),
    year=st.one_of(st.sampled_from([1901, 1969, 1970, 2038, 8999]), st.integers(1901, 8999)),
    clock=st.tuples(st.integers(0, 23), st.integers(0, 59), st.integers(0, 59)),
    zone=st.one_of(
        st.sampled_from(["GMT", "UT", "UTC", "Z"]),
        st.builds(
            "{}{:02d}{:02d}".format, st.sampled_from("+-"), st.integers(0, 99), st.integers(0, 59)
        ),
    ),
)
def test_rfc822_dates_are_feedparsers_struct_times(
    day: int, month: str, year: int, clock: tuple[int, int, int], zone: str
) -> None:
    from feedparser.datetimes import _parse_date

    value = f"{day:02d} {month} {year} {clock[0]:02d}:{clock[1]:02d}:{clock[2]:02d} {zone}"
    try:
        fast = fastxml._rfc822(value)
    except (fastxml._Decline, ValueError):
        return  # declined: feedparser reads the whole document
    assert fast == _parse_date(value), value


def test_collapse_matches_the_regex_definition() -> None:
    # htmltext.collapse moved from a regex to str.split() for speed; the meaning must not move.
    import random
    import re

    from monitor.feeds.htmltext import MAX_OUTPUT, collapse

    spaces = re.compile(r"[^\S\n]+")

    def reference(text: str) -> str:
        lines = (spaces.sub(" ", ln).strip() for ln in text.replace("\r", "\n").split("\n"))
        return "\n".join(ln for ln in lines if ln)[:MAX_OUTPUT]

    alphabet = "ab \t\n\r\x0b\x0c\x1c\x85\xa0\u2028\u3000\u200b\u00e9"
    rnd = random.Random(9)
    for _ in range(20_000):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 12)))
        assert collapse(text) == reference(text), repr(text)
    # Printable texts take collapse's shortcut: those with single inner spaces only.
    words = "ab \u00e9\u4e2d<"
    for _ in range(20_000):
        text = "".join(rnd.choice(words) for _ in range(rnd.randint(0, 12)))
        assert collapse(text) == reference(text), repr(text)


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet="ab \t\n\r\x1c\x85\xa0\u2028\u3000\u00e9", max_size=14))
def test_one_line_joins_the_words_with_single_spaces(text: str) -> None:
    from monitor.feeds.identity import one_line

    assert one_line(text) == " ".join(text.split())


def test_every_character_str_split_splits_on_but_space_is_unprintable() -> None:
    # htmltext.collapse takes a printable text's only whitespace to be " ": true of every
    # code point of this Python's Unicode tables.
    import sys

    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if len(("a" + char + "a").split()) == 2:
            assert char == " " or not char.isprintable(), hex(code)

"""The namespaced RSS and Atom fast path gives exactly feedparser's items, or declines (issue 18).

Differential, like tests/test_fastxml.py: each document goes through `parse_feed` with the fast
paths and with both switched off (feedparser only, its own character-set step included: the fast
arm's is `utf8.to_utf8`); wherever `fastfeed` accepts a document the
whole ParsedFeed must be equal. Over every feed in tests/data/feeds/ and, where the shared corpora
sit next to the repository (they may not be copied into it), over the 2021 publisher snapshots
and the shared corpora's Atom and RDF documents.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from feedparser.datetimes import _parse_date
from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor.errors import FeedError
from monitor.feeds import fastfeed
from monitor.feeds.parse import ParsedFeed, parse_feed
from monitor.feeds.prolog import MAX_ATTRIBUTES
from tests.fastpath_support import equal_on, fast_and_slow

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "feeds"
SHARED = ROOT.parent / "shared" / "corpora" / "feeds"
NEWS = SHARED / "news-archive-2021"
_SUFFIXES = (".xml", ".rss", ".atom", ".rdf")


# parse_rss20 off in the fast arm too, so that fastfeed sees plain RSS as well.
OFF = ("parse_rss20",)


def _both(data: bytes, name: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any, bool]:
    return fast_and_slow(data, name, monkeypatch, "parse_namespaced", OFF)


def _check(paths: list[Path], monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    return equal_on(paths, monkeypatch, "parse_namespaced", OFF)


@pytest.mark.slow
def test_fast_path_equals_feedparser_on_every_test_corpus_feed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    paths = sorted(p for p in DATA.rglob("*") if p.suffix in _SUFFIXES)
    assert len(paths) > 2000
    accepted = _check(paths, monkeypatch)
    assert len(accepted) >= 600, len(accepted)
    atom = [p for p in accepted if b"http://www.w3.org/2005/Atom" in p.read_bytes()[:2000]]
    assert len(atom) >= 100, len(atom)


@pytest.mark.slow
def test_fast_path_equals_feedparser_on_publisher_snapshots(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not NEWS.is_dir():
        pytest.skip(f"the 2021 publisher snapshots are not next to the repository ({NEWS})")
    paths = sorted(NEWS.glob("*/*.xml"))
    assert len(paths) >= 600, f"{len(paths)} snapshots in {NEWS}"
    accepted = _check(paths, monkeypatch)
    # 627 snapshots; the ill-formed ones go to feedparser.
    assert len(accepted) >= 0.9 * len(paths), (len(accepted), len(paths))
    outlets = {p.parent.name for p in accepted}
    assert {"aljazeeraenglish", "bbc", "nytimes", "dailymail", "wsj"} <= outlets


@pytest.mark.slow
def test_fast_path_equals_feedparser_on_shared_atom_and_rdf(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not SHARED.is_dir():
        pytest.skip(f"the shared feed corpora are not next to the repository ({SHARED})")
    paths = []
    for path in sorted(SHARED.rglob("*")):
        if path.suffix in _SUFFIXES and NEWS not in path.parents:
            head = path.read_bytes()[:3000]
            if b"http://www.w3.org/2005/Atom" in head or b"rdf:RDF" in head:
                paths.append(path)
    assert len(paths) > 100
    _check(paths, monkeypatch)


NS = (
    '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:media="http://search.yahoo.com/mrss/" '
    'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
    'xmlns:atom="http://www.w3.org/2005/Atom" xmlns:x="http://example.com/x">'
    "<channel><title>T</title><link>http://example.com/</link>"
    '<atom:link rel="self" href="http://example.com/rss"/><ttl>30</ttl>{item}</channel></rss>'
)
ATOM = (
    '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
    'xmlns:media="http://search.yahoo.com/mrss/"><title>T</title><id>urn:f</id>'
    '<link rel="alternate" href="http://example.com/"/>{item}</feed>'
)


@pytest.mark.parametrize(
    ("doc", "item"),
    [
        (
            NS,
            "<item><title>a</title><dc:creator>Jo Doe</dc:creator>"
            "<dc:creator>B</dc:creator></item>",
        ),
        (
            NS,
            "<item><description>short</description><content:encoded>&lt;p&gt;long text&lt;/p&gt;"
            "</content:encoded><link>http://e.com/a</link></item>",
        ),
        (
            NS,
            "<item><content:encoded>&lt;p&gt;long&lt;/p&gt;</content:encoded>"
            "<description>after</description></item>",
        ),
        (
            NS,
            "<item><title>t</title><description>d</description>"
            "<media:description>A &amp;amp; B</media:description></item>",
        ),
        (NS, "<item><media:title>m</media:title><title>t</title></item>"),
        (
            NS,
            "<item><title>t</title><media:group><media:title>m</media:title>"
            "<media:content url='http://e.com/v.mp4'/></media:group></item>",
        ),
        (NS, "<item><media:group><media:title>only</media:title></media:group></item>"),
        (
            NS,
            "<item><guid>http://e.com/g</guid><atom:link href='http://e.com/l'/>"
            "<x:extra>ignored</x:extra><media:keywords>a, b,,c</media:keywords>"
            "<media:category>cat</media:category><category domain='d'>c</category></item>",
        ),
        (
            NS,
            "<item><author>jo@example.com (Jo)</author><dc:date>2021-07-15T20:01:00Z</dc:date>"
            "</item>",
        ),
        (
            ATOM,
            "<entry><id>yt:video:1</id><title>t</title><link rel='alternate' "
            "href='http://e.com/w'/><author><name>N</name><uri>http://e.com/a</uri></author>"
            "<published>2021-07-15T20:01:00+00:00</published><updated>2021-07-15T20:04:49Z"
            "</updated><media:group><media:title>m</media:title><media:description>desc &amp; "
            "more</media:description></media:group></entry>",
        ),
        (
            ATOM,
            "<entry><id>tag:e,2021:1</id><title type='html'>a &lt;b&gt;b&lt;/b&gt;</title>"
            "<summary>s</summary><content type='html'>&lt;p&gt;c&lt;/p&gt;</content>"
            "<category term='t' label='L'/><author><name>A</name><email>a@e.com</email></author>"
            "</entry>",
        ),
    ],
)
def test_fast_path_accepts_and_agrees(doc: str, item: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow, took = _both(doc.format(item=item).encode(), "x.xml", monkeypatch)
    assert took
    assert isinstance(fast, ParsedFeed)
    assert fast.items
    assert fast == slow


@pytest.mark.parametrize(
    ("doc", "item"),
    [
        (NS, '<item xml:base="http://e.com/"><link>a</link></item>'),  # xml:base: not replayed
        (NS, "<item><description>x<b>y</b></description></item>"),  # markup in a text element
        (NS, "<item><title>x</title>stray</item>"),  # stray text
        (NS, '<item><x:title xmlns:x="http://example.com/y">t</x:title></item>'),  # rebound
        (
            ATOM,
            "<entry><content type='xhtml'><div xmlns='http://www.w3.org/1999/xhtml'>x"
            "</div></content></entry>",
        ),
        (
            NS,
            "<item><itunes:summary xmlns:itunes='http://www.itunes.com/dtds/podcast-1.0.dtd'>"
            "s</itunes:summary></item>",
        ),  # a feedparser handler not replayed
    ],
)
def test_fast_path_declines_what_it_does_not_replay(
    doc: str, item: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, slow, took = _both(doc.format(item=item).encode(), "x.xml", monkeypatch)
    assert not took
    assert fast == slow


@pytest.mark.parametrize(
    "base", ["https://www.example.com/news/", "http://example.com", "/relative/", "ftp://e.com/x"]
)
def test_a_root_xml_base_resolves_links_and_guids_like_feedparser(
    base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    item = (
        "<item><title>t</title><link>story/1?a=b&amp;c=d</link><guid>g/2</guid></item>"
        "<item><title>u</title><guid>/abs/3</guid><atom:link href='../up/4'/></item>"
        "<item><title>v</title><guid isPermaLink='false'>not/a/link</guid></item>"
    )
    doc = NS.format(item=item).replace("<rss ", f'<rss xml:base="{base}" ', 1)
    fast, slow, took = _both(doc.encode(), "x.xml", monkeypatch)
    assert took
    assert isinstance(fast, ParsedFeed)
    assert fast == slow
    if base.startswith("https"):  # joined to the base, not to the feed's URL
        assert fast.items[0].link == "https://www.example.com/news/story/1?a=b&c=d"


def test_unknown_namespace_dispatches_by_its_prefix_like_feedparser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A media prefix bound to a URI feedparser does not know still reaches its media handlers:
    # the second description becomes content, as feedparser does it.
    doc = (
        '<rss version="2.0" xmlns:media="//search.yahoo.com/mrss/"><channel><title>T</title>'
        "<item><title>t</title><description>d</description>"
        "<media:description>longer media text</media:description></item></channel></rss>"
    )
    fast, slow, took = _both(doc.encode(), "x.xml", monkeypatch)
    assert took
    assert isinstance(fast, ParsedFeed)
    assert fast.items[0].content == "longer media text"
    assert fast == slow


def test_rss_10_rdf_items_beside_the_channel_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = (
        '<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        '<channel rdf:about="http://e.com/"><title>T</title><link>http://e.com/</link>'
        '<items><rdf:Seq><rdf:li rdf:resource="http://e.com/1"/></rdf:Seq></items>'
        '<image rdf:resource="http://e.com/i.png"/></channel>'
        '<image rdf:about="http://e.com/i.png"><title>Logo</title><url>http://e.com/i.png</url>'
        "</image>"
        '<item rdf:about="http://e.com/1"><title>One</title><link>http://e.com/1</link>'
        "<description>A &lt;b&gt;bold&lt;/b&gt; move</description><dc:creator>Ann</dc:creator>"
        "<dc:date>2021-07-15T20:01:00Z</dc:date><dc:subject>World</dc:subject></item>"
        "</rdf:RDF>"
    )
    fast, slow, took = _both(doc.encode(), "x.rdf", monkeypatch)
    assert took
    assert isinstance(fast, ParsedFeed)
    assert fast.items[0].guid == "http://e.com/1"
    assert fast.items[0].author == "Ann"
    assert fast == slow


def test_declines_non_feeds_and_ill_formed() -> None:
    assert fastfeed.parse_namespaced(b"<html><body/></html>") is None
    assert fastfeed.parse_namespaced(b'<rss version="2.0"><channel><item></channel></rss>') is None
    assert fastfeed.parse_namespaced(b'<!DOCTYPE rss><rss version="2.0"><channel/></rss>') is None
    assert fastfeed.parse_namespaced(b'<rss version="2.0"><channel/></rss>') is not None


@pytest.mark.parametrize(
    ("item", "what"),
    [
        ("<x:a>" * 300 + "</x:a>" * 300, "deep"),
        ("<x:a " + " ".join(f"a{i}='v'" for i in range(150)) + "/>", "attributes"),
    ],
)
def test_structure_bombs_are_refused_not_taken_by_the_fast_path(item: str, what: str) -> None:
    # Few nodes, so the cheap node count passes; the fast path must not accept what
    # check_structure would refuse on feedparser's path.
    doc = NS.format(item="<item><title>t</title>" + item + "</item>").encode()
    assert fastfeed.parse_namespaced(doc) is None
    with pytest.raises(FeedError) as err:
        parse_feed(doc, feed_id="s")
    assert err.value.kind == "too_large"
    assert what in str(err.value)


def test_fast_path_takes_the_publisher_shaped_benchmark_feeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys
    from datetime import UTC, datetime

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import feedgen
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    feedgen.generate(tmp_path, 4, feedgen.recent_base(datetime.now(UTC)), "publisher")
    paths = sorted((tmp_path / "feeds").glob("f*.xml"))
    assert b"<feed" in paths[3].read_bytes()[:200]  # one in four is Atom
    for path in paths:
        fast, slow, took = _both(path.read_bytes(), path.name, monkeypatch)
        assert took, path
        assert isinstance(fast, ParsedFeed)
        assert len(fast.items) == 50
        assert all(i.author and i.summary for i in fast.items)
        assert fast == slow


def test_attributes_checked_by_name_still_decline_what_they_did(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The walk checks a handler-less element's attributes against the names already found
    # plain: a name seen plain before must not let a colliding or `base` attribute through.
    first = (
        "<item><title>a</title><guid isPermaLink='false'>f</guid>"
        "<media:content url='http://e.com/a.jpg' medium='image'/></item>"
    )
    for later in (
        "<guid isPermaLink='false' ISPERMALINK='true'>g</guid>",
        "<media:content url='http://e.com/b.jpg' URL='http://e.com/c.jpg'/>",
        "<media:content url='http://e.com/b.jpg' base='http://e.com/'/>",
        "<enclosure url='http://e.com/b.mp3' x:mode='base64'/>",
    ):
        doc = NS.format(item=first + f"<item><title>b</title>{later}</item>")
        fast, slow, took = _both(doc.encode(), "x.xml", monkeypatch)
        assert not took, later
        assert fast == slow


def test_too_many_attributes_decline_even_when_every_name_was_seen_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # feedparser's path refuses an element with more than MAX_ATTRIBUTES attributes; names
    # already found plain on earlier elements must not let such an element through.
    def attrs(names: range) -> str:
        return " ".join(f"a{n}='v'" for n in names)

    over = MAX_ATTRIBUTES + 1
    item = (
        f"<item><title>one</title><media:x {attrs(range(over - 1))}/>"
        f"<media:x {attrs(range(over - 1, 2 * (over - 1)))}/><media:x {attrs(range(over))}/></item>"
    )
    fast, slow, took = _both(NS.format(item=item).encode(), "x.xml", monkeypatch)
    assert not took
    assert fast == slow == "FeedError too_large"


def test_rel_and_type_values_are_lowercased_and_c1_characters_mapped_like_feedparser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    item = (
        "<item><title>caf\u00c3\u00a9 \u0093quoted\u0094 \u0080 5</title>"
        "<description type='TEXT/HTML'>d \u0096 e</description>"
        "<atom:link rel='ALTERNATE' type='Text/HTML' href='http://e.com/x'/></item>"
        "<item><title>plain \u00e9t\u00e9 \u4e2d</title>"
        "<atom:link rel='alternate' href='http://e.com/y'/></item>"
    )
    fast, slow, took = _both(NS.format(item=item).encode(), "x.xml", monkeypatch)
    assert took
    assert isinstance(fast, ParsedFeed)
    assert [i.link for i in fast.items] == ["http://e.com/x", "http://e.com/y"]
    assert "\u201cquoted\u201d" in fast.items[0].title  # cp1252's quotes, as feedparser maps them
    assert fast == slow


def test_a_date_feedparser_completes_from_today_is_read_again_every_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # feedparser fills a missing year, month or day from the clock: a daemon that kept the
    # first reading would date a feed's items at its first poll for ever (and skip them as
    # too old once that passes the retention).
    monkeypatch.setattr(fastfeed, "_DATES", {})
    real_gmtime = time.gmtime
    assert fastfeed._date("T12:00:00Z") == _parse_date("T12:00:00Z")
    later = real_gmtime(time.time() + 90 * 86400)
    monkeypatch.setattr(time, "gmtime", lambda *a: real_gmtime(*a) if a else later)
    assert fastfeed._date("T12:00:00Z")[:3] == later[:3]
    assert "T12:00:00Z" not in fastfeed._DATES


def test_dates_are_read_once_per_text_and_the_memo_stays_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fastfeed, "_DATES", {})
    read: list[str] = []
    plain_seconds = fastfeed._plain_seconds

    def reading(value: str) -> int | None:
        read.append(value)
        return plain_seconds(value)

    monkeypatch.setattr(fastfeed, "_plain_seconds", reading)
    value = "Thu, 15 Jul 2021 20:01:00 +0200"
    first = fastfeed._date(value)
    assert first == _parse_date(value)
    assert fastfeed._date(value) == first
    assert read == [value]  # the second one came from the memo
    assert isinstance(fastfeed._DATES[value], int)  # kept as seconds, not a struct_time
    assert fastfeed._date("not a date") is None
    long = "Thu, 15 Jul 2021 20:01:00 +0200" + " " * 10_000
    assert fastfeed._date(long) == _parse_date(long)
    assert long not in fastfeed._DATES  # a long text is read, never kept
    for minute in range(fastfeed._DATES_MAX + 10):
        fastfeed._date(f"2021-07-15T{minute // 60 % 24:02d}:{minute % 60:02d}:00Z")
        assert len(fastfeed._DATES) <= fastfeed._DATES_MAX


def test_mixed_case_attribute_names_read_like_feedparser_every_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The first of each is read by _attrs; the later ones by the name it recorded.
    item = (
        "<item><title>{0}</title><guid isPermaLink='{1}'>http://e.com/g{0}</guid>"
        "<category Domain='http://e.com/d'>c{0}</category>"
        "<atom:link Rel='ALTERNATE' href='http://e.com/l{0}'/></item>"
    )
    items = "".join(item.format(i, ("true", "false", "TRUE")[i % 3]) for i in range(6))
    fast, slow, took = _both(NS.format(item=items).encode(), "x.xml", monkeypatch)
    assert took
    assert isinstance(fast, ParsedFeed)
    assert [i.guid for i in fast.items][:2] == ["http://e.com/g0", "http://e.com/g1"]
    assert fast == slow


@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet="ab1+-.:/ \u00e9", max_size=16))
@example("http:///a")
@example("x+y://///b")
@example("http://a:///b")  # the first "://" has no slash after it
def test_links_without_a_base_keep_their_slashes_as_feedparser_does(uri: str) -> None:
    from monitor.feeds import fptables

    assert fastfeed._Replay([])._resolve(uri) == fptables.urljoin("", uri)


@settings(max_examples=1500, deadline=None)
@given(
    st.text(alphabet="ab <>&;/p#\u00e9\u0085\u00c3\u00a9", max_size=16),
    st.sampled_from([None, "text/plain", "text/html"]),
    st.sampled_from(["rss20", "atom10"]),
)
@example("a &amp; b", "text/plain", "rss20")  # looks like HTML: its type becomes text/html
@example("<b>a</b>", "text/plain", "atom10")
def test_a_value_is_its_text_finished_with_the_same_params(
    text: str, kind: str | None, version: str
) -> None:
    import xml.etree.ElementTree as ET

    replay = fastfeed._Replay([])
    replay.version = version
    el = ET.Element("t")
    el.text = text
    params, expected_params = (None, None) if kind is None else ({"type": kind}, {"type": kind})
    expected = replay._finish(replay._text(el), expected_params)
    assert replay._value(el, params) == expected
    assert params == expected_params


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet="&;ab_1 #", max_size=16))
def test_link_references_are_cut_as_feedparsers_pattern_cuts_them(link: str) -> None:
    # _link_refs skips the substitution where the link has no "&" or no ";".
    assert fastfeed._link_refs(link) == fastfeed._LINK_REF.sub(r"&\g<1>", link)

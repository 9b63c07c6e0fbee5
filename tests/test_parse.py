import socket
import subprocess
import sys
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor.errors import FeedError
from monitor.feeds import parse
from monitor.feeds.htmltext import html_to_text, text_field
from monitor.feeds.identity import content_hash, story_key
from monitor.feeds.parse import parse_feed
from monitor.feeds.prolog import HEAD_LIMIT, QUICK_HEAD, check_prolog, check_structure
from tests.test_corpora import OpenAudit

DATA = Path(__file__).resolve().parent / "data" / "feeds"
LEMON = DATA / "lemon24-reader" / "tests" / "data"
MINIFLUX = DATA / "miniflux" / "internal" / "reader"
BOMB = (
    '<?xml version="1.0" encoding="{enc}"?>\n<!DOCTYPE rss [\n<!ENTITY a "aaaaaaaaaa">\n'
    '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">\n]>\n<rss><channel><item><title>&b;</title>'
    "</item></channel></rss>"
)


def rss(items: str, extra: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>F</title>'
        f"{extra}{items}</channel></rss>"
    ).encode()


def test_str_is_refused_bytes_only() -> None:
    with pytest.raises(TypeError):
        parse_feed("/etc/passwd", feed_id="x")  # type: ignore[arg-type]  # the refused str is the test


def test_body_that_looks_like_a_path_is_not_opened() -> None:
    # feedparser.parse(b"/etc/passwd") would open the file: it tries open() on bytes too
    with OpenAudit.recording() as opened, pytest.raises(FeedError) as err:
        parse_feed(b"/etc/passwd", feed_id="x")
    assert err.value.kind == "not_a_feed"
    assert not [e for e in opened if "passwd" in e], opened


@pytest.mark.parametrize("body", [b"", b"  \n", (LEMON / "sqlite_releases.html").read_bytes()])
def test_documents_without_a_feed(body: bytes) -> None:
    with pytest.raises(FeedError) as err:
        parse_feed(body, feed_id="x")
    assert err.value.kind == "not_a_feed"


def _page(head: bytes) -> bytes:
    return (
        b"<!doctype html><html><head><title>News</title>" + head + b"</head><body>Hi</body></html>"
    )


@pytest.mark.parametrize(
    ("head", "named"),
    [
        # A site's address where its feed's belongs: the page names the feed, so the error does.
        (
            b'<link rel="alternate" type="application/rss+xml" href="/world/rss.xml?a=1&amp;b=2">',
            "https://news.example/world/rss.xml?a=1&b=2",
        ),
        (
            b"<LINK TYPE='application/atom+xml; charset=utf-8' REL='Alternate feed' "
            b"HREF=https://feeds.example/atom>",
            "https://feeds.example/atom",
        ),
        (b'<link rel="stylesheet" type="text/css" href="/s.css">', None),
        (b'<link rel="alternate" hreflang="fr" href="/fr/">', None),
        (b'<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">', None),
        (b'<link rel="alternate" type="application/rss+xml" href="https://u:pw@x.example/">', None),
    ],
)
def test_a_web_page_in_a_feeds_place_names_the_feed_it_links(
    head: bytes, named: str | None
) -> None:
    with pytest.raises(FeedError) as err:
        parse_feed(_page(head), feed_id="x", feed_url="https://news.example/world/")
    assert err.value.kind == "not_a_feed"
    hint = f"; the page names its feed: {named} (use that URL)" if named else ""
    assert str(err.value) == f"{NOT_A_FEED}{hint}"


def test_a_feed_link_past_the_start_of_a_page_is_not_looked_for() -> None:
    late = b"<!-- " + b"x" * 70_000 + b" -->"
    link = b'<link rel="alternate" type="application/rss+xml" href="/rss">'
    assert parse.advertised_feed(_page(late + link), "https://e.example/") is None
    assert (
        parse.advertised_feed(_page(link + late), "https://e.example/") == "https://e.example/rss"
    )


def test_rss_item_fields_are_text_with_utc_dates_newest_first() -> None:
    data = rss(
        "<item><title>Old &amp; &lt;b&gt;bold&lt;/b&gt;</title><link>/a/1?utm_source=x</link>"
        "<guid>g1</guid><pubDate>Mon, 02 Jan 2026 10:00:00 +0200</pubDate>"
        "<category>World</category><category>World</category>"
        "<description>&lt;p&gt;Para one&lt;/p&gt;&lt;script&gt;bad()&lt;/script&gt;"
        "&lt;p&gt;Two&amp;nbsp;&amp;amp; three&lt;/p&gt;</description></item>"
        "<item><title>New</title><link>https://x.com/b</link>"
        "<pubDate>Tue, 03 Jan 2026 10:00:00 GMT</pubDate></item>",
        "<ttl>15</ttl>",
    )
    feed = parse_feed(data, feed_id="f1", feed_url="https://example.com/feed.xml")
    assert feed.title == "F"
    assert feed.ttl_s == 900
    assert [i.title for i in feed.items] == ["New", "Old & bold"]  # escaped HTML in RSS titles
    old = feed.items[1]
    assert old.summary == "Para one\nTwo & three"
    assert old.link == "https://example.com/a/1?utm_source=x"
    assert old.url == "https://example.com/a/1"
    assert old.published == datetime(2026, 1, 2, 8, 0, tzinfo=UTC)
    assert old.categories == ("World",)
    assert old.guid == "g1"
    assert old.key.startswith("g:")
    assert feed.items[0].key.startswith("u:")
    assert feed.items[0].guid is None
    assert old.feed_id == "f1"
    assert old.feed_title == "F"
    assert feed.warnings == []


def test_unsafe_link_schemes_are_dropped() -> None:
    feed = parse_feed(
        rss("<item><title>t</title><link>javascript:alert(1)</link></item>"), feed_id="f"
    )
    assert feed.items[0].link is None
    assert feed.items[0].url is None


@pytest.mark.parametrize("ref", ["&#0;", "&#x1;", "&#127;"])
def test_a_link_with_a_control_character_is_dropped_not_joined_later(ref: str) -> None:
    """`jav<NUL>ascript:` has no scheme as written; a channel that strips control characters
    would make it `javascript:`. No valid URL holds one, so the item keeps no link."""
    feed = parse_feed(
        rss(f"<item><title>t</title><link>jav{ref}ascript:alert(1)</link></item>"), feed_id="f"
    )
    assert [i.title for i in feed.items] == ["t"]
    assert feed.items[0].link is None
    assert feed.items[0].url is None


def test_a_json_feed_link_with_a_control_character_is_dropped() -> None:
    body = (
        b'{"version": "https://jsonfeed.org/version/1.1", "title": "J",'
        b' "items": [{"id": "1", "title": "t", "url": "jav\\u0000ascript:alert(1)"}]}'
    )
    feed = parse_feed(body, feed_id="j")
    assert feed.items[0].link is None


def test_ill_formed_feed_keeps_its_items_with_a_warning() -> None:
    data = rss("<item><title>One</title></item><item><title>Two &nbsp; <b>x</item>")
    feed = parse_feed(data, feed_id="f")
    assert [i.title for i in feed.items][:1] == ["One"]
    assert any("ill-formed" in w for w in feed.warnings)


def test_json_feed_from_lemon24_data() -> None:
    feed = parse_feed((LEMON / "full.json").read_bytes(), feed_id="j")
    assert feed.title == "My Example Feed"
    assert feed.link == "https://example.org/"
    second, first = feed.items
    assert second.title == "Title"
    assert second.summary == "A summary"
    assert second.published == datetime(2020, 1, 2, 21, 0, tzinfo=UTC)
    assert second.url == "https://example.org/second-item"
    assert first.summary == "Hello, world!"
    assert first.author == "Jane"
    assert "<" not in first.summary


def test_json_feed_relative_links_and_caps() -> None:
    items = ",".join(f'{{"id": "{i}", "url": "/p/{i}", "content_text": "t{i}"}}' for i in range(30))
    body = f'{{"version": "https://jsonfeed.org/version/1", "title": "J", "items": [{items}]}}'
    feed = parse_feed(body.encode(), feed_id="j", feed_url="https://ex.org/feed.json", max_items=10)
    assert len(feed.items) == 10
    assert feed.total_items == 30
    assert feed.items[0].link == "https://ex.org/p/0"


def test_json_feed_with_wrong_types_is_read_without_them() -> None:
    feed = parse_feed((LEMON / "invalid.json").read_bytes(), feed_id="j")
    assert feed.title == ""
    assert feed.items[0].guid == "2"
    assert feed.items[0].title == ""
    assert feed.items[0].link is None
    assert feed.items[0].published is None


@pytest.mark.parametrize(
    ("item", "tags", "published"),
    [
        ('{"id": "1", "tags": true}', (), None),  # found by the fuzzer: was a TypeError
        ('{"id": "1", "tags": "war"}', (), None),  # a string is not a list of tags
        ('{"id": "1", "tags": ["war", 3]}', ("war",), None),
        ('{"id": "1", "date_published": "0001-01-01T00:00:00+01:00"}', (), None),  # was Overflow
        ('{"id": "1", "date_published": "9999-12-31T23:59:59-01:00"}', (), None),
        (
            '{"id": "1", "date_published": "2026-11-27T10:00:00+01:00"}',
            (),
            datetime(2026, 11, 27, 9, 0, tzinfo=UTC),
        ),
    ],
)
def test_json_feed_items_with_hostile_values(
    item: str, tags: tuple[str, ...], published: datetime | None
) -> None:
    body = '{"version": "https://jsonfeed.org/version/1.1", "items": [' + item + "]}"
    (parsed,) = parse_feed(body.encode(), feed_id="j").items
    assert parsed.categories == tags
    assert parsed.published == published


def test_json_feed_lone_surrogate_escapes_become_replacement_characters() -> None:
    # json.loads keeps "\\ud800" as a lone surrogate, which no UTF-8 encoder takes: the item's
    # key and hashes (and the store, and alerts) raised UnicodeEncodeError, not a FeedError, and
    # ended a one-shot check over every feed. A valid pair stays the character it spells.
    text = r"a \ud800 b \udfff \ud83d\ude00"
    item = (
        f'{{"id": "{text}", "title": "{text}", "summary": "{text}", "url": "https://e.org/{text}",'
        f' "tags": ["{text}"], "authors": [{{"name": "{text}"}}]}}'
    )
    version = "https://jsonfeed.org/version/1.1"
    body = f'{{"version": "{version}", "title": "{text}", "items": [{item}]}}'
    feed = parse_feed(body.encode(), feed_id="j")
    (parsed,) = feed.items
    clean = "a \ufffd b \ufffd \U0001f600"
    assert (feed.title, parsed.guid, parsed.title, parsed.summary) == (clean, clean, clean, clean)
    assert (parsed.author, parsed.categories) == (clean, (clean,))
    assert parsed.link == "https://e.org/" + clean
    assert content_hash(parsed)  # raised UnicodeEncodeError, as the item's key did
    assert story_key(parsed)


@pytest.mark.parametrize("body", [b'{"version": "x", "items": []}', b"{not json", b"[1, 2]"])
def test_json_that_is_not_a_json_feed(body: bytes) -> None:
    with pytest.raises(FeedError) as err:
        parse_feed(body, feed_id="j")
    assert err.value.kind in {"parse", "not_a_feed"}


@pytest.mark.parametrize("name", ["relative.rss", "relative.atom"])
def test_relative_links_are_resolved_against_the_feed_url(name: str) -> None:
    feed = parse_feed((LEMON / name).read_bytes(), feed_id="r", feed_url="https://ex.org/f/x.xml")
    assert feed.items[0].link is not None
    assert feed.items[0].link.startswith("https://ex.org/f/")
    assert feed.link == "https://ex.org/f/file.html"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("parser/testdata/urdu_UTF8.xml", "پاکستان"),
        ("parser/testdata/encoding_ISO-8859-1.xml", "Golem.de"),
        ("parser/testdata/encoding_WINDOWS-1251.xml", "Цитата"),
        ("encoding/testdata/koi8r.xml", "Первая новость"),
        ("xml/testdata/koi8r.xml", "Вторая новость"),
    ],
)
def test_encodings_decode_right(path: str, expected: str) -> None:
    feed = parse_feed((MINIFLUX / path).read_bytes(), feed_id="e")
    text = feed.title + " ".join(i.title for i in feed.items)
    assert expected in text
    assert "Ð" not in text
    assert "Ã" not in text


def test_iso_8859_1_text_is_decoded() -> None:
    feed = parse_feed(
        (MINIFLUX / "parser/testdata/encoding_ISO-8859-1.xml").read_bytes(), feed_id="e"
    )
    assert any(ch in i.title + i.summary for i in feed.items for ch in "äöüß")


def _big_feed(n: int) -> bytes:
    item = "<item><title>Item {0}</title><link>https://ex.org/{0}</link><guid>{0}</guid></item>"
    return rss("".join(item.format(i) for i in range(n)))


def test_item_cap_keeps_the_first_items_and_counts_all() -> None:
    feed = parse_feed(_big_feed(3000), feed_id="b", max_items=100)
    assert len(feed.items) == 100
    assert feed.total_items == 3000
    assert feed.items[0].title == "Item 0"
    assert feed.items[-1].title == "Item 99"
    assert any("3000 items" in w for w in feed.warnings)


@settings(max_examples=300, deadline=None)
@given(
    head=st.sampled_from(
        [
            b"",
            b"\xef\xbb\xbf",
            b"<?xml version='1.0'?>",
            b'<?xml version="1.0" encoding="utf-8"?>\n\n',
            b'<?xml version="1.0" encoding="UTF-8" x="</item>"?>',
            b"<?xml version='1.0' encoding='windows-1252'?>\n",
            b"<?xml version='1.0' encoding='cp500'?>\n",  # EBCDIC after an ASCII declaration
        ]
    ),
    items=st.lists(st.sampled_from(["<item>\u00e9</item >", "<x:entry/></x:entry>", "</item>"])),
    max_items=st.integers(1, 4),
    encoding=st.sampled_from(["utf-8", "cp1252", "cp500"]),
)
def test_items_are_counted_again_only_where_the_count_could_differ(
    head: bytes, items: list[str], max_items: int, encoding: str
) -> None:
    # A UTF-8 document's bytes after the character-set step are its own after a new
    # declaration: parse_feed does not count its items a second time. The answer must be the
    # one counting again gives, also where the step makes item ends the bytes did not have.
    body = "<rss version='2.0'><channel>" + "".join(items) + "</channel></rss>"
    data = head + body.encode(encoding)

    def answer() -> object:
        parsed: list[bytes] = []  # what the parsers are given: cut to max_items where needed

        def spy(utf8: bytes) -> None:
            parsed.append(utf8)

        with pytest.MonkeyPatch.context() as m:
            m.setattr(parse, "parse_rss20", spy)
            m.setattr(parse, "parse_namespaced", lambda utf8: None)
            try:
                feed = parse_feed(data, feed_id="c", max_items=max_items)
            except FeedError as e:
                return e.kind, parsed
        return feed.total_items, feed.items, feed.warnings, parsed

    skipping = answer()
    with pytest.MonkeyPatch.context() as m:
        m.setattr(parse, "_declaration_before_tail", lambda utf8, data: False)
        assert skipping == answer()


@pytest.mark.slow
def test_hundred_thousand_items_in_bounded_time_and_memory() -> None:
    data = _big_feed(100_000)
    tracemalloc.start()
    start = time.process_time()
    feed = parse_feed(data, feed_id="b", max_items=1000)
    elapsed = time.process_time() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"100k items, {len(data) / 1e6:.1f} MB: {elapsed:.2f} s, peak {peak / 1e6:.0f} MB")
    assert len(feed.items) == 1000
    assert feed.total_items == 100_000
    assert elapsed < 10
    assert peak < 200e6


# --- the prolog check ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        BOMB.format(enc="utf-8").encode(),
        b"\xef\xbb\xbf" + BOMB.format(enc="utf-8").encode(),
        BOMB.format(enc="utf-16").encode("utf-16"),  # with BOM
        BOMB.format(enc="utf-16").encode("utf-16-le"),  # no BOM
        BOMB.format(enc="utf-16").encode("utf-16-be"),
        BOMB.format(enc="utf-32").encode("utf-32"),
        BOMB.format(enc="utf-7").encode("utf-7"),
        BOMB.format(enc="cp037").encode("cp037"),
        BOMB.replace("<!ENTITY", "<!entity").format(enc="utf-8").encode(),
        # a "<a" inside a comment or a quoted system id must not end the prolog early
        b'<!-- <a --><!DOCTYPE rss [<!ENTITY x "y">]><rss/>',
        b'<!DOCTYPE rss SYSTEM "<a>" [<!ENTITY x "y">]><rss/>',
        b'<?pi <a ?><!DOCTYPE rss [<!-- \' --><!ENTITY x "y">]><rss/>',
        b'<!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]><rss>&x;</rss>',
        # an element feedparser does not take for the root (its `<\w` is ASCII) must not end
        # the prolog either: its loose parser reads the entities of a DOCTYPE after it
        b'<:x/>\n<!DOCTYPE rss [\n<!ENTITY x "y">\n]><rss/>',
        '<\u00e9/>\n<!DOCTYPE rss [\n<!ENTITY x "y">\n]><rss/>'.encode(),
    ],
)
def test_entity_declarations_are_refused_in_any_encoding(data: bytes) -> None:
    with pytest.raises(FeedError) as err:
        check_prolog(data)
    assert err.value.kind == "refused_entities"
    with pytest.raises(FeedError):
        parse_feed(data, feed_id="x")


def cut_into_the_prolog(items: int) -> bytes:
    """`items` item ends in a leading comment, one real item, then a DOCTYPE declaring an entity
    after the root: no prolog holds it, but the item cap (cutting from the `items`-th item end
    to the last) joins the comment to the DOCTYPE. In UTF-16 named only by the HTTP charset the
    cut happens on the UTF-8 bytes feedparser reads; U+413C reads as `<A` in Latin-1, so that
    reading of the document finds a root before the DOCTYPE too."""
    return (
        "<!-- \u413c " + "</item>" * items + ' --><rss version="2.0"><channel><title>t</title>'
        "<item><guid>1</guid><title>x</title></item> -->\n"
        '<!DOCTYPE rss [\n<!ENTITY a "' + "x" * 100 + '">\n]><rss version="2.0"><channel>'
        "<title>" + "&a;" * 100 + "</title></channel></rss>"
    ).encode("utf-16-le")


def test_an_item_cut_that_joins_a_doctype_to_the_prolog_is_refused() -> None:
    data = cut_into_the_prolog(2)
    content_type = "application/rss+xml; charset=utf-16le"
    check_prolog(data, content_type)  # uncut, no reading of it has entities in its prolog
    with pytest.raises(FeedError) as err:
        parse_feed(data, feed_id="x", content_type=content_type, max_items=2)
    assert err.value.kind == "refused_entities"


def test_charset_from_content_type_is_checked_too() -> None:
    data = BOMB.split("\n", 1)[1].encode("cp037")  # EBCDIC without the <?xml to sniff
    check_prolog(data)  # on its own it looks harmless
    with pytest.raises(FeedError) as err:
        check_prolog(data, "application/rss+xml; charset=cp037")
    assert err.value.kind == "refused_entities"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_a_prolog_is_read_whole_wherever_the_quick_look_ends(encoding: str) -> None:
    # check_prolog first reads QUICK_HEAD bytes; wherever that cut falls in a prolog (inside a
    # comment, a multi-byte character, a quoted id or the internal subset), the answer must be
    # the one the whole head gives.
    tail = (
        '<!-- \u00e9 \U0001d11e <a --><!DOCTYPE rss SYSTEM "<a>" [<!-- \' -->{decl}]>'
        "<rss><channel><title>t</title></channel></rss>" + "<!-- body -->" * 600
    )
    start, end = '<?xml version="1.0"?><!--', "-->"
    fixed = len((start + end).encode(encoding))
    unit = len("xx".encode(encoding)) - len("x".encode(encoding))
    prolog = len(tail.split("<rss>")[0].format(decl='<!ENTITY x "y">').encode(encoding))
    for cut in range(prolog + 2):  # the cut's offset into the part after the padding
        head = start + "x" * ((QUICK_HEAD - cut - fixed) // unit) + end
        hostile = (head + tail.format(decl='<!ENTITY x "y">')).encode(encoding)
        with pytest.raises(FeedError) as err:
            check_prolog(hostile)
        assert err.value.kind == "refused_entities", cut
        check_prolog((head + tail.format(decl="<!ELEMENT rss ANY>")).encode(encoding))


def test_overlong_prolog_is_refused() -> None:
    data = b"<!--" + b"x" * HEAD_LIMIT + b'--><!DOCTYPE r [<!ENTITY a "b">]><rss/>'
    with pytest.raises(FeedError):
        check_prolog(data)


def test_prolog_check_is_fast_on_huge_inputs() -> None:
    data = b"<?xml version='1.0'?><rss>" + b"<item>x</item>" * 3_000_000
    start = time.process_time()
    check_prolog(data)
    assert time.process_time() - start < 0.05


def test_netscape_doctype_without_entities_is_allowed() -> None:
    data = (
        b'<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"'
        b' "http://my.netscape.com/publish/formats/rss-0.91.dtd"><rss version="0.91"><channel>'
        b"<title>N</title><item><title>ok</title></item></channel></rss>"
    )
    check_prolog(data)
    assert parse_feed(data, feed_id="n").items[0].title == "ok"


def with_char_ref(ref: str) -> bytes:
    """Two items; the first's title and description hold the character reference `ref`."""
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><guid>1</guid>'
        f"<title>Troops {ref} dispatched</title><description>a {ref} b</description></item>"
        "<item><guid>2</guid><title>fine</title></item></channel></rss>"
    ).encode()


@pytest.mark.parametrize(
    "ref",
    # an emoji as some HTML encoders write it (a surrogate pair), lone surrogates, past
    # U+10FFFF, and more digits than int() takes
    [
        "&#55357;&#56832;",
        "&#xD800;",
        "&#x0DFFF;",
        "&#x110000;",
        "&#1114112;",
        "&#" + "9" * 5000 + ";",
    ],
)
def test_a_character_reference_to_no_character_is_u_fffd_not_a_lost_feed(ref: str) -> None:
    # expat refuses the document, and feedparser's loose parser raised on the reference:
    # every item of the feed was lost, at every poll
    feed = parse_feed(with_char_ref(ref), feed_id="r")
    assert [item.title for item in feed.items] == [
        "Troops " + "\ufffd" * ref.count(";") + " dispatched",
        "fine",
    ]
    assert "\ufffd" in feed.items[0].summary


@pytest.mark.parametrize("ref", ["&#55203;", "&#xD7FF;", "&#xE000;", "&#57344;", "&#x10FFFF;"])
def test_character_references_beside_the_invalid_ones_are_kept(ref: str) -> None:
    feed = parse_feed(with_char_ref(ref), feed_id="r")
    code = int(ref[3:-1], 16) if ref[2] == "x" else int(ref[2:-1])
    assert feed.items[0].title == f"Troops {chr(code)} dispatched"


def test_a_link_past_2048_characters_is_no_link() -> None:
    # A link of megabytes went everywhere an item goes: `check` drew a 5 MB one for 36 s, and
    # each sighting of a story stored it whole. Relative links count once resolved.
    def first_link(link: str, feed_url: str = "") -> str | None:
        data = (
            "<rss version='2.0'><channel><title>t</title><item><guid>1</guid><title>x</title>"
            f"<link>{link}</link></item></channel></rss>"
        ).encode()
        return parse_feed(data, feed_id="l", feed_url=feed_url).items[0].link

    at_most = "https://news.example/" + "a" * (2048 - 21)
    assert first_link(at_most) == at_most
    assert first_link(at_most + "a") is None
    assert first_link("http://news.example/" + "a" * (5 << 20)) is None
    assert first_link("a" * 2000, "https://news.example/" + "f" * 100 + "/") is None


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    attempts: list[Any] = []

    def connect(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise OSError("no network in tests")

    monkeypatch.setattr(socket.socket, "connect", connect)
    return attempts


@pytest.mark.parametrize(
    "data",
    [
        # external DTD: never fetched; its entities stay unexpanded
        b'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "http://127.0.0.1:9/evil.dtd"><rss><channel>'
        b"<item><title>t &xxe;</title></item></channel></rss>",
        # a DOCTYPE after the root is no prolog: not refused, and not honoured either
        b'<rss><channel><!DOCTYPE x [<!ENTITY a "aaaaaaaaaaaaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;'
        b'&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><item><title>&b;&b;&b;&b;&b;&b;</title>'
        b"</item></channel></rss>",
    ],
)
def test_hostile_feeds_that_pass_the_prolog_are_harmless(
    data: bytes, no_network: list[Any]
) -> None:
    tracemalloc.start()
    start = time.process_time()
    try:
        feed = parse_feed(data, feed_id="h")
        text = " ".join(i.title for i in feed.items)
        assert "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" not in text
    except FeedError:
        pass
    assert time.process_time() - start < 1
    assert tracemalloc.get_traced_memory()[1] < 100e6
    tracemalloc.stop()
    assert no_network == []


# --- HTML to text ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>Hello&nbsp;<b>world</b></p><p>again</p>", "Hello world\nagain"),
        ("<div>a<br>b<br/>c</div>", "a\nb\nc"),
        ("x<script>alert('<p>')</script>y<STYLE>p{}</STYLE>z", "xyz"),
        ("<!-- hidden -->shown &amp; &#8220;quoted&#8221;", "shown & “quoted”"),
        ("a < b and c > d", "a < b and c > d"),
        ("&lt;script&gt;alert(1)&lt;/script&gt;", "‹script>alert(1)‹/script>"),
        ("<ul><li>one</li>\n\n<li>  two   words </li></ul>", "one\ntwo words"),
        ("unclosed <a href='x", "unclosed <a href='x".replace("<", "‹")),
        ("plain   text\n\n\nlines", "plain text\nlines"),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_plain_text_fields_are_not_parsed_as_html() -> None:
    assert text_field("AT&T <3 profits", "text/plain") == "AT&T <3 profits"


@pytest.mark.parametrize(
    "bad",
    [
        "</" * 300_000,
        "<!--" * 300_000,
        "<a " * 300_000,
        "&#" * 300_000,
        "x <a" + "b" * 300_000,  # a tag name that never ends in `>`: was quadratic
    ],
)
def test_html_to_text_is_linear_on_hostile_markup(bad: str) -> None:
    start = time.process_time()
    html_to_text(bad)
    assert time.process_time() - start < 1.0


# --- structure bombs -------------------------------------------------------------------------


def _attrs(k: int) -> bytes:
    return b" ".join(b"a%d='x'" % i for i in range(k))


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (b"<rss><channel><item><description>" + b"<div>" * 100_000 + b"</description>", "deep"),
        (b"<rss><channel><item>" + b"<a>" * 300 + b"</a>" * 300 + b"</item></channel>", "deep"),
        (b"<rss><channel>" + b"<item><title>t</title>" * 20_000 + b"</channel></rss>", "deep"),
        (b"<rss><channel><item " + _attrs(5000) + b"><title>t</title></item></channel>", "attr"),
        (b"<rss><channel><item><title>t</title>" + b"<x/>" * 60_000 + b"</item></channel></rss>",
         "elements"),
        # Plain, well-formed RSS 2.0, the fast path's kind: refused before it is read.
        (rss("<item><title>t</title>" + "<category>c</category>" * 60_000 + "</item>"),
         "elements"),
        (rss("<item><title>t</title>" + "<a>" * 300 + "</a>" * 300 + "</item>"), "deep"),
    ],
)  # fmt: skip
def test_structure_bombs_are_refused_fast(body: bytes, what: str) -> None:
    start = time.process_time()  # CPU, not wall: a busy machine must not fail it
    with pytest.raises(FeedError) as err:
        parse_feed(body, feed_id="s")
    assert time.process_time() - start < 0.5
    assert err.value.kind == "too_large"
    assert what in str(err.value)


@pytest.mark.parametrize(
    "description",
    [
        b"x <a" + b"b" * 300_000 + b" y",  # a start tag that never ends
        b"<a " + b"b" * 300_000 + b" x='1'>y</a>",  # an attribute name without its `=`
    ],
)
def test_the_structure_check_is_linear_in_a_long_name(description: bytes) -> None:
    # ill-formed (expat refuses, so the structure check runs before feedparser): its patterns
    # backtracked quadratically over a run of name characters (20,000 of them: 2-4 s)
    body = b"<rss version='2.0'><channel><title>t</title><item><guid>1</guid><title>t</title>"
    body += b"<description>" + description + b"</description></item></channel></rss>"
    start = time.process_time()
    check_structure(body)
    assert time.process_time() - start < 0.5


def test_sloppy_but_real_markup_is_not_a_structure_bomb() -> None:
    item = (
        "<item><title>t{0}</title><description>a<br>b<br>c<p>d</description>"
        "<enclosure url='https://x/{0}.mp3' length='1' type='audio/mpeg'/></item>"
    )
    body = "<rss><channel>" + "".join(item.format(i) for i in range(1000)) + "</channel></rss>"
    feed = parse_feed(body.encode(), feed_id="s")
    assert len(feed.items) == 1000


@settings(max_examples=1500, deadline=None)
@given(
    st.sampled_from(["http://", "https://", "HTTP://", "javascript://", "", "//", "/"]),
    st.sampled_from(["example.com", "a.b:8080", "x", "[::1]", ""]),
    st.text(alphabet="abcXYZ019-._~!$&'()*+,;=:@/%?# \t", max_size=30),
    st.sampled_from(["", "https://feeds.example.org/world/rss.xml", "http://127.0.0.1:8080/f"]),
)
@example("http://", "example.com", "/a?", "http://127.0.0.1:8080/f")  # urljoin drops the "?"
@example("https://", "example.com", "/a#", "https://feeds.example.org/world/rss.xml")
@example("http://", "example.com", "/a;", "http://127.0.0.1:8080/f")
def test_the_plain_link_shortcut_agrees_with_urljoin(
    scheme: str, host: str, rest: str, feed_url: str
) -> None:
    from monitor.feeds.parse import _link, _resolved_link

    link = f"{scheme}{host}{rest}"
    stripped = link.strip()
    expected = _resolved_link(stripped, feed_url) if stripped else None
    assert _link(link, feed_url) == expected


def _date_by_ints(value: tuple[object, ...]) -> datetime | None:
    """parse._date's definition: the first six fields as ints, a leap second as :59."""
    try:
        year, month, day, hour, minute, second = (int(v) for v in value[:6])  # type: ignore[call-overload]
        return datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
    except (TypeError, ValueError):
        return None


@pytest.mark.parametrize(
    "fields",
    [
        (2021, 7, 16, 11, 10, 48, 4, 197, 0),
        (2021, 12, 31, 23, 59, 60, 4, 365, 0),  # a leap second
        (2021, 2, 30, 0, 0, 0, 0, 0, 0),  # no such day
        (0, 1, 1, 0, 0, 0, 0, 0, 0),  # no year 0
        (2021.0, 2, 3, 1, 2, 3, 0, 0, 0),  # floats, as a hand-built struct_time may hold
        ("2021", 2, 3, 1, 2, 3, 0, 0, 0),
        ("x", 2, 3, 1, 2, 3, 0, 0, 0),
    ],
)
def test_dates_from_struct_times_and_tuples_agree(fields: tuple[object, ...]) -> None:
    from monitor.feeds.parse import _date

    expected = _date_by_ints(fields)
    assert _date(time.struct_time(fields)) == expected
    assert _date(fields) == expected


@settings(max_examples=600, deadline=None)
@given(
    st.text(alphabet="ab <>&;/p\n\r\t\u00a0\u2028\u3000\x85", max_size=40)
    | st.builds(lambda s: "x " * 100_100 + s, st.text(alphabet="a \n", max_size=5)),
    st.sampled_from([None, "text/plain", "text/html", "application/xhtml+xml"]),
)
@example("a\u2028b", "text/plain")  # a line separator str.split() splits on
@example("<p>a</p><p>b</p>", "text/html")  # two blocks: two lines
def test_a_title_without_a_line_break_skips_the_split(value: str, kind: str | None) -> None:
    from monitor.feeds.parse import MAX_TITLE, _title

    detail = {"type": kind} if kind else None
    expected = " ".join(text_field(value, kind).split())[:MAX_TITLE]
    assert _title({"title": value, "title_detail": detail}) == expected


SHARED_FEEDS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora" / "feeds"
ERROR_PAGE = (
    b'<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">\n<HTML><HEAD>'
    b"<TITLE>ERROR: The request could not be satisfied</TITLE></HEAD><BODY><H1>403 ERROR</H1>"
    b"Request blocked.<BR clear=all>Generated by the CDN</BODY></HTML>"
)


NOT_A_FEED = "no RSS, Atom or JSON Feed found in the document"


def _outcome(data: bytes, content_type: str | None = None) -> object:
    try:
        return parse_feed(data, feed_id="f", feed_url="http://e.com/f", content_type=content_type)
    except FeedError as e:
        return ("FeedError", e.kind, str(e))


def _with_and_without_the_shortcut(
    data: bytes, monkeypatch: pytest.MonkeyPatch, content_type: str | None = None
) -> tuple[object, object, bool]:
    """parse_feed's outcome as it is, and with feedparser asked every time; and whether the
    no-feed-markup shortcut answered."""
    took: list[bool] = []
    real = parse.no_feed_markup

    def spy(utf8: bytes) -> bool:
        took.append(real(utf8))
        return took[-1]

    with monkeypatch.context() as m:
        m.setattr(parse, "no_feed_markup", spy)
        fast = _outcome(data, content_type)
        if not any(took):  # the same path both ways: feedparser, a fast path or an error
            return fast, fast, False
        m.setattr(parse, "no_feed_markup", lambda utf8: False)
        slow = _outcome(data, content_type)
    return fast, slow, True


@pytest.mark.slow
def test_documents_without_feed_markup_are_not_feeds_as_feedparser_finds_on_every_corpus_document(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    paths = sorted(p for p in DATA.rglob("*") if p.is_file())
    if SHARED_FEEDS.is_dir():
        paths += sorted(p for p in SHARED_FEEDS.rglob("*") if p.is_file())
    taken = []
    for path in paths:
        fast, slow, took = _with_and_without_the_shortcut(path.read_bytes(), monkeypatch)
        assert fast == slow, path
        if took:
            assert fast == ("FeedError", "not_a_feed", NOT_A_FEED)
            taken.append(path)
    assert len(taken) >= 5, taken  # HTML pages among the test corpora
    news = [p for p in taken if "news-archive-2021" in p.parts]
    assert not SHARED_FEEDS.is_dir() or len(news) >= 14, news  # the publishers' error pages


_SOUP = st.lists(
    st.sampled_from(
        [
            "<html>",
            "</html>",
            "<body>",
            "<p>",
            "</p>",
            "<x:",
            "<İtem>",
            "<İTEM>",
            "<ſs>",
            "<rſs>",
            "<\u212aey>",
            "<ITEM>",
            "<Entry>",
            "<rSs version='2.0'>",
            "<channel>",
            "<FEED>",
            " xmlns='http://purl.org/",
            "rss/1.0/'>",
            ' xmlns="http://www.w3.org/',
            '2005/Atom">',
            "&#114;ss",
            "&#x69;tem",
            "&amp;",
            "&nbsp;",
            "<title>t</title>",
            "<link>http://e.com/a</link>",
            "<!DOCTYPE html>",
            "<!DOCTYPE rss PUBLIC 'netscape'>",
            "<?xml version='1.0'?>",
            "text",
            "é",
            "\n",
            "/>",
            ">",
            "<",
            "</",
        ]
    ),
    max_size=12,
).map(lambda parts: "".join(parts).encode())


@settings(max_examples=300, deadline=None)
@given(_SOUP, st.sampled_from([None, "text/html", "application/xml; charset=iso-8859-1"]))
@example(ERROR_PAGE, None)
@example("<html><İtem><title>t</title></İtem></html>".encode(), None)
@example(b"<html xmlns='http://purl.org/&#114;ss/1.0/'><title>t</title></html>", None)
def test_the_no_feed_markup_shortcut_agrees_with_feedparser(
    data: bytes, content_type: str | None
) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        fast, slow, _took = _with_and_without_the_shortcut(data, monkeypatch, content_type)
    assert fast == slow


def test_an_error_page_in_a_feeds_place_is_not_a_feed_without_importing_feedparser() -> None:
    script = (
        "import sys\n"
        "from monitor.errors import FeedError\n"
        "from monitor.feeds.parse import parse_feed\n"
        "try:\n"
        f"    parse_feed({ERROR_PAGE!r}, feed_id='f', content_type='application/rss+xml')\n"
        "except FeedError as e:\n"
        "    print(e.kind, 'feedparser' in sys.modules)\n"
        f"parse_feed({ERROR_PAGE + b'<item>x</item>'!r}, feed_id='f')\n"
        "print('feedparser' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # The page is refused as not a feed, feedparser unimported; one that names an item is
    # still feedparser's to read.
    assert out.stdout.split("\n")[:2] == ["not_a_feed False", "True"], (out.stdout, out.stderr)


@settings(max_examples=600, deadline=None)
@given(
    st.none() | st.integers() | st.text(alphabet="ab <>&;/p\n\t\u00a0", max_size=30),
    st.none()
    | st.just("not a mapping")
    | st.fixed_dictionaries(
        {},
        optional={
            "type": st.none()
            | st.integers()
            | st.sampled_from(["", "text/plain", "text/html", "application/xhtml+xml", "x"])
        },
    ),
)
def test_an_items_text_is_text_field_of_its_value_and_type(value: object, detail: object) -> None:
    # parse._text skips text_field's calls for an empty value and picks its branch itself.
    kind = detail.get("type") if isinstance(detail, dict) else None
    expected = text_field(
        value if isinstance(value, str) else "", kind if isinstance(kind, str) else None
    )
    assert parse._text(value, detail) == expected


@settings(max_examples=600, deadline=None)
@given(st.text(alphabet="ab <>&#;/!?p\n\r\t\u00a0\u3000\x1f", max_size=30))
def test_html_without_a_tag_or_reference_is_its_collapsed_defanged_text(text: str) -> None:
    # html_to_text answers text without "<" and "&" by memchr instead of the hint regex; the
    # answer must stay what the regex's miss gives.
    from monitor.feeds.htmltext import _MARKUP_HINT, collapse, defang

    if not _MARKUP_HINT.search(text):
        assert html_to_text(text) == defang(collapse(text))


@settings(max_examples=600, deadline=None)
@given(
    st.none()
    | st.just("World")
    | st.lists(
        st.none()
        | st.just("not a mapping")
        | st.fixed_dictionaries(
            {},
            optional={"term": st.none() | st.integers() | st.text(alphabet="ab <\n\t", max_size=6)},
        ),
        max_size=8,
    )
)
def test_categories_are_the_distinct_collapsed_terms(tags: object) -> None:
    from monitor.feeds.htmltext import collapse, defang

    expected: dict[str, None] = {}
    for tag in tags[: parse.MAX_CATEGORIES] if isinstance(tags, list) else []:
        term = tag.get("term") if isinstance(tag, dict) else None
        text = defang(collapse(term if isinstance(term, str) else ""))
        if text:
            expected.setdefault(text[:200], None)
    assert parse._categories(tags) == tuple(expected)

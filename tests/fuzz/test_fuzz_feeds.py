"""Fuzzing the feed-parsing entry point (`parse_feed`) and the entity guard (`check_prolog`):
whatever the bytes, the only exception is FeedError, each input is parsed within the deadline, the
items respect the caps, and a prolog that declares entities is always refused."""

from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from monitor.errors import FeedError
from monitor.feeds.parse import MAX_TITLE, ParsedFeed, parse_feed
from monitor.feeds.prolog import check_prolog
from tests.fuzz.budget import budget

pytestmark = pytest.mark.fault

ROOT = Path(__file__).resolve().parents[2]
SEED = (ROOT / "seeds" / "article.rss").read_bytes()
CONTENT_TYPES = st.sampled_from([
    None, "application/rss+xml", "application/atom+xml", "text/xml; charset=utf-16",
    "application/xml; charset=iso-8859-1", "application/feed+json", "application/json",
    "text/html; charset=bogus-charset", "text/plain; charset=utf-7",
])  # fmt: skip
ENCODINGS = st.sampled_from(["utf-8", "utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252"])
PROLOGS = st.sampled_from([
    "", "<!DOCTYPE rss>", "<!-- a comment <a> -->", "<?xml-stylesheet href='x.xsl'?>",
    '<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
    '"http://my.netscape.com/publish/formats/rss-0.91.dtd">',
])  # fmt: skip
ENTITY_PROLOGS = st.sampled_from([
    '<!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">]>',
    '<!DOCTYPE rss [ <!-- x --> <!ENTITY  b SYSTEM "file:///etc/passwd"> ]>',
    '<!DOCTYPE rss [<!ELEMENT rss ANY><!entity c "c">]>',
    "<!DOCTYPE rss [<!ENTITY % p '<!ENTITY d \"d\">'> %p;]>",
    '<!DOCTYPE rss [<!ENTITY a "x"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',
])  # fmt: skip

text = st.text(max_size=60)
field_text = st.one_of(
    text,
    text.map(escape),
    st.sampled_from(["", "<b>bold</b>", "&amp;", "&nbsp;", "]]>", "<![CDATA[x"]),
)
dates = st.sampled_from(
    [
        "Mon, 02 Mar 2026 10:00:00 +0000",
        "2026-03-02T10:00:00Z",
        "yesterday",
        "",
        "Tue, 31 Feb 2026 25:61:00 GMT",
        "0000-00-00",
        "9999-12-31T23:59:59Z",
    ]
)
links = st.one_of(
    st.sampled_from(
        [
            "https://news.example.com/a?utm_source=x#f",
            "/relative",
            "javascript:alert(1)",
            "http://[::1",
            "",
            "mailto:x@y",
        ]
    ),
    text,
)


@st.composite
def rss_items(draw: st.DrawFn) -> str:
    parts = []
    for tag, values in (("title", field_text), ("link", links), ("description", field_text),
                        ("guid", text), ("pubDate", dates), ("category", field_text),
                        ("author", field_text)):  # fmt: skip
        if draw(st.booleans()):
            parts.append(f"<{tag}>{draw(values)}</{tag}>")
    return "<item>" + "".join(parts) + "</item>"


@st.composite
def atom_entries(draw: st.DrawFn) -> str:
    return (
        f"<entry><id>{draw(text)}</id><title type='html'>{draw(field_text)}</title>"
        f"<link href='{escape(draw(links), {chr(39): '&apos;'})}'/>"
        f"<updated>{draw(dates)}</updated><content type='xhtml'>{draw(field_text)}</content>"
        "</entry>"
    )


@st.composite
def xml_feeds(draw: st.DrawFn, prologs: st.SearchStrategy[str] = PROLOGS) -> bytes:
    kind = draw(st.sampled_from(["rss", "atom", "rdf"]))
    if kind == "atom":
        entries = "".join(draw(st.lists(atom_entries(), max_size=6)))
        body = f"<feed xmlns='http://www.w3.org/2005/Atom'><title>{draw(field_text)}</title>{entries}</feed>"
    elif kind == "rdf":
        entries = "".join(draw(st.lists(rss_items(), max_size=6)))
        body = (
            "<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#' "
            "xmlns='http://purl.org/rss/1.0/'><channel><title>x</title></channel>"
            f"{entries}</rdf:RDF>"
        )
    else:
        entries = "".join(draw(st.lists(rss_items(), max_size=6)))
        body = (
            f"<rss version='2.0'><channel><title>{draw(field_text)}</title>"
            f"<ttl>{draw(st.sampled_from(['60', '-1', 'x', '1e309', '']))}</ttl>{entries}"
            "</channel></rss>"
        )
    encoding = draw(ENCODINGS)
    declared = draw(st.sampled_from([encoding, "utf-8", "iso-8859-1", "utf-16", "nonsense"]))
    decl = draw(st.sampled_from([f"<?xml version='1.0' encoding='{declared}'?>", ""]))
    doc = decl + draw(prologs) + body
    return doc.encode(encoding, errors="replace")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
ITEM_KEYS = ["id", "url", "external_url", "title", "content_html", "content_text", "summary",
             "date_published", "date_modified", "author", "authors", "tags", "image"]  # fmt: skip


@st.composite
def json_feeds(draw: st.DrawFn) -> bytes:
    items = draw(
        st.lists(
            st.dictionaries(st.sampled_from(ITEM_KEYS), json_values, max_size=8) | json_values,
            max_size=6,
        )
    )
    feed = {
        "version": draw(st.sampled_from(["https://jsonfeed.org/version/1.1", "", 1, None])),
        "title": draw(json_values),
        "items": draw(st.sampled_from([items, None, "items", {"a": items}])),
    }
    return json.dumps(feed).encode()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid document with random bytes flipped, inserted, deleted or cut off."""
    data = bytearray(draw(st.sampled_from([SEED, draw(xml_feeds()), draw(json_feeds())])))
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "insert", "delete", "cut"]))
        if op == "flip":
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.sampled_from([b"<", b">", b"&", b"\x00", b"<!ENTITY", b"]]>",
                                                b"\xff\xfe", b"<item>", b"{", b'"']))  # fmt: skip
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        else:
            del data[at:]
    return bytes(data)


def check(data: bytes, content_type: str | None, max_items: int) -> ParsedFeed | FeedError:
    """parse_feed, asserting what must hold of a success; a FeedError is returned, not raised."""
    failed: FeedError | None
    try:
        parsed = parse_feed(data, feed_id="fz", feed_url="https://feeds.example.com/x.xml",
                            content_type=content_type, max_items=max_items)  # fmt: skip
    except FeedError as exc:
        failed = exc
    else:
        failed = None
    if failed is not None:
        assert failed.kind in {"refused_entities", "not_a_feed", "parse"}, failed.kind
        assert str(failed)
        return failed
    assert len(parsed.items) <= max_items
    for item in parsed.items:
        assert item.key
        assert item.feed_id == "fz"
        assert len(item.title) <= MAX_TITLE
        assert "<" not in item.title or "&lt;" not in item.title  # text, not markup
        assert item.published is None or item.published.tzinfo is not None
    return parsed


@budget(300)
@given(st.binary(max_size=2048), CONTENT_TYPES, st.integers(1, 5))
@example(b"\xef\xbb\xbf<?xml version='1.0'?><rss/>", None, 1)
@example(b"<?xml version='1.0' encoding='utf-7'?>+ADw-rss+AD4-", None, 1)
@example(b"{", "application/json", 1)
def test_random_bytes(data: bytes, content_type: str | None, max_items: int) -> None:
    check(data, content_type, max_items)


@budget(300)
@given(xml_feeds(), CONTENT_TYPES, st.integers(1, 5))
def test_generated_xml_feeds(data: bytes, content_type: str | None, max_items: int) -> None:
    check(data, content_type, max_items)


@budget(200)
@given(json_feeds(), st.sampled_from([None, "application/feed+json"]), st.integers(1, 5))
def test_generated_json_feeds(data: bytes, content_type: str | None, max_items: int) -> None:
    check(data, content_type, max_items)


@budget(300)
@given(mutated(), CONTENT_TYPES)
def test_mutated_documents(data: bytes, content_type: str | None) -> None:
    check(data, content_type, 1000)


@budget(200)
@given(xml_feeds(prologs=ENTITY_PROLOGS), CONTENT_TYPES)
def test_entity_declarations_are_always_refused(data: bytes, content_type: str | None) -> None:
    with pytest.raises(FeedError) as caught:
        check_prolog(data, content_type)
    assert caught.value.kind == "refused_entities"
    result = check(data, content_type, 5)
    assert isinstance(result, FeedError)
    if "json" not in (content_type or ""):  # a JSON content type means no XML parser runs
        assert result.kind == "refused_entities"


@budget(300)
@given(st.binary(max_size=4096), CONTENT_TYPES)
def test_prolog_check_raises_only_feed_error(data: bytes, content_type: str | None) -> None:
    kinds = []
    try:
        check_prolog(data, content_type)
    except FeedError as exc:
        kinds.append(exc.kind)
    assert kinds in ([], ["refused_entities"])

"""`utf8.to_utf8` gives exactly feedparser's `convert_to_utf8`, or declines (issue 18).

Differential over every corpus document (tests/data/feeds/ and, where they sit next to the
repository, the shared feed corpora), each as `parse_feed` hands it on (after
`charsets.prepare_xml`), under the Content-Types feeds are served with: wherever `to_utf8`
answers, the bytes are feedparser's and feedparser sets no `bozo`. And a one-shot round whose
documents all take a fast path does not import feedparser at all.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.errors import FeedError
from monitor.feeds.charsets import prepare_xml
from monitor.feeds.utf8 import to_utf8

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "feeds"
SHARED = ROOT.parent / "shared" / "corpora" / "feeds"
_SUFFIXES = (".xml", ".rss", ".atom", ".rdf")
CONTENT_TYPES = (
    None,
    "application/rss+xml",
    "application/atom+xml; charset=utf-8",
    "application/xml; charset=iso-8859-1",
    "text/xml",
    "text/xml; charset=UTF-8",
    "text/html; charset=utf-8",  # not XML: feedparser flags it; declined
    "application/octet-stream",
)


def _agrees(data: bytes, content_type: str | None) -> bool:
    """Whether to_utf8 answered; asserts the answer is feedparser's."""
    from feedparser.encodings import convert_to_utf8

    try:
        data, content_type, _ = prepare_xml(data, content_type)
    except FeedError:
        return False
    ours = to_utf8(content_type, data)
    if ours is None:
        return False
    result: dict[str, Any] = {}
    theirs = convert_to_utf8({"content-type": content_type} if content_type else {}, data, result)
    assert not result.get("bozo"), (content_type, result.get("bozo_exception"))
    assert ours == theirs, content_type
    return True


def _corpus() -> list[Path]:
    paths = sorted(p for p in DATA.rglob("*") if p.suffix in _SUFFIXES)
    if SHARED.is_dir():
        paths += sorted(p for p in SHARED.rglob("*") if p.suffix in _SUFFIXES)
    return paths


@pytest.mark.slow
def test_to_utf8_is_feedparsers_on_every_corpus_document() -> None:
    paths = _corpus()
    assert len(paths) > 2000
    answered = dict.fromkeys(CONTENT_TYPES, 0)
    for path in paths:
        data = path.read_bytes()
        for content_type in CONTENT_TYPES:
            if _agrees(data, content_type):
                answered[content_type] += 1
    # It must actually answer for most documents served as XML, and never for a non-XML type.
    assert answered[None] >= 0.9 * len(paths), (answered, len(paths))
    assert answered["application/rss+xml"] >= 0.9 * len(paths), answered
    assert answered["text/html; charset=utf-8"] == 0
    assert answered["application/octet-stream"] == 0


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b'<?xml version="1.0" encoding="utf-8"?>\n<rss/>', None),
        (b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-16"?>\n<rss>\xc3\xa9</rss>', None),
        (b"<rss>caf\xc3\xa9</rss>", "application/rss+xml"),
        (b"<?xml version='1.0' encoding='windows-1252'?>\n<rss>\x93q\x94</rss>", None),
        (b"<?xml version='1.0' encoding='gb2312'?>\n<rss>\xc4\xe3</rss>", None),
        (b"<?xml version='1.0'?>\n<rss>plain</rss>", "text/xml"),
        (b"<?xml-stylesheet href='a.xsl'?>\n<rss>x</rss>", "application/xml; charset='utf-8'"),
    ],
)
def test_to_utf8_answers_common_documents_as_feedparser(
    data: bytes, content_type: str | None
) -> None:
    assert _agrees(data, content_type)


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"<rss>caf\xe9</rss>", None),  # not UTF-8: feedparser falls back and flags it
        (b"<rss>caf\xc3\xa9</rss>", "text/xml"),  # us-ascii by RFC 3023: flagged override
        (b"<rss/>", "text/plain"),  # not an XML media type
        (b"\xff\xfe<\x00r\x00s\x00s\x00/\x00>\x00", None),  # UTF-16 BOM
        (b"<?xml version='1.0' encoding='punycode'?>\n<rss/>", None),  # not a text charset
    ],
)
def test_to_utf8_declines_what_feedparser_flags_or_it_does_not_replicate(
    data: bytes, content_type: str | None
) -> None:
    assert to_utf8(content_type, data) is None


_HEADS = st.sampled_from(
    [
        b"",
        b"\xef\xbb\xbf",
        b"<?xml version='1.0'?>\n",
        b'<?xml version="1.0" encoding="utf-8"?>\n',
        b"<?xml version='1.0' encoding='ISO-8859-1'?>\n",
        b"<?xml version='1.0' encoding='us-ascii'?>\n",
        b"<?xml version='1.0' encoding='utf-16'?>\n",
        b"\xef\xbb\xbf<?xml version='1.0' encoding='utf-32'?>\n",
        b"<?xml-stylesheet type='text/xsl' href='s.xsl'?>\n",
        b"<?xml version='1.0' encoding=\"koi8-r\"?>\n",
        b"<?xml version='1.0' encoding='u8' note='caf\xc3\xa9 > x'?>\n",
        b"<?xml version='1.0' encoding='US-ASCII'?>\n",
    ]
)


@settings(max_examples=400, deadline=None)
@given(
    head=_HEADS,
    body=st.one_of(st.binary(max_size=40), st.text(max_size=40).map(str.encode)),
    content_type=st.sampled_from(CONTENT_TYPES),
)
def test_to_utf8_is_feedparsers_on_generated_documents(
    head: bytes, body: bytes, content_type: str | None
) -> None:
    _agrees(head + b"<rss>" + body + b"</rss>", content_type)


def test_a_round_of_fast_path_documents_does_not_import_feedparser() -> None:
    """parse_feed over documents both fast paths take (plain RSS, namespaced RSS, Atom with
    W3C dates, a UTF-8 BOM, an XML Content-Type), in a fresh interpreter: no feedparser module
    is loaded; a document only feedparser reads then loads it."""
    script = textwrap.dedent(
        """
        import sys
        from monitor.feeds import parse

        took = []
        for name in ("parse_rss20", "parse_namespaced"):
            real = getattr(parse, name)
            def spy(utf8, real=real):
                out = real(utf8)
                took.append(out is not None)
                return out
            setattr(parse, name, spy)
        docs = [
            (b'<?xml version="1.0" encoding="UTF-8"?>\\n<rss version="2.0"><channel><title>T'
             b'</title><item><title>a</title><link>http://e.com/a</link><pubDate>Mon, 05 Jul'
             b' 2021 10:00:00 GMT</pubDate></item></channel></rss>', None),
            (b'\\xef\\xbb\\xbf<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
             b'<channel><title>T</title><item><title>caf\\xc3\\xa9</title><dc:creator>J'
             b'</dc:creator><dc:date>2021-07-15T20:01:00+02:00</dc:date></item></channel></rss>',
             "application/rss+xml; charset=utf-8"),
            (b'<?xml version="1.0"?>\\n<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>'
             b'<entry><id>urn:1</id><title>e</title><link href="http://e.com/1"/><updated>'
             b'2021-07-15T20:04:49.123Z</updated></entry></feed>', "application/atom+xml"),
        ]
        for data, ct in docs:
            feed = parse.parse_feed(data, feed_id="f", feed_url="http://e.com/f", content_type=ct)
            assert feed.items and feed.items[0].published, feed
        assert took.count(True) == 3, took
        print(sorted(m for m in sys.modules if m.split(".")[0] == "feedparser"))
        parse.parse_feed(b"<rss version='2.0'><channel><item><title>x<b>y</b></title></item>"
                         b"</channel></rss>", feed_id="f")
        print("feedparser" in sys.modules)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split("\n")
    assert out[:2] == ["[]", "True"], out

"""Hostile documents for the parser, each as big as `max_body` allows (10 MiB): a codec that is no
character set (HTTP charset, XML declaration), feedparser's declaration regex made to backtrack,
and stray `<` or `&` that would send feedparser to its loose parser. Each ends, within the fuzz
deadline of CPU time, either parsed with the codec ignored or refused as `too_large`."""

from __future__ import annotations

import codecs
import random
import time

import pytest

from monitor.errors import FeedError
from monitor.feeds.charsets import DECLARATION_LIMIT, TEXT_CHARSETS, prepare_xml, text_charset
from monitor.feeds.parse import ParsedFeed, parse_feed
from monitor.feeds.prolog import MAX_STRAY_AMP, MAX_STRAY_LT, check_structure
from tests.fuzz.budget import PER_INPUT
from tests.hostile import (
    CASES,
    charset_header,
    declared_encoding,
    encoding_on_line_one,
    stray_markup,
)

pytestmark = pytest.mark.fault

MAX_BODY = 10 * 1024 * 1024
LIMIT_S = PER_INPUT.total_seconds()


def _parse_within_budget(content_type: str | None, body: bytes) -> ParsedFeed:
    started = time.process_time()
    try:
        return parse_feed(body, feed_id="h", content_type=content_type)
    finally:
        spent = time.process_time() - started
        assert spent < LIMIT_S, f"{spent:.1f} s of CPU for one {len(body):,} byte document"


@pytest.mark.parametrize("codec", ["punycode", "idna", "unicode_escape", "undefined", "utf-7"])
def test_a_charset_header_that_is_no_text_character_set_is_ignored(codec: str) -> None:
    parsed = _parse_within_budget(*charset_header(MAX_BODY, codec))
    assert any("not a text character set" in w for w in parsed.warnings)


@pytest.mark.parametrize("codec", ["punycode", "idna", "base64_codec", "raw_unicode_escape"])
def test_a_declared_encoding_that_is_no_text_character_set_is_ignored(codec: str) -> None:
    parsed = _parse_within_budget(*declared_encoding(MAX_BODY, codec))
    assert any("not a text character set" in w for w in parsed.warnings)


def test_encoding_pairs_on_the_declarations_line_cost_nothing() -> None:
    # feedparser's declaration regex took 38 s on 26 KB of this before the newline was added.
    parsed = _parse_within_budget(*encoding_on_line_one(MAX_BODY))
    assert parsed.title.startswith("encoding='x' encoding='x'")


@pytest.mark.parametrize("unit", [b"<a", b"&#", b"</", b"<", b"<a b", b"&x"])
def test_stray_markup_filling_a_description_is_refused_as_too_large(unit: bytes) -> None:
    with pytest.raises(FeedError) as info:
        _parse_within_budget(*stray_markup(MAX_BODY, unit))
    assert info.value.kind == "too_large"


@pytest.mark.parametrize("name", list(CASES))
def test_every_hostile_case_ends_within_the_budget(name: str) -> None:
    content_type, body = CASES[name](MAX_BODY)
    if b"description>" in body:
        with pytest.raises(FeedError, match="start no") as info:
            _parse_within_budget(content_type, body)
        assert info.value.kind == "too_large"
    else:
        _parse_within_budget(content_type, body)  # parsed, inside the CPU budget


def test_stray_markup_up_to_the_caps_still_parses() -> None:
    # A sloppy feed: unescaped `AT&T` and `a < b` in its text, read by the loose parser.
    body = stray_markup(MAX_STRAY_LT * 10, b"AT&T a < b ")[1]
    assert body.count(b"<") - 9 <= MAX_STRAY_LT  # 9: the document's own tags
    check_structure(body)
    parsed = parse_feed(body, feed_id="s", content_type="application/rss+xml")
    assert "a < b AT&T" in parsed.items[0].summary  # the loose parser reads it as `AT&T;`


def test_the_stray_caps_are_exact() -> None:
    def with_strays(lt: int, amp: int) -> bytes:
        return b"<rss><channel>" + b"a < b" * lt + b"&" * amp + b"&amp;" * 5 + b"</channel></rss>"

    check_structure(with_strays(MAX_STRAY_LT, MAX_STRAY_AMP))  # references are not strays
    for lt, amp in ((MAX_STRAY_LT + 1, 0), (0, MAX_STRAY_AMP + 1)):
        with pytest.raises(FeedError, match="start no"):
            check_structure(with_strays(lt, amp))


@pytest.mark.parametrize(
    "name",
    [
        "punycode", "idna", "unicode_escape", "raw_unicode_escape", "undefined", "utf-7",
        "base64", "zlib_codec", "rot13", "hex", "charmap", "no-such-charset", "utf-8\0",
    ],
)  # fmt: skip
def test_codecs_that_are_no_character_set_are_refused(name: str) -> None:
    assert text_charset(name) is None


@pytest.mark.parametrize(
    ("name", "canonical"),
    [("UTF-8", "utf-8"), ("latin1", "iso8859-1"), ("Windows-1252", "cp1252"),
     ("shift_jis", "shift_jis"), ("gb2312", "gb2312"), (" koi8-r ", "koi8-r")],
)  # fmt: skip
def test_real_character_sets_are_read(name: str, canonical: str) -> None:
    assert text_charset(name) == canonical


def test_every_allowed_charset_decodes_hostile_bytes_quickly() -> None:
    rng = random.Random(22)
    size = 1 << 20
    inputs = [
        b"a" * size,
        b"-" + b"a" * (size - 1),
        rng.randbytes(size),
        b"\x1b$B" * (size // 3),  # ISO-2022 shifts
        b"~{" * (size // 2),  # HZ shifts
        b"\xff\xfe" + b"\0" * (size - 2),
    ]
    for name in sorted(TEXT_CHARSETS):
        started = time.process_time()
        for data in inputs:
            codecs.decode(data, name, errors="replace")
        spent = time.process_time() - started
        assert spent < LIMIT_S / 2, f"{name}: {spent:.2f} s for 6 MB"


def test_the_allowed_charsets_are_canonical_names_and_no_transform_is_among_them() -> None:
    # text_charset compares codecs.lookup(name).name against the set: a name written out that
    # is not canonical (or that a Python release renamed) would never be honoured.
    for name in TEXT_CHARSETS:
        assert codecs.lookup(name).name == name
    for alias in ("latin-1", "UTF8", "windows-1252", "sjis", "ISO-8859-15", "koi8_r"):
        assert text_charset(alias) == codecs.lookup(alias).name
    for refused in ("punycode", "idna", "utf-7", "unicode_escape", "rot13", "base64", "zlib"):
        assert text_charset(refused) is None


def test_the_declaration_is_left_alone_on_its_line() -> None:
    body = (
        b"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>"
        b"says encoding='punycode' ?&gt;</title></channel></rss>"
    )
    data, content_type, warnings = prepare_xml(body, "application/rss+xml")
    assert data.startswith(b"<?xml version='1.0' encoding='utf-8'?>\n<rss")
    assert content_type == "application/rss+xml"
    assert warnings == []
    assert parse_feed(body, feed_id="t").title == "says encoding='punycode' ?>"


def test_a_bad_declared_encoding_is_removed_and_a_bad_charset_dropped() -> None:
    body = b"\xef\xbb\xbf<?xml version='1.0' encoding=\"punycode\" standalone='yes'?>\n<rss/>"
    data, content_type, warnings = prepare_xml(body, "text/xml; charset='idna'; q=1")
    assert data == b"\xef\xbb\xbf<?xml version='1.0' standalone='yes'?>\n<rss/>"
    assert content_type == "text/xml"
    assert len(warnings) == 2


def test_a_declaration_that_does_not_end_is_refused() -> None:
    body = b"<?xml version='1.0' " + b" " * DECLARATION_LIMIT + b"?><rss/>"
    with pytest.raises(FeedError) as info:
        prepare_xml(body, None)
    assert info.value.kind == "parse"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-32-le", "cp037"])
def test_documents_in_wide_encodings_parse_as_their_utf8_twins(encoding: str) -> None:
    text = (
        "<?xml version='1.0' encoding='{}'?>\n<rss version='2.0'><channel><title>Ünïcode</title>"
        "<item><guid>g</guid><title>Ärger in Köln</title></item></channel></rss>"
    )
    wide = text.format("punycode" if encoding == "cp037" else encoding).encode(encoding)
    twin = parse_feed(text.format("utf-8").encode(), feed_id="t")
    parsed = parse_feed(wide, feed_id="t", content_type="application/rss+xml; charset=punycode")
    assert (parsed.title, [i.title for i in parsed.items]) == (
        twin.title,
        [i.title for i in twin.items],
    )

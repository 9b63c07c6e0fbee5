"""feedparser's `convert_to_utf8` for the documents most feeds are, without importing it. Pure.

A document that will take a fast path (`fastxml`, `fastfeed`) needs feedparser only for its
character-set step; importing feedparser for that costs about 75 ms of CPU and several MB. So
the common cases are done here, giving exactly the bytes `convert_to_utf8` gives, and only where
it would set no `bozo` flag (the fast paths run only then): an ASCII-compatible document (no BOM
or a UTF-8 one), served with no Content-Type or an XML one, that decodes in the encoding
feedparser picks first (RFC 3023: the HTTP charset, else the XML declaration's for
`application/*`, `us-ascii` for `text/xml`; UTF-8 by default). Anything else returns None and
the caller runs feedparser's own: other BOMs and `<?xm` spellings, a media type that is not XML
(feedparser flags it), a document that does not decode (its fallbacks flag it), a character set
not in `charsets.TEXT_CHARSETS`. `tests/test_utf8.py` holds this to `convert_to_utf8`.
"""

from __future__ import annotations

import codecs
import contextlib
import re

from monitor.feeds.charsets import text_charset

# feedparser.encodings' two declaration patterns, as it applies them.
_PI_ENCODING = re.compile(rb"""^<\?.*encoding=['"](.*?)['"].*\?>""")
_XML_DECLARATION = re.compile(r"^<\?xml[^>]*?>")
_NEW_DECLARATION = "<?xml version='1.0' encoding='utf-8'?>"
_XML_DECLARATION_BYTES = re.compile(rb"<\?xml[^>]*?>")
# The declaration as bytes: what a UTF-8 document starts with after this step (parse.py).
NEW_DECLARATION_BYTES = _NEW_DECLARATION.encode()
# Starts feedparser reads as another BOM or as `<?xm` in UTF-16, UTF-32 or EBCDIC.
_OTHER_STARTS = (
    codecs.BOM_UTF16_BE,
    codecs.BOM_UTF16_LE,  # also the start of UTF-32 LE's
    codecs.BOM_UTF32_BE,
    b"\x4c\x6f\xa7\x94",
    b"\x00\x3c\x00\x3f",
    b"\x3c\x00\x3f\x00",
    b"\x00\x00\x00\x3c",
    b"\x3c\x00\x00\x00",
)
_UNICODE_NAMES = frozenset(
    {
        "u16", "utf-16", "utf16", "utf_16", "u32", "utf-32", "utf32", "utf_32",
        "iso-10646-ucs-2", "iso-10646-ucs-4", "csucs4", "csunicode", "ucs-2", "ucs-4",
    }
)  # fmt: skip
_APPLICATION_XML = frozenset(
    {"application/xml", "application/xml-dtd", "application/xml-external-parsed-entity"}
)
_TEXT_XML = frozenset({"text/xml", "text/xml-external-parsed-entity"})


def to_utf8(content_type: str | None, data: bytes) -> bytes | None:
    """`convert_to_utf8({"content-type": content_type} or {}, data, result)` where it leaves
    `result` without `bozo`; None where this does not replicate it."""
    if data.startswith(_OTHER_STARTS):
        return None
    bom = data.startswith(codecs.BOM_UTF8)
    if bom:
        data = data[3:]
    found = _PI_ENCODING.match(data)
    try:
        xml_encoding = found.group(1).decode("utf-8").lower() if found else ""
    except UnicodeDecodeError:
        return None  # feedparser raises here; its own call reports it
    if bom and xml_encoding in _UNICODE_NAMES:
        xml_encoding = "utf-8"
    encoding = _rfc3023_encoding(content_type, xml_encoding)
    if encoding is None or text_charset(encoding) is None:
        return None
    if encoding.lower() == "gb2312":
        encoding = "gb18030"
    with contextlib.suppress(LookupError):
        codec = codecs.lookup(encoding).name  # what bytes.decode(encoding) uses
        if codec in ("utf-8", "ascii"):
            return _declared_utf8(data, codec)
    try:
        text = data.decode(encoding)
        if _XML_DECLARATION.search(text):
            text = _XML_DECLARATION.sub(_NEW_DECLARATION, text)
        else:
            text = _NEW_DECLARATION + "\n" + text
        return text.encode("utf-8")
    except (UnicodeError, LookupError):
        return None  # feedparser tries its fallbacks, and flags the document


def _declared_utf8(data: bytes, codec: str) -> bytes | None:
    """What the decode, declaration swap and encode below give for UTF-8 or ASCII, without
    copying the document to text and back: valid UTF-8 (or ASCII) encodes back to the same
    bytes, and the declaration pattern spans the same bytes (`>` is never part of a multi-byte
    character)."""
    if not data.isascii():
        if codec == "ascii":
            return None  # the strict decode fails; feedparser tries its fallbacks
        try:
            data.decode("utf-8")
        except UnicodeError:
            return None
    found = _XML_DECLARATION_BYTES.match(data)
    if found:
        return NEW_DECLARATION_BYTES + data[found.end() :]
    return NEW_DECLARATION_BYTES + b"\n" + data


def _rfc3023_encoding(content_type: str | None, xml_encoding: str) -> str | None:
    """The encoding feedparser tries first; None where it flags the media type."""
    if not content_type:
        return xml_encoding or "utf-8"
    media, charset = _parse_content_type(content_type)
    if media in _APPLICATION_XML or (media.startswith("application/") and media.endswith("+xml")):
        return charset or xml_encoding or "utf-8"
    if media in _TEXT_XML or (media.startswith("text/") and media.endswith("+xml")):
        return charset or "us-ascii"
    return None  # NonXMLContentType: feedparser sets bozo


def _parse_content_type(line: str) -> tuple[str, str]:
    """feedparser.encodings.parse_content_type."""
    chunks = line.split(";")
    charset = ""
    for chunk in chunks[1:]:
        key, _, value = chunk.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("\"'")
    return chunks[0].strip(), charset

"""Which character encodings a feed may name, and the document feedparser is given. Pure.

feedparser decodes a body with whatever codec the HTTP charset or the XML declaration names.
Python's codec registry also holds codecs that are not character sets: `punycode` and `idna`
decode in pure Python, superlinearly (1 MB of `a` under `charset=punycode`: 88 s), and
`unicode_escape`, `undefined` and the `*_codec` transforms are no text encoding of a document at
all. So only the character sets in `TEXT_CHARSETS` are honoured, wherever a name comes from:

- the HTTP `charset` parameter: any other is dropped from the Content-Type (feedparser then goes
  by the document: its declaration, its BOM, UTF-8, windows-1252);
- the XML declaration's `encoding`: any other is removed from the declaration;
- feedparser finds the declared encoding with `^<\\?.*encoding=['"](.*?)['"].*\\?>` over the whole
  first line: a one-line feed whose text says `encoding='punycode'?>` would be read in punycode,
  and many `encoding='` on one long line make that regex quadratic. So the declaration is always
  followed by a newline here: the regex sees the declaration and nothing else.

Documents in a non-ASCII-compatible encoding (UTF-16, UTF-32, EBCDIC, found by BOM or by how
`<?xm` is spelled) are decoded here and handed on as UTF-8, their declaration made to agree.
Every codec in the list is implemented in C and linear
(`tests/fuzz/test_hostile_parse.py::test_every_allowed_charset_decodes_hostile_bytes_quickly`).
"""

from __future__ import annotations

import codecs
import re

from monitor.errors import FeedError

# The canonical names (`codecs.lookup(name).name`) of the character sets a document can be
# written in: one per module of Python's `encodings` package that is one. Left out: punycode,
# idna (pure Python, superlinear), unicode_escape, raw_unicode_escape, undefined, charmap, mbcs,
# oem, the *_codec transforms, and utf_7 (no feed uses it; it is a known way to disguise markup).
# Written out rather than looked up: looking them up imports every codec module, about 30 ms and
# 3 MB at every start (tests/fuzz/test_hostile_parse.py holds each name canonical).
TEXT_CHARSETS = frozenset({
    "ascii", "big5", "big5hkscs", "cp037", "cp1006", "cp1026", "cp1125", "cp1140", "cp1250",
    "cp1251", "cp1252", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "cp1258", "cp273",
    "cp424", "cp437", "cp500", "cp720", "cp737", "cp775", "cp850", "cp852", "cp855", "cp856",
    "cp857", "cp858", "cp860", "cp861", "cp862", "cp863", "cp864", "cp865", "cp866", "cp869",
    "cp874", "cp875", "cp932", "cp949", "cp950", "euc_jis_2004", "euc_jisx0213", "euc_jp",
    "euc_kr", "gb18030", "gb2312", "gbk", "hp-roman8", "hz", "iso2022_jp", "iso2022_jp_1",
    "iso2022_jp_2", "iso2022_jp_2004", "iso2022_jp_3", "iso2022_jp_ext", "iso2022_kr",
    "iso8859-1", "iso8859-10", "iso8859-11", "iso8859-13", "iso8859-14", "iso8859-15",
    "iso8859-16", "iso8859-2", "iso8859-3", "iso8859-4", "iso8859-5", "iso8859-6", "iso8859-7",
    "iso8859-8", "iso8859-9", "johab", "koi8-r", "koi8-t", "koi8-u", "kz1048", "mac-arabic",
    "mac-croatian", "mac-cyrillic", "mac-farsi", "mac-greek", "mac-iceland", "mac-latin2",
    "mac-roman", "mac-romanian", "mac-turkish", "palmos", "ptcp154", "shift_jis",
    "shift_jis_2004", "shift_jisx0213", "tis-620", "utf-16", "utf-16-be", "utf-16-le", "utf-32",
    "utf-32-be", "utf-32-le", "utf-8", "utf-8-sig",
})  # fmt: skip

DECLARATION_LIMIT = 1024  # bytes in which a leading `<?...?>` must end

# Sniffed as feedparser does (XML 1.0 appendix F): BOMs, then `<?xm` in other encodings.
_NOT_ASCII_COMPATIBLE: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (b"\x00\x00\x00\x3c", "utf-32-be"),
    (b"\x3c\x00\x00\x00", "utf-32-le"),
    (b"\x00\x3c\x00\x3f", "utf-16-be"),
    (b"\x3c\x00\x3f\x00", "utf-16-le"),
    (b"\x4c\x6f\xa7\x94", "cp037"),
)
_ENCODING_PSEUDO_ATTRIBUTE = re.compile(r"""\s+encoding\s*=\s*(["'])(.*?)\1""", re.DOTALL)


def text_charset(name: str) -> str | None:
    """The codec's canonical name if `name` is a character set we read, else None."""
    try:
        canonical = codecs.lookup(name.strip()).name
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        return None
    return canonical if canonical in TEXT_CHARSETS else None


def prepare_xml(data: bytes, content_type: str | None) -> tuple[bytes, str | None, list[str]]:
    """The document and Content-Type to hand feedparser's charset detection, and warnings.

    Only names in TEXT_CHARSETS survive; the declaration is alone on its line. Raises
    FeedError("parse") when a leading `<?` does not end within DECLARATION_LIMIT bytes.
    """
    warnings: list[str] = []
    content_type = _clean_content_type(content_type, warnings)
    for prefix, encoding in _NOT_ASCII_COMPATIBLE:
        if data.startswith(prefix):
            return _transcoded(data, encoding, content_type, warnings)
    bom = codecs.BOM_UTF8 if data.startswith(codecs.BOM_UTF8) else b""
    if not data.startswith(b"<?", len(bom)):
        return data, content_type, warnings  # feedparser finds no declaration either
    end = data.find(b"?>", len(bom), len(bom) + DECLARATION_LIMIT)
    if end < 0:
        raise FeedError(
            "parse", f"the XML declaration does not end within its first {DECLARATION_LIMIT} bytes"
        )
    end += 2
    declaration = _clean_declaration(data[len(bom) : end].decode("latin-1"), warnings)
    rest = data[end:]
    newline = b"" if rest.startswith(b"\n") else b"\n"
    return bom + declaration.encode("latin-1") + newline + rest, content_type, warnings


def _clean_content_type(content_type: str | None, warnings: list[str]) -> str | None:
    if not content_type or ";" not in content_type:
        return content_type
    # feedparser's own reading: the last `charset=` parameter wins, quotes stripped.
    media, *params = content_type.split(";")
    charset = ""
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("\"'")
    if not charset:
        return media
    if text_charset(charset) is None:
        warnings.append(f"charset {charset[:40]!r} is not a text character set; ignored")
        return media
    return f"{media}; charset={charset}"


def _clean_declaration(declaration: str, warnings: list[str]) -> str:
    """The declaration without an `encoding` that is not a character set we read."""
    found = _ENCODING_PSEUDO_ATTRIBUTE.search(declaration)
    if found is None or text_charset(found.group(2)) is not None:
        return declaration
    warnings.append(f"declared encoding {found.group(2)[:40]!r} is not a text character set")
    return declaration[: found.start()] + declaration[found.end() :]


def _transcoded(
    data: bytes, encoding: str, content_type: str | None, warnings: list[str]
) -> tuple[bytes, str | None, list[str]]:
    """A UTF-16, UTF-32 or EBCDIC document as UTF-8 with a declaration that says so."""
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        # feedparser cannot read it by its BOM either, and so falls back to UTF-8 and
        # windows-1252, which the list allows: safe to hand on as it is, without a charset.
        return data, content_type and content_type.split(";")[0], warnings
    text = text.removeprefix("\ufeff")
    head = "<?xml version='1.0' encoding='utf-8'?>\n"
    if text.startswith("<?xml"):
        end = text.find("?>", 0, DECLARATION_LIMIT)
        if end < 0:
            raise FeedError(
                "parse",
                f"the XML declaration does not end within its first {DECLARATION_LIMIT} characters",
            )
        text = text[end + 2 :].lstrip("\r\n")
    media = content_type.split(";")[0] if content_type else "application/xml"
    return (head + text).encode("utf-8"), f"{media}; charset=utf-8", warnings

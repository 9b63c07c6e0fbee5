"""Refuse hostile XML before any XML parser sees it: entity declarations, structure bombs. Pure.

Why: feedparser's strict parser (expat) stops a quadratic-blowup document, but feedparser then
falls back to its loose parser, which expands the entities anyway (103 KB in, 610 MB peak); a
one-line billion-laughs DTD costs seconds of CPU. A feed has no use for entity declarations, so
any `<!ENTITY` before the root element is refused (see docs/identity.md and SECURITY.md).

The check is bounded: it looks only at the first `HEAD_LIMIT` bytes, decoded in every encoding
the document could be read in (BOM, `<?xml` sniffing, the declared encoding, the HTTP charset,
and Latin-1, which covers every ASCII-compatible encoding), so a UTF-16, UTF-32, EBCDIC or
UTF-7 disguise does not slip through. The walk skips comments, processing instructions and the
quoted parts of `<!DOCTYPE>`, so a `<a` inside them is not taken for the root element; and only a
`<` before an ASCII letter or `_` is, since feedparser's loose parser takes every `<!ENTITY`
before its first `<` + [A-Za-z0-9_] (a `<:x/>` or `<é/>` ahead of a DOCTYPE ends no prolog there).

`check_structure` bounds what feedparser would spend on the rest: it costs about 35 us per
element (measured: 100,000 `<x/>`, 400 KB, take 3.4 s), more per attribute on crowded elements
(5,000 attributes on one element: 0.6 s) and much more when its loose parser meets deep unclosed
nesting (100,000 unclosed `<div>`, 0.5 MB: 15 s). So elements plus attributes, nesting depth
and attributes per element are capped; the item cap runs first, so a real feed is far below.

A stray `<` (one that starts no tag) or `&` (one that starts no entity or character reference)
makes the document ill-formed, so feedparser falls back to its loose parser, which pays about
14 us per stray `<` and 1 us per stray `&` (10 MB of `<a` in one description: 76 s and 572 MB).
Both are capped too: a sloppy feed has a few unescaped `AT&T`s, not hundreds of thousands.
"""

from __future__ import annotations

import codecs
import re

from monitor.errors import FeedError
from monitor.feeds.charsets import text_charset

HEAD_LIMIT = 256 * 1024  # bytes of the document looked at; a real prolog is a few hundred
QUICK_HEAD = 4096  # bytes looked at first (see _quick_prolog)
MAX_NODES = 50_000  # elements + attributes; 1,000 news items use about 15,000-30,000
MAX_DEPTH = 256  # real feeds nest about 10 deep, XHTML content a few dozen more
MAX_ATTRIBUTES = 100  # per element
MAX_STRAY_LT = 10_000  # `<` that start no tag: about 0.15 s of the loose parser
MAX_STRAY_AMP = 100_000  # `&` that start no reference: about 0.1 s

_ENTITY_DECL = re.compile(r"<!\s*ENTITY", re.IGNORECASE)
_XML_DECL_ENCODING = re.compile(r"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]{1,40})[\"']")
# Possessive, and an attribute name only from its first character: a name that may also be
# read as the rest of the tag, or a match tried from inside a name, backtracked quadratically
# over a long run of name characters (`<a` + 20,000 letters with no `>`: 2.3 s; an attribute
# name of 20,000 letters with no `=`: 4.2 s), where this check is what bounds parse time.
_START_TAG = re.compile(rb"<(/?)([A-Za-z_][\w:.-]*+)([^<>]*+)>")
_ATTRIBUTE = re.compile(rb"(?<![\w:.-])[\w:.-]++\s*+=")
_STRAY_AMP = re.compile(rb"&(?!#[0-9]+;|#[xX][0-9A-Fa-f]+;|[A-Za-z_][\w.-]*;)")
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]{1,40})", re.IGNORECASE)

# Byte patterns that reveal an encoding which is not ASCII-compatible (XML 1.0 appendix F).
_SNIFF: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<", "utf-16-be"),
    (b"<\x00", "utf-16-le"),
    (b"\x4c\x6f\xa7\x94", "cp037"),  # '<?xm' in EBCDIC
)


class _Truncated(Exception):
    """The head ended while still inside the prolog."""


def check_prolog(data: bytes, content_type: str | None = None) -> None:
    """Raise FeedError("refused_entities") if the document's prolog declares any entity.

    Also refuses a prolog that does not end within HEAD_LIMIT bytes (it cannot be checked).
    Documents without a DOCTYPE, or with only an external id (RSS 0.91's Netscape DTD), pass.
    """
    head = data[:HEAD_LIMIT]
    truncated = len(data) > HEAD_LIMIT
    for encoding in _candidate_encodings(head, content_type):
        try:
            prolog = _quick_prolog(data, encoding)
        except LookupError:  # an unknown or non-text codec name: feedparser cannot use it either
            continue
        except _Truncated:
            text = head.decode(encoding, errors="replace")
            try:
                prolog = _prolog(text.lstrip("\ufeff"))
            except _Truncated:
                if truncated:
                    raise FeedError(
                        "refused_entities",
                        f"no root element within the first {HEAD_LIMIT} bytes; the prolog is "
                        "too long to check, refusing the document",
                    ) from None
                prolog = text
        if _ENTITY_DECL.search(prolog):
            raise FeedError(
                "refused_entities",
                f"the document declares XML entities in its prolog (read as {encoding}); entity "
                "declarations are refused because they can expand without bound",
            )


def _quick_prolog(data: bytes, encoding: str) -> str:
    """`_prolog` of the first QUICK_HEAD bytes: a real prolog ends within a few hundred, and
    decoding all of HEAD_LIMIT (most of a feed) in each candidate encoding costs more than the
    rest of the check. `_prolog` scans forward and stops at the root element, so finding it in
    a shorter head finds the same prolog as the whole head would. Raises _Truncated where the
    whole head must be read, and LookupError."""
    if len(data) <= QUICK_HEAD:
        raise _Truncated
    return _prolog(data[:QUICK_HEAD].decode(encoding, errors="replace").lstrip("\ufeff"))


def _candidate_encodings(head: bytes, content_type: str | None) -> list[str]:
    found = ["latin-1"]
    for prefix, name in _SNIFF:
        if head.startswith(prefix):
            found.append(name)
            break
    for name in list(found):
        declared = _XML_DECL_ENCODING.match(
            head[:512].decode(name, errors="replace").lstrip("\ufeff")
        )
        if declared:
            found.append(declared.group(1))
    if content_type:
        charset = _CHARSET.search(content_type)
        if charset:
            found.append(charset.group(1))
    unique: list[str] = []
    for name in found:
        key = text_charset(name)  # feedparser is given no other (monitor.feeds.charsets)
        if key is not None and key not in unique:
            unique.append(key)
    return unique


def _prolog(text: str) -> str:
    """The part of `text` before the root element's start tag. Raises _Truncated."""
    pos = 0
    n = len(text)
    while True:
        lt = text.find("<", pos)
        if lt < 0:
            raise _Truncated
        nxt = text[lt + 1 : lt + 2]
        if nxt == "?":
            pos = _after(text, "?>", lt + 2)
        elif text.startswith("<!--", lt):
            pos = _after(text, "-->", lt + 4)
        elif text[lt + 1 : lt + 9].upper() == "!DOCTYPE":
            pos = _after_doctype(text, lt + 9)
        elif nxt == "!":
            pos = _after(text, ">", lt + 2)
        elif nxt and nxt.isascii() and (nxt.isalpha() or nxt == "_"):
            # Only an ASCII letter or `_`: feedparser reads entity declarations up to its first
            # `<` + [A-Za-z0-9_] (`replace_doctype`), which `<:x/>` or `<é/>` before a DOCTYPE
            # is not; so the prolog checked here must run at least that far.
            return text[:lt]
        else:
            pos = lt + 1
        if pos >= n:
            raise _Truncated


def _after(text: str, end: str, start: int) -> int:
    found = text.find(end, start)
    if found < 0:
        raise _Truncated
    return found + len(end)


def _after_doctype(text: str, pos: int) -> int:
    """Index just past the DOCTYPE that starts before `pos`, honouring quotes and `[...]`."""
    n = len(text)
    in_subset = False
    while pos < n:
        ch = text[pos]
        if ch in "\"'":
            pos = _after(text, ch, pos + 1)
            continue
        if in_subset and text.startswith("<!--", pos):
            pos = _after(text, "-->", pos + 4)
            continue
        if in_subset and text.startswith("<?", pos):
            pos = _after(text, "?>", pos + 2)
            continue
        if ch == "[":
            in_subset = True
        elif ch == "]":
            in_subset = False
        elif ch == ">" and not in_subset:
            return pos + 1
        pos += 1
    raise _Truncated


def within_node_limit(data: bytes) -> bool:
    """True when the document cannot hold more than MAX_NODES elements and attributes: every
    element has a `<` and every attribute an `=`. Two C-speed counts, about 30x cheaper than
    `check_structure`, and enough for the RSS 2.0 fast path, which walks a fixed shape without
    recursing: depth and crowded elements only cost feedparser's Python handlers."""
    return data.count(b"<") + data.count(b"=") <= MAX_NODES


def check_structure(data: bytes) -> None:
    """Raise FeedError("too_large") if the markup exceeds MAX_NODES, MAX_DEPTH, MAX_ATTRIBUTES,
    MAX_STRAY_LT or MAX_STRAY_AMP.

    Reads ASCII-compatible bytes (parse_feed calls it on UTF-8). CDATA, comments, processing
    instructions and declarations are skipped; an end tag closes up to its matching start tag,
    so unclosed `<br>`s in sloppy feeds do not pile up. Linear, and stops at the first excess.
    """
    _check_stray_ampersands(data)
    stack: list[bytes] = []
    nodes = stray = 0
    pos = 0
    n = len(data)
    while pos < n:
        lt = data.find(b"<", pos)
        if lt < 0:
            return
        if data.startswith(b"<![CDATA[", lt):
            end = data.find(b"]]>", lt + 9)
            pos = n if end < 0 else end + 3
            continue
        if data.startswith(b"<!--", lt):
            end = data.find(b"-->", lt + 4)
            pos = n if end < 0 else end + 3
            continue
        tag = _START_TAG.match(data, lt)
        if tag is None:
            stray += 1
            if stray > MAX_STRAY_LT:
                raise FeedError(
                    "too_large",
                    f"the document has more than {MAX_STRAY_LT} '<' that start no tag; refused "
                    "to bound parse time",
                )
            pos = lt + 1
            continue
        pos = tag.end()
        closing, name, rest = tag.groups()
        if closing:
            if name in stack:
                del stack[len(stack) - 1 - stack[::-1].index(name) :]
            continue
        attributes = len(_ATTRIBUTE.findall(rest)) if b"=" in rest else 0
        nodes += 1 + attributes
        if not rest.endswith(b"/"):
            stack.append(name)
        if nodes > MAX_NODES or len(stack) > MAX_DEPTH or attributes > MAX_ATTRIBUTES:
            what = (
                f"more than {MAX_NODES} elements and attributes"
                if nodes > MAX_NODES
                else f"elements nested more than {MAX_DEPTH} deep"
                if len(stack) > MAX_DEPTH
                else f"an element with more than {MAX_ATTRIBUTES} attributes"
            )
            raise FeedError("too_large", f"the document has {what}; refused to bound parse time")


def _check_stray_ampersands(data: bytes) -> None:
    if data.count(b"&") <= MAX_STRAY_AMP:  # C speed; most documents stop here
        return
    # Stops at the first excess: a bounded loop, and no list of every reference (a subn over
    # 2 million `&lt;` built one, 330 MB).
    for count, _ in enumerate(_STRAY_AMP.finditer(data), 1):
        if count > MAX_STRAY_AMP:
            raise FeedError(
                "too_large",
                f"the document has more than {MAX_STRAY_AMP} '&' that start no entity or "
                "character reference; refused to bound parse time",
            )

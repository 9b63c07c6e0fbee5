"""A strict fast path for plain RSS 2.0: feedparser's answer, about 10x cheaper, or None. Pure.

feedparser stays the reference for what a feed means; this module only takes documents where it
can give exactly what feedparser gives for the fields `parse.py` reads (title, link, guid,
description, pubDate, category), shaped like feedparser's result. For anything else it returns
None and the caller runs feedparser: XML that `xml.etree` does not accept, a DOCTYPE, any XML
namespace (so no Atom, RDF, `content:encoded`, `dc:*`, `xml:base`), an element it does not know
where it is, a repeated single-valued element, markup inside a text element, a title that
feedparser would guess is HTML, an item `<author>` (feedparser rewrites e-mail forms), an
`<image>` or `<textInput>` (their titles interact with the channel's), characters U+0080-U+00FF
(feedparser re-decodes some of them) and dates not in plain RFC 822 form.
`tests/test_fastxml.py` checks every feed in `tests/data/feeds/` against feedparser.

Input is what `parse._parse_xml` hands feedparser: UTF-8 bytes, entity declarations already
refused by `prolog.check_prolog`, at most `prolog.MAX_NODES` elements and attributes (checked by
`prolog.within_node_limit` or `prolog.check_structure`). Depth is not bounded for this path: it
walks rss > channel > item > field and never recurses.
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from datetime import date
from typing import Any

_CHANNEL_SINGLE = frozenset(
    {
        "title", "link", "description", "language", "copyright", "managingEditor", "webMaster",
        "pubDate", "lastBuildDate", "generator", "docs", "ttl", "rating",
    }
)  # fmt: skip
_CHANNEL_OTHER = frozenset({"category", "cloud", "skipHours", "skipDays", "item"})
_ITEM_SINGLE = frozenset({"title", "link", "description", "guid", "pubDate", "comments"})
_ITEM_OTHER = frozenset({"category", "enclosure"})
_TEXT_ELEMENTS = frozenset({"title", "link", "description", "guid", "pubDate", "category", "ttl"})
# feedparser guesses a "text/plain" title is HTML when it has a close tag or an entity reference.
_HTMLISH = re.compile(r"</\w+>|&#?\w+;")
_LATIN1 = re.compile(r"[\x80-\xff]")
_URIFIXER = re.compile("^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?)")  # feedparser.urls._urifixer
_LINK_REF = re.compile("&([A-Za-z0-9_]+);")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, 1)}
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_RFC822 = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?(\d{1,2}) ([A-Z][a-z]{2}) (\d{4}) "
    r"(\d{2}):(\d{2}):(\d{2}) (GMT|UT|UTC|Z|[+-]\d{4})"
)


class _Decline(Exception):
    """The document is not one this module can read exactly like feedparser."""


def parse_rss20(utf8: bytes) -> dict[str, Any] | None:
    """feedparser-shaped `{"version", "bozo", "feed", "entries"}` for plain RSS 2.0, else None."""
    head = utf8[:4096]
    if b"<!DOCTYPE" in head or b"<!doctype" in head or b"<rss" not in head:
        return None
    if b"xmlns" in head:
        return None  # namespaces: fastfeed's; declining here saves parsing the document twice
    try:
        # Safe here: check_prolog refused every entity declaration and a DOCTYPE declines above.
        parser = ET.XMLParser(encoding="utf-8")  # noqa: S314
        parser.feed(utf8)
        root = parser.close()
        return _rss(root)
    except (_Decline, ET.ParseError, ValueError, UnicodeError):
        return None


def _rss(root: ET.Element) -> dict[str, Any]:
    if root.tag != "rss" or root.get("version") != "2.0" or len(root) != 1:
        raise _Decline
    (channel,) = root
    if channel.tag != "channel" or channel.attrib or (channel.text or "").strip():
        raise _Decline
    feed: dict[str, Any] = {}
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    for child in channel:
        tag = _check(child, seen, _CHANNEL_SINGLE, _CHANNEL_OTHER)
        if tag in ("title", "link") and child.attrib:
            raise _Decline
        if tag == "item":
            entries.append(_item(child))
        elif tag == "title":
            feed["title"], feed["title_detail"] = _title(child)
        elif tag == "link":
            feed["link"] = _LINK_REF.sub(r"&\g<1>", _uri(_text(child)))
        elif tag == "ttl":
            feed["ttl"] = _text(child)
    return {"version": "rss20", "bozo": 0, "feed": feed, "entries": entries}


def _check(el: ET.Element, seen: set[str], single: frozenset[str], other: frozenset[str]) -> str:
    """The element's tag, after refusing what this module does not read like feedparser."""
    tag = el.tag
    if not isinstance(tag, str) or "{" in tag or (el.attrib and any("{" in a for a in el.attrib)):
        raise _Decline
    if tag in single:
        if tag in seen:
            raise _Decline
        seen.add(tag)
    elif tag not in other:
        raise _Decline
    if tag in _TEXT_ELEMENTS and len(el):
        raise _Decline
    tail = el.tail
    if tail and not tail.isspace():
        raise _Decline  # stray text between elements: feedparser may attach it somewhere
    return tag


def _item(item: ET.Element) -> dict[str, Any]:
    if item.attrib or (item.text or "").strip():
        raise _Decline
    entry: dict[str, Any] = {}
    tags: list[dict[str, Any]] = []
    seen: set[str] = set()
    guid_link: str | None = None
    for child in item:
        tag = _check(child, seen, _ITEM_SINGLE, _ITEM_OTHER)
        if tag in ("title", "link", "description", "pubDate") and child.attrib:
            raise _Decline  # e.g. a `type` on description changes what feedparser does
        if tag == "title":
            entry["title"], entry["title_detail"] = _title(child)
        elif tag == "link":
            link = _uri(_text(child)).replace("&amp;", "&")
            entry["link"] = _LINK_REF.sub(r"&\g<1>", link)
        elif tag == "description":
            entry["summary"] = _text(child)
            entry["summary_detail"] = {"type": "text/html"}
        elif tag == "guid":
            # feedparser lowercases attribute names, not values
            if len(child.attrib) > 1 or any(a.lower() != "ispermalink" for a in child.attrib):
                raise _Decline
            permalink = all(v == "true" for v in child.attrib.values())
            value = _text(child)
            entry["id"] = _uri(value) if permalink else value
            guid_link = entry["id"] if permalink else None
        elif tag == "pubDate":
            entry["published_parsed"] = _rfc822(_text(child))
        elif tag == "category":
            term = _text(child)
            if term:
                tags.append({"term": term})
    if "link" not in entry and guid_link is not None:
        entry["link"] = guid_link
    if tags:
        entry["tags"] = tags
    return entry


def _text(el: ET.Element) -> str:
    text = el.text
    if not text:
        return ""
    text = text.strip()
    if not text.isascii() and _LATIN1.search(text):
        raise _Decline
    return text


def _title(el: ET.Element) -> tuple[str, dict[str, str]]:
    if el.attrib:
        raise _Decline
    text = _text(el)
    if _HTMLISH.search(text):
        raise _Decline
    return text, {"type": "text/plain"}


def _uri(value: str) -> str:
    return _URIFIXER.sub(r"\1\3", value)


def _rfc822(value: str) -> time.struct_time:
    """A plain RFC 822 date as feedparser's UTC struct_time; anything else declines."""
    return time.gmtime(_rfc822_seconds(value))


def _rfc822_seconds(value: str) -> int:
    """A plain RFC 822 date as seconds since the epoch (`_rfc822`'s); anything else declines."""
    match = _RFC822.fullmatch(value)
    if match is None or match.group(2) not in _MONTHS:
        raise _Decline
    day, month, year = int(match.group(1)), _MONTHS[match.group(2)], int(match.group(3))
    hour, minute, second = int(match.group(4)), int(match.group(5)), int(match.group(6))
    zone = match.group(7)
    offset = 0 if zone in ("GMT", "UT", "UTC", "Z") else int(zone[1:3]) * 60 + int(zone[3:])
    if zone.startswith("-"):
        offset = -offset
    if hour > 23 or minute > 59 or second > 59 or not 1900 < year < 9000:
        raise _Decline
    # date() checks the day (ValueError: declines); gmtime of the seconds since the epoch is
    # the UTC struct_time (tm_isdst 0) that datetime's utctimetuple gives, at a third the cost.
    days = date(year, month, day).toordinal() - _EPOCH_ORDINAL
    return days * 86400 + hour * 3600 + minute * 60 + second - offset * 60

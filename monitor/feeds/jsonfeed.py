"""JSON Feed 1.0 / 1.1 (https://jsonfeed.org) into the shape feedparser returns. Pure.

feedparser 6.0 does not read JSON Feed (it reports "not well-formed"), so this module maps a
JSON Feed document to a feedparser-like dict (`feed`, `entries`, `bozo`) and `parse.py` turns both
into Items by one path. Dates become UTC `time.struct_time`, as feedparser's `*_parsed` are.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from typing import Any

from monitor.errors import FeedError

VERSION_PREFIX = "https://jsonfeed.org/version/"
# json.loads keeps a lone surrogate escape ("\\ud800") as that code point, which cannot be encoded
# as UTF-8: item keys, hashes, the store and alerts would raise on it. (The XML paths never make
# one: html.unescape turns "&#xd800;" into U+FFFD, as here.)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def looks_like_json(data: bytes, content_type: str | None) -> bool:
    """True for a body whose first non-blank byte is `{`, or a JSON content type unless the
    body starts with `<` (servers mislabel feeds; the bytes decide)."""
    first = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if first == b"{":
        return True
    return bool(content_type and "json" in content_type.lower() and first != b"<")


def parse_json_feed(data: bytes, max_items: int) -> dict[str, Any]:
    """A feedparser-shaped dict of a JSON Feed; FeedError("not_a_feed"/"parse") otherwise."""
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise FeedError("parse", f"invalid JSON: {e}") from e
    if not isinstance(doc, dict):
        raise FeedError("not_a_feed", "JSON document is not an object")
    version = doc.get("version")
    items = doc.get("items")
    if not (isinstance(version, str) and version.startswith(VERSION_PREFIX)):
        raise FeedError("not_a_feed", "JSON document is not a JSON Feed (no jsonfeed.org version)")
    warnings: list[str] = []
    if not isinstance(items, list):
        warnings.append("JSON Feed has no 'items' list")
        items = []
    entries = [_entry(raw) for raw in items[:max_items] if isinstance(raw, dict)]
    return {
        "version": "json" + version.removeprefix(VERSION_PREFIX).replace(".", ""),
        "bozo": bool(warnings),
        "bozo_exception": "; ".join(warnings) if warnings else None,
        "feed": {"title": _str(doc.get("title")), "link": _str(doc.get("home_page_url")) or None},
        "entries": entries,
        "total_items": len(items),
    }


def _entry(raw: dict[str, Any]) -> dict[str, Any]:
    html, text = _str(raw.get("content_html")), _str(raw.get("content_text"))
    content = [{"value": html, "type": "text/html"}] if html else []
    if text:
        content.append({"value": text, "type": "text/plain"})
    summary = _str(raw.get("summary"))
    entry: dict[str, Any] = {
        "id": _id(raw.get("id")),
        "title": _str(raw.get("title")),
        "title_detail": {"type": "text/plain"},
        "summary": summary or html or text,
        "summary_detail": {"type": "text/plain" if summary or not html else "text/html"},
        "content": content,
        "link": _str(raw.get("url")) or _str(raw.get("external_url")) or None,
        "author": _author(raw),
        "tags": [{"term": _str(t)} for t in _list(raw.get("tags")) if isinstance(t, str)],
        "published_parsed": _date(raw.get("date_published")),
        "updated_parsed": _date(raw.get("date_modified")),
    }
    return entry


def _author(raw: dict[str, Any]) -> str:
    authors = raw.get("authors")
    if not isinstance(authors, list):
        authors = [raw.get("author")]  # version 1.0
    names = [_str(a.get("name")) for a in authors if isinstance(a, dict)]
    return ", ".join(n for n in names if n)


def _date(value: object) -> time.struct_time | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC).timetuple()
    except (ValueError, OverflowError):  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        return None


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _id(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # JSON Feed ids are strings, but some feeds write numbers
    return _str(value) or None


def _str(value: object) -> str:
    if not isinstance(value, str):
        return ""
    return value if value.isascii() else _LONE_SURROGATE.sub("\ufffd", value)

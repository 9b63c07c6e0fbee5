"""Hostile feed documents, generated: each a (content type, body) pair of about `size` bytes.

Shared by the hostile-input tests and `benchmarks/hostile.py`, so the numbers in
docs/reliability.md come from the very documents the tests use. Pure.
"""

from __future__ import annotations

from collections.abc import Callable

Document = tuple[str | None, bytes]

_RSS_HEAD = (
    b"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>T</title>"
    b"<item><guid>h1</guid><title>Hostile</title><description>"
)
_RSS_TAIL = b"</description></item></channel></rss>"


def charset_header(size: int, codec: str = "punycode") -> Document:
    """A codec named in the HTTP charset that decodes in pure Python, superlinearly."""
    return f"application/rss+xml; charset={codec}", b"<rss></rss>-" + b"a" * size


def declared_encoding(size: int, codec: str = "punycode") -> Document:
    """The same codec named in the XML declaration instead (no charset in the header)."""
    head = f"<?xml version='1.0' encoding='{codec}'?><rss></rss>-".encode()
    return "application/rss+xml", head + b"a" * size


def stray_markup(size: int, unit: bytes = b"<a") -> Document:
    """`unit` (`<a`, `&#`, `</`, `<`) repeated inside one description: ill-formed, so feedparser
    would fall back to its loose parser."""
    return "application/rss+xml", _RSS_HEAD + unit * (size // len(unit)) + _RSS_TAIL


def encoding_on_line_one(size: int) -> Document:
    """`encoding='x' ` repeated on the declaration's line: feedparser's declaration regex
    (`^<\\?.*encoding=['"](.*?)['"].*\\?>` over the whole first line) backtracks over every pair."""
    head = b"<?xml version='1.0'?><rss version='2.0'><channel><title>"
    unit = b"encoding='x' "
    return "application/rss+xml", head + unit * (size // len(unit)) + b"</title></channel></rss>"


CASES: dict[str, Callable[[int], Document]] = {
    "charset=punycode": charset_header,
    "charset=idna": lambda size: charset_header(size, "idna"),
    "encoding='punycode'": declared_encoding,
    "encoding=' on line one": encoding_on_line_one,
    "<a in a description": stray_markup,
    "&# in a description": lambda size: stray_markup(size, b"&#"),
    "</ in a description": lambda size: stray_markup(size, b"</"),
    "< in a description": lambda size: stray_markup(size, b"<"),
}

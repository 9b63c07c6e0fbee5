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


def escaped_html(size: int, entries: int = 20) -> Document:
    """Well-formed Atom whose entries carry escaped HTML, about `size` bytes: nothing any check
    refuses, yet 10 MB costs about 1.6-2.7 s of CPU (7 s before the namespaced fast path). The
    stand-in for the next trap: only the parse budget stops it."""
    unit = "&lt;b&gt;x&lt;/b&gt; "
    html = unit * (size // entries // len(unit))
    body = "".join(
        f"<entry><title>S {i}</title><id>urn:s:{i}</id><updated>2026-11-27T03:00:00Z</updated>"
        f"<content type='html'>{html}</content></entry>"
        for i in range(entries)
    )
    return "application/atom+xml", (
        "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
        f"<title>Costly</title>{body}</feed>"
    ).encode()


# Parsed without any check refusing them: only the parse budget (`newsmon run`) bounds these.
BUDGET_CASES: dict[str, Callable[[int], Document]] = {
    "escaped HTML in 20 Atom entries": escaped_html,
}

"""The parts of an alert that every text channel shows, taken from the alert document. Pure.

Channels render from this, not from the document, so each reads the document's fields once and
in one way. Strings are feed text, still unescaped (each channel escapes for its own markup) but
without control characters, and each with the bidi controls it opens closed at its end
(`confine_bidi`), so that no field reorders another or newsmon's own words around it; a link is
kept only when it is an http(s) URL, its bidi controls percent-encoded (a URL holds none).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monitor.controls import BIDI_CONTROLS, confine_bidi, strip_controls
from monitor.delivery.channels.markup import one_line


@dataclass(frozen=True, slots=True)
class RuleLine:
    id: str
    name: str
    severity: str


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    title: str
    url: str | None  # http(s) only
    source: str  # the feed's title or id
    published: str  # ISO 8601 or ""
    rules: tuple[RuleLine, ...]
    snippet: str  # `**bold**` marks removed

    @property
    def rule_names(self) -> str:
        return ", ".join(f"{r.name} ({r.severity})" if r.severity else r.name for r in self.rules)


def _text(value: object) -> str:
    return confine_bidi(strip_controls(value)) if isinstance(value, str) else ""


# RFC 3987 4.1: an IRI holds no bidi formatting characters. A link's text is shown (the plain
# bodies of email and Matrix): percent-encoded they are inert, and the address is the same one a
# browser asks for (it percent-encodes them in the path, query and fragment itself).
_ENCODE_BIDI = {ord(ch): "".join(f"%{b:02X}" for b in ch.encode()) for ch in BIDI_CONTROLS}


def safe_link(url: object) -> str | None:
    """`url` when it is an http(s) URL without spaces or controls (feeds send `javascript:`),
    its bidi controls percent-encoded."""
    if not isinstance(url, str) or len(url) > 2_048:
        return None
    if not url.lower().startswith(("https://", "http://")):
        return None
    if any(ch.isspace() or ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0 for ch in url):
        return None
    return url.translate(_ENCODE_BIDI)


def from_document(document: dict[str, Any]) -> Message:
    """The message for an alert document (raises KeyError/TypeError for one it cannot read)."""
    item = document["item"]
    feed = item.get("feed") or {}
    rules = tuple(
        RuleLine(
            id=_text(r.get("id")),
            name=one_line(_text(r.get("name")) or _text(r.get("id"))),
            severity=_text(r.get("severity")),
        )
        for r in document.get("rules") or []
    )
    return Message(
        id=_text(document.get("id")),
        title=one_line(_text(item.get("title"))) or "(no title)",
        url=safe_link(item.get("url")),
        source=one_line(_text(feed.get("title")) or _text(feed.get("id"))),
        published=_text(item.get("published")),
        rules=rules,
        snippet=one_line(_text(document.get("snippet")).replace("**", "")),
    )

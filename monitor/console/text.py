"""Feed text made fit for a page: cut, cleaned, linked only when safe, words marked. Pure.

Feed text is attacker-controlled. The templates escape everything (autoescape); on top of that:
- control characters go (`strip_controls`), and a text is cut to a length so a megabyte title
  cannot make a megabyte page;
- a link is a link only when its scheme is http or https (no `javascript:`, `data:`,
  `vbscript:`, no scheme-relative `//host`); otherwise its text is shown, not linked;
- marked words come back as Markup built from escaped pieces, never from the text itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import urlsplit

from markupsafe import Markup, escape

from monitor.controls import strip_controls
from monitor.model import Hit

__all__ = ["ago", "clip", "mark_hits", "mark_snippet", "safe_href", "stamp"]

ELLIPSIS = "…"
MAX_URL = 2048


def clip(text: object, limit: int = 300) -> str:
    """`text` as a string without control characters, at most `limit` characters."""
    s = "" if text is None else str(text)
    if len(s) > limit:
        s = s[:limit].rstrip() + ELLIPSIS
    return strip_controls(s)


def safe_href(url: object) -> str:
    """`url` if it is an absolute http(s) URL fit for an href, else "" (shown as text then)."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        return ""
    if url != url.strip() or any(c.isspace() or not c.isprintable() for c in url):
        return ""  # a browser strips these before reading the scheme: "java\tscript:" is one
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return ""
    return url


def stamp(when: datetime | None) -> str:
    """A time as the CLI prints it: UTC, to the minute, with its zone."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if when else "—"


def ago(when: datetime | None, now: datetime) -> str:
    """How long before `now` (or after: "in 5m"), in the largest whole unit."""
    if when is None:
        return ""
    seconds = (now - when).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            text = f"{int(seconds // size)}{unit}"
            break
    else:
        text = f"{int(seconds)}s"
    return f"in {text}" if future else f"{text} ago"


def mark_snippet(snippet: str, limit: int = 600) -> Markup:
    """A match's snippet, its `**word**` marks as <mark>, everything else escaped."""
    parts = clip(snippet, limit).split("**")
    if len(parts) % 2 == 0:  # an unpaired ** (from the text itself): show it as it is
        parts = [*parts[:-2], parts[-2] + "**" + parts[-1]]
    out = [Markup("<mark>{}</mark>").format(p) if i % 2 else escape(p) for i, p in enumerate(parts)]
    return Markup("").join(out)


def mark_hits(text: str, hits: Sequence[Hit], field: str, limit: int = 300) -> Markup:
    """`text` (a field of the item) with the hits of that field marked, where the hit's span
    still reads its word in `text`; cut to `limit` characters."""
    text = clip(text, limit)
    spans = sorted(
        (h.start, h.end)
        for h in hits
        if h.field == field
        and 0 <= h.start < h.end <= len(text)
        and text[h.start : h.end] == h.word
    )
    out: list[Markup] = []
    at = 0
    for start, end in spans:
        if start < at:
            continue
        out.append(escape(text[at:start]))
        out.append(Markup("<mark>{}</mark>").format(text[start:end]))
        at = end
    out.append(escape(text[at:]))
    return Markup("").join(out)

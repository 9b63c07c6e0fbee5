"""Render an alert document as a Slack incoming-webhook message (Block Kit). Pure.

Feed text is hostile. Slack's mrkdwn turns `<!channel>`, `<@U1>` and `<https://x|y>` into a
mention or a link, so every feed-derived string has `&`, `<` and `>` escaped (Slack's own rule:
only those three). `link_names` is left unset, so a plain `@channel` stays plain text.
`*`, `_` and `~` in feed text are left alone: at worst they bold or strike a few words of the
feed's own text; they cannot mention anyone, link anywhere or break out of a block, and mrkdwn has
no escape for them that would not change the text. Each feed string has the bidi controls it
opens closed at its end (`confine_bidi`), so an RLO in a title cannot reverse the rest of the
message, and a cut keeps that so (`fit`).

Limits (counted in UTF-16 code units, which is at least the character count, so safe whichever
Slack uses): section text 3,000, header 150, top-level `text` 40,000, 50 blocks. Text is cut with
an ellipsis, never in the middle of an `&amp;`/`&lt;`/`&gt;` escape nor of a user-perceived
character (an accent, a flag, a joined emoji: `channels.markup.cluster_start`).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import quote

from monitor.controls import confine_bidi, has_bidi_controls
from monitor.delivery.channels.markup import cluster_start, fit_confined

SECTION_MAX = 3_000
CONTEXT_MAX = 3_000
TEXT_MAX = 40_000
BLOCKS_MAX = 50
TITLE_MAX = 500  # inside a section; long enough for any real headline
FEED_TITLE_MAX = 200
ELLIPSIS = "…"

_BOLD = re.compile(r"\*\*(.+?)\*\*", re.DOTALL)
_URL_UNSAFE = "<>| \t\r\n\"'`"
_ALERT_ID = re.compile(r"msg_[0-9a-f]{32}")


def escape(text: str) -> str:
    """Escape `&`, `<` and `>` as Slack's mrkdwn requires."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def units(text: str) -> int:
    """Length in UTF-16 code units (characters outside the BMP count twice)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _boundary(escaped: str, end: int) -> int:
    """`end`, or less, so that `escaped[:end]` ends neither inside a user-perceived character
    nor inside an escape."""
    end = cluster_start(escaped, end)
    amp = escaped.rfind("&", max(0, end - 4), end)  # an escape is at most 5 long: `&amp;`
    return amp if amp != -1 and ";" not in escaped[amp:end] else end


def fit(escaped: str, limit: int) -> str:
    """Cut already-escaped text to at most `limit` units, ending in `…` when cut; its bidi
    controls confined to it, cut or not."""
    if has_bidi_controls(escaped):
        return fit_confined(escaped, {}, limit, units, _boundary)
    if len(escaped) <= limit and (len(escaped) * 2 <= limit or units(escaped) <= limit):
        return escaped
    budget, used, end = limit - 1, 0, 0
    for index, ch in enumerate(escaped[:limit]):
        size = 2 if ord(ch) > 0xFFFF else 1
        if used + size > budget:
            break
        used += size
        end = index + 1
    return escaped[: _boundary(escaped, end)] + ELLIPSIS


def _field(text: str) -> str:
    return escape(confine_bidi(text))


def mark_bold(snippet: str) -> str:
    """Escape a snippet and turn its `**word**` marks into Slack bold `*word*`."""
    out: list[str] = []
    last = 0
    for m in _BOLD.finditer(snippet):
        out.append(escape(snippet[last : m.start()]))
        out.append(f"*{escape(m.group(1))}*")
        last = m.end()
    out.append(escape(snippet[last:]))
    return "".join(out)


def _link_target(url: object) -> str | None:
    """A URL safe inside `<url|text>`, or None when it is not an http(s) URL."""
    if not isinstance(url, str) or not url.lower().startswith(("https://", "http://")):
        return None
    # Percent-encode what could end or split `<url|text>`; `&` keeps its meaning but is escaped.
    safe = quote(url, safe="".join(chr(c) for c in range(33, 127) if chr(c) not in _URL_UNSAFE))
    safe = safe.replace("&", "&amp;")
    return safe if len(safe) <= 2_000 else None


def _when(doc: dict[str, Any]) -> str:
    stamp = doc["item"].get("published") or doc.get("created_at")
    if not isinstance(stamp, str):
        return ""
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return ""
    fallback = when.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(when.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def render(document: dict[str, Any]) -> dict[str, Any]:
    """The JSON body to POST to a Slack incoming webhook for this alert document."""
    item = document["item"]
    title = fit(escape(confine_bidi(item.get("title") or "(no title)")), TITLE_MAX)
    target = _link_target(item.get("url"))
    heading = f"*<{target}|{title}>*" if target else f"*{title}*"

    feed = item.get("feed") or {}
    source = fit(escape(confine_bidi(feed.get("title") or feed.get("id") or "")), FEED_TITLE_MAX)
    context = " · ".join(part for part in (source, _when(document)) if part)

    rules = document.get("rules") or []
    severities = ", ".join(
        f"{_field(r.get('name') or r.get('id') or '')} ({_field(r.get('severity') or '')})"
        for r in rules
    )
    rules_text = fit(f"*Rules:* {severities}", SECTION_MAX)
    snippet = fit(mark_bold(confine_bidi(document.get("snippet") or "")), SECTION_MAX)

    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": heading}},
    ]
    if context:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": fit(context, CONTEXT_MAX)}]}
        )
    if snippet:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": snippet}})
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": rules_text}})
    alert_id = document.get("id")
    if isinstance(alert_id, str) and _ALERT_ID.fullmatch(alert_id):
        # What a reader needs to say whether this alert was wanted (`newsmon feedback`).
        footer = f"alert `{alert_id}` · feedback: `newsmon feedback {alert_id} --relevant`"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]})

    fallback = fit(f"{title} ({source})" if source else title, TEXT_MAX)
    return {
        "text": fallback,
        "blocks": blocks[:BLOCKS_MAX],
        "unfurl_links": False,
        "unfurl_media": False,
    }

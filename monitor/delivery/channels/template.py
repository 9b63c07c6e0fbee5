"""Message templates for the text channels: a subject and a body in `string.Template` syntax.
Pure.

`$title`, `${rules}`, ... are the only thing a template can do: no attribute access, no calls,
no loops, so a config file cannot run code (Jinja2, even sandboxed, is a language to audit, and
this is all a subject line needs). A template is plain text: the substituted result is escaped
by each channel for its markup like any feed text, so neither the template nor a feed can
inject markup, mentions or headers. Unknown `$names` are config errors, found when loading
(`monitor.config.channels.template_problem`, which names the placeholders, `TEMPLATE_FIELDS`).
"""

from __future__ import annotations

from dataclasses import replace
from string import Template

from monitor.controls import strip_controls
from monitor.delivery.channels.markup import cut, one_line
from monitor.delivery.channels.message import Message

SUBJECT_MAX = 300
BODY_MAX = 3_000


def _values(message: Message) -> dict[str, str]:
    severity = max((r.severity for r in message.rules), key=_rank, default="")
    return {
        "title": message.title,
        "url": message.url or "",
        "source": message.source,
        "published": message.published,
        "rules": message.rule_names,
        "severity": severity,
        "snippet": message.snippet,
        "id": message.id,
    }


def _rank(severity: str) -> int:
    return {"low": 1, "medium": 2, "high": 3, "critical": 4}.get(severity.lower(), 0)


def apply(message: Message, subject: str, body: str) -> Message:
    """`message` with its title from `subject` and its text from `body` (an empty template
    leaves that part as it is)."""
    values = _values(message)
    title = message.title
    snippet = message.snippet
    if subject:
        title = cut(
            one_line(strip_controls(Template(subject).safe_substitute(values))), SUBJECT_MAX
        )
    if body:
        snippet = cut(strip_controls(Template(body).safe_substitute(values)).strip(), BODY_MAX)
    return replace(message, title=title or message.title, snippet=snippet)

"""The email for one alert: a text part and an HTML part. Pure.

Feed text never reaches a header unfolded: the subject is the title on one line (CR/LF and every
other whitespace run become one space), cut to 200 characters, and the email library encodes
and folds it. That library also decodes RFC 2047 encoded words (`=?utf-8?q?...?=`) in a value it
is given, and CPython 3.11.7 writes what they decode to unchecked: `=0D=0ABcc:_x` in a title
became a header of its own (CVE-2024-6923). A WORD JOINER (invisible) splits every `=?` of the
subject, so nothing in it is an encoded word. The HTML part has every feed string HTML-escaped
and a link only when it is an http(s) URL. The Message-ID is made from the alert id, so a resent
alert carries the same one and a mail client or a mailing list can see it as the same message.
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

from monitor.delivery.channels.markup import HTML, WORD_JOINER, cut, escape
from monitor.delivery.channels.message import Message

SUBJECT_MAX = 200
DOMAIN = "newsmon.invalid"  # Message-IDs need a right-hand side; .invalid never resolves


def subject(title: str) -> str:
    """The Subject header's text for `title` (already on one line): no `=?` left in it, so the
    email library takes it as text, never as an encoded word to decode; at most SUBJECT_MAX."""
    return cut(title.replace("=?", "=" + WORD_JOINER + "?"), SUBJECT_MAX)


def message_id(alert_id: str) -> str:
    return f"<{alert_id or 'alert'}@{DOMAIN}>"


def text_body(message: Message) -> str:
    lines = [message.title]
    if message.url:
        lines.append(message.url)
    context = " · ".join(p for p in (message.source, message.published) if p)
    lines += ["", context] if context else []
    if message.snippet:
        lines += ["", message.snippet]
    lines += ["", f"Rules: {message.rule_names}", "", f"alert {message.id}"]
    return "\n".join(lines) + "\n"


def html_body(message: Message) -> str:
    title = escape(message.title, HTML)
    if message.url:
        title = f'<a href="{escape(message.url, HTML)}">{title}</a>'
    parts = [f"<h2>{title}</h2>"]
    context = " · ".join(p for p in (message.source, message.published) if p)
    if context:
        parts.append(f"<p><small>{escape(context, HTML)}</small></p>")
    if message.snippet:
        parts.append(f"<p>{escape(message.snippet, HTML)}</p>")
    parts.append(f"<p><b>Rules:</b> {escape(message.rule_names, HTML)}</p>")
    parts.append(f"<p><small>alert <code>{escape(message.id, HTML)}</code></small></p>")
    body = "\n".join(parts)
    head = '<!doctype html>\n<html><head><meta charset="utf-8"></head><body>'
    return f"{head}\n{body}\n</body></html>\n"


def build(
    message: Message, *, sender: str, recipients: tuple[str, ...], date: datetime
) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = subject(message.title)
    mail["From"] = sender
    mail["To"] = ", ".join(recipients)
    mail["Date"] = format_datetime(date)
    mail["Message-ID"] = message_id(message.id)
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    mail.set_content(text_body(message))
    mail.add_alternative(html_body(message), subtype="html")
    return mail

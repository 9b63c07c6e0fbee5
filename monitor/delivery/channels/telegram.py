"""Telegram: the Bot API's sendMessage (https://core.telegram.org/bots/api#sendmessage). Pure.

POST `{url}/bot{token}/sendMessage` (url: https://api.telegram.org unless a local Bot API server
is configured) with `parse_mode: HTML`: feed text has `&`, `<`, `>` escaped (all Telegram's HTML
mode needs), a link only in `<a href>` with an http(s) URL, and `@` neutralised so a title cannot
mention a user. The text is at most 4,096 characters. The reply is `{"ok": true, "result": …}`;
without `ok` it is not delivered. Errors carry `error_code`, `description` and, on 429,
`parameters.retry_after`. A bad token (401, or 404 for an unknown bot path) and a bot blocked or
removed from the chat (403) disable the destination; 400 (chat not found, bad request) dead-letters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitor.delivery.channels.markup import HTML, HTML_NO_MENTIONS, escape, fit
from monitor.delivery.channels.request import (
    ChannelRequest,
    Judgement,
    Target,
    by_status,
    json_of,
    seconds,
    unconfirmed,
)
from monitor.delivery.jsonbody import encode_json
from monitor.delivery.retry import Outcome, Verdict

if TYPE_CHECKING:
    from monitor.delivery.channels.message import Message

RATE = 1 / 3  # Telegram: about 20 messages a minute to one group
BURST = 3.0
TEXT_MAX = 4_096
DEFAULT_URL = "https://api.telegram.org"


def text(message: Message) -> str:
    title = fit(message.title, HTML_NO_MENTIONS, 500)
    if message.url:
        href = escape(message.url, HTML)
        title = f'<a href="{href}">{title}</a>'
    lines = [f"<b>{title}</b>"]
    context = " · ".join(p for p in (message.source, message.published) if p)
    if context:
        lines.append(f"<i>{fit(context, HTML_NO_MENTIONS, 300)}</i>")
    if message.snippet:
        lines.append(fit(message.snippet, HTML_NO_MENTIONS, 2_000))
    lines.append("<b>Rules:</b> " + fit(message.rule_names, HTML_NO_MENTIONS, 800))
    lines.append(f"<code>{message.id}</code>")
    return "\n".join(lines)  # at most ~3,800 units with the link: within TEXT_MAX


def chat_id(value: str) -> int | str:
    """A numeric chat id is sent as a number, `@channelname` as a string."""
    return int(value) if value.lstrip("-").isdigit() else value


def request(destination: Target, message: Message) -> ChannelRequest:
    token = destination.token.get_secret_value() if destination.token else ""
    base = destination.url.get_secret_value().rstrip("/")
    body = {
        "chat_id": chat_id(destination.chat_id),
        "text": text(message),
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
    }
    return ChannelRequest(
        "POST",
        f"{base}/bot{token}/sendMessage",
        encode_json(body),
        {"content-type": "application/json"},
    )


# Telegram's `error_code` repeats the HTTP status: what went wrong is only in `description`,
# free text. Known descriptions become fixed labels in the reason (`deliveries list`), so a user
# reads "chat not found" and the reason never carries a server's own text.
KNOWN_ERRORS = (
    ("chat not found", "chat not found: check chat_id"),
    ("bot was blocked", "the bot was blocked by the user"),
    ("bot was kicked", "the bot was removed from the chat"),
    ("bot is not a member", "the bot is not a member of the chat"),
    ("not enough rights", "the bot may not post in this chat"),
    ("need administrator rights", "the bot may not post in this chat"),
    ("message is too long", "message too long"),
    ("can't parse entities", "markup refused"),
    ("unauthorized", "bot token refused"),
)


def error_label(reply: dict[str, object]) -> str:
    """A fixed label for what Telegram says went wrong, or "" for what it is not known to say."""
    parameters = reply.get("parameters")
    if isinstance(parameters, dict):
        moved = parameters.get("migrate_to_chat_id")
        if isinstance(moved, int) and not isinstance(moved, bool) and abs(moved) < 10**16:
            return f"the group is now a supergroup: set chat_id to {moved}"
    description = reply.get("description")
    if not isinstance(description, str):
        return ""
    lowered = description.lower()
    return next((label for phrase, label in KNOWN_ERRORS if phrase in lowered), "")


def judge(status: int, body: bytes, retry_after: float | None) -> Judgement:
    reply = json_of(body)
    if 200 <= status < 300:
        if reply.get("ok") is True:
            return Verdict(Outcome.DELIVERED, f"HTTP {status}"), None
        return unconfirmed(status, '"ok": true')
    parameters = reply.get("parameters")
    if status == 429 and isinstance(parameters, dict):
        retry_after = seconds(parameters.get("retry_after")) or retry_after
    label = error_label(reply)
    return by_status(status, disable=frozenset({401, 403, 404, 410}), code=label), retry_after

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
    encode,
    json_of,
    seconds,
    unconfirmed,
)
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
        "POST", f"{base}/bot{token}/sendMessage", encode(body), {"content-type": "application/json"}
    )


def judge(status: int, body: bytes, retry_after: float | None) -> Judgement:
    reply = json_of(body)
    if 200 <= status < 300:
        if reply.get("ok") is True:
            return Verdict(Outcome.DELIVERED, f"HTTP {status}"), None
        return unconfirmed(status, '"ok": true')
    parameters = reply.get("parameters")
    if status == 429 and isinstance(parameters, dict):
        retry_after = seconds(parameters.get("retry_after")) or retry_after
    code = str(reply.get("error_code", "")) if "error_code" in reply else ""
    return by_status(status, disable=frozenset({401, 403, 404, 410}), code=code), retry_after

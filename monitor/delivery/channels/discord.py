"""Discord: an incoming webhook (https://discord.com/developers/docs/resources/webhook). Pure.

POST the webhook URL with `?wait=true`, so Discord answers 200 with the message it created (its
`id` confirms the delivery). The alert is one embed; `allowed_mentions: {"parse": []}` means no
text in it can ping anyone, and `@` is neutralised in the text as well. Limits: embed title 256,
description 4,096, footer 2,048, all embed text 6,000 characters. Discord allows about 30
messages a minute per webhook and answers 429 with Retry-After (and `retry_after` in the body);
an unknown or deleted webhook is 404 (disables the destination), a bad token 401.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitor.delivery.channels.markup import DISCORD, PLAIN_NO_MENTIONS, fit
from monitor.delivery.channels.request import (
    ChannelRequest,
    Judgement,
    Target,
    add_query,
    by_status,
    json_of,
    seconds,
    unconfirmed,
)
from monitor.delivery.jsonbody import encode_json
from monitor.delivery.retry import Outcome, Verdict

if TYPE_CHECKING:
    from monitor.delivery.channels.message import Message

RATE = 0.5
BURST = 5.0
TITLE_MAX = 256
DESCRIPTION_MAX = 3_000  # title + description + footer stay under the 6,000 embed total
FOOTER_MAX = 1_000


def payload(message: Message) -> dict[str, object]:
    description = fit(message.snippet, DISCORD, DESCRIPTION_MAX - 400)
    rules = fit(message.rule_names, DISCORD, 380)
    footer = " · ".join(p for p in (message.source, message.published, message.id) if p)
    embed: dict[str, object] = {
        "title": fit(message.title, DISCORD, TITLE_MAX),
        "description": "\n".join(p for p in (description, f"**Rules:** {rules}") if p),
        "footer": {"text": fit(footer, PLAIN_NO_MENTIONS, FOOTER_MAX)},
    }
    if message.url:
        embed["url"] = message.url
    return {"embeds": [embed], "allowed_mentions": {"parse": []}}


def request(destination: Target, message: Message) -> ChannelRequest:
    url = add_query(destination.url.get_secret_value(), "wait=true")
    return ChannelRequest(
        "POST", url, encode_json(payload(message)), {"content-type": "application/json"}
    )


def judge(status: int, body: bytes, retry_after: float | None) -> Judgement:
    reply = json_of(body)
    if status == 204:  # a webhook told not to wait; Discord's documented success
        return Verdict(Outcome.DELIVERED, "HTTP 204"), None
    if 200 <= status < 300:
        if reply.get("id"):
            return Verdict(Outcome.DELIVERED, f"HTTP {status}"), None
        return unconfirmed(status, "a message id")
    if status == 429 and retry_after is None:
        retry_after = seconds(reply.get("retry_after"))
    code = str(reply.get("code", "")) if "code" in reply else ""
    return by_status(status, disable=frozenset({401, 404, 410}), code=code), retry_after

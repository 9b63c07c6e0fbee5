"""Microsoft Teams: a Workflows webhook ("Post to a channel when a webhook request is received").
Pure.

The workflow takes a message whose attachment is an Adaptive Card
(https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using);
it answers 202 Accepted: the flow has taken the card and posts it on its own, which is as much as
the service confirms. TextBlock text is a markdown subset: feed text takes CommonMark backslash
escapes. A card must stay under about 28 KB; Teams throttles webhooks and answers 429.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from monitor.delivery.channels.markup import TEAMS, fit
from monitor.delivery.channels.request import (
    ChannelRequest,
    Judgement,
    Target,
    by_status,
    json_of,
)
from monitor.delivery.jsonbody import encode_json
from monitor.delivery.retry import Outcome, Verdict

if TYPE_CHECKING:
    from monitor.delivery.channels.message import Message

RATE = 1.0
BURST = 4.0
CARD = "application/vnd.microsoft.card.adaptive"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"


def _block(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def payload(message: Message) -> dict[str, Any]:
    body = [_block(fit(message.title, TEAMS, 500), weight="Bolder", size="Medium")]
    context = " · ".join(p for p in (message.source, message.published) if p)
    if context:
        body.append(_block(fit(context, TEAMS, 300), isSubtle=True, spacing="None"))
    if message.snippet:
        body.append(_block(fit(message.snippet, TEAMS, 3_000)))
    body.append(_block("**Rules:** " + fit(message.rule_names, TEAMS, 1_000)))
    body.append(_block(f"alert {message.id}", isSubtle=True, size="Small"))
    card: dict[str, Any] = {"$schema": SCHEMA, "type": "AdaptiveCard", "version": "1.4"}
    card["body"] = body
    if message.url:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open", "url": message.url}]
    attachment = {"contentType": CARD, "contentUrl": None, "content": card}
    return {"type": "message", "attachments": [attachment]}


def request(destination: Target, message: Message) -> ChannelRequest:
    return ChannelRequest(
        "POST",
        destination.url.get_secret_value(),
        encode_json(payload(message)),
        {"content-type": "application/json"},
    )


def judge(status: int, body: bytes, retry_after: float | None) -> Judgement:
    if 200 <= status < 300:
        return Verdict(Outcome.DELIVERED, f"HTTP {status}"), None
    error = json_of(body).get("error")
    code = str(error.get("code", "")) if isinstance(error, dict) else ""
    return by_status(status, code=code), retry_after

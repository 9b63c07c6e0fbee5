"""ntfy: publish as JSON (https://docs.ntfy.sh/publish/#publish-as-json). Pure.

The destination URL is the topic's URL (`https://ntfy.sh/mytopic`, or a self-hosted server's);
the message is POSTed as JSON to the server's root with the topic in it, so no feed text goes in
a header. An access token, when given, is sent as `Authorization: Bearer`. ntfy answers 200 with
the message (`id`, `event: "message"`); without an id it is not delivered. A message over 4,096
bytes would become an attachment, so the text is cut below that; the title to 250 characters.
Errors are JSON `{"code", "http", "error"}`: 429 (visitor limits), 401/403 (token refused: the
destination is disabled), 413 (too large: dead-lettered).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from monitor.delivery.channels.markup import cut, cut_bytes
from monitor.delivery.channels.request import (
    ChannelRequest,
    Judgement,
    Target,
    by_status,
    json_of,
    unconfirmed,
)
from monitor.delivery.jsonbody import encode_json
from monitor.delivery.retry import Outcome, Verdict

if TYPE_CHECKING:
    from monitor.delivery.channels.message import Message

RATE = 0.2  # ntfy.sh: a burst of 60 requests, then one every 5 s per visitor
BURST = 20.0
MESSAGE_MAX_BYTES = 4_000
PRIORITY = {"critical": 5, "urgent": 5, "high": 4, "low": 2}


def split_topic(url: str) -> tuple[str, str]:
    """(server root URL, topic) of a topic URL; ValueError without a topic."""
    parts = urlsplit(url)
    prefix, _, topic = parts.path.rstrip("/").rpartition("/")
    if not topic:
        raise ValueError("an ntfy URL names its topic: https://ntfy.sh/TOPIC")
    return urlunsplit((parts.scheme, parts.netloc, prefix + "/", "", "")), topic


def payload(topic: str, message: Message) -> dict[str, object]:
    lines = [p for p in (message.snippet, f"Rules: {message.rule_names}", message.source) if p]
    data: dict[str, object] = {
        "topic": topic,
        "title": cut(message.title, 250),
        "message": cut_bytes("\n".join(lines), MESSAGE_MAX_BYTES),
        "tags": ["newspaper"],
        "priority": max((PRIORITY.get(r.severity.lower(), 3) for r in message.rules), default=3),
    }
    if message.url:
        data["click"] = message.url
    return data


def request(destination: Target, message: Message) -> ChannelRequest:
    root, topic = split_topic(destination.url.get_secret_value())
    headers = {"content-type": "application/json"}
    if destination.token is not None:
        headers["authorization"] = f"Bearer {destination.token.get_secret_value()}"
    return ChannelRequest("POST", root, encode_json(payload(topic, message)), headers)


def judge(status: int, body: bytes, retry_after: float | None) -> Judgement:
    reply = json_of(body)
    if 200 <= status < 300:
        if reply.get("id"):
            return Verdict(Outcome.DELIVERED, f"HTTP {status}"), None
        return unconfirmed(status, "a message id")
    code = str(reply.get("code", "")) if "code" in reply else ""
    return by_status(status, disable=frozenset({401, 403, 410}), code=code), retry_after

"""Matrix: send a room message through the client-server API. Pure.

PUT `{homeserver}/_matrix/client/v3/rooms/{room}/send/m.room.message/{txnId}` with the access
token as `Authorization: Bearer` (https://spec.matrix.org/v1.11/client-server-api/#put_matrixclientv3roomsroomidsendeventtypetxnid).
The transaction id is the alert id, so a retry after a lost reply is the same transaction and the
homeserver does not post it twice. The body has a plain `body` and an HTML `formatted_body`, both
escaped and with `@` neutralised (`@room` would notify a whole room), and `m.mentions: {}`: the
message mentions nobody. The item's link is plain text in `body` too, where a feed could end it
in `/@room`: there its `@` is written `%40`. The reply's `event_id` confirms the delivery.
Errors are JSON `{"errcode", "error"}`; 429 `M_LIMIT_EXCEEDED` carries `retry_after_ms`; 401
(token refused) and 403 (not in the room) disable the destination.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from monitor.delivery.channels.markup import HTML, HTML_NO_MENTIONS, PLAIN_NO_MENTIONS, escape, fit
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

RATE = 1.0
BURST = 5.0


def plain_link(url: str) -> str:
    """`url` as text of the plain `body`: `@` percent-encoded, so no part of a link reads as a
    mention to a push rule (`.m.rule.roomnotif` matches `@room` in `body`). The link itself, in
    `formatted_body`, is left as it is."""
    return url.replace("@", "%40")


def payload(message: Message) -> dict[str, object]:
    context = " · ".join(p for p in (message.source, message.published) if p)
    plain = [fit(message.title, PLAIN_NO_MENTIONS, 500)]
    title = fit(message.title, HTML_NO_MENTIONS, 500)
    if message.url:
        href = escape(message.url, HTML)
        title = f'<a href="{href}">{title}</a>'
        plain.append(plain_link(message.url))
    html = [f"<b>{title}</b>"]
    for text, limit in ((context, 300), (message.snippet, 2_000)):
        if text:
            plain.append(fit(text, PLAIN_NO_MENTIONS, limit))
            html.append(fit(text, HTML_NO_MENTIONS, limit))
    plain.append("Rules: " + fit(message.rule_names, PLAIN_NO_MENTIONS, 800))
    html.append("<b>Rules:</b> " + fit(message.rule_names, HTML_NO_MENTIONS, 800))
    plain.append(f"alert {message.id}")
    html.append(f"<code>{message.id}</code>")
    return {
        "msgtype": "m.text",
        "body": "\n".join(plain),
        "format": "org.matrix.custom.html",
        "formatted_body": "<br>".join(html),
        "m.mentions": {},
    }


def request(destination: Target, message: Message) -> ChannelRequest:
    base = destination.url.get_secret_value().rstrip("/")
    room = quote(destination.room, safe="")
    txn = quote(message.id or "alert", safe="")
    url = f"{base}/_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}"
    headers = {"content-type": "application/json"}
    if destination.token is not None:
        headers["authorization"] = f"Bearer {destination.token.get_secret_value()}"
    return ChannelRequest("PUT", url, encode_json(payload(message)), headers)


def judge(status: int, body: bytes, retry_after: float | None) -> Judgement:
    reply = json_of(body)
    if 200 <= status < 300:
        if reply.get("event_id"):
            return Verdict(Outcome.DELIVERED, f"HTTP {status}"), None
        return unconfirmed(status, "an event id")
    if status == 429 and retry_after is None:
        retry_after = seconds(reply.get("retry_after_ms"), 0.001)
    code = str(reply.get("errcode", ""))
    return by_status(status, disable=frozenset({401, 403, 410}), code=code), retry_after

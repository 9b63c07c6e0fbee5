"""The HTTP request for one delivery attempt, per destination type. Pure.

A webhook gets the alert document as compact UTF-8 JSON with the Standard Webhooks headers
(`webhook-id` = the alert id on every attempt, `webhook-timestamp` fresh per attempt, and
`webhook-signature` when the destination has signing secrets). Slack gets the Block Kit message.
The body is serialised once per attempt and the signature is computed over exactly those bytes.
Control characters from feed text (ESC, OSC, NUL, C1) are removed from every string of the
document here, where it leaves newsmon, so alerts already in the outbox are cleaned too:
receivers print titles into terminals, logs and chat clients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monitor import __version__
from monitor.controls import strip_controls_deep
from monitor.delivery.destinations import Destination
from monitor.delivery.jsonbody import encode_json
from monitor.delivery.signing import webhook_headers

USER_AGENT = f"newsmon/{__version__} (+https://www.standardwebhooks.com)"


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    """A signed webhook post, ready to send: its headers and JSON body."""

    headers: dict[str, str]
    body: bytes

    def __repr__(self) -> str:  # the body may be long; headers hold signatures, not secrets
        return f"PreparedRequest(headers={sorted(self.headers)}, body=<{len(self.body)} bytes>)"


def prepare(
    destination: Destination, document: dict[str, Any], msg_id: str, timestamp: int
) -> PreparedRequest:
    """The headers and body of one attempt to deliver `document` to `destination`."""
    document = strip_controls_deep(document)
    base = {"content-type": "application/json", "user-agent": USER_AGENT}
    if destination.type == "slack":
        from monitor.delivery import slack  # Block Kit: imported by the first Slack alert

        return PreparedRequest(base, encode_json(slack.render(document)))
    body = encode_json(document)
    headers = base | webhook_headers(destination.signing_secrets(), msg_id, timestamp, body)
    return PreparedRequest(headers, body)

"""Channels beyond webhooks and Slack: email, Discord, Teams, Telegram, ntfy, Matrix.

Every channel goes through the deliverer like a webhook (outbox, lease, retry schedule, rate
limit, dead letters, replay); only the attempt differs. `message` reads an alert document once,
`markup` escapes feed text for each channel's markup; an HTTP channel module turns a message into
one request (`request`) and a reply into a verdict (`judge`), both pure; `mail` builds the email
and `smtp` sends it (I/O, through the address guard). HTTP channels use the deliverer's guarded
client, so every target address is checked when connecting, as for webhooks.

A channel's module is imported when a destination of its type asks for it (`http_channel`,
`channel_rate`), not by every start: a run that delivers to webhooks alone never loads them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitor.delivery.channels.request import HttpChannel

HTTP_CHANNEL_TYPES = ("discord", "teams", "telegram", "ntfy", "matrix")
# The destination types a channel module sends to (every other type is a webhook or Slack).
CHANNEL_TYPES = frozenset({*HTTP_CHANNEL_TYPES, "email"})
EMAIL_RATE = (0.5, 5.0)


def http_channel(kind: str) -> HttpChannel:
    """The module that speaks to `kind`'s service. Raises KeyError for any other type."""
    if kind == "discord":
        from monitor.delivery.channels import discord

        return discord
    if kind == "teams":
        from monitor.delivery.channels import teams

        return teams
    if kind == "telegram":
        from monitor.delivery.channels import telegram

        return telegram
    if kind == "ntfy":
        from monitor.delivery.channels import ntfy

        return ntfy
    if kind == "matrix":
        from monitor.delivery.channels import matrix

        return matrix
    raise KeyError(kind)


def channel_rate(kind: str) -> tuple[float, float]:
    """(rate, burst) that `kind`'s service allows, when the config sets none. Raises KeyError
    for a type that is no channel."""
    if kind == "email":
        return EMAIL_RATE
    channel = http_channel(kind)
    return channel.RATE, channel.BURST

"""Channels beyond webhooks and Slack: email, Discord, Teams, Telegram, ntfy, Matrix.

Every channel goes through the deliverer like a webhook (outbox, lease, retry schedule, rate
limit, dead letters, replay); only the attempt differs. `message` reads an alert document once,
`markup` escapes feed text for each channel's markup; an HTTP channel module turns a message into
one request (`request`) and a reply into a verdict (`judge`), both pure; `mail` builds the email
and `smtp` sends it (I/O, through the address guard). HTTP channels use the deliverer's guarded
client, so every target address is checked when connecting, as for webhooks.
"""

from __future__ import annotations

from monitor.delivery.channels import discord, matrix, ntfy, teams, telegram
from monitor.delivery.channels.request import HttpChannel

HTTP_CHANNELS: dict[str, HttpChannel] = {
    "discord": discord,
    "teams": teams,
    "telegram": telegram,
    "ntfy": ntfy,
    "matrix": matrix,
}
EMAIL_RATE = (0.5, 5.0)
CHANNEL_RATES: dict[str, tuple[float, float]] = {
    name: (module.RATE, module.BURST) for name, module in HTTP_CHANNELS.items()
} | {"email": EMAIL_RATE}

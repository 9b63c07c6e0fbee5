"""Checks of the channel keys of a destination (email, telegram, matrix, ntfy, ...). Pure.

Each problem is `(key path, message)`, located by the loader like every other config error.
Addresses and ids are checked when the config is read, so a typo is not found after a day of
retries. A problem never quotes a URL (it may hold a credential).
"""

from __future__ import annotations

from collections.abc import Sequence
from email.utils import parseaddr
from string import Template
from urllib.parse import urlsplit

from monitor.config.problems import KeyPath

# Which destination types take which keys; `secret` means a token or password for these.
NEEDS_SECRET = frozenset({"telegram", "matrix"})
NO_SECRET = frozenset({"slack", "discord", "teams"})
_OWN_KEYS = {"from": "email", "to": "email", "chat_id": "telegram", "room": "matrix"}
# What a message template may name (`delivery.channels.template` fills each one in).
TEMPLATE_FIELDS = ("title", "url", "source", "published", "rules", "severity", "snippet", "id")


def address_problem(address: str) -> str | None:
    """What makes `address` unusable as a bare email address, or None."""
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in address):
        return f"not an email address: {address!r} (a space or control character)"
    _, parsed = parseaddr(address)
    if parsed != address or address.count("@") != 1 or address.startswith("@"):
        return f"not an email address: {address!r} (write it bare: name@example.org)"
    if "." not in address.rpartition("@")[2] and not address.endswith("@localhost"):
        return f"not an email address: {address!r} (the domain has no dot)"
    return None


def smtp_url_problem(url: str) -> str | None:
    """What makes `url` unusable as an SMTP server URL, or None; never quotes the URL."""
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return "the URL contains a space or control character"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises for a bad port)
    except ValueError:
        return "the URL does not parse (a bad port or [IPv6] address?)"
    if parts.scheme.lower() not in ("smtp", "smtps"):
        return "an email destination's URL is smtp://HOST:587 (STARTTLS) or smtps://HOST:465"
    if not parts.hostname:
        return "the URL has no host name"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "an SMTP URL is only smtp[s]://[USER@]HOST[:PORT]"
    if parts.password is not None:
        return "put the SMTP password in secret_env or secret_file, not in the URL"
    return None


def ntfy_url_problem(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.path.strip("/"):
        return "an ntfy URL names its topic: https://ntfy.sh/TOPIC"
    if parts.query or parts.fragment:
        return "an ntfy URL is the topic's URL, without ?query or #fragment"
    return None


def channel_problems(
    type_: str,
    secret_keys: Sequence[str],
    sender: str | None,
    to: Sequence[str],
    chat_id: str | None,
    room: str | None,
) -> list[tuple[KeyPath, str]]:
    problems: list[tuple[KeyPath, str]] = []
    given = {"from": sender, "to": to, "chat_id": chat_id, "room": room}
    for key, value in given.items():
        owner = _OWN_KEYS[key]
        if value and type_ != owner:
            problems.append(((key,), f"{key!r} is for {owner} destinations only"))
    if type_ in NEEDS_SECRET and not secret_keys:
        what = "the bot token" if type_ == "telegram" else "the access token"
        problems.append(((), f"a {type_} destination needs {what} in secret_env or secret_file"))
    if type_ in NO_SECRET - {"slack"} and secret_keys:
        problems.append(
            ((secret_keys[0],), f"a {type_} webhook URL is its own credential: remove the secret")
        )
    if type_ == "email":
        if not sender:
            problems.append(((), "an email destination needs 'from' (the sender address)"))
        elif (problem := address_problem(sender)) is not None:
            problems.append((("from",), problem))
        if not to:
            problems.append(((), "an email destination needs 'to' (one or more addresses)"))
        for index, address in enumerate(to):
            if (problem := address_problem(address)) is not None:
                problems.append((("to", index), problem))
    if type_ == "telegram" and not chat_id:
        problems.append(((), "a telegram destination needs chat_id (a number or @channelname)"))
    if type_ == "telegram" and chat_id and not _chat_id_ok(chat_id):
        problems.append((("chat_id",), f"not a chat id: {chat_id!r} (a number or @channelname)"))
    if type_ == "matrix" and not room:
        problems.append(((), "a matrix destination needs room (a room id like !abc:example.org)"))
    if type_ == "matrix" and room and not (room.startswith("!") and ":" in room):
        problems.append((("room",), f"not a room id: {room!r} (like !abc:example.org)"))
    return problems


def _chat_id_ok(value: str) -> bool:
    return value.lstrip("-").isdigit() or (value.startswith("@") and value[1:].isidentifier())


def template_problem(text: str) -> str | None:
    """What is wrong with a message template (`string.Template` syntax), or None."""
    template = Template(text)
    if not template.is_valid():
        return "not a valid template: write $name or ${name}, and $$ for a dollar sign"
    unknown = sorted(set(template.get_identifiers()) - set(TEMPLATE_FIELDS))
    if unknown:
        known = ", ".join("$" + f for f in TEMPLATE_FIELDS)
        return f"unknown placeholder ${unknown[0]} (known: {known})"
    return None

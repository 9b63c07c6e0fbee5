"""What an HTTP channel sends and how its reply is judged: shared types and helpers. Pure.

A channel module (discord, teams, telegram, ntfy, matrix) has `request(destination, message)`,
the one HTTP request of an attempt to a `Target` (what a channel reads of a destination), and
`judge(status, body, retry_after)`, what the reply means: a `Verdict` and the seconds to wait
before the next try (Retry-After, or the service's own field).
A 2xx is delivered only when the reply confirms it the way the service documents (a message id,
`"ok": true`, an event id); anything else is retried, never marked delivered.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from monitor.controls import printable_only
from monitor.delivery.retry import Outcome, Verdict

if TYPE_CHECKING:
    from pydantic import SecretStr

    from monitor.delivery.channels.message import Message


@dataclass(frozen=True, slots=True)
class ChannelRequest:
    method: str
    url: str  # holds a credential for most channels: never logged, never in repr
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"ChannelRequest({self.method}, headers={sorted(self.headers)}, <{len(self.body)} B>)"
        )


Judgement = tuple[Verdict, float | None]


class Target(Protocol):
    """What a channel reads of a destination (`delivery.destinations.Destination` is one): the
    channels stay below the destinations, which check their settings and choose their channel."""

    @property
    def url(self) -> SecretStr: ...

    @property
    def token(self) -> SecretStr | None: ...

    @property
    def chat_id(self) -> str: ...

    @property
    def room(self) -> str: ...


class HttpChannel(Protocol):
    RATE: float
    BURST: float

    def request(self, destination: Target, message: Message) -> ChannelRequest: ...

    def judge(self, status: int, body: bytes, retry_after: float | None) -> Judgement: ...


def json_of(body: bytes) -> dict[str, Any]:
    """The reply's JSON object, or {} when it is not one (a proxy's HTML error page, or JSON
    nested deeper than the parser's recursion: `[[[...` raises RecursionError, not ValueError)."""
    try:
        data = json.loads(body.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def seconds(value: object, scale: float = 1.0) -> float | None:
    """A service's own retry-after field (a number, maybe in ms), capped at an hour. `json.loads`
    also reads `NaN` and integers past a float's range: neither may reach the pause (a
    ValueError there left the alert claimed and sent again after its lease, without end)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value) * scale
    except OverflowError:
        return 3600.0 if value > 0 else None
    if math.isnan(number) or number < 0:
        return None
    return min(number, 3600.0)


def unconfirmed(status: int, what: str) -> Judgement:
    return Verdict(Outcome.RETRY, f"HTTP {status} without {what}: not confirmed"), None


def by_status(
    status: int,
    *,
    disable: frozenset[int] = frozenset({410}),
    code: str = "",
) -> Verdict:
    """The verdict on an error status: 408/425/429/5xx retried, listed ones disable the
    destination, other 4xx (and a redirect, never followed) dead-lettered."""
    code = _printable(code)
    label = f"HTTP {status}" + (f" {code}" if code else "")
    if status in disable:
        return Verdict(Outcome.DISABLE, label)
    if status in (408, 425, 429) or 500 <= status < 600:
        return Verdict(Outcome.RETRY, label)
    if 300 <= status < 400:
        return Verdict(Outcome.DEAD, f"{label} redirect not followed; fix the URL")
    if 400 <= status < 500:
        return Verdict(Outcome.DEAD, label)
    return Verdict(Outcome.RETRY, f"{label} unexpected")


def _printable(code: str) -> str:
    """A service's error code as the reason quotes it: its first 64 characters, printable ones
    only. It is the receiver's text: a NUL in it failed the record of every attempt on
    PostgreSQL (whose text cannot hold one), so the alert was never retried nor dead-lettered;
    an ESC or a bidi control would reach `deliveries list` and the console."""
    return printable_only(code[:64])


def add_query(url: str, pair: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{pair}"

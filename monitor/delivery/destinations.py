"""Destinations as the deliverer uses them: name, type, URL, signing secrets, rate limit. Pure.

The URL of a destination is a secret (a Slack incoming-webhook URL is its own credential) and so
are the signing secrets: both are `pydantic.SecretStr`, whose repr and str show asterisks, and no
error raised here quotes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from pydantic import SecretStr

from monitor.clock import Clock
from monitor.delivery import ratelimit
from monitor.delivery.channels import CHANNEL_TYPES, channel_rate
from monitor.delivery.signing import decode_secret
from monitor.errors import ConfigError

if TYPE_CHECKING:
    from monitor.config.destinations import ResolvedDestination
    from monitor.delivery.digest import Digest
    from monitor.delivery.storm import Storm

DestinationType = Literal[
    "webhook", "slack", "email", "discord", "teams", "telegram", "ntfy", "matrix"
]
TYPES: tuple[DestinationType, ...] = (
    "webhook",
    "slack",
    "email",
    "discord",
    "teams",
    "telegram",
    "ntfy",
    "matrix",
)


@dataclass(frozen=True, slots=True)
class Destination:
    """A destination as the deliverer sends to it: its channel, URL and secrets resolved."""

    name: str
    type: DestinationType
    url: SecretStr
    secrets: tuple[SecretStr, ...] = ()  # several during a key rotation; webhooks only
    rate: float | None = None  # messages per second; None = the type's default
    burst: float | None = None
    token: SecretStr | None = None  # telegram bot token, matrix/ntfy access token, SMTP password
    sender: str = ""  # email From
    recipients: tuple[str, ...] = ()  # email To
    chat_id: str = ""  # telegram
    room: str = ""  # matrix
    storm: Storm | None = None  # fold past `max` alerts of a rule per window (delivery.storm)
    digest: Digest | None = None  # one message per period instead (delivery.digest)
    template: tuple[str, str] | None = None  # (subject, body), channels.template

    def __post_init__(self) -> None:
        where = f"destination {self.name!r}"
        if self.type not in TYPES:
            raise ConfigError(f"{where}: type must be one of {', '.join(TYPES)}")
        schemes = ("smtp", "smtps") if self.type == "email" else ("http", "https")
        try:
            parts = urlsplit(self.url.get_secret_value())
            usable = parts.scheme in schemes and bool(parts.hostname)
        except ValueError:  # e.g. a broken IPv6 literal; the message is not passed on
            usable = False
        if not usable:
            raise ConfigError(
                f"{where}: url must be a {' or '.join(schemes)} URL (value not shown: a secret)"
            )
        missing = _channel_missing(self)
        if missing:
            raise ConfigError(f"{where}: {missing}")
        if self.secrets and self.type != "webhook":
            raise ConfigError(f"{where}: signing secrets are for webhooks only")
        for number, secret in enumerate(self.secrets, 1):
            try:
                decode_secret(secret.get_secret_value())
            except ConfigError as exc:
                raise ConfigError(f"{where}: signing secret {number}: {exc}") from None
        if self.rate is not None and self.rate <= 0:
            raise ConfigError(f"{where}: rate must be above 0 messages a second")
        if self.burst is not None and self.burst < 1:
            raise ConfigError(f"{where}: burst must be at least 1")

    @classmethod
    def create(
        cls,
        name: str,
        type: DestinationType,
        url: str | SecretStr,
        secrets: Sequence[str | SecretStr] = (),
        *,
        rate: float | None = None,
        burst: float | None = None,
        token: str | None = None,
        sender: str = "",
        recipients: Sequence[str] = (),
        chat_id: str = "",
        room: str = "",
        storm: Storm | None = None,
        digest: Digest | None = None,
        template: tuple[str, str] | None = None,
    ) -> Destination:
        """Build from plain strings (config loader, tests)."""
        return cls(
            name=name,
            type=type,
            url=url if isinstance(url, SecretStr) else SecretStr(url),
            secrets=tuple(s if isinstance(s, SecretStr) else SecretStr(s) for s in secrets),
            rate=rate,
            burst=burst,
            token=SecretStr(token) if token is not None else None,
            sender=sender,
            recipients=tuple(recipients),
            chat_id=chat_id,
            room=room,
            storm=storm,
            digest=digest,
            template=template,
        )

    @classmethod
    def from_resolved(cls, resolved: ResolvedDestination) -> Destination:
        """From the config's resolved destination (`Config.resolve_destinations()`).

        The config leaves a webhook's rate unset (None); the deliverer still applies its default
        webhook bucket, so a flood of alerts cannot hammer a receiver.
        """
        signing = resolved.type == "webhook"
        storm: Storm | None = None
        digest: Digest | None = None
        # Imported for a destination that folds or digests: not by every start.
        if resolved.storm:
            from monitor.delivery.storm import Storm

            storm = Storm(*resolved.storm)
        if resolved.digest:
            from monitor.delivery.digest import Digest

            digest = Digest(*resolved.digest)
        return cls(
            name=resolved.name,
            type=resolved.type,
            url=resolved.url,
            secrets=resolved.secrets if signing else (),
            rate=resolved.rate,
            burst=float(resolved.burst) if resolved.rate is not None else None,
            token=resolved.secrets[0] if resolved.secrets and not signing else None,
            sender=resolved.sender,
            recipients=resolved.recipients,
            chat_id=resolved.chat_id,
            room=resolved.room,
            storm=storm,
            digest=digest,
            template=resolved.template,
        )

    def signing_secrets(self) -> list[str]:
        return [s.get_secret_value() for s in self.secrets]

    def bucket_defaults(self) -> tuple[float, float]:
        """(rate, burst) of this type when the config sets none: each service's own limits."""
        if self.type == "slack":
            return ratelimit.SLACK_RATE, ratelimit.SLACK_BURST
        if self.type in CHANNEL_TYPES:
            return channel_rate(self.type)
        return ratelimit.WEBHOOK_RATE, ratelimit.WEBHOOK_BURST

    def bucket(self, clock: Clock) -> ratelimit.TokenBucket:
        rate, burst = self.bucket_defaults()
        return ratelimit.TokenBucket(self.rate or rate, self.burst or burst, clock)


def _channel_missing(destination: Destination) -> str | None:
    """What a channel destination lacks to be sent to, or None (config checks say it first)."""
    kind = destination.type
    if kind == "email" and not (destination.sender and destination.recipients):
        return "an email destination needs 'from' and 'to'"
    if kind in ("telegram", "matrix") and destination.token is None:
        return f"a {kind} destination needs its token (secret_env or secret_file)"
    if kind == "telegram" and not destination.chat_id:
        return "a telegram destination needs chat_id"
    if kind == "matrix" and not destination.room:
        return "a matrix destination needs room"
    if kind == "ntfy":
        from monitor.delivery.channels import ntfy

        try:
            ntfy.split_topic(destination.url.get_secret_value())
        except ValueError as exc:
            return str(exc)
    return None

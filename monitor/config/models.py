"""The feed and destination entries of the configuration file, as pydantic models. Pure.

A destination names where its URL and signing secrets come from (inline, an environment variable
or a file) but is not resolved here: `monitor.config.destinations` reads them when delivering, so
`newsmon check` works without delivery secrets in the environment.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from monitor.config.channels import (
    channel_problems,
    ntfy_url_problem,
    smtp_url_problem,
    template_problem,
)
from monitor.config.problems import ConfigProblems, KeyPath
from monitor.config.values import parse_size, split_list, to_duration
from monitor.net.urls import public_query, url_problem

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slug_for_url(url: str) -> str:
    """A feed id from its URL: host, path and query, lower case, runs of other characters as
    `-`. A credential in the query (`apikey=...`) is left out: the id is in every log line,
    alert and page."""
    parts = urlsplit(url)
    host = (parts.hostname or "").removeprefix("www.")
    query = public_query(parts.query)
    slug = _NOT_SLUG.sub("-", f"{host}{parts.path}{'-' + query if query else ''}".lower())
    return slug.strip("-")[:80] or "feed"


class FeedConfig(BaseModel):
    """One feed of the `feeds:` list."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    url: str = Field(description="The feed URL (http or https).")
    id: str = Field(
        "", description="Stable id; derived from the URL's host and path when left out."
    )
    name: str = Field("", description="A display name.")
    tags: tuple[str, ...] = Field((), description="Tags that rules can select on (`feed.tag`).")
    interval: timedelta | None = Field(
        None, description="How often to poll; `default_interval` when left out."
    )
    backfill: timedelta = Field(
        timedelta(0), description="Items this recent on the first poll alert (default: none)."
    )

    @field_validator("interval", "backfill", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else to_duration(value)

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> Any:
        return split_list(value)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip()
        problem = url_problem(value)
        if problem is None:
            return value
        if urlsplit(value).scheme.lower() in ("http", "https"):
            raise ValueError(f"{problem}: {value!r}")
        raise ValueError(
            f"not an http(s) URL: {value!r} (a local file can be read only when named on"
            " the command line: newsmon check --feed FILE)"
        )

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value < timedelta(seconds=1):
            raise ValueError("a feed interval must be at least 1s")
        return value

    @model_validator(mode="after")
    def _derive_id(self) -> FeedConfig:
        if not self.id:
            object.__setattr__(self, "id", slug_for_url(self.url))
        elif not _SLUG.match(self.id):
            raise ConfigProblems(
                [(("id",), f"not a valid id: {self.id!r} (letters, digits, '.', '_', '-')")]
            )
        return self


# A webhook digest's or fold's largest post (monitor.delivery.parts.MAX_BODY): half of nginx's
# default client_max_body_size (1 MB), which refuses larger bodies with 413.
DIGEST_MAX_BODY = 512 * 1024
DIGEST_MIN_BODY = 16 * 1024


def _post_size(value: Any, whose: str) -> int:
    """A webhook post's `max_body` (`512KiB`, bytes): at least DIGEST_MIN_BODY, so one alert
    fits. Shared by `storm:` and `digest:`; `whose` names it in the error."""
    size = parse_size(value)
    if size < DIGEST_MIN_BODY:
        raise ValueError(f"{whose} max_body is at least 16KiB (one alert must fit)")
    return size


class StormConfig(BaseModel):
    """`storm: {max: 5, within: 10m}`: past `max` alerts for one rule within a window, the rest
    are folded into one message per window."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    max: int = Field(ge=1, description="Alerts of one rule sent one by one per window.")
    within: timedelta = Field(description="The window (aligned: 10m windows start at :00, :10).")
    max_body: int = Field(
        DIGEST_MAX_BODY,
        description="Webhooks: the largest post (`512KiB`); a larger fold goes in parts.",
    )

    @field_validator("within", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return to_duration(value)

    @field_validator("max_body", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        return _post_size(value, "a storm's")

    @field_validator("within")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value < timedelta(minutes=1) or value > timedelta(days=1):
            raise ValueError("a storm window is between 1m and 1d")
        return value


class DigestConfig(BaseModel):
    """`digest: {every: 1h}` or `digest: {at: ["08:00", "17:00"], timezone: Europe/Berlin}`."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    every: timedelta | None = Field(None, description="A period this long (aligned to :00).")
    at: tuple[time, ...] = Field((), description="Local times (HH:MM) that end a period.")
    timezone: str = Field("UTC", description="The time zone of `at` (an IANA name).")
    max_body: int = Field(
        DIGEST_MAX_BODY,
        description="Webhooks: the largest post (`512KiB`); a larger digest goes in parts.",
    )

    @field_validator("max_body", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        return _post_size(value, "a digest's")

    @field_validator("every", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else to_duration(value)

    @field_validator("at", mode="before")
    @classmethod
    def _times(cls, value: Any) -> Any:
        items = split_list(value)
        if not isinstance(items, list):
            return items
        out = []
        for item in items:
            if not isinstance(item, str) or not _HHMM.match(item):
                raise ValueError(f"not a time of day: {item!r} (write HH:MM, e.g. 08:00)")
            out.append(time(int(item[:2]), int(item[3:])))
        return out

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone: {value!r} (an IANA name: Europe/Berlin)"
            ) from None
        return value

    @model_validator(mode="after")
    def _one(self) -> DigestConfig:
        if (self.every is None) == (not self.at):
            raise ValueError("give either every (a period) or at (times of day)")
        if self.every is not None and not timedelta(minutes=5) <= self.every <= timedelta(days=7):
            raise ConfigProblems([(("every",), "a digest period is between 5m and 7d")])
        return self


class TemplateConfig(BaseModel):
    """`template: {subject: "[$severity] $title", body: "$snippet\n$url"}` (string.Template)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    subject: str = Field("", description="The subject or heading; `$title` and the like.")
    body: str = Field("", description="The text under it.")

    @field_validator("subject", "body")
    @classmethod
    def _valid(cls, value: str) -> str:
        found = template_problem(value)
        if found is not None:
            raise ValueError(found)
        return value


class DestinationConfig(BaseModel):
    """One entry of the `destinations:` list, with its URL and secrets not yet resolved."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    name: str = Field(description="The name that rules use to send alerts here.")
    type: Literal["webhook", "slack", "email", "discord", "teams", "telegram", "ntfy", "matrix"] = (
        Field(
            description="`webhook`, `slack`, `email`, `discord`, `teams`, `telegram`, `ntfy` or"
            " `matrix` (docs/channels.md)."
        )
    )
    url: SecretStr | None = Field(
        None,
        description="The URL inline (prefer `url_env`); email: `smtp://HOST:587` (STARTTLS) or"
        " `smtps://HOST:465`; telegram: the Bot API server (default https://api.telegram.org).",
    )
    url_env: str | None = Field(None, description="Name of an environment variable with the URL.")
    url_file: str | None = Field(None, description="A file holding the URL (stripped).")
    secret: SecretStr | None = Field(
        None,
        description="Signing secret inline (discouraged); several separated by spaces. For"
        " telegram the bot token, matrix and ntfy an access token, email the SMTP password.",
    )
    secrets: tuple[SecretStr, ...] = Field(
        (), description="Several signing secrets inline, during a rotation (discouraged)."
    )
    secret_env: str | None = Field(
        None, description="Name of an environment variable with the secret(s), space-separated."
    )
    secret_file: str | None = Field(None, description="A file holding the secret(s) (stripped).")
    rate: float | None = Field(
        None, gt=0, description="Messages per second at most (Slack default 1, webhook none)."
    )
    burst: int | None = Field(
        None, ge=1, description="Messages sent at once before `rate` applies."
    )
    sender: str | None = Field(None, alias="from", description="email: the From address.")
    to: tuple[str, ...] = Field((), description="email: the recipient addresses.")
    chat_id: str | None = Field(
        None, description="telegram: the chat id (a number) or `@channelname`."
    )
    room: str | None = Field(None, description="matrix: the room id (`!abc:example.org`).")
    storm: StormConfig | None = Field(
        None,
        description="`{max: 5, within: 10m}`: past `max` alerts of one rule in a window, the"
        " rest go as one message listing them; webhooks: `max_body` (default `512KiB`), a"
        " larger fold goes in parts (docs/channels.md).",
    )
    template: TemplateConfig | None = Field(
        None,
        description="Text channels and email: `{subject, body}` with $title, $url, $source,"
        " $published, $rules, $severity, $snippet, $id (docs/channels.md).",
    )
    digest: DigestConfig | None = Field(
        None,
        description='`{every: 1h}` or `{at: ["08:00"], timezone: Europe/Berlin}`: one message'
        " per period grouping its alerts by rule; webhooks: `max_body` (default `512KiB`), a"
        " larger digest goes in parts (docs/channels.md).",
    )

    @field_validator("to", mode="before")
    @classmethod
    def _to(cls, value: Any) -> Any:
        return split_list(value)

    @field_validator("chat_id", mode="before")
    @classmethod
    def _chat_id(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("secrets", mode="before")
    @classmethod
    def _secrets(cls, value: Any) -> Any:
        return split_list(value, " ")

    @model_validator(mode="after")
    def _sources(self) -> DestinationConfig:
        problems: list[tuple[KeyPath, str]] = []
        if not _SLUG.match(self.name):
            problems.append((("name",), f"not a valid name: {self.name!r}"))
        url_keys = [k for k in ("url", "url_env", "url_file") if getattr(self, k)]
        if len(url_keys) > 1 or (not url_keys and self.type != "telegram"):
            problems.append(
                ((url_keys[1],) if url_keys else (), "give exactly one of url, url_env, url_file")
            )
        secret_keys = [
            k for k in ("secret", "secrets", "secret_env", "secret_file") if getattr(self, k)
        ]
        if len(secret_keys) > 1:
            problems.append(
                ((secret_keys[1],), "give at most one of secret, secrets, secret_env, secret_file")
            )
        if self.type == "slack" and secret_keys:
            problems.append(
                ((secret_keys[0],), "Slack incoming webhooks are not signed: remove the secret")
            )
        if self.template is not None and self.type in ("webhook", "slack"):
            problems.append((("template",), "template is for email and the chat channels"))
        if self.storm is not None and self.digest is not None:
            problems.append((("storm",), "give either storm or digest: a digest already groups"))
        problems += channel_problems(
            self.type, secret_keys, self.sender, self.to, self.chat_id, self.room
        )
        if self.url is not None:
            url = self.url.get_secret_value().strip()
            problem = smtp_url_problem(url) if self.type == "email" else url_problem(url)
            if problem is None and self.type == "ntfy":
                problem = ntfy_url_problem(url)
            if problem is not None:
                problems.append((("url",), problem))
        if problems:
            raise ConfigProblems(problems)
        return self

    @property
    def has_inline_secret(self) -> bool:
        """Whether a secret (or a Slack URL, which is one) is written in the file itself."""
        return bool(self.inline_secret_keys)

    @property
    def inline_secret_keys(self) -> tuple[str, ...]:
        """The keys that hold a secret in the file itself: `url` (a Slack, Discord or Teams
        URL is the credential) and `secret`, so a warning can name the keys that replace them."""
        url_is_secret = self.type in ("slack", "discord", "teams")
        keys = ("url",) if url_is_secret and self.url else ()
        return keys + (("secret",) if self.secret or self.secrets else ())

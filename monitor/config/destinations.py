"""Resolve destinations: read each URL and signing secret from where the config says. Does I/O
(reads environment mappings and secret files).

Resolution happens when delivering, not when loading, so `newsmon check` runs without delivery
secrets. Errors name the variable or file, never the value. Whoever resolves registers the values
for redaction (the bootstrap does, `monitor.process.bootstrap.register_secrets`): resolving
itself changes nothing outside the values it returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from monitor.config.channels import smtp_url_problem
from monitor.config.models import DestinationConfig, DigestConfig
from monitor.errors import ConfigError
from monitor.net.urls import url_problem

SECRET_FILE_MAX_BYTES = 64 * 1024  # a URL, a key or a password: far less


def read_secret_file(path: Path) -> str:
    """The text of a `*_file` setting, stripped. Not read past 64 KiB: `url_file: /dev/zero`
    or a log file named by mistake was read until memory ran out. Raises OSError and
    UnicodeDecodeError as reading does, ValueError past the limit."""
    with path.open("rb") as handle:
        data = handle.read(SECRET_FILE_MAX_BYTES + 1)
    if len(data) > SECRET_FILE_MAX_BYTES:
        raise ValueError(
            f"larger than {SECRET_FILE_MAX_BYTES // 1024} KiB; is this the right file?"
        )
    return data.decode("utf-8").strip()


DestinationType = Literal[
    "webhook", "slack", "email", "discord", "teams", "telegram", "ntfy", "matrix"
]
TELEGRAM_URL = "https://api.telegram.org"

# Slack allows about one message a second per incoming webhook, with short bursts.
SLACK_RATE = 1.0
SLACK_BURST = 3


@dataclass(frozen=True, slots=True)
class ResolvedDestination:
    """A destination ready to deliver to. `repr()` shows no URL or secret."""

    name: str
    type: DestinationType
    url: SecretStr
    secrets: tuple[SecretStr, ...] = ()  # webhook: signing secrets; other channels: one token
    rate: float | None = None  # messages per second; None: the type's default
    burst: int = 1
    sender: str = ""  # email
    recipients: tuple[str, ...] = ()  # email
    chat_id: str = ""  # telegram
    room: str = ""  # matrix
    storm: tuple[int, timedelta, int] | None = None  # (max, within, max_body)
    # (every, at, timezone, max_body)
    digest: tuple[timedelta | None, tuple[time, ...], str, int] | None = None
    template: tuple[str, str] | None = None  # (subject, body)


def resolve_all(
    destinations: Iterable[DestinationConfig], *, env: Mapping[str, str], base_dir: Path
) -> list[ResolvedDestination]:
    """Resolve every destination; all problems at once in one ConfigError."""
    resolved: list[ResolvedDestination] = []
    problems: list[str] = []
    for dest in destinations:
        try:
            resolved.append(resolve(dest, env=env, base_dir=base_dir))
        except ConfigError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError("\n".join(problems))
    return resolved


def resolve(
    dest: DestinationConfig, *, env: Mapping[str, str], base_dir: Path
) -> ResolvedDestination:
    """Read one destination's URL and secrets; raise ConfigError naming the variable or file."""
    where = f"destination {dest.name!r}"
    url = _one(dest.url, dest.url_env, dest.url_file, env, base_dir, f"{where}: url")
    if url is None and dest.type == "telegram":
        url = TELEGRAM_URL
    if url is None:  # the model guarantees one source; keep mypy and a future edit honest
        raise ConfigError(f"{where}: give one of url, url_env, url_file")
    problem = smtp_url_problem(url) if dest.type == "email" else url_problem(url)
    if problem is not None:
        raise ConfigError(f"{where}: {problem} (value not shown)")
    secrets: tuple[str, ...] = tuple(s.get_secret_value() for s in dest.secrets)
    text = _one(dest.secret, dest.secret_env, dest.secret_file, env, base_dir, f"{where}: secret")
    if text is not None:
        # Signing secrets are a space-separated list; a password may itself hold spaces.
        secrets = tuple(text.split()) if dest.type == "webhook" else (text,)
    slack = dest.type == "slack"
    return ResolvedDestination(
        name=dest.name,
        type=dest.type,
        url=SecretStr(url),
        secrets=tuple(SecretStr(s) for s in secrets),
        rate=dest.rate if dest.rate is not None else (SLACK_RATE if slack else None),
        burst=dest.burst if dest.burst is not None else (SLACK_BURST if slack else 1),
        sender=dest.sender or "",
        recipients=dest.to,
        chat_id=dest.chat_id or "",
        room=dest.room or "",
        storm=(dest.storm.max, dest.storm.within, dest.storm.max_body) if dest.storm else None,
        digest=_digest(dest.digest) if dest.digest else None,
        template=(dest.template.subject, dest.template.body) if dest.template else None,
    )


def _digest(digest: DigestConfig) -> tuple[timedelta | None, tuple[time, ...], str, int]:
    return (digest.every, digest.at, digest.timezone, digest.max_body)


def _one(
    inline: SecretStr | None,
    env_name: str | None,
    file: str | None,
    env: Mapping[str, str],
    base_dir: Path,
    what: str,
) -> str | None:
    if inline is not None:
        return inline.get_secret_value().strip()
    if env_name:
        value = env.get(env_name, "").strip()
        if not value:
            raise ConfigError(f"{what}: environment variable {env_name} is not set or empty")
        return value
    if file:
        path = Path(file).expanduser()
        path = path if path.is_absolute() else base_dir / path
        try:
            value = read_secret_file(path)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "unreadable"
            reason = str(exc) if type(exc) is ValueError else reason
            raise ConfigError(f"{what}: cannot read {path}: {reason}") from None
        if not value:
            raise ConfigError(f"{what}: file {path} is empty")
        return value
    return None

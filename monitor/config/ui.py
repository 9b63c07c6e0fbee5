"""The `ui:` section of the configuration (the console under `/ui/`), and the reading of its
credentials. The model is pure; `resolve_ui_credentials` does I/O (reads files).

Credentials never sit in the file: each comes from an environment variable or a file named here
(`password_file`, ...), like destination secrets. A password identifies a role: the read-only one
(`NEWSMON_UI_PASSWORD`) or the admin one (`NEWSMON_UI_ADMIN_PASSWORD`); bearer tokens for
scripts likewise (`NEWSMON_UI_TOKEN`, `NEWSMON_UI_ADMIN_TOKEN`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from monitor.config.destinations import read_secret_file
from monitor.config.problems import ConfigProblems, KeyPath
from monitor.config.values import split_list, to_duration
from monitor.errors import ConfigError

Role = Literal["read", "admin"]
MIN_PASSWORD = 8
MIN_TOKEN = 16

# (role, kind) -> (environment variable, the `ui:` key of its file)
Kind = Literal["password", "token"]
CREDENTIALS: dict[tuple[Role, Kind], tuple[str, str]] = {
    ("read", "password"): ("NEWSMON_UI_PASSWORD", "password_file"),
    ("admin", "password"): ("NEWSMON_UI_ADMIN_PASSWORD", "admin_password_file"),
    ("read", "token"): ("NEWSMON_UI_TOKEN", "token_file"),
    ("admin", "token"): ("NEWSMON_UI_ADMIN_TOKEN", "admin_token_file"),
}


class UIConfig(BaseModel):
    """`ui: {enabled: true}`: the console in the browser (docs/console.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    enabled: bool = Field(False, description="Serve the console under `/ui/` on the listener.")
    password_file: str | None = Field(
        None, description="A file holding the read-only password (or `NEWSMON_UI_PASSWORD`)."
    )
    admin_password_file: str | None = Field(
        None, description="A file holding the admin password (or `NEWSMON_UI_ADMIN_PASSWORD`)."
    )
    token_file: str | None = Field(
        None, description="A file holding the read-only bearer token (or `NEWSMON_UI_TOKEN`)."
    )
    admin_token_file: str | None = Field(
        None, description="A file holding the admin bearer token (or `NEWSMON_UI_ADMIN_TOKEN`)."
    )
    session_ttl: timedelta = Field(
        timedelta(hours=8), description="How long a login lasts (a session ends sooner on logout)."
    )
    secure_cookie: Literal["auto", "always", "never"] = Field(
        "auto",
        description="`auto`: the session cookie is `Secure` when the request came over https"
        " (directly, or `X-Forwarded-Proto` from a trusted proxy); `always` or `never`.",
    )
    trusted_proxies: tuple[str, ...] = Field(
        (),
        description="Addresses of reverse proxies whose `X-Forwarded-For`/`-Proto` are believed.",
    )
    login_attempts: int = Field(
        5, ge=1, description="Failed logins allowed per client address in `login_window`."
    )
    login_window: timedelta = Field(
        timedelta(minutes=15), description="The window of `login_attempts`."
    )
    playground_items: int = Field(
        200_000, ge=1, description="Archived items one playground run reads at most."
    )

    @field_validator("session_ttl", "login_window", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return to_duration(value)

    @field_validator("session_ttl", "login_window")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):
            raise ValueError("must be at least 1s")
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: Any) -> Any:
        return split_list(value)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_valid(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        import ipaddress

        problems: list[tuple[KeyPath, str]] = []
        for index, entry in enumerate(value):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                problems.append(((index,), f"not an address or network: {entry!r}"))
        if problems:
            raise ConfigProblems(problems)
        return value


@dataclass(frozen=True, slots=True)
class Credential:
    """One configured credential. `repr()` never shows the value."""

    role: Role
    kind: Kind
    value: str
    source: str  # the variable or file it came from, for messages

    def __repr__(self) -> str:
        return f"Credential(role={self.role!r}, kind={self.kind!r}, source={self.source!r})"


def resolve_ui_credentials(
    ui: UIConfig, *, env: Mapping[str, str], base_dir: Path
) -> list[Credential]:
    """Every configured console credential, read from its variable or file. ConfigError (naming
    the variable or file, never a value) for a credential given twice, an unreadable file, one
    too short, the same value for two roles, or none at all."""
    found: list[Credential] = []
    problems: list[str] = []
    for (role, kind), (var, key) in CREDENTIALS.items():
        from_env = env.get(var, "").strip()
        file = getattr(ui, key)
        if from_env and file:
            problems.append(f"ui: give {var} or ui.{key}, not both")
            continue
        value, source = from_env, var
        if file:
            path = Path(file).expanduser()
            path = path if path.is_absolute() else base_dir / path
            source = f"ui.{key} ({path})"
            try:
                value = read_secret_file(path)
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "unreadable"
                reason = str(exc) if type(exc) is ValueError else reason
                problems.append(f"ui.{key}: cannot read {path}: {reason}")
                continue
            if not value:
                problems.append(f"ui.{key}: file {path} is empty")
                continue
        if not value:
            continue
        least = MIN_PASSWORD if kind == "password" else MIN_TOKEN
        if len(value) < least:
            problems.append(f"{source}: a console {kind} needs at least {least} characters")
            continue
        found.append(Credential(role, kind, value, source))
    values = [c.value for c in found]
    if len(set(values)) < len(values):
        problems.append("ui: the same value is given for two credentials; give each its own")
    if not found and not problems:
        problems.append(
            "ui is enabled but no credential is set: set NEWSMON_UI_PASSWORD (read-only) or"
            " NEWSMON_UI_ADMIN_PASSWORD (admin), or ui.password_file (docs/console.md)"
        )
    if problems:
        raise ConfigError("\n".join(problems))
    return found


def credential_names() -> list[str]:
    """The environment variables that hold console credentials (documented, never logged)."""
    return [var for var, _ in CREDENTIALS.values()]


__all__ = [
    "CREDENTIALS",
    "Credential",
    "Role",
    "UIConfig",
    "credential_names",
    "resolve_ui_credentials",
]

"""The `Config` model: feeds, destinations and every setting, with defaults and checks. Pure.

Each setting has one key in the file and one environment variable, `NEWSMON_` + the key in upper
case (`__` for nesting); `monitor.config.loader` feeds the sources in, the environment winning.
`json_schema_extra={"kind": ...}` tells the docs generator how to print a default.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from monitor.config.destinations import ResolvedDestination, resolve_all
from monitor.config.models import DestinationConfig, FeedConfig
from monitor.config.problems import ConfigProblems, KeyPath
from monitor.config.ui import Credential, UIConfig, resolve_ui_credentials
from monitor.config.values import parse_size, split_list, to_duration
from monitor.durations import format_duration
from monitor.model import FeedSpec
from monitor.net.guard import parse_allow_list
from monitor.net.hosts import parse_allowed_host

ENV_PREFIX = "NEWSMON_"
# Settings whose empty value means something (off), so `NEWSMON_X=` is not "unset".
EMPTY_IS_VALUE = frozenset({"http_addr"})
MAX_DATABASE_TIMEOUT = timedelta(days=24)  # PostgreSQL's statement_timeout: < 2**31 ms


def empty_is_value(variable: str) -> bool:
    """Whether an empty environment variable `variable` sets its setting (see EMPTY_IS_VALUE)."""
    upper = variable.upper()
    return upper.startswith(ENV_PREFIX) and upper[len(ENV_PREFIX) :].lower() in EMPTY_IS_VALUE


def _setting(default: Any, kind: str, doc: str, **kw: Any) -> Any:
    return Field(default, description=doc, json_schema_extra={"kind": kind}, **kw)


def _dur(text: str) -> timedelta:
    return to_duration(text)


class Config(BaseSettings):
    """The whole configuration. Frozen; build it with `monitor.config.load_config`."""

    model_config = SettingsConfigDict(
        frozen=True,
        defer_build=True,
        extra="forbid",
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        case_sensitive=False,
    )

    DURATIONS: ClassVar[tuple[str, ...]] = (
        "default_interval", "fetch_deadline", "connect_timeout", "retention", "delivery_deadline",
        "feed_lease", "delivery_lease", "grace_period", "story_window", "max_interval",
        "max_backoff", "parse_cpu", "database_timeout",
    )  # fmt: skip

    # `default=[]`, not `default_factory=list`: pydantic copies a mutable default for each
    # model, and asks a factory's signature, which for a builtin costs about 3 ms of every start
    # (inspect tokenises its text signature).
    feeds: list[FeedConfig] = Field(default=[], description="The feeds to poll (see below).")
    destinations: list[DestinationConfig] = Field(
        default=[], description="Where alerts go (see below)."
    )

    database_url: str = _setting(
        "newsmon.db",
        "str",
        "SQLite file path, or a `postgresql://` URL for several replicas (add"
        " `?pool_mode=transaction` behind a pooler in transaction mode).",
    )
    database_timeout: timedelta = _setting(
        _dur("60s"),
        "duration",
        "PostgreSQL: longest a statement may run (`statement_timeout`); one without an answer 5s"
        " longer (the server hangs) is given up on and the next call connects again; at most 24d.",
    )
    rules: str = _setting("rules", "path", "Folder of rule files (`*.yaml`).")
    allow_networks: Annotated[list[str], NoDecode] = _setting(
        [], "list", "CIDRs or host names the address guard lets through (comma-separated in env)."
    )
    http_addr: str = _setting(
        "127.0.0.1:9464", "str", "host:port of `/healthz`, `/readyz`, `/metrics`; empty: off."
    )
    http_allowed_hosts: Annotated[list[str], NoDecode] = _setting(
        [],
        "list",
        "Host names the listener answers besides localhost and IP addresses; `*`: any. Checked"
        " on a loopback `http_addr`, elsewhere once set (DNS rebinding; comma-separated in env).",
    )
    feedback_token: str = _setting(
        "", "str", "Bearer token for `POST /feedback` on the listener; empty: the route is off."
    )
    ui: UIConfig = Field(
        default_factory=lambda: UIConfig.model_validate({}),
        description="The console in the browser (see below).",
    )
    log_level: Literal["debug", "info", "warning", "error"] = _setting(
        "info", "str", "debug, info, warning or error."
    )
    log_format: Literal["auto", "json", "console"] = _setting(
        "auto", "str", "json, console, or auto (console on a terminal, JSON lines otherwise)."
    )
    default_interval: timedelta = _setting(
        _dur("5m"), "duration", "Poll interval of a feed that sets none."
    )
    jitter: float = _setting(
        0.1, "float", "Random spread of each interval (0.1 = ±10%).", ge=0, le=1
    )
    max_interval: timedelta = _setting(
        _dur("6h"), "duration", "Cap on an interval raised by Cache-Control, <ttl>, Retry-After."
    )
    max_backoff: timedelta = _setting(
        _dur("6h"), "duration", "Cap on the backoff of a failing feed."
    )
    fetch_deadline: timedelta = _setting(_dur("30s"), "duration", "Total time for one fetch.")
    connect_timeout: timedelta = _setting(_dur("10s"), "duration", "Time to connect to a host.")
    max_body: int = _setting(
        10 * 1024 * 1024, "size", "Cap on a decoded feed body (`10MiB`, `512KB` or bytes)."
    )
    body_memory: int = _setting(
        64 * 1024 * 1024,
        "size",
        "Memory the feed bodies over 1 MiB may hold at once: `body_memory / max_body` of them"
        " (at least one) at a time, the others wait within `fetch_deadline`.",
        ge=1,
    )
    parse_cpu: timedelta = _setting(
        _dur("5s"), "duration", "CPU time one feed document may take to parse (`newsmon run`)."
    )
    parse_memory: int = _setting(
        256 * 1024 * 1024, "size", "Memory one feed document may take to parse (`newsmon run`)."
    )
    parse_workers: int = _setting(
        2,
        "int",
        "Processes that parse for `newsmon run`; 0: in the daemon, without a budget.",
        ge=0,
    )
    max_redirects: int = _setting(5, "int", "Redirects followed per fetch.", ge=0, le=20)
    max_items_per_poll: int = _setting(1000, "int", "Items taken from one poll of a feed.", ge=1)
    concurrency: int = _setting(50, "int", "Fetches in flight at once.", ge=1)
    per_host_concurrency: int = _setting(2, "int", "Fetches in flight to one host.", ge=1)
    poll_batch: int = _setting(100, "int", "Due feeds claimed per scheduler tick.", ge=1)
    retention: timedelta = _setting(
        _dur("90d"),
        "duration",
        "How long seen items are kept (an item still in its feed: as long as it stays);"
        " older items are ignored.",
    )
    story_window: timedelta = _setting(
        _dur("72h"), "duration", "Items of one story within this window alert once."
    )
    archive_retention: timedelta | None = _setting(
        None,
        "duration",
        "How long new items are archived for `rules backtest` (unset: `retention`; 0: off).",
    )
    alert_on_edit: bool = _setting(False, "bool", "Alert again when a seen item's text changes.")
    feed_lease: timedelta = _setting(
        _dur("2m"), "duration", "How long a claimed feed stays claimed; above `fetch_deadline`."
    )
    delivery_deadline: timedelta = _setting(_dur("30s"), "duration", "Total time for one post.")
    delivery_lease: timedelta = _setting(
        _dur("2m"), "duration", "How long a claimed alert stays claimed; above `delivery_deadline`."
    )
    delivery_batch: int = _setting(50, "int", "Due alerts claimed per delivery tick.", ge=1)
    grace_period: timedelta = _setting(
        _dur("8s"), "duration", "On SIGTERM, time to finish or release work in flight."
    )

    # Where the values came from, so destinations resolve against the same environment and the
    # config file's folder (for relative `*_file` paths).
    _env: dict[str, str] = PrivateAttr(default_factory=dict)
    _base_dir: Path = PrivateAttr(default_factory=Path)
    _path: Path | None = PrivateAttr(default=None)
    _file_keys: frozenset[str] = PrivateAttr(default=frozenset())

    @field_validator(*DURATIONS, mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return to_duration(value)

    @field_validator("archive_retention", mode="before")
    @classmethod
    def _archive_duration(cls, value: Any) -> Any:
        return None if value is None or value == "" else to_duration(value)

    @field_validator("feeds", "destinations", "ui", mode="before")
    @classmethod
    def _empty_list(cls, value: Any, info: ValidationInfo) -> Any:
        # `feeds:` with every entry commented out is YAML null; it means "none".
        if value is None:
            return {} if info.field_name == "ui" else []
        return value

    @field_validator("max_body", "body_memory", "parse_memory", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        return parse_size(value)

    @field_validator("allow_networks", "http_allowed_hosts", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        return split_list(value)

    @field_validator("allow_networks")
    @classmethod
    def _networks_valid(cls, value: list[str]) -> list[str]:
        # The address guard's own parser: whatever passes here, AddressGuard accepts too.
        problems: list[tuple[KeyPath, str]] = []
        for index, entry in enumerate(value):
            try:
                parse_allow_list(entry)
            except ValueError as e:
                problems.append(((index,), str(e).replace("allow-list entry ", "", 1)))
        if problems:
            raise ConfigProblems(problems)
        return value

    @field_validator("http_allowed_hosts")
    @classmethod
    def _allowed_hosts_valid(cls, value: list[str]) -> list[str]:
        # The listener's own parser (monitor.net.hosts): what passes here, the listener takes.
        problems: list[tuple[KeyPath, str]] = []
        for index, entry in enumerate(value):
            try:
                parse_allowed_host(entry)
            except ValueError as e:
                problems.append(((index,), str(e)))
        if problems:
            raise ConfigProblems(problems)
        return value

    @field_validator("http_addr")
    @classmethod
    def _http_addr(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return value  # the HTTP listener is off
        if "://" in value:  # a URL where the listener's address goes: found now, not at bind
            raise ValueError(
                f"not host:port: {value!r}; give the address without "
                f"{value.split('://', 1)[0]}:// (for example 127.0.0.1:9464)"
            )
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"not host:port: {value!r} (for example 127.0.0.1:9464, [::]:9464)")
        if ":" in host and not (host.startswith("[") and host.endswith("]")):
            raise ValueError(f"{value!r}: put an IPv6 address in brackets, for example [::1]:9464")
        return value

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _cross_check(self) -> Config:
        problems: list[tuple[KeyPath, str]] = []
        first: dict[str, int] = {}
        for index, feed in enumerate(self.feeds):
            if feed.id in first:
                problems.append(
                    (
                        ("feeds", index, "id" if "id" in feed.model_fields_set else "url"),
                        f"duplicate feed id {feed.id!r} (also feeds[{first[feed.id]}]);"
                        " give each feed its own id",
                    )
                )
            first.setdefault(feed.id, index)
        names: dict[str, int] = {}
        for index, dest in enumerate(self.destinations):
            if dest.name in names:
                problems.append(
                    (
                        ("destinations", index, "name"),
                        f"duplicate destination name {dest.name!r}"
                        f" (also destinations[{names[dest.name]}])",
                    )
                )
            names.setdefault(dest.name, index)
        # 0s made every fetch and post time out at once; a default_interval under a feed's
        # least (1s) was a traceback at the first poll.
        if self.default_interval < timedelta(seconds=1):
            problems.append((("default_interval",), "must be at least 1s, as a feed's interval"))
        for name, example in (
            ("parse_cpu", "5s"),
            ("fetch_deadline", "30s"),
            ("connect_timeout", "10s"),
            ("database_timeout", "1m"),
            ("delivery_deadline", "30s"),
        ):
            if getattr(self, name) <= timedelta(0):
                problems.append(((name,), f"must be longer than 0s (for example {example})"))
        # Past PostgreSQL's limit every connection failed, with an error not naming the setting.
        if self.database_timeout > MAX_DATABASE_TIMEOUT:
            problems.append((("database_timeout",), "must be at most 24d (PostgreSQL's limit)"))
        if self.parse_memory < 32 * 1024 * 1024:
            problems.append((("parse_memory",), "must be at least 32MiB (a parser needs that)"))
        problems += self._lease_problem("feed_lease", "fetch_deadline")
        problems += self._lease_problem("delivery_lease", "delivery_deadline")
        if problems:
            raise ConfigProblems(problems)
        return self

    def _lease_problem(self, lease: str, deadline: str) -> list[tuple[KeyPath, str]]:
        """A lease must outlast the work it covers, or a second worker takes the work midway."""
        lease_v: timedelta = getattr(self, lease)
        deadline_v: timedelta = getattr(self, deadline)
        if lease_v > deadline_v:
            return []
        # Point at the key the user wrote; if both or neither, at the lease.
        if deadline in self.model_fields_set and lease not in self.model_fields_set:
            return [((deadline,), f"must be shorter than {lease} ({format_duration(lease_v)})")]
        return [((lease,), f"must be longer than {deadline} ({format_duration(deadline_v)})")]

    def setting_source(self, name: str) -> str:
        """Where a setting's value came from, for messages: `NEWSMON_HTTP_ADDR`, `http_addr in
        FILE`, or `http_addr (default)`."""
        var = ENV_PREFIX + name.upper()
        for key, value in self._env.items():
            if key.upper() == var and (value != "" or empty_is_value(key)):
                return var
        if name in self.model_fields_set and self._path is not None:
            return f"{name} in {self._path}"
        return f"{name} (default)"

    def rules_named_by(self, override: str | None) -> str:
        """Where the rules folder was named (`override`: --rules), so that a missing one is
        fixed where it was set: the config's `rules:` was told to set --rules or NEWSMON_RULES."""
        if override:
            return "given by --rules"
        source = self.setting_source("rules")
        if source.endswith("(default)") and self._path is None:  # a first run, most likely
            return "the default, and no config file was found: `newsmon init` writes both"
        if source.endswith("(default)"):
            return "the default; set --rules, NEWSMON_RULES or rules: in the config"
        return f"set by {source}"

    @property
    def path(self) -> Path | None:
        """The YAML file this configuration was read from, if any."""
        return self._path

    def env_overrides(self) -> dict[str, str]:
        """Keys written in the config file whose value an environment variable replaces: {key:
        VAR}. The container image always sets NEWSMON_DATABASE_URL, NEWSMON_RULES and
        NEWSMON_HTTP_ADDR, so a `database_url:` in the mounted file is not the one in use; the
        daemon's `config_loaded` line names these rather than leave it unsaid."""
        found = {}
        for name in sorted(self._file_keys & set(type(self).model_fields)):
            source = self.setting_source(name)
            if source.startswith(ENV_PREFIX):
                found[name] = source
        return found

    @property
    def archive_kept(self) -> timedelta:
        """How long archived items are kept: `archive_retention`, else `retention`; 0 is off."""
        return self.retention if self.archive_retention is None else self.archive_retention

    def feed_specs(self) -> list[FeedSpec]:
        """The feeds as the pipeline takes them; `default_interval` fills a missing interval."""
        return [
            FeedSpec(
                id=feed.id,
                url=feed.url,
                name=feed.name,
                tags=tuple(feed.tags),
                interval_s=(feed.interval or self.default_interval).total_seconds(),
                backfill_s=feed.backfill.total_seconds(),
            )
            for feed in self.feeds
        ]

    def destination(self, name: str) -> DestinationConfig | None:
        """The destination called `name`, or None (rule checks use this)."""
        return next((d for d in self.destinations if d.name == name), None)

    def resolve_destinations(self) -> list[ResolvedDestination]:
        """Every destination with its URL and secrets read; raises ConfigError if one is missing."""
        return resolve_all(self.destinations, env=self._env, base_dir=self._base_dir)

    def resolve_ui_credentials(self) -> list[Credential]:
        """The console's passwords and tokens, read from the environment or files; raises
        ConfigError when one is unreadable or none is set (monitor.config.ui)."""
        return resolve_ui_credentials(self.ui, env=self._env, base_dir=self._base_dir)

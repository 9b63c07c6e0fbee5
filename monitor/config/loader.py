"""Load the configuration: find the YAML file, merge the environment over it, validate, and turn
every problem into one located `ConfigError`. Does I/O (reads the file, and os.environ by default).

Order of the sources, highest first: values passed to the model, then environment variables
(`NEWSMON_*`, `__` for nesting), then the YAML file, then the defaults.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import replace
from pathlib import Path
from typing import Any, get_args

import structlog
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsError,
)

from monitor.config.problems import ConfigProblems, KeyPath
from monitor.config.settings import ENV_PREFIX, Config, empty_is_value
from monitor.config.yamlfile import YamlDocument, read_yaml, render_path
from monitor.errors import ConfigError, did_you_mean

DEFAULT_FILE = "newsmon.yaml"
CONFIG_ENV = "NEWSMON_CONFIG"
_log = structlog.get_logger("newsmon.config")
_warned: set[tuple[str, str]] = set()  # warnings already logged in this process

# The environment and YAML data of the load in progress: pydantic-settings builds its sources in
# a classmethod, so they reach it through a context variable rather than a global.
_SOURCES: ContextVar[tuple[Mapping[str, str], dict[str, Any]]] = ContextVar("newsmon_sources")


class _MappingEnvSource(EnvSettingsSource):
    """The standard environment source, reading a given mapping instead of os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        # An empty variable counts as unset, as shells and compose files write it, except where
        # empty is a value the docs give a meaning (NEWSMON_HTTP_ADDR= turns the listener off).
        self.env_vars = {
            key.lower(): value for key, value in env.items() if value != "" or empty_is_value(key)
        }


class _YamlSource(PydanticBaseSettingsSource):
    """The YAML file's top-level mapping, below the environment."""

    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self.data = data

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.data)


class _LoadedConfig(Config):
    """`Config` with the sources of one `load_config` call, in explicit order."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        env, data = _SOURCES.get()
        return (
            init_settings,
            _MappingEnvSource(settings_cls, env),
            _YamlSource(settings_cls, data),
        )


def find_config_path(
    path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> Path | None:
    """`path`, else $NEWSMON_CONFIG, else ./newsmon.yaml if it exists, else None (defaults)."""
    env = os.environ if env is None else env
    if path:
        return Path(path)
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    default = Path(DEFAULT_FILE)
    return default if default.is_file() else None


def load_config(
    path: str | Path | None = None, *, env: Mapping[str, str] | None = None, warn: bool = True
) -> Config:
    """Read the configuration; raise ConfigError with every problem, each at its file:line:col.
    `warn=False` leaves its warnings (`warn_config`) to the caller: `run` logs them once its log
    has the format the config names."""
    env = dict(os.environ if env is None else env)
    file = find_config_path(path, env)
    try:
        doc = read_yaml(file) if file is not None else YamlDocument("<defaults>", {})
    except ConfigError as exc:
        if not path and file is not None and env.get(CONFIG_ENV):
            raise ConfigError(f"{exc} (named by {CONFIG_ENV})") from None
        raise
    token = _SOURCES.set((env, doc.data))
    try:
        config: Config = _LoadedConfig()
    except ValidationError as exc:
        raise ConfigError("\n".join(_messages(exc, doc, env))) from None
    except SettingsError as exc:
        raise ConfigError(_settings_error(exc, env)) from None
    finally:
        _SOURCES.reset(token)
    config._env = env
    config._base_dir = file.parent if file is not None else Path()
    config._path = file
    config._file_keys = frozenset(key for key in doc.data if isinstance(key, str))
    if warn:
        warn_config(config)
    return config


def _env_fields(env: Mapping[str, str]) -> dict[str, str]:
    """Field name -> the environment variable that set it."""
    found: dict[str, str] = {}
    for key, value in env.items():
        upper = key.upper()
        if value == "" and not empty_is_value(key):
            continue
        if not upper.startswith(ENV_PREFIX):
            continue
        name = upper[len(ENV_PREFIX) :].split("__", 1)[0].lower()
        if name in Config.model_fields:
            found[name] = key
    return found


def _messages(exc: ValidationError, doc: YamlDocument, env: Mapping[str, str]) -> list[str]:
    """One message per problem, in file order; environment problems after the file's."""
    from_env = _env_fields(env)
    out: list[tuple[tuple[int, int], str]] = []
    for error in exc.errors():
        loc = tuple(part for part in error["loc"] if isinstance(part, str | int))
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, ConfigProblems):
            items = [(loc + rel, msg) for rel, msg in cause.problems]
        else:
            items = [(loc, _text(error, loc))]
        for where, message in items:
            out.append(_render_one(where, message, error["type"], doc, from_env))
    out.sort(key=lambda pair: pair[0])
    return [text for _, text in out]


def _render_one(
    where: KeyPath, message: str, kind: str, doc: YamlDocument, from_env: Mapping[str, str]
) -> tuple[tuple[int, int], str]:
    """(line, column) for sorting, and the message at its place."""
    from monitor.config.masking import mask_secrets  # errors only, as in yamlfile._line

    last = (1 << 30, 0)
    message = mask_secrets(message)  # it may quote a value: `got '...'`, `not a URL: '...'`
    if where and isinstance(where[0], str) and where[0] in from_env:
        var = from_env[where[0]].upper()
        detail = message if len(where) == 1 else f"{render_path(where)}: {message}"
        return last, f"{var}: {detail}"
    location = doc.locate(where, key=kind == "extra_forbidden")
    text = f"{render_path(where)}: {message}" if where else message
    if location is not None and where[:1] == ("destinations",):
        # A destination's line may hold a URL or secret: point at it, do not quote it.
        location = replace(location, line_text="")
    if location is None:
        return last, f"{doc.file}: {text}"
    return (location.line, location.column), str(ConfigError(text, location))


def _text(error: Any, loc: KeyPath) -> str:
    kind = error["type"]
    if kind == "extra_forbidden" and loc:
        return _unknown_key(loc)
    if kind == "missing":
        return "required"
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind in ("literal_error", "enum"):
        return f"{message}, got {error.get('input')!r}"
    if kind == "model_type":  # pydantic: "a valid dictionary or instance of FeedConfig"
        return _not_a_mapping(loc, error.get("input"))
    return message


def _not_a_mapping(loc: KeyPath, value: Any) -> str:
    """A section or list entry that should be a mapping, said with the keys it needs (a feed
    listed as its bare URL is the common one) and without the model's Python name."""
    model = _model_at(loc)
    fields = model.model_fields.items() if model else ()
    required = [f.alias or name for name, f in fields if f.is_required()]
    # No "key: value" in the message: the secret masking would hide what follows a `url:`.
    needs = f" (at least {' and '.join(required)})" if required else ""
    kinds = {str: "a text", bool: "true or false", int: "a number", float: "a number"}
    what = "a list" if isinstance(value, list) else kinds.get(type(value), "empty")
    return f"should be a mapping of keys to values{needs}, not {what}"


_MEANT = {
    "poll_interval": "default_interval",
    "interval": "default_interval",
    "poll_every": "default_interval",
    "poll_frequency": "default_interval",
    "timeout": "fetch_deadline",
    "database": "database_url",
    "db": "database_url",
    "rules_dir": "rules",
}


def _unknown_key(loc: KeyPath) -> str:
    key = str(loc[-1])
    model = _model_at(loc[:-1])
    # A key as written: `from`, not the field's Python name `from_`.
    known = [f.alias or name for name, f in model.model_fields.items()] if model else []
    # What people write for a key that has another name: difflib alone would answer
    # `pol_interval` with `max_interval`, which caps intervals instead of setting one.
    meant = _MEANT.get(re.sub(r"^pol+_", "poll_", key.lower())) if model is Config else None
    hint = f"; did you mean {meant!r}?" if meant else did_you_mean([key], known)
    return f"unknown key {key!r}{hint}"


def _model_at(loc: KeyPath) -> type[BaseModel] | None:
    """The model whose keys are written at `loc` (`()`: the top level; `("ui",)`; `("feeds", 0)`;
    `("destinations", 2, "storm")`), found through the fields' types; None if none is."""
    model: type[BaseModel] = Config
    for part in loc:
        if isinstance(part, int):  # an entry of a list: the list's own model
            continue
        field = model.model_fields.get(part)
        inner = _model_in(field.annotation) if field is not None else None
        if inner is None:
            return None
        model = inner
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model in a field's type: `UIConfig`, `list[FeedConfig]`, `StormConfig | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _settings_error(exc: SettingsError, env: Mapping[str, str]) -> str:
    # pydantic-settings says: error parsing value for field "feeds" from source "..."
    match = re.search(r'field "([^"]+)"', str(exc))
    if match:
        var = f"{ENV_PREFIX}{match.group(1).upper()}"
        # The field's own variable, or one of its keys' (`NEWSMON_UI__TRUSTED_PROXIES`): name
        # the ones that are set, not a variable the user never wrote.
        named = sorted(
            key.upper()
            for key, value in env.items()
            if value and (key.upper() == var or key.upper().startswith(f"{var}__"))
        )
        return (
            f"{', '.join(named) or var}: not valid JSON"
            " (lists and mappings in the environment are JSON)"
        )
    return f"environment: {exc}"


def warn_config(config: Config) -> None:
    """Warnings that do not stop newsmon: each logged once per process."""
    for feed in config.feeds:
        interval = feed.interval or config.default_interval
        if interval.total_seconds() < 60 and not _is_local(feed.url):
            _once(
                ("short_interval", feed.id),
                "feed_interval_short",
                feed=feed.id,
                interval_s=interval.total_seconds(),
                hint="polling a remote host more often than once a minute is impolite",
            )
    for dest in config.destinations:
        if dest.has_inline_secret:
            # A Slack URL written inline is replaced by url_env/url_file, not by a secret key
            # (a Slack destination takes none).
            instead = " and ".join(f"{key}_env or {key}_file" for key in dest.inline_secret_keys)
            _once(
                ("inline_secret", dest.name),
                "destination_inline_secret",
                destination=dest.name,
                hint=f"use {instead} so the config file holds no secret",
            )


def _once(key: tuple[str, str], event: str, **fields: Any) -> None:
    if key not in _warned:
        _warned.add(key)
        _log.warning(event, **fields)


def _is_local(url: str) -> bool:
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

"""The configuration reference as Markdown tables, generated from the models. Pure.

`docs/configuration.md` carries these tables between marker comments; a test regenerates them and
compares, so the documentation cannot drift from the code. Regenerate with
`python -m monitor.config --markdown`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from monitor.config.models import DestinationConfig, FeedConfig
from monitor.config.settings import ENV_PREFIX, Config
from monitor.config.ui import UIConfig
from monitor.config.values import format_size
from monitor.durations import format_duration

TABLE_NAMES = ("settings", "feeds", "destinations", "ui")

_TYPES = {
    "str": "string",
    "path": "path",
    "list": "list of strings",
    "duration": "duration",
    "size": "size",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
}


def env_var(name: str) -> str:
    """The environment variable of a top-level setting."""
    return f"{ENV_PREFIX}{name.upper()}"


def format_default(info: FieldInfo, kind: str = "") -> str:
    """A default as a user would write it in the file (`5m`, `10MiB`, `false`, `""`)."""
    if info.is_required():
        return "required"
    value: Any = info.get_default(call_default_factory=True)
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, timedelta):
        return format_duration(value) if value else "0"
    if kind == "size" and isinstance(value, int):
        return format_size(value)
    if isinstance(value, list | tuple):
        return "[]"
    if value == "":
        return '""'
    return str(value)


def _kind(info: FieldInfo) -> str:
    extra = info.json_schema_extra
    return str(extra.get("kind", "")) if isinstance(extra, dict) else ""


def settings_rows() -> list[tuple[str, str, str, str, str]]:
    """(key, env var, type, default, meaning) for every scalar setting."""
    rows = []
    for name, info in Config.model_fields.items():
        kind = _kind(info)
        if not kind:  # feeds and destinations have their own tables
            continue
        rows.append(
            (
                name,
                env_var(name),
                _type_label(name, info, kind),
                format_default(info, kind),
                info.description or "",
            )
        )
    return rows


def _type_label(name: str, info: FieldInfo, kind: str) -> str:
    if name in ("log_level", "log_format"):
        return "choice"
    return _TYPES.get(kind, kind)


def entry_rows(model: type[BaseModel]) -> list[tuple[str, str, str]]:
    """(key, default, meaning) for every key of a feed or destination entry."""
    return [
        (info.alias or name, format_default(info), info.description or "")
        for name, info in model.model_fields.items()
    ]


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_tables() -> dict[str, str]:
    """The reference tables by name: settings, feeds, destinations, ui."""
    return {
        "settings": _table(
            ("Key", "Environment variable", "Type", "Default", "Meaning"),
            [(f"`{k}`", f"`{e}`", t, f"`{d}`", m) for k, e, t, d, m in settings_rows()],
        ),
        "feeds": _table(
            ("Key", "Default", "Meaning"),
            [(f"`{k}`", f"`{d}`", m) for k, d, m in entry_rows(FeedConfig)],
        ),
        "destinations": _table(
            ("Key", "Default", "Meaning"),
            [(f"`{k}`", f"`{d}`", m) for k, d, m in entry_rows(DestinationConfig)],
        ),
        "ui": _table(
            ("Key", "Default", "Meaning"),
            [(f"`{k}`", f"`{d}`", m) for k, d, m in entry_rows(UIConfig)],
        ),
    }


def markdown() -> str:
    """All tables, each between the marker comments that docs/configuration.md uses."""
    parts = []
    for name, table in markdown_tables().items():
        parts.append(f"<!-- {name}:start -->\n{table}\n<!-- {name}:end -->")
    return "\n\n".join(parts) + "\n"

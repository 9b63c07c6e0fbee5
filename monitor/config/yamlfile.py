"""Read the YAML config file and remember where every key and value is. Does I/O (reads one file).

PyYAML's composer gives nodes with `start_mark`, so each key path (`("feeds", 1, "interval")`)
maps to the line and column of its key and of its value; validation errors are then reported at
the place the user has to edit.

A quoted line goes through `mask_secrets` first (an error's line may hold a hook URL or a signing
secret). The file is read only up to `MAX_CONFIG_BYTES`, and YAML aliases may repeat at most
`MAX_ALIAS_NODES` values in all: eight levels of ten aliases each would otherwise be walked one
value at a time, 10^8 of them (minutes and gigabytes) before any error could be shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from monitor.config.masking import mask_secrets
from monitor.errors import ConfigError, SourceLocation

KeyPath = tuple[str | int, ...]
# libyaml's loader when PyYAML was built with it: about 10x faster on a config of 1,000 feeds,
# which a one-shot `check` otherwise spends a good part of its start-up on. Same nodes and marks.
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


_STR_TAG = "tag:yaml.org,2002:str"
MAX_CONFIG_BYTES = 4 * 1024 * 1024  # 1,000 feeds take about 100 KB
MAX_ALIAS_NODES = 20_000  # values reached again through an alias, over the whole file


@dataclass(frozen=True)
class YamlDocument:
    """The parsed file: its data and the places of its keys (for unknown keys) and values."""

    file: str
    data: dict[str, Any]
    lines: tuple[str, ...] = ()
    keys: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)
    values: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: KeyPath, *, key: bool = False) -> SourceLocation | None:
        """The place of `path` (its key when `key`), else of its closest ancestor."""
        table = self.keys if key else self.values
        for end in range(len(path), -1, -1):
            where = table.get(path[:end]) or self.values.get(path[:end])
            if where is not None:
                line, col = where
                return SourceLocation(self.file, line, col, _line(self.lines, line))
        return None


def read_yaml(path: Path, display: str | None = None) -> YamlDocument:
    """Read and parse `path`; a missing file, a syntax error or a non-mapping is a ConfigError."""
    name = display or str(path)
    try:
        with path.open("rb") as file:
            data = file.read(MAX_CONFIG_BYTES + 1)
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {name}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {name}: {exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{name}: the config file is larger than {MAX_CONFIG_BYTES // (1024 * 1024)} MiB;"
            " is this the right file?"
        )
    return parse_yaml(text, name)


def parse_yaml(text: str, file: str) -> YamlDocument:
    """Parse YAML text; keys and values keep 1-based line and column numbers."""
    lines = tuple(text.splitlines())
    try:
        try:
            root, data = _load(text, _FAST_LOADER)
        except yaml.YAMLError:
            # Parse again in pure Python only to report the error in PyYAML's own words.
            root, data = _load(text, yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = mask_secrets(exc.problem or exc.context or "invalid YAML")
        if mark is None:
            raise ConfigError(f"{file}: invalid YAML: {problem}") from None
        loc = SourceLocation(file, mark.line + 1, mark.column + 1, _line(lines, mark.line + 1))
        raise ConfigError(f"invalid YAML: {problem}", loc) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: invalid YAML: {mask_secrets(str(exc))}") from None
    except RecursionError:  # PyYAML recurses once per level of nesting, without a limit
        raise ConfigError(f"{file}: invalid YAML: nested hundreds of levels deep") from None
    if data is None:
        return YamlDocument(file, {}, lines)
    if not isinstance(data, dict) or root is None:
        loc = SourceLocation(file, 1, 1, _line(lines, 1))
        raise ConfigError("the config file must be a mapping of settings (key: value)", loc)
    doc = YamlDocument(file, data, lines)
    try:
        _walk(root, (), doc, _Walk())
    except RecursionError:
        raise ConfigError(
            f"{file}: a YAML alias contains itself (or the nesting is too deep)"
        ) from None
    return doc


def _load(text: str, loader_class: Any) -> tuple[yaml.Node | None, Any]:
    """Compose once and construct the data from that same node tree (not parse twice)."""
    loader = loader_class(text)
    try:
        root = loader.get_single_node()
        return root, (loader.construct_document(root) if root is not None else None)
    finally:
        loader.dispose()


def _line(lines: tuple[str, ...], number: int) -> str:
    """Line `number` as an error may quote it: secret-looking values hidden."""
    return mask_secrets(lines[number - 1]) if 0 < number <= len(lines) else ""


class _Walk:
    """What one walk has seen: an alias is the same node object met again."""

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.repeated = 0
        self.alias_at: KeyPath | None = None  # where the outermost repeat being walked is used


def _walk(node: yaml.Node, path: KeyPath, doc: YamlDocument, walk: _Walk) -> None:
    doc.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    outermost = False
    if id(node) in walk.seen:
        walk.repeated += 1
        if walk.alias_at is None:
            walk.alias_at, outermost = path, True
        if walk.repeated > MAX_ALIAS_NODES:
            used = walk.alias_at  # point at the key whose value holds the alias
            while used and used not in doc.keys:
                used = used[:-1]
            raise ConfigError(
                f"{render_path(walk.alias_at)}: YAML aliases repeat more than"
                f" {MAX_ALIAS_NODES:,} values; write the values out instead of nesting aliases",
                doc.locate(used, key=True),
            )
    else:
        walk.seen.add(id(node))
    _walk_children(node, path, doc, walk)
    if outermost:
        walk.alias_at = None


def _walk_children(node: yaml.Node, path: KeyPath, doc: YamlDocument, walk: _Walk) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            here = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR_TAG:
                # `?`, `1:`, `null:` or `on:` (a boolean in YAML 1.1) is no setting's name.
                loc = SourceLocation(doc.file, here[0], here[1], _line(doc.lines, here[0]))
                shown = key if isinstance(key_node, yaml.ScalarNode) and key else "(empty)"
                raise ConfigError(
                    f"{render_path((*path, shown))}: a key must be a name; quote it if it is one",
                    loc,
                )
            if key in seen:
                # PyYAML keeps the last value silently; a repeated key is nearly always a mistake.
                loc = SourceLocation(doc.file, here[0], here[1], _line(doc.lines, here[0]))
                raise ConfigError(f"{render_path((*path, key))}: key given twice", loc)
            seen.add(key)
            doc.keys[(*path, key)] = here
            _walk(value_node, (*path, key), doc, walk)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), doc, walk)


def render_path(path: KeyPath) -> str:
    """`("feeds", 1, "interval")` -> `feeds[1].interval`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out

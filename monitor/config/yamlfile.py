"""Read the YAML config file and remember where every key and value is. Does I/O (reads one file).

PyYAML's composer gives nodes with `start_mark`, so each key path (`("feeds", 1, "interval")`)
leads to the line and column of its key and of its value; validation errors are then reported at
the place the user has to edit. The places are looked up in the node tree when an error needs
one, not tabled for every value of every load.

The data is built from the node tree in the same pass that checks it (keys are names, given once;
aliases bounded), as PyYAML's SafeLoader would build it: a config of 1,000 feeds is about 7,000
nodes, and PyYAML's constructor and a separate walk took about half of the config's load. Any
node that pass does not know (a tag other than the plain ones, a merge key) and any problem send
the file the way it always went, PyYAML's constructor and then the checking walk, so each error
is the one it always was.

A quoted line goes through `mask_secrets` first (an error's line may hold a hook URL or a signing
secret). The file is read only up to `MAX_CONFIG_BYTES`, and YAML aliases may repeat at most
`MAX_ALIAS_NODES` values in all: eight levels of ten aliases each would otherwise be walked one
value at a time, 10^8 of them (minutes and gigabytes) before any error could be shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from monitor.errors import ConfigError, SourceLocation, not_utf8
from monitor.yamlhint import not_printable, unstorable_scalar, yaml_problem

KeyPath = tuple[str | int, ...]
# libyaml's loader when PyYAML was built with it: about 10x faster on a config of 1,000 feeds,
# which a one-shot `check` otherwise spends a good part of its start-up on. Same nodes and marks.
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


_STR_TAG = "tag:yaml.org,2002:str"
MAX_CONFIG_BYTES = 4 * 1024 * 1024  # 1,000 feeds take about 100 KB
MAX_ALIAS_NODES = 20_000  # values reached again through an alias, over the whole file
# Deeper trees go the way they always went, whose walk takes two frames a level and so says how
# deep is too deep (a config is nested three or four levels).
_PLAIN_DEPTH = 100


@dataclass(frozen=True)
class YamlDocument:
    """The parsed file: its data, and its node tree for the places of its keys and values."""

    file: str
    data: dict[str, Any]
    lines: tuple[str, ...] = ()
    root: yaml.Node | None = field(default=None, compare=False, repr=False)

    def locate(self, path: KeyPath, *, key: bool = False) -> SourceLocation | None:
        """The place of `path` (its key when `key`, and `path` ends at a mapping's key), else of
        its closest ancestor."""
        if self.root is None:
            return None
        node: yaml.Node = self.root
        mark = node.start_mark
        for part in path:
            child = _child(node, part)
            if child is None:
                break
            key_node, node = child
            mark = key_node.start_mark if key and key_node is not None else node.start_mark
        line = mark.line + 1
        return SourceLocation(self.file, line, mark.column + 1, _line(self.lines, line))


def _child(node: yaml.Node, part: str | int) -> tuple[yaml.Node | None, yaml.Node] | None:
    """The key node (None in a list) and the value node one step down `part`, if there is one."""
    if isinstance(node, yaml.MappingNode) and isinstance(part, str):
        for key_node, value_node in node.value:
            if str(key_node.value) == part:
                return key_node, value_node
    elif (
        isinstance(node, yaml.SequenceNode)
        and isinstance(part, int)
        and 0 <= part < len(node.value)
    ):
        return None, node.value[part]
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
    except UnicodeDecodeError as exc:
        message, at = not_utf8(name, data, exc)
        quoted = _line((at.line_text,), 1)  # secret-looking values hidden, as every error does
        raise ConfigError(message, replace(at, line_text=quoted)) from None
    except IsADirectoryError:  # `--config /etc/newsmon`: the folder, not the file in it
        folder = name.rstrip("/")
        raise ConfigError(
            f"config file {name} is a folder: name the file in it ({folder}/newsmon.yaml)"
        ) from None
    except OSError as exc:  # its strerror: Python's "[Errno 13] ...: 'path'" repeats the path
        raise ConfigError(f"cannot read config file {name}: {exc.strerror or exc}") from None
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
            root, data, checked = _load(text, _FAST_LOADER)
        except yaml.YAMLError:
            # Parse again in pure Python only to report the error in PyYAML's own words.
            root, data, checked = _load(text, yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        from monitor.config.masking import mask_secrets

        problem, mark = yaml_problem(exc, text)
        problem = mask_secrets(problem)
        if mark is None:
            raise ConfigError(f"{file}: invalid YAML: {problem}") from None
        loc = SourceLocation(file, mark.line + 1, mark.column + 1, _line(lines, mark.line + 1))
        raise ConfigError(f"invalid YAML: {problem}", loc) from None
    except yaml.reader.ReaderError as exc:
        at, start = exc.position, text.rfind("\n", 0, exc.position) + 1
        end = text.find("\n", at) % (len(text) + 1)  # -1: the last line, to the end
        # by "\n" alone (splitlines breaks at \x0c too), the character shown as not_utf8 shows one
        quoted = _line((f"{text[start:at]}\ufffd{text[at + 1 : end]}",), 1)
        loc = SourceLocation(file, text.count("\n", 0, at) + 1, at - start + 1, quoted)
        raise ConfigError(f"invalid YAML: {not_printable(exc)}", loc) from None
    except yaml.YAMLError as exc:
        from monitor.config.masking import mask_secrets

        raise ConfigError(f"{file}: invalid YAML: {mask_secrets(str(exc))}") from None
    except RecursionError:  # PyYAML recurses once per level of nesting, without a limit
        raise ConfigError(f"{file}: invalid YAML: nested hundreds of levels deep") from None
    bad = unstorable_scalar(text, root)
    if bad is not None:
        mark = bad[0].start_mark
        loc = SourceLocation(file, mark.line + 1, mark.column + 1, _line(lines, mark.line + 1))
        raise ConfigError(bad[1], loc)
    if data is None:
        return YamlDocument(file, {}, lines)
    if not isinstance(data, dict) or root is None:
        loc = SourceLocation(file, 1, 1, _line(lines, 1))
        raise ConfigError("the config file must be a mapping of settings (key: value)", loc)
    doc = YamlDocument(file, data, lines, root)
    if not checked:
        try:
            _walk(root, (), doc, _Walk())
        except RecursionError:
            raise ConfigError(
                f"{file}: a YAML alias contains itself (or the nesting is too deep)"
            ) from None
    return doc


def _load(text: str, loader_class: Any) -> tuple[yaml.Node | None, Any, bool]:
    """Compose once and build the data from that same node tree (not parse twice): in one
    checking pass when the tree is plain (True: checked), else by PyYAML's constructor."""
    loader = loader_class(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, None, True
        data = _plain(loader, root)
        if data is not _NOT_PLAIN:
            return root, data, True
        return root, loader.construct_document(root), False
    finally:
        loader.dispose()


def _line(lines: tuple[str, ...], number: int) -> str:
    """Line `number` as an error may quote it: secret-looking values hidden."""
    # Imported by the first error: a config that loads never needs it (six regular expressions).
    from monitor.config.masking import mask_secrets

    return mask_secrets(lines[number - 1]) if 0 < number <= len(lines) else ""


_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
# Scalars SafeLoader makes with a plain function of the node (no state of the loader's).
_SCALAR_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("null", "bool", "int", "float", "timestamp")
)


class _NotPlain(Exception):
    """A node or a problem the one-pass build leaves to PyYAML's constructor and `_walk`."""


_NOT_PLAIN = object()


def _plain(loader: Any, root: yaml.Node) -> Any:
    """The data of `root` built in one checking pass, or _NOT_PLAIN."""
    try:
        return _Plain(loader).value(root)
    except Exception:  # noqa: BLE001 - whatever it was, the usual way finds it and says it
        return _NOT_PLAIN


class _Plain:
    """The data of a plain node tree as SafeLoader builds it (a value reached again through an
    alias is the same object), with `_walk`'s checks: every key a name given once, and values
    reached again through aliases counted as `_walk` counts them."""

    def __init__(self, loader: Any) -> None:
        self.constructors = loader.yaml_constructors
        self.loader = loader
        self.built: dict[int, Any] = {}  # id(node) -> its value; a node being built is in it
        self.repeated = 0

    def value(self, node: yaml.Node, depth: int = 0) -> Any:
        if depth > _PLAIN_DEPTH:
            raise _NotPlain
        depth += 1
        if id(node) in self.built:
            self.repeated += 1
            if self.repeated > MAX_ALIAS_NODES:
                raise _NotPlain
            if isinstance(node, yaml.MappingNode):
                for _, value_node in node.value:
                    self.value(value_node, depth)
            elif isinstance(node, yaml.SequenceNode):
                for item in node.value:
                    self.value(item, depth)
            return self.built[id(node)]
        tag = node.tag
        if isinstance(node, yaml.ScalarNode):
            if tag == _STR_TAG:
                out: Any = node.value
            elif tag in _SCALAR_TAGS:
                out = self.constructors[tag](self.loader, node)
            else:
                raise _NotPlain
            self.built[id(node)] = out
            return out
        if isinstance(node, yaml.MappingNode) and tag == _MAP_TAG:
            mapping: dict[str, Any] = {}
            self.built[id(node)] = mapping
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR_TAG:
                    raise _NotPlain
                if key_node.value in mapping:
                    raise _NotPlain
                mapping[key_node.value] = self.value(value_node, depth)
            return mapping
        if isinstance(node, yaml.SequenceNode) and tag == _SEQ_TAG:
            items: list[Any] = []
            self.built[id(node)] = items
            for item in node.value:
                items.append(self.value(item, depth))
            return items
        raise _NotPlain


class _Walk:
    """What one walk has seen: an alias is the same node object met again."""

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.repeated = 0
        self.alias_at: KeyPath | None = None  # where the outermost repeat being walked is used


def _walk(node: yaml.Node, path: KeyPath, doc: YamlDocument, walk: _Walk) -> None:
    """The checks of a tree PyYAML's constructor built: keys are names given once, and aliases
    repeat at most MAX_ALIAS_NODES values."""
    outermost = False
    if id(node) in walk.seen:
        walk.repeated += 1
        if walk.alias_at is None:
            walk.alias_at, outermost = path, True
        if walk.repeated > MAX_ALIAS_NODES:
            used = walk.alias_at  # point at the key whose value holds the alias
            while used and isinstance(used[-1], int):
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

"""Edit one rule of a rules file as text: set its threshold, add `like`/`unlike` examples. Pure.

The file is changed line by line where the rule's keys are (found with the YAML node marks), so
comments, order and layout elsewhere stay as written. New examples are YAML double-quoted
strings (JSON strings are), each with a comment naming the item they came from.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import yaml

from monitor.errors import NewsmonError, SourceLocation


class RuleEditError(NewsmonError):
    """The rule cannot be edited as text (not found, or written in a form we do not rewrite)."""


def _rule_node(root: yaml.Node | None, rule_id: str) -> yaml.MappingNode:
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if key.value == "rules" and isinstance(value, yaml.SequenceNode):
                for node in value.value:
                    if not isinstance(node, yaml.MappingNode):
                        continue
                    for k, v in node.value:
                        if k.value == "id" and v.value == rule_id:
                            return node
    raise RuleEditError(f"rule {rule_id!r} is not in this file")


def _last_line(node: yaml.Node) -> int:
    """The last line (0-based) holding a character of the node: a collection's end mark lies
    where the next token starts, and a block scalar's after its final line break."""
    if isinstance(node, yaml.SequenceNode):
        return max((_last_line(n) for n in node.value), default=node.start_mark.line)
    if isinstance(node, yaml.MappingNode):
        return max(
            (max(_last_line(k), _last_line(v)) for k, v in node.value),
            default=node.start_mark.line,
        )
    end = node.end_mark
    return end.line - 1 if end.column == 0 and end.line > node.start_mark.line else end.line


# What YAML refuses to read anywhere in a file (PyYAML's Reader.NON_PRINTABLE): JSON leaves DEL,
# C1 controls and U+FFFE/U+FFFF as they are, and a feed title can carry them.
_NOT_YAML = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _entry(text: str, source: str) -> str:
    quoted = json.dumps(" ".join(text.split()), ensure_ascii=False)
    quoted = _NOT_YAML.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)
    return f"- {quoted}  # {source}"


def edit_rule(
    text: str,
    rule_id: str,
    threshold: float | None = None,
    like: Sequence[tuple[str, str]] = (),
    unlike: Sequence[tuple[str, str]] = (),
    path: str = "<rules>",
) -> str:
    """`text` with the rule's threshold set and examples added; each example is (text, where it
    came from). `path`: the file's name, for the place of an error. Raises RuleEditError."""
    node = _rule_node(yaml.compose(text, Loader=yaml.SafeLoader), rule_id)
    lines = text.split("\n")
    keys = {str(k.value): (k, v) for k, v in node.value}
    edited = {"threshold": threshold is not None, "like": bool(like), "unlike": bool(unlike)}
    for name in (n for n, yes in edited.items() if yes and n in keys):
        # An anchored value may be aliased by another rule (`threshold: *shared` is the anchored
        # node itself, marked where the anchor is): an edit there changes every rule sharing it.
        v = keys[name][1]
        if text[v.start_mark.index : v.start_mark.index + 1] == "&":
            where = SourceLocation(
                path, v.start_mark.line + 1, v.start_mark.column + 1, lines[v.start_mark.line]
            )
            raise RuleEditError(
                where.render(
                    f"rule {rule_id!r}: its `{name}:` is shared through a YAML anchor, so an edit"
                    " would change every rule that shares it: write this rule's own, and tune"
                    " can change it"
                )
            )
    indent = " " * node.value[0][0].start_mark.column
    # (line index to insert before, order among inserts there, lines)
    inserts: list[tuple[int, int, list[str]]] = []
    last_line = _last_line(node)
    if threshold is not None:
        value = f"{threshold:.2f}".rstrip("0").rstrip(".")
        if "threshold" in keys:
            v = keys["threshold"][1]
            line = lines[v.start_mark.line]
            lines[v.start_mark.line] = (
                line[: v.start_mark.column] + value + line[v.end_mark.column :]
            )
        else:
            inserts.append((last_line + 1, 1, [f"{indent}threshold: {value}"]))
    for name, added in (("like", like), ("unlike", unlike)):
        if not added:
            continue
        entries = [_entry(t, src) for t, src in added]
        if name not in keys:
            inserts.append(
                (last_line + 1, 2, [f"{indent}{name}:", *(f"{indent}  {e}" for e in entries)])
            )
            continue
        v = keys[name][1]
        if not isinstance(v, yaml.SequenceNode) or v.flow_style or not v.value:
            mark = v.start_mark
            where = SourceLocation(path, mark.line + 1, mark.column + 1, lines[mark.line])
            raise RuleEditError(
                where.render(
                    f"rule {rule_id!r}: `{name}:` is not written as a block list (one `- ` a"
                    " line): write it so, and tune can add to it"
                )
            )
        first = v.value[0]
        dash = " " * (first.start_mark.column - 2)
        inserts.append((_last_line(v) + 1, 0, [f"{dash}{e}" for e in entries]))
    # bottom up, so that earlier line numbers hold; at one line, the list being extended first
    for at, _, new in sorted(inserts, key=lambda x: (-x[0], -x[1])):
        lines[at:at] = new
    return "\n".join(lines)

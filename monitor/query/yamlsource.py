"""Located YAML: turn places in a rules file into `FILE:LINE:COL` errors with the line and a caret,
including places inside a scalar's value (a query in a block scalar). Pure (works on text given).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator

import yaml

from monitor.errors import RuleError, SourceLocation


class Source:
    """One file's text, to turn character indexes into located errors."""

    def __init__(self, name: str, text: str) -> None:
        self.name, self.text = name, text
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.errors: list[RuleError] = []

    def at(self, index: int) -> SourceLocation:
        line = bisect.bisect_right(self.starts, index) - 1
        start = self.starts[line]
        end = self.text.find("\n", start)
        text = self.text[start : end if end >= 0 else len(self.text)].rstrip("\r")
        return SourceLocation(self.name, line + 1, index - start + 1, text)

    def error(self, message: str, index: int) -> None:
        self.errors.append(RuleError(message, self.at(index)))

    def value_index(self, node: yaml.ScalarNode, offset: int) -> int:
        """The file index of character `offset` of a scalar's value (aligning value to source).

        The value is, but for folded line breaks, indentation and quotes, a subsequence of its
        source text; walk both together.
        """
        src, j = self.text, node.start_mark.index
        if node.style in ("|", ">"):  # the value starts on the line after the indicator
            j = src.find("\n", j) + 1
        elif node.style in ("'", '"'):
            j += 1
        end, value = node.end_mark.index, node.value
        for i, c in enumerate(value):
            if c.isspace():
                if i == offset:
                    while j < end and src[j].isspace():
                        j += 1
                    return min(j, end)
                # before a visible character, one value space stands for a whole folded break
                if i + 1 < len(value) and not value[i + 1].isspace():
                    while j < end and src[j].isspace():
                        j += 1
                else:
                    j += 1
                continue
            while j < end and src[j] != c:  # quotes, escapes, indentation
                j += 1
            if i == offset:
                return j
            j += 1
        return min(j, end)


def pairs(src: Source, node: yaml.MappingNode) -> Iterator[tuple[str, yaml.Node, yaml.Node]]:
    seen: set[str] = set()
    for key, value in node.value:
        name = str(key.value) if isinstance(key, yaml.ScalarNode) else ""
        if name in seen:
            src.error(f"duplicate key {name!r} in this mapping", key.start_mark.index)
            continue
        seen.add(name)
        yield name, key, value


def text_of(src: Source, node: yaml.Node, what: str) -> str | None:
    if isinstance(node, yaml.ScalarNode) and node.tag != "tag:yaml.org,2002:null":
        return str(node.value)
    src.error(f"{what} must be text", node.start_mark.index)
    return None


def texts_of(src: Source, node: yaml.Node, what: str) -> tuple[str, ...]:
    if isinstance(node, yaml.ScalarNode):
        one = text_of(src, node, what)
        return (one,) if one else ()
    if isinstance(node, yaml.SequenceNode):
        got = (text_of(src, n, f"each of {what}") for n in node.value)
        return tuple(t for t in got if t is not None)
    src.error(f"{what} must be a list of text", node.start_mark.index)
    return ()

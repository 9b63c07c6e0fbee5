"""Located YAML: turn places in a rules file into `FILE:LINE:COL` errors with the line and a caret,
including places inside a scalar's value (a query in a block scalar). Pure (works on text given).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator

import yaml

from monitor.errors import RuleError, SourceLocation
from monitor.plural import counted

# A line longer than this is quoted in an error as an excerpt around the column: every error
# copied its whole line, and a one-line file of 16,000 faults (`rules: [1,1,...]`, 32 KB) took
# 2 GB and 3 s to report; a 2 MB one would have taken terabytes.
MAX_QUOTED = 240
# Errors kept per file; the rest are counted (`dropped`) and said in one line.
MAX_ERRORS = 200


class Source:
    """One file's text, to turn character indexes into located errors."""

    def __init__(self, name: str, text: str) -> None:
        self.name, self.text = name, text
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.errors: list[RuleError] = []
        self.dropped = 0

    def at(self, index: int) -> SourceLocation:
        line = bisect.bisect_right(self.starts, index) - 1
        start = self.starts[line]
        end = self.starts[line + 1] - 1 if line + 1 < len(self.starts) else len(self.text)
        column = index - start + 1
        if end - start <= MAX_QUOTED:
            text = self.text[start:end].rstrip("\r")
            return SourceLocation(self.name, line + 1, column, text)
        half = MAX_QUOTED // 2
        lo = max(start, min(index - half, end - MAX_QUOTED))
        hi = min(end, lo + MAX_QUOTED)
        text = ("…" if lo > start else "") + self.text[lo:hi] + ("…" if hi < end else "")
        caret = index - lo + 1 + (lo > start)
        return SourceLocation(self.name, line + 1, column, text.rstrip("\r"), caret)

    def error(self, message: str, index: int) -> None:
        if len(self.errors) >= MAX_ERRORS:
            self.dropped += 1
            return
        self.errors.append(RuleError(message, self.at(index)))

    def dropped_error(self) -> RuleError | None:
        """One error saying how many were not kept, or None."""
        if not self.dropped:
            return None
        return RuleError(
            f"{self.name}: {counted(self.dropped, 'more error')} in this file not shown (at most "
            f"{MAX_ERRORS} a file): fix those above and check again"
        )

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

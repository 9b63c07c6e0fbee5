"""Rules files are composed with libyaml when PyYAML has it: the same node tree (tags, values,
character-index marks), error words and located errors as PyYAML's pure-Python composer."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from monitor.errors import RuleError, RuleErrors
from monitor.query import rulefiles
from monitor.query.rulefiles import load_rules

RULES = """# Kyïv — 😀 a comment with wide characters before the nodes
sets:
  troops: [troops, "Kyïv 😀", 'special forces']
rules:
  - id: folded
    name: "Ï 😀"
    query: >
      troops NEAR/3 (Kyïv
      OR Харків)
  - id: literal
    name: |
      two lines 😀
      of name
    query: '"é" AND z'
  - id: plain
    enabled: yes
    query:
    feeds: ~
"""

Shape = tuple[str, str, str, int, int, int, int, str | None]


def _walk(node: yaml.Node, out: list[Shape]) -> None:
    value = node.value if isinstance(node, yaml.ScalarNode) else None
    style = getattr(node, "style", None) or ""  # plain: libyaml says '', PyYAML None
    start, end = node.start_mark, node.end_mark
    kind = type(node).__name__
    out.append((kind, node.tag, style, start.index, start.line, start.column, end.index, value))
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            _walk(k, out)
            _walk(v, out)
    elif isinstance(node, yaml.SequenceNode):
        for v in node.value:
            _walk(v, out)


def _shapes(node: yaml.Node | None) -> list[Shape]:
    out: list[Shape] = []
    if node is not None:
        _walk(node, out)
    return out


needs_libyaml = pytest.mark.skipif(
    rulefiles._FAST_LOADER is yaml.SafeLoader, reason="this PyYAML was built without libyaml"
)


@needs_libyaml
def test_same_tree_and_marks_as_pure_python() -> None:
    fast = _shapes(rulefiles._compose(RULES))
    assert fast == _shapes(yaml.compose(RULES, Loader=yaml.SafeLoader))
    assert len(fast) > 20


@pytest.mark.parametrize(
    "text",
    [
        "rules:\n  - id: a\n    name: [unclosed\n",
        "rules:\n  - id: a\n   name: b\n",  # bad indentation
        "rules: {a: b\n",
        "a: \x85b\n",
    ],
)
def test_errors_are_pyyaml_s_own(text: str) -> None:
    with pytest.raises(yaml.YAMLError) as pure:
        yaml.compose(text, Loader=yaml.SafeLoader)
    with pytest.raises(yaml.YAMLError) as ours:
        rulefiles._compose(text)
    assert str(ours.value) == str(pure.value)


@needs_libyaml
def test_errors_after_wide_characters_are_located_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = RULES.replace("OR Харків)", "OR Харків) NEAR/x troops")
    (tmp_path / "r.yaml").write_text(text, encoding="utf-8")

    def errors() -> list[str]:
        with pytest.raises(RuleErrors) as caught:
            load_rules(tmp_path)
        return [str(e) for e in caught.value.errors]

    fast = errors()
    monkeypatch.setattr(rulefiles, "_FAST_LOADER", yaml.SafeLoader)
    assert fast == errors()
    (near,) = [e for e in caught_located(tmp_path) if "'folded'" in str(e)]
    assert near.location is not None
    line = text.splitlines()[near.location.line - 1]
    assert line == "      OR Харків) NEAR/x troops"
    assert line[near.location.column - 1 :] == "x troops"  # the distance that is not a number


def caught_located(folder: Path) -> list[RuleError]:
    with pytest.raises(RuleErrors) as caught:
        load_rules(folder)
    return list(caught.value.errors)

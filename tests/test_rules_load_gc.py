"""Loading rules pauses the cyclic garbage collector (a fifth to a third of a large reload went
to collections over a heap that only grew) and always leaves it as it found it."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from monitor.errors import RuleErrors
from monitor.query import rulefiles
from monitor.query.compiler import compile_query, set_members_named
from monitor.query.evaluate import Matcher
from monitor.query.rulefiles import load_rules

GOOD = "rules:\n  - id: a\n    name: A\n    query: troops NEAR/3 sent\n"
BAD = "rules:\n  - id: a\n    name: A\n    query: troops NEAR/x sent\n"


@pytest.fixture
def gc_restored() -> Iterator[None]:
    was = gc.isenabled()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


@pytest.mark.usefixtures("gc_restored")
@pytest.mark.parametrize("enabled", [True, False])
@pytest.mark.parametrize("text", [GOOD, BAD])
def test_collector_left_as_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, enabled: bool, text: str
) -> None:
    (tmp_path / "r.yaml").write_text(text)
    seen: list[bool] = []

    def spy(query: str, sets: Mapping[str, Sequence[str]]) -> Matcher:
        seen.append(gc.isenabled())
        return compile_query(query, sets)

    def counting(query: str, sets: Mapping[str, Sequence[str]]) -> int:
        # The first look at a query (a query in error stops here, before it compiles).
        seen.append(gc.isenabled())
        return set_members_named(query, sets)

    monkeypatch.setattr(rulefiles, "compile_query", spy)
    monkeypatch.setattr(rulefiles, "set_members_named", counting)
    if enabled:
        gc.enable()
    else:
        gc.disable()
    if text is GOOD:
        assert len(load_rules(tmp_path)) == 1
    else:
        with pytest.raises(RuleErrors):
            load_rules(tmp_path)
    # paused while the rule was read and compiled
    assert seen == ([False, False] if text is GOOD else [False])
    assert gc.isenabled() is enabled

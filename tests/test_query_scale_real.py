"""On real news: the indexed matcher gives exactly the matches, explanations and snippets of a
plain evaluation of each rule compiled on its own, for rules built from the items' own words.

The items are the RUWA set of 2022 war reporting; its licence (CC BY-NC-SA) keeps its text out
of this repository, so the test reads it from ../shared next to the repository and skips with the
reason when it is absent. The rules come from benchmarks/scale.py (seeded): word pairs, phrases,
NEAR and ONEAR, OR-groups, prefixes, exact forms, NOT, title scopes, sets, feed and tag scopes.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

# The benchmarks are scripts that import each other as top-level modules; so do their tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from scale import CORPUS, TAGS, make_rules, read_items, words_of

from monitor.model import Explanation, Item, Rule
from monitor.query.compiler import compile_query
from monitor.query.evaluate import Matcher
from monitor.query.explain import explain, snippet
from monitor.query.normalize import analyze, item_texts, tokenize
from monitor.query.ruleset import RuleSet

ROOT = Path(__file__).resolve().parent.parent
Found = list[tuple[str, Explanation, str]]


@pytest.fixture(scope="module")
def items() -> list[Item]:
    if not CORPUS.is_file():
        pytest.skip(
            f"the RUWA corpus is not at {CORPUS} (a checkout of the shared corpora next to the"
            " repository): its licence keeps its text out of this repository"
        )
    return read_items(CORPUS, 600, seed=5)


def _watches(rule: Rule, item: Item) -> bool:
    return not rule.feeds or any(f in rule.feeds for f in (item.feed_id, *TAGS[item.feed_id]))


def _plain(alone: Sequence[tuple[Rule, Matcher]], item: Item) -> Found:
    """Each rule compiled alone tried on the item: no index, nothing shared between rules."""
    doc = analyze(item)
    out = []
    for rule, matcher in alone:
        if _watches(rule, item) and matcher.matches(doc):
            why = explain(matcher, doc)
            out.append((rule.id, why, snippet(doc, why.hits)))
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_indexed_matches_and_explains_as_each_rule_alone(items: list[Item], seed: int) -> None:
    rules, sets = make_rules(items, words_of(items), 1500, seed)
    ruleset = RuleSet.from_rules(rules, sets)
    alone = [(r, compile_query(r.query, sets)) for r in sorted(rules, key=lambda r: r.id)]
    matched = 0
    for item in items:
        got = [
            (m.rule.id, m.explanation, m.snippet) for m in ruleset.match(item, TAGS[item.feed_id])
        ]
        assert got == _plain(alone, item), item.url
        matched += len(got)
        texts = item_texts(item)
        for _, why, _ in got:  # every hit is the word the tokenizer finds at its position
            for hit in why.hits:
                token = tokenize(texts[hit.field])[hit.position]
                assert (hit.start, hit.end) == (token.start, token.end)
                assert hit.word == texts[hit.field][token.start : token.end]
    # Each rule is written from one of these items: they match several rules each.
    assert matched >= 2 * len(items)


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "scale.py"), *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=100, check=False)


def test_benchmark_stops_with_a_message_without_the_corpus(tmp_path: Path) -> None:
    out = _bench("--corpus", str(tmp_path / "absent.jsonl"))
    assert out.returncode != 0
    assert f"no RUWA corpus at {tmp_path / 'absent.jsonl'}" in out.stderr
    assert "Traceback" not in out.stderr


def test_benchmark_prints_every_run(items: list[Item]) -> None:
    out = _bench("--items", "200", "--rules", "5,300", "--runs", "2", "--passes", "1")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    rows = [x for x in lines if x.startswith(("| 1 |", "| 2 |", "| median |"))]
    assert len(rows) == 3
    assert all(len(r.split("|")) == 9 for r in rows)
    (every,) = [x for x in lines if x.startswith("growth in every run: ")]
    assert every.count("x") >= 2

"""Hostile sizes for the matcher and the rules loader: NEAR chains on long items finish within a
stated bound of time and memory, and a query, a set member or a rules file past its cap is refused
with a located error (FILE:LINE:COL) that says the limit and what to do.

Before the bitset NEAR (monitor/query/spanset.py), `troops NEAR/100 troops NEAR/100 troops
NEAR/100 troops` on a 5,000-word item took 231 s and 21 GB; on 20,000 words it was killed at
24 GB. A phrase of 1,000 words on 20,000 words (a set of positions per word, a test per start
and word) took 6 s and 2 GB. The bound asserted here, per item, match and explanation together:
under 10 s of CPU and 64 MB of memory allocated at the peak (measured: well under a second and
10 MB). A child process with a 2 GiB address space runs them, so that a regression fails fast
instead of eating the machine."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.errors import RuleErrors
from monitor.query import rulefiles
from monitor.query.lexer import MAX_QUERY
from monitor.query.near import MAX_WORK
from monitor.query.rulefiles import load_rules
from monitor.query.yamlsource import MAX_ERRORS, MAX_QUOTED

pytestmark = pytest.mark.fault

ROOT = Path(__file__).resolve().parents[2]
CPU_BOUND_S = 10.0
PEAK_BOUND = 64 * 2**20

CHILD = r"""
import json, random, sys, time, tracemalloc
from monitor.model import Item, Rule
from monitor.query.ruleset import RuleSet

SETS = {
    "troops": ["troops", "soldiers", "special forces", "army"],
    "deploy": ["deploy*", "sent", "dispatched", "moved to"],
    "place": ["border", "ukraine", "the front", "kyiv"],
}
rng = random.Random(7)
words = [w for ms in SETS.values() for w in ms] + ["deployed", "the", "of", "to", "said"]
text, size = [], 0
while size < 200_000:
    text.append(rng.choice(words))
    size += len(text[-1]) + 1
chain = "troops NEAR/100 troops NEAR/100 troops NEAR/100 troops"
cases = {
    "chain-5k": (chain, " ".join(["troops"] * 5_000)),
    "chain-20k": (chain, " ".join(["troops"] * 20_000)),
    "sets-200k": ("$troops NEAR/100 $deploy NEAR/100 $place", " ".join(text)),
    "phrase-1000": ('"' + " ".join(["troops"] * 1_000) + '"', " ".join(["troops"] * 20_000)),
}
out = {}
for name, (query, content) in cases.items():
    rules = RuleSet.from_rules([Rule("r", "R", query)], SETS)
    item = Item(feed_id="f", key="k", title="", content=content)
    tracemalloc.start()
    start = time.process_time()
    found = rules.match(item)
    hits = len(found[0].explanation.hits) if found else 0
    cpu = time.process_time() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    out[name] = {"cpu": cpu, "peak": peak, "hits": hits, "matched": len(found)}
print(json.dumps(out))
"""


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))


def test_near_chains_on_long_items_stay_within_the_bound() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_limit_memory,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout)
    assert set(got) == {"chain-5k", "chain-20k", "sets-200k", "phrase-1000"}
    for name, r in got.items():
        assert r["matched"] == 1, name
        assert r["hits"] == 100, name  # explained, up to the explanation's cap
        assert r["cpu"] < CPU_BOUND_S, (name, r)
        assert r["peak"] < PEAK_BOUND, (name, r)


def _load(folder: Path, files: dict[str, str]) -> RuleErrors:
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    with pytest.raises(RuleErrors) as caught:
        load_rules(folder)
    return caught.value


def test_a_query_past_the_cap_is_refused_at_its_start(tmp_path: Path) -> None:
    query = ("troops OR " * MAX_QUERY)[: MAX_QUERY + 1]
    text = f"rules:\n  - id: long\n    name: Long\n    query: {query}\n"
    (error,) = _load(tmp_path, {"r.yaml": text}).errors
    assert error.location is not None
    assert (error.location.line, error.location.column) == (4, 12)
    assert f"{MAX_QUERY + 1:,} characters long, more than the {MAX_QUERY:,} allowed" in str(error)
    assert "set" in error.message
    # At the cap, it loads.
    (tmp_path / "r.yaml").write_text(text.replace(query, query[:-1].rstrip(" OR")))
    assert len(load_rules(tmp_path)) == 1


def test_a_set_member_past_the_cap_is_refused_at_the_member(tmp_path: Path) -> None:
    member = "x" * (MAX_QUERY + 1)
    text = f"sets:\n  s: [troops, {member}]\nrules:\n  - id: a\n    name: A\n    query: $s\n"
    (error,) = _load(tmp_path, {"r.yaml": text}).errors
    assert error.location is not None
    assert (error.location.line, error.location.column) == (2, 15)
    assert "set $s" in error.message
    assert f"{MAX_QUERY:,} allowed" in error.message


def test_a_near_too_costly_to_match_is_refused_at_its_operator(tmp_path: Path) -> None:
    query = " NEAR/100 ".join(["troops"] * 20)
    text = f"rules:\n  - id: chain\n    name: Chain\n    query: {query}\n"
    (error,) = _load(tmp_path, {"r.yaml": text}).errors
    assert error.location is not None
    column = error.location.column
    assert error.location.line == 4
    assert text.splitlines()[3][column - 1 :].startswith("NEAR/100")
    quoted, caret = str(error).splitlines()[1:3]  # the line is quoted as an excerpt around it
    assert quoted[caret.index("^") :].startswith("NEAR/100")
    assert f"at most {MAX_WORK:,}" in error.message
    assert "fewer NEAR/ONEAR" in error.message


def test_a_rules_file_past_the_cap_is_refused_unparsed_at_its_first_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rule = "  - id: r{}\n    name: R\n    query: troops\n"
    text = "rules:\n" + "".join(rule.format(i) for i in range(30))
    monkeypatch.setattr(rulefiles, "MAX_FILE_BYTES", len(text.encode()))
    (tmp_path / "a.yaml").write_text(text)
    assert len(load_rules(tmp_path)) == 30  # at the cap: read
    (error,) = _load(tmp_path, {"a.yaml": text + "#"}).errors
    assert error.location is not None
    assert (error.location.file, error.location.line, error.location.column) == (
        str(tmp_path / "a.yaml"),
        1,
        1,
    )
    assert error.location.line_text == "rules:"
    assert "larger than" in error.message
    assert "split it into several files" in error.message


def test_the_real_file_cap_refuses_a_large_file_without_reading_it_all(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("w", encoding="utf-8") as f:
        f.write("rules:\n")
        f.write("  # filler\n" * (rulefiles.MAX_FILE_BYTES // 11 + 1))
    (error,) = _load(tmp_path, {}).errors
    assert error.location is not None
    assert error.location.line == 1
    assert f"larger than {rulefiles.MAX_FILE_BYTES // 2**20} MiB" in error.message


def test_a_rules_folder_past_the_total_cap_is_refused_at_the_file_that_crosses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = "rules:\n  - id: {0}\n    name: R\n    query: troops\n"
    size = len(one.format("a").encode())
    monkeypatch.setattr(rulefiles, "MAX_TOTAL_BYTES", 2 * size)
    files = {f"{n}.yaml": one.format(n) for n in "ab"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert len(load_rules(tmp_path)) == 2
    (error,) = _load(tmp_path, {"c.yaml": one.format("c")}).errors
    assert error.location is not None
    assert (error.location.file, error.location.line) == (str(tmp_path / "c.yaml"), 1)
    assert "remove the files you do not use" in error.message


def test_many_faults_on_one_long_line_are_quoted_as_excerpts_and_capped(tmp_path: Path) -> None:
    """Every error copied its whole line: `rules: [1,1,...]` of 16,000 faults (32 KB) took 2 GB
    and 3 s to report, 770 MB of text; a 2 MB file would have taken terabytes."""
    errs = _load(tmp_path, {"r.yaml": "rules: [" + ",".join(["1"] * 4_000) + "]\n"}).errors
    assert len(errs) == MAX_ERRORS + 1
    assert "3,800 more errors in this file not shown" in errs[-1].message
    assert len(str(RuleErrors(errs))) < MAX_ERRORS * 3 * (MAX_QUOTED + 200)
    assert all(e.location and len(e.location.line_text) <= MAX_QUOTED + 2 for e in errs[:-1])


@pytest.mark.parametrize("before", [0, 10, MAX_QUOTED - 5, 4_000])
@pytest.mark.parametrize("after", [0, 10, 4_000])
def test_an_excerpt_of_a_long_line_keeps_the_caret_under_the_fault(
    tmp_path: Path, before: int, after: int
) -> None:
    pad = " OR ".join(["troops"] * (before // 10 + 1))
    tail = " OR ".join(["troops"] * (after // 10 + 1))
    query = f"{pad} OR (sent NEAR/3 $nope) OR {tail}"
    text = f"rules: [{{id: a, name: A, query: {query!r}}}]\n"
    (error,) = _load(tmp_path, {"r.yaml": text}).errors
    assert error.location is not None
    line = text.rstrip("\n")
    assert line[error.location.column - 1 :].startswith("$nope")  # the column is the file's
    quoted, caret = str(error).splitlines()[1:3]
    assert quoted[caret.index("^") :].startswith("$nope")
    assert len(quoted) <= len("    ") + MAX_QUOTED + 2
    if len(line) <= MAX_QUOTED:
        assert quoted == "    " + line


def test_rules_naming_large_sets_again_and_again_load_within_the_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every `$name` cost its set's size: 22 KB naming a set of 3,000 words 1,000 times in one
    query took 57 s and 540 MB; 1,000 rules naming a set of 20,000 words, 7 minutes and 5.8 GB.
    A query is refused past `MAX_SET_MEMBERS`, a folder past `MAX_SET_MEMBERS_NAMED`."""
    words = "[" + ",".join(f"w{i}" for i in range(3_000)) + "]"
    query = " OR ".join(["$b"] * 1_000)
    start = time.process_time()
    (error,) = _load(
        tmp_path,
        {"r.yaml": f"sets:\n  b: {words}\nrules:\n  - id: r\n    name: R\n    query: {query}\n"},
    ).errors
    assert time.process_time() - start < 2.0
    assert error.location is not None
    assert error.location.line == 6
    assert "more than the 50,000 a query may" in error.message
    monkeypatch.setattr(rulefiles, "MAX_SET_MEMBERS_NAMED", 7_000)
    rules = "".join(f"  - id: r{i}\n    name: R\n    query: x OR $b\n" for i in range(3))
    (error,) = _load(tmp_path, {"r.yaml": f"sets:\n  b: {words}\nrules:\n{rules}"}).errors
    assert error.location is not None
    assert (error.location.line, error.location.column) == (12, 12)  # the third rule's query
    assert "the rules up to this one name 9,000 set members in all" in error.message

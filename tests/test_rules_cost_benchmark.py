"""benchmarks/rules_cost.py runs on a few RUWA items (read from ../shared) and prints its table,
and its dump names every match once: it must not rot."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpora" / "news" / "ruwa-2022" / "items.jsonl"

pytestmark = pytest.mark.skipif(
    not CORPUS.is_file(), reason=f"the RUWA corpus is not at {CORPUS} (see the corpora manifest)"
)


def _run(*args: str) -> str:
    cmd = [sys.executable, "benchmarks/rules_cost.py", "--limit", "400", *args]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    return out.stdout


def test_it_prints_a_pass_and_the_best() -> None:
    lines = _run("--passes", "1").splitlines()
    assert lines[0].startswith("400 RUWA items against ")
    assert lines[-2].startswith("| 1 | ")
    assert lines[-1].startswith("| best | ")
    assert float(lines[-1].split("|")[2]) > 0


def test_its_dump_holds_each_match_explained(tmp_path: Path) -> None:
    out = tmp_path / "matches.jsonl"
    summary = _run("--dump", str(out))
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert summary.startswith(f"400 items, {len(rows):,} matches, sha256 ")
    assert rows  # the example rules match some of the first 400 items of 2022 war news
    assert len({(url, rule) for url, rule, _, _ in rows}) == len(rows)
    for _, rule, why, snippet in rows:
        assert rule in {"troop-dispatch", "arms-to-ukraine", "nato-delegation"}
        assert why["clauses"]
        assert why["hits"]
        assert "**" in snippet


SNAPSHOTS = ROOT.parent / "shared" / "corpora" / "feeds" / "news-archive-2021"


@pytest.mark.skipif(
    not (SNAPSHOTS / "bbc").is_dir(), reason=f"the feed snapshots are not at {SNAPSHOTS}"
)
def test_it_reads_the_items_of_feed_snapshots(tmp_path: Path) -> None:
    (tmp_path / "bbc").symlink_to(SNAPSHOTS / "bbc")  # one outlet: a short run
    lines = _run("--snapshots", str(tmp_path), "--passes", "1").splitlines()
    assert lines[0].startswith(f"400 items of {tmp_path.name} against ")
    assert float(lines[-1].split("|")[2]) > 0
    empty = tmp_path / "empty"
    empty.mkdir()
    cmd = [sys.executable, "benchmarks/rules_cost.py", "--snapshots", str(empty)]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "no feed snapshots" in out.stderr

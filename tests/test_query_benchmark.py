"""The benchmark script runs (tiny sizes) and prints its table: it must not rot."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_prints_its_table() -> None:
    cmd = [
        sys.executable,
        "benchmarks/match.py",
        "--items",
        "40",
        "--rules",
        "10,200",
        "--budget",
        "0.2",
    ]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=100, check=True)
    lines = out.stdout.splitlines()
    assert lines[1].startswith("floor (NFKC + casefold + tokenise + stem): ")
    rows = [x for x in lines if x.startswith(("| 10 |", "| 200 |"))]
    assert len(rows) == 2
    assert all(len(r.split("|")) == 12 for r in rows)

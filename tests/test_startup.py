"""What a one-shot command's start imports: the libraries it never uses stay out
(docs/performance.md, issue 18: start-up is most of a `check --deliver` round where every feed
answers 304). Each probe runs in a fresh interpreter, as the command does."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def probe(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


@pytest.mark.skipif(importlib.util.find_spec("trio") is None, reason="trio is not installed")
def test_httpcore_comes_up_without_trio_which_stays_importable() -> None:
    out = probe(
        "import sys, monitor.cli.main, monitor.process.cycle, httpcore\n"
        "print('trio' in sys.modules, httpcore._synchronization.trio)\n"
        "import trio\n"
        "print(trio.__name__, any(type(f).__name__ == '_NoTrioForHttpcore' for f in sys.meta_path))"
    )
    assert out.splitlines() == ["False None", "trio False"]

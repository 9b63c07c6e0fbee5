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


def test_loading_a_config_looks_for_no_pydantic_plugins(tmp_path: Path) -> None:
    # Looking for plugins imports importlib.metadata (zipfile, csv, email.message): none of it
    # is needed by a start that validates its config.
    config = tmp_path / "newsmon.yaml"
    config.write_text(
        "feeds:\n  - {id: a, url: 'http://127.0.0.1:9/a.xml', interval: 5m}\n"
        "destinations:\n  - {name: hook, type: webhook, url: 'http://127.0.0.1:9/hook'}\n"
    )
    out = probe(
        "import sys, monitor.cli.main, monitor.cli.check, monitor.process.cycle\n"
        "from monitor.config import load_config\n"
        f"config = load_config({str(config)!r}, env={{}})\n"
        "print(len(config.feeds), config.destinations[0].name, 'importlib.metadata' in sys.modules)"
    )
    assert out == "1 hook False"

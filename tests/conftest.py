"""Shared fixtures. Paths are relative to the repository, so a fresh clone tests on its own."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"


@pytest.fixture
def repo_root() -> Path:
    return ROOT


@pytest.fixture
def seed_text() -> str:
    return (ROOT / "seeds" / "article.txt").read_text(encoding="utf-8")


pytest_plugins = ["tests.store_fixtures"]

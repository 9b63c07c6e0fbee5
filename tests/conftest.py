"""Shared fixtures. Paths are relative to the repository, so a fresh clone tests on its own."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"


@pytest.fixture
def repo_root() -> Path:
    return ROOT


@pytest.fixture
def seed_text() -> str:
    return (ROOT / "seeds" / "article.txt").read_text(encoding="utf-8")


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """A command run in-process points logging at pytest's captured stderr, which closes when
    its test ends; put logging back so the next test does not write to a closed stream."""
    yield
    structlog.reset_defaults()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_newsmon", False)]:
        root.removeHandler(handler)


pytest_plugins = ["tests.store_fixtures"]

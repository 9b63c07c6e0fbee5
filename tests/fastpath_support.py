"""The fast parse paths held against feedparser: one document through `parse_feed` twice, once
with a fast path (spied on: did it take the document?) and once with feedparser alone, its own
character-set step included. tests/test_fastxml.py and tests/test_fastfeed.py use it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from monitor.errors import FeedError
from monitor.feeds import parse
from monitor.feeds.parse import ParsedFeed, parse_feed

# The parse module's steps a differential turns off: the two fast paths and the fast arm's
# conversion to UTF-8 (off, feedparser's own runs).
FAST_PATHS = ("parse_rss20", "parse_namespaced")


def parsed(data: bytes, name: str) -> ParsedFeed | str:
    """`parse_feed` of `data` as the feed `name`, or its error's kind."""
    try:
        return parse_feed(data, feed_id="f", feed_url="http://example.com/feeds/" + name)
    except FeedError as e:
        return f"FeedError {e.kind}"


def fast_and_slow(
    data: bytes,
    name: str,
    monkeypatch: pytest.MonkeyPatch,
    spied: str,
    off: Iterable[str] = (),
) -> tuple[Any, Any, bool]:
    """`data` parsed with the fast path `spied` (one of FAST_PATHS; the steps `off` switched
    off), then with feedparser alone: both results, and whether `spied` took the document."""
    accepted: list[bool] = []
    fast_path: Callable[[bytes], Any] = getattr(parse, spied)

    def spy(utf8: bytes) -> Any:
        out = fast_path(utf8)
        accepted.append(out is not None)
        return out

    with monkeypatch.context() as m:
        for step in off:
            m.setattr(parse, step, lambda utf8: None)
        m.setattr(parse, spied, spy)
        fast = parsed(data, name)
        for step in FAST_PATHS:
            m.setattr(parse, step, lambda utf8: None)
        m.setattr(parse, "to_utf8", lambda content_type, data: None)  # feedparser's charset step
        slow = parsed(data, name)
    return fast, slow, any(accepted)


def equal_on(
    paths: Iterable[Path], monkeypatch: pytest.MonkeyPatch, spied: str, off: Iterable[str] = ()
) -> list[Path]:
    """Asserts `fast_and_slow` gives equal results for each file of `paths`; the files that
    `spied` took."""
    accepted = []
    for path in paths:
        fast, slow, took = fast_and_slow(path.read_bytes(), path.name, monkeypatch, spied, off)
        assert fast == slow, path
        if took:
            accepted.append(path)
    return accepted

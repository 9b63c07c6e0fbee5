"""Third-party corpora through parse_feed: robustness, a differential check against feedparser's
own expectations, and hostile XML (refused or harmless, fast, bounded, no file or network access).
"""

from __future__ import annotations

import ast
import re
import socket
import sys
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from monitor.errors import FeedError
from monitor.feeds.htmltext import collapse, defang, html_to_text
from monitor.feeds.parse import parse_feed
from monitor.model import Item

DATA = Path(__file__).resolve().parent / "data"
FEEDS = DATA / "feeds"
HOSTILE = DATA / "malicious-xml"
NOT_DATA = {"LICENSE", "README.md", "SOURCES.md"}


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name not in NOT_DATA)


@pytest.mark.slow
def test_every_corpus_feed_parses_or_is_a_feed_error() -> None:
    files = _files(FEEDS)
    assert len(files) > 2000
    outcomes: dict[str, int] = {}
    for path in files:
        start = time.perf_counter()
        try:
            parsed = parse_feed(path.read_bytes(), feed_id="c", feed_url="http://example.com/f")
        except FeedError as e:
            outcomes[e.kind] = outcomes.get(e.kind, 0) + 1
        else:
            outcomes["ok"] = outcomes.get("ok", 0) + 1
            for item in parsed.items:
                for text in (item.title, item.summary, item.content):
                    assert not re.search(r"<[A-Za-z/!?]", text), (path, text[:80])
        assert time.perf_counter() - start < 2.0, path
    # Only documents that are not feeds (HTML pages, empty files) or that declare entities fail.
    assert set(outcomes) <= {"ok", "not_a_feed", "refused_entities"}, outcomes
    assert outcomes["ok"] > 0.97 * len(files), outcomes


# --- differential: feedparser's `Expect:` lines about entries' title, link and id ------------

_EXPECT = re.compile(
    r"entries\[(\d+)\]\[['\"](title|link|id)['\"]\]\s*==\s*(u?(?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"))"
)
# Skipped folders, whose expectations do not map onto Items:
# - sanitize/: feedparser's HTML sanitiser output (we turn HTML into text instead);
# - http/ and files named http_*: need the HTTP headers that feedparser's test server sends.
_SKIP = ("/sanitize/", "/http/", "/http_")


def _expectations() -> Iterator[tuple[Path, int, str, str]]:
    for path in _files(FEEDS / "feedparser" / "tests"):
        if any(s in path.as_posix() for s in _SKIP):
            continue
        head = path.read_bytes()[:2000].decode("utf-8", "replace")
        line = next((ln for ln in head.splitlines() if ln.startswith("Expect:")), "")
        for index, field, literal in _EXPECT.findall(line):
            yield path, int(index), field, ast.literal_eval(literal)


def _ours(item: Item, field: str) -> str | None:
    return {"title": item.title, "link": item.link, "id": item.guid}[field]


def test_items_agree_with_feedparser_expectations() -> None:
    cases = list(_expectations())
    assert len(cases) >= 60  # 65 at the time of writing
    mismatches = []
    for path, index, field, expected in cases:
        rel = path.relative_to(FEEDS / "feedparser").as_posix()
        parsed = parse_feed(path.read_bytes(), feed_id="d", feed_url=f"http://127.0.0.1:8097/{rel}")
        values = {_ours(item, field) for item in parsed.items}  # we sort by date: any position
        accepted = {expected}
        if field == "title":  # feedparser keeps markup in titles; we give the text
            accepted |= {html_to_text(expected), defang(collapse(expected))}
        if index >= parsed.total_items or not values & accepted:
            mismatches.append((rel, field, expected, sorted(map(str, values))[:3]))
    assert not mismatches, mismatches


# --- hostile XML ----------------------------------------------------------------------------


def _hostile_documents() -> list[tuple[str, bytes]]:
    docs = [(p.name, p.read_bytes()) for p in _files(HOSTILE) if p.suffix != ".txt"]
    fuzz = HOSTILE / "payloadsallthethings-xxe" / "Intruders" / "XXE_Fuzzing.txt"
    docs += [(f"fuzz:{i}", line) for i, line in enumerate(fuzz.read_bytes().splitlines()) if line]
    return docs


class OpenAudit:
    """One audit hook for the whole session (hooks cannot be removed); records only while on."""

    events: list[str] | None = None
    installed = False

    @classmethod
    def hook(cls, event: str, args: tuple[Any, ...]) -> None:
        if cls.events is not None and event == "open" and args:
            cls.events.append(f"open {args[0]!r}")

    @classmethod
    @contextmanager
    def recording(cls) -> Iterator[list[str]]:
        if not cls.installed:
            sys.addaudithook(cls.hook)
            cls.installed = True
        cls.events = []
        try:
            yield cls.events
        finally:
            cls.events = None


@pytest.fixture
def no_io(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Record every file opened and refuse every outbound connection while the test runs."""
    events: list[str] = []

    def connect(self: socket.socket, address: Any) -> None:
        events.append(f"connect {address!r}")
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", connect)
    with OpenAudit.recording() as opened:
        yield events
        events.extend(opened)


@pytest.mark.parametrize(("name", "data"), _hostile_documents(), ids=lambda v: str(v)[:40])
def test_hostile_xml_is_refused_or_harmless(name: str, data: bytes, no_io: list[str]) -> None:
    tracemalloc.start()
    start = time.perf_counter()
    try:
        parsed = parse_feed(data, feed_id="h", feed_url="http://127.0.0.1:9/feed")
    except FeedError as e:
        assert e.kind in {"refused_entities", "not_a_feed", "parse"}  # noqa: PT017
    else:
        for item in parsed.items:
            assert "root:" not in item.title + item.summary + item.content
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 1.0, elapsed
    assert peak < 100 * 1024 * 1024, peak
    assert not [e for e in no_io if "passwd" in e or "connect" in e or "file:" in e], no_io


def test_entity_documents_are_refused_not_parsed() -> None:
    for name in ("xmlbomb.xml", "xmlbomb2.xml", "quadratic.xml", "cyclic.xml", "external.xml"):
        path = HOSTILE / "defusedxml" / "xmltestdata" / name
        with pytest.raises(FeedError) as err:
            parse_feed(path.read_bytes(), feed_id="h")
        assert err.value.kind == "refused_entities", name

"""Load feeds for the replica tests and benchmark: many generated RSS feeds with ETags (304 on a
match), an optional delay per response, and a way to add items to every feed; served by the
tests' feed server (`tests.feedserver.answering`). Does I/O (a server thread)."""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer

from tests.feedserver import Answer, Headers, answering

# Each item is a story of its own: a serial number that no other item's title has keeps story
# dedup from merging them (a code like "f0-r0" splits into numbers one title may share).
MATCHING_TITLE = "Troops dispatched to the border, report {serial}"
OTHER_TITLE = "Local bakery wins a prize, report {serial}"
RULE = """rules:
  - id: troops
    name: Troops dispatched
    query: troops NEAR/4 dispatched
    severity: high
"""


def pseudo_word(rng: random.Random, syllables: int = 3) -> str:
    """A made-up word (no stem or stopword collides with it), e.g. "korvani"."""
    return "".join(rng.choice("bdfgklmnprstvz") + rng.choice("aeiou") for _ in range(syllables))


@dataclass
class _Feed:
    # (guid, title, description), newest first
    items: list[tuple[str, str, str]] = field(default_factory=list)
    version: int = 0
    body: bytes = b""


class LoadFeedServer:
    """`count` feeds at /f/<i>.rss; `add_round(n)` adds one item to each (every `match_every`-th
    feed's item matches the test rule). Keeps the newest `keep` items in a body."""

    def __init__(
        self, count: int, *, delay: float = 0.0, keep: int = 5, distinct: bool = False
    ) -> None:
        self.count = count
        # distinct: each story worded with made-up words of its own, as unrelated news is; else
        # the templates, whose stories differ in one number (near-duplicates the false-merge
        # guard keeps apart: every story shares LSH band keys with every other).
        self.distinct = distinct
        self.delay = delay
        self.keep = keep
        self.feeds = [_Feed() for _ in range(count)]
        self.lock = threading.Lock()
        self.requests = 0
        self.not_modified = 0
        self.matching: list[str] = []  # guids of matching items added after the baseline
        self.serial = 1000
        for i in range(count):
            self._add(i, f"f{i}-base", OTHER_TITLE)
        self._stack = ExitStack()
        self._server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "serving only inside `with LoadFeedServer(...)`"
        return int(self._server.server_address[1])

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.port}/f/{i}.rss"

    def _add(self, i: int, guid: str, template: str, serial: int | None = None) -> None:
        feed = self.feeds[i]
        self.serial += 1
        title = template.format(serial=serial or self.serial)
        if self.distinct:
            rng = random.Random(serial or self.serial)
            place, a, b = (pseudo_word(rng) for _ in range(3))
            place = place.capitalize()
            title = f"{place} {a} wins {b}"
            if template == MATCHING_TITLE:
                title = f"Troops dispatched to {place} {a} {b}"
            # A lede of its own: two unrelated stories then share about 2 words in 40 and an
            # LSH band with a probability of about 0.2 %, as unrelated news does.
            lede = " ".join(pseudo_word(rng) for _ in range(18))
            feed.items.insert(0, (guid, title, f"{title}. {lede}."))
        else:
            feed.items.insert(0, (guid, title, f"{title}."))
        del feed.items[self.keep :]
        feed.version += 1
        feed.body = _rss(i, feed.items)

    def add_round(self, n: int, match_every: int = 2) -> int:
        """One new item in every feed; returns how many of them match."""
        return self.add_to(range(self.count), n, match_every)

    def add_to(
        self, feeds: Iterable[int], n: int, match_every: int = 2, same_story: int = 1
    ) -> int:
        """One new item (round `n`) in each of `feeds` (indices wrap); returns how many match.
        `same_story` > 1: each run of that many feeds gets one story (the same title, other
        GUIDs and links), so their polls found it at nearly the same time."""
        matched = 0
        with self.lock:
            shared = 0
            for k, index in enumerate(feeds):
                i = index % self.count
                guid = f"f{i}-r{n}"
                match = (i + n) % match_every == 0 if same_story <= 1 else True
                if k % max(same_story, 1) == 0:
                    shared = self.serial + 1
                story = shared if same_story > 1 else None
                self._add(i, guid, MATCHING_TITLE if match else OTHER_TITLE, story)
                if match:
                    self.matching.append(guid)
                    matched += 1
        return matched

    def _answer(self, path: str, headers: Headers) -> Answer:
        match = re.fullmatch(r"/f/(\d+)\.rss", path)
        index = int(match.group(1)) if match else -1
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            self.requests += 1
            feed = self.feeds[index] if 0 <= index < self.count else None
            if feed is None:
                return 404, {}, b""
            etag = f'"v{feed.version}"'
            if headers.get("If-None-Match") == etag:
                self.not_modified += 1
                return 304, {"ETag": etag}, b""
            return 200, {"Content-Type": "application/rss+xml", "ETag": etag}, feed.body

    def __enter__(self) -> LoadFeedServer:
        self._server = self._stack.enter_context(answering(self._answer))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()


def _rss(i: int, items: list[tuple[str, str, str]]) -> bytes:
    entries = "".join(
        f"<item><guid isPermaLink='false'>{guid}</guid><title>{title}</title>"
        f"<link>https://news.example.com/{guid}</link>"
        f"<description>{description}</description></item>"
        for guid, title, description in items
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>Feed {i}</title><link>https://news.example.com/</link>{entries}</channel></rss>"
    ).encode()

"""Feeds that carry the same story at the same instant, for the story-race tests; served by the
tests' feed server (`tests.feedserver.answering`). Does I/O (a server thread on 127.0.0.1).

`StoryFeeds(count)` serves `count` RSS feeds at /s/<i>.rss. `release()` publishes one new story
in every feed at once: near-identical headlines (one plain, one with an outlet's tail, one with
a verb changed), the same lede, a different GUID and link in each feed. Every story has its own
place name and words, so two releases are two stories.

To make "at the same instant" hold for the polls and not only for the publication, the answers
that carry a release are held until every feed has been asked for it (or `hold` seconds have
passed), then sent together, each after a random delay of up to `jitter` seconds: the polls of
one story then read the story index and commit at nearly the same time, the worst case.
"""

from __future__ import annotations

import random
import re
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from xml.sax.saxutils import escape

from tests.feedserver import Answer, Headers, answering
from tests.replicas_feeds import RULE, pseudo_word

__all__ = ["RULE", "Story", "StoryFeeds", "pseudo_word"]


@dataclass(frozen=True)
class Story:
    serial: int
    place: str  # a made-up place name: the story's own name (the false-merge guard keys on it)
    words: tuple[str, ...]

    def headline(self, feed: int) -> str:
        base = f"Troops dispatched to {self.place} as {self.words[0]} {self.words[1]} talks stall"
        variants = (base, f"{base} - Wire Service", base.replace("stall", "stalled"))
        return variants[feed % len(variants)]

    def lede(self) -> str:
        rest = " ".join(self.words[2:])
        return f"Officials in {self.place} said {rest} units moved overnight."


@dataclass
class _Release:
    feeds_asked: set[int] = field(default_factory=set)
    opened: threading.Event = field(default_factory=threading.Event)
    at: float = field(default_factory=time.monotonic)


class StoryFeeds:
    def __init__(
        self, count: int = 3, *, seed: int = 15, hold: float = 3.0, jitter: float = 0.004
    ) -> None:
        self.count = count
        self.hold = hold
        self.jitter = jitter
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.stories: list[Story] = []
        self.items: list[list[tuple[str, Story]]] = [[] for _ in range(count)]  # (guid, story)
        self.bodies = [_rss(i, []) for i in range(count)]
        self.versions = [0] * count
        self.release_of: list[_Release | None] = [None] * count
        self.requests = 0
        self.held = 0
        self._stack = ExitStack()
        self._server: ThreadingHTTPServer | None = None

    def url(self, i: int) -> str:
        assert self._server is not None, "serving only inside `with StoryFeeds(...)`"
        return f"http://127.0.0.1:{self._server.server_address[1]}/s/{i}.rss"

    def urls(self) -> dict[str, str]:
        return {f"s{i}": self.url(i) for i in range(self.count)}

    def release(self) -> Story:
        """One new story, in every feed at once."""
        with self.lock:
            n = len(self.stories) + 1
            story = Story(n, pseudo_word(self.rng).capitalize(),
                          tuple(pseudo_word(self.rng) for _ in range(6)))  # fmt: skip
            self.stories.append(story)
            gate = _Release()
            for i in range(self.count):
                self.items[i].insert(0, (f"s{i}-story-{n}", story))
                del self.items[i][20:]
                self.bodies[i] = _rss(i, self.items[i])
                self.versions[i] += 1
                self.release_of[i] = gate
        return story

    def story_of(self, title: str) -> int | None:
        """The serial of the story a delivered headline belongs to."""
        for story in self.stories:
            if story.place in title:
                return story.serial
        return None

    def _answer(self, i: int, etag: str | None) -> tuple[int, bytes, str]:
        with self.lock:
            self.requests += 1
            gate = self.release_of[i]
            version = f'"v{self.versions[i]}"'
            if etag == version:
                return 304, b"", version
            if gate is not None:
                gate.feeds_asked.add(i)
                if len(gate.feeds_asked) == self.count:
                    gate.opened.set()
        if gate is not None and not gate.opened.is_set():
            self.held += 1
            gate.opened.wait(max(0.0, self.hold - (time.monotonic() - gate.at)))
        if self.jitter:
            time.sleep(random.uniform(0, self.jitter))
        with self.lock:
            return 200, self.bodies[i], f'"v{self.versions[i]}"'

    def _get(self, path: str, headers: Headers) -> Answer:
        match = re.fullmatch(r"/s/(\d+)\.rss", path)
        index = int(match.group(1)) if match else -1
        if not 0 <= index < self.count:
            return 404, {}, b""
        status, body, etag = self._answer(index, headers.get("If-None-Match"))
        if status == 200:
            return status, {"ETag": etag, "Content-Type": "application/rss+xml"}, body
        return status, {"ETag": etag}, body

    def __enter__(self) -> StoryFeeds:
        self._server = self._stack.enter_context(answering(self._get))
        return self

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            for gate in self.release_of:
                if gate is not None:
                    gate.opened.set()
        self._stack.close()


def _rss(i: int, items: list[tuple[str, Story]]) -> bytes:
    entries = "".join(
        f"<item><guid isPermaLink='false'>{guid}</guid>"
        f"<title>{escape(story.headline(i))}</title>"
        f"<link>https://outlet{i}.example.com/news/{guid}</link>"
        f"<description>{escape(story.lede())}</description></item>"
        for guid, story in items
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>Outlet {i}</title><link>https://outlet{i}.example.com/</link>{entries}"
        "</channel></rss>"
    ).encode()

"""A load feed server for the replica tests and benchmark: one ThreadingHTTPServer on 127.0.0.1
serving many generated RSS feeds with ETags (304 on a match), an optional delay per response,
and a way to add items to every feed. Does I/O (a server thread)."""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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
        server = _QuietServer(("127.0.0.1", 0), self._handler())
        self.server = server
        self.thread = threading.Thread(target=server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

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

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        state = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                match = re.fullmatch(r"/f/(\d+)\.rss", self.path)
                index = int(match.group(1)) if match else -1
                if state.delay:
                    time.sleep(state.delay)
                with state.lock:
                    state.requests += 1
                    feed = state.feeds[index] if 0 <= index < state.count else None
                    body = feed.body if feed else b""
                    etag = f'"v{feed.version}"' if feed else ""
                    fresh = feed is not None and self.headers.get("If-None-Match") == etag
                    state.not_modified += fresh
                if feed is None:
                    self.send_response(404)
                    body = b""
                elif fresh:
                    self.send_response(304)
                    body = b""
                else:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/rss+xml")
                if etag:
                    self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def __enter__(self) -> LoadFeedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the default backlog of 5 refuses bursts of polls

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up (deadline, SIGKILL) is part of these tests, not news


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

"""Parse cost: a 50-item news feed (RSS and Atom), and a 100,000-item feed under the item cap.

    python benchmarks/parse.py

Prints medians of several runs for `parse_feed` and, for comparison, plain `feedparser.parse`
with its defaults (sanitising on). No network, no files.
"""

from __future__ import annotations

import io
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import feedparser

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from monitor.feeds.parse import parse_feed

PARA = (
    "<p>North Korea has dispatched troops to Russia, officials said on Tuesday, in a move "
    "that analysts described as a significant escalation. The <a href='/x'>report</a> "
    "cites satellite imagery &amp; intercepted communications.</p>"
)


def rss(n: int, paragraphs: int = 4) -> bytes:
    items = "".join(
        f"<item><title>Story number {i}: troops and talks</title>"
        f"<link>https://news.example.com/world/2026/11/27/story-{i}?utm_source=rss</link>"
        f"<guid isPermaLink='false'>story-{i}</guid>"
        f"<pubDate>Fri, 27 Nov 2026 03:{i % 60:02d}:00 GMT</pubDate><category>World</category>"
        f"<description><![CDATA[{PARA * paragraphs}]]>"
        "</description></item>"
        for i in range(n)
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>News</title>"
        f"<link>https://news.example.com/</link>{items}</channel></rss>"
    ).encode()


def atom(n: int) -> bytes:
    entries = "".join(
        f"<entry><title>Story {i}</title><id>urn:story:{i}</id>"
        f"<link href='https://news.example.com/s/{i}'/><updated>2026-11-27T03:{i % 60:02d}:00Z"
        f"</updated><summary type='html'>{PARA.replace('&amp;', '&amp;amp;').replace('<', '&lt;')}"
        "</summary></entry>"
        for i in range(n)
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
        f"<title>News</title>{entries}</feed>"
    ).encode()


def median_ms(fn: object, runs: int = 15) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    for name, data in (("RSS 2.0", rss(50)), ("Atom", atom(50))):
        ours = median_ms(lambda d=data: parse_feed(d, feed_id="b"))
        theirs = median_ms(lambda d=data: feedparser.parse(io.BytesIO(d)))
        print(
            f"{name} 50 items, {len(data) / 1024:.0f} KB: parse_feed {ours:.1f} ms, "
            f"feedparser defaults {theirs:.1f} ms"
        )
    big = rss(100_000, paragraphs=0)
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        feed = parse_feed(big, feed_id="b", max_items=1000)
        runs.append(time.perf_counter() - start)
    tracemalloc.start()
    parse_feed(big, feed_id="b", max_items=1000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(
        f"RSS 100,000 items, {len(big) / 1e6:.1f} MB, max_items=1000: median "
        f"{statistics.median(runs):.2f} s, peak {peak / 1e6:.0f} MB allocated beyond the input "
        f"(tracemalloc), {len(feed.items)} items of {feed.total_items}"
    )


if __name__ == "__main__":
    main()

"""Parse cost: a 50-item news feed (RSS and Atom), and a 100,000-item feed under the item cap.

    python benchmarks/parse.py
    python benchmarks/parse.py --corpus DIR [--rounds 3]

Prints medians of several runs for `parse_feed` and, for comparison, plain `feedparser.parse`
with its defaults (sanitising on). No network, no files.

`--corpus DIR` instead parses every `*.xml`, `*.rss`, `*.atom` and `*.rdf` under DIR (for
example a folder of real publishers' snapshots) three ways in the same run, document by
document so that a busy machine weighs on each alike: with both fast paths, with only the
plain RSS 2.0 one (`fastxml`, before `fastfeed`), and with feedparser alone. It prints CPU ms per
feed and per item (the best of `--rounds`) and how many documents each path took. `--fast-only`
runs only the first way (seconds instead of minutes: for alternated A/B runs).
"""

from __future__ import annotations

import argparse
import functools
import io
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from unittest import mock

import feedparser

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from monitor.errors import FeedError
from monitor.feeds import fastfeed, fastxml, parse
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


def median_ms(fn: Callable[[], object], runs: int = 15) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


FastPath = Callable[[bytes], dict[str, Any] | None]


def _declined(utf8: bytes) -> dict[str, Any] | None:
    return None


_WAYS: dict[str, tuple[FastPath, FastPath]] = {
    "both fast paths": (fastxml.parse_rss20, fastfeed.parse_namespaced),
    "plain RSS fast path only": (fastxml.parse_rss20, _declined),
    "feedparser only": (_declined, _declined),
}


@contextmanager
def fast_paths(plain: FastPath, namespaced: FastPath) -> Iterator[None]:
    """`parse_feed` with these fast paths in place of its own, restored on the way out."""
    with (
        mock.patch.object(parse, "parse_rss20", plain),
        mock.patch.object(parse, "parse_namespaced", namespaced),
    ):
        yield


def _cpu_once(data: bytes) -> tuple[float, int]:
    start = time.process_time()
    try:
        items = len(parse_feed(data, feed_id="b").items)
    except FeedError:
        items = 0
    return time.process_time() - start, items


def corpus(folder: Path, rounds: int, fast_only: bool = False) -> None:
    paths = sorted(p for p in folder.rglob("*") if p.suffix in (".xml", ".rss", ".atom", ".rdf"))
    docs = [p.read_bytes() for p in paths]
    ways = {k: v for k, v in _WAYS.items() if k == "both fast paths" or not fast_only}
    cpu = {way: [float("inf")] * len(docs) for way in ways}
    items = [0] * len(docs)
    took = {"fastxml": 0, "fastfeed": 0, "feedparser": 0, "refused": 0}
    for i, data in enumerate(docs):
        for way, (plain, namespaced) in ways.items():
            with fast_paths(plain, namespaced):
                for _ in range(rounds):
                    spent, items[i] = _cpu_once(data)
                    cpu[way][i] = min(cpu[way][i], spent)
        took[path_taken(data)] += 1
    total_items = sum(items)
    print(f"{len(docs)} documents, {total_items} items, best of {rounds} rounds, CPU time")
    print("| parse path | ms per feed | µs per item | total s |")
    print("|---|---|---|---|")
    for way, times in cpu.items():
        total = sum(times)
        print(
            f"| {way} | {total / len(docs) * 1000:.2f} | "
            f"{total / max(total_items, 1) * 1e6:.0f} | {total:.2f} |"
        )
    shares = ", ".join(f"{k} {v} ({v / len(docs):.0%})" for k, v in took.items())
    print(f"documents taken by each path: {shares}")


def path_taken(data: bytes) -> str:
    """Which path `parse_feed` reads the document with: fastxml, fastfeed, feedparser, or
    refused (a FeedError before any of them)."""
    import feedparser as module

    seen: list[str] = []

    def spy(fast: FastPath, name: str) -> FastPath:
        def run(utf8: bytes) -> dict[str, Any] | None:
            out = fast(utf8)
            if out is not None:
                seen.append(name)
            return out

        return run

    original = module.parse

    def counting(*args: Any, **kwargs: Any) -> Any:
        seen.append("feedparser")
        return original(*args, **kwargs)

    spies = fast_paths(
        spy(fastxml.parse_rss20, "fastxml"), spy(fastfeed.parse_namespaced, "fastfeed")
    )
    with spies, mock.patch.object(module, "parse", counting), suppress(FeedError):
        parse_feed(data, feed_id="b")
    return seen[0] if seen else "refused"


def feedparser_defaults(data: bytes) -> object:
    return feedparser.parse(io.BytesIO(data))  # a fresh stream each run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, help="a folder of feed documents")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--fast-only",
        action="store_true",
        help="with --corpus: only parse_feed as it runs (both fast paths), for paired A/B runs",
    )
    args = parser.parse_args()
    if args.corpus:
        corpus(args.corpus, args.rounds, args.fast_only)
        return
    for name, data in (("RSS 2.0", rss(50)), ("Atom", atom(50))):
        ours = median_ms(functools.partial(parse_feed, data, feed_id="b"))
        theirs = median_ms(functools.partial(feedparser_defaults, data))
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

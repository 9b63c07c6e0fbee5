"""Every corpus feed through the whole path a poll takes: served over HTTP from 127.0.0.1,
fetched through the guarded client, parsed, and matched against the example rules. Nothing may
escape but a FeedError."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections import Counter
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest

from monitor.errors import FeedError
from monitor.feeds.fetch import fetch
from monitor.feeds.parse import parse_feed
from monitor.net.feedclient import FeedClient, make_feed_client
from monitor.net.guard import AddressGuard
from monitor.query.rulefiles import load_rules

ROOT = Path(__file__).resolve().parent.parent
FEEDS = ROOT / "tests" / "data" / "feeds"
NOT_DATA = {"LICENSE", "README.md", "SOURCES.md"}


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_every_corpus_feed_goes_through_fetch_parse_and_match() -> None:
    files = sorted(p for p in FEEDS.rglob("*") if p.is_file() and p.name not in NOT_DATA)
    assert len(files) > 2000
    rules = load_rules(ROOT / "rules")
    handler = functools.partial(_Quiet, directory=str(FEEDS))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    outcomes: Counter[str] = Counter()

    async def one(client: FeedClient, path: Path) -> None:
        url = base + quote(str(path.relative_to(FEEDS)))
        try:
            result = await fetch(client, url, deadline=10.0)
            assert result.body is not None
            parsed = parse_feed(result.body, feed_id="corpus", feed_url=url,
                                content_type=result.content_type)  # fmt: skip
        except FeedError as exc:
            outcomes[exc.kind] += 1
            return
        for item in parsed.items:
            for match in rules.match(item, ()):
                assert match.snippet is not None  # explanations build on any text
                outcomes["matched"] += 1
        outcomes["ok"] += 1

    async def run_all() -> None:
        async with make_feed_client(AddressGuard(["127.0.0.1/32"])) as client:
            for path in files:
                await one(client, path)

    try:
        asyncio.run(run_all())
    finally:
        server.shutdown()
        server.server_close()
    assert outcomes["ok"] > 2000, outcomes
    assert set(outcomes) <= {"ok", "matched", "not_a_feed", "refused_entities", "parse",
                             "too_large", "http_status"}, outcomes  # fmt: skip

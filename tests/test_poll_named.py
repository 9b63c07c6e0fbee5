"""Feeds a person names, polled once through the one poll path (monitor.pipeline.source):
local files read here, every other feed through the HTTP fetcher, a callback per fetch."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest

from monitor.errors import FeedError
from monitor.feeds.fetch import FetchResult
from monitor.model import FeedState, Rule
from monitor.net.guard import AddressGuard
from monitor.pipeline.poll import Fetcher, FetchPolicy
from monitor.pipeline.source import (
    NamedSource,
    local_or_http,
    name_source,
    poll_named,
    poll_one,
    reporting,
)
from monitor.query.ruleset import RuleSet

RULES = RuleSet.from_rules([Rule(id="troops", name="Troops", query="troop*")])


def rss(*titles: str) -> bytes:
    published = format_datetime(datetime.now(UTC), usegmt=True)
    entries = "".join(
        f"<item><guid isPermaLink='false'>g{n}</guid><title>{t}</title>"
        f"<pubDate>{published}</pubDate></item>"
        for n, t in enumerate(titles)
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>Named</title><link>https://news.example.com/</link>{entries}</channel></rss>"
    ).encode()


def fetch_once(fetcher: Fetcher, feed: FeedState) -> FetchResult:
    async def once() -> FetchResult:
        return await fetcher(feed)

    return asyncio.run(once())


class Http:
    """The HTTP fetcher's stand-in: records the URLs asked, answers one document."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def __call__(self, feed: FeedState) -> FetchResult:
        self.asked.append(feed.url)
        return FetchResult(status=200, body=rss("Troops abroad"), url=feed.url)


def test_local_files_are_read_here_and_urls_go_to_http(tmp_path: Path) -> None:
    path = tmp_path / "wire.xml"
    path.write_bytes(rss("Troops at home"))
    local, remote = name_source(str(path)), name_source("https://news.example.com/rss")
    http = Http()
    fetch = local_or_http([local, remote], http, max_bytes=1 << 20)
    got_local = fetch_once(fetch, local.feed())
    got_remote = fetch_once(fetch, remote.feed())
    assert got_local.body == path.read_bytes()
    assert got_remote.body == rss("Troops abroad")
    assert http.asked == ["https://news.example.com/rss"]  # never the local file


def test_a_file_url_nobody_named_is_not_read_locally(tmp_path: Path) -> None:
    path = tmp_path / "wire.xml"
    path.write_bytes(rss("Troops at home"))
    http = Http()
    fetch = local_or_http([], http, max_bytes=1 << 20)
    fetch_once(fetch, name_source(str(path)).feed())
    assert http.asked == [path.resolve().as_uri()]  # left to the HTTP fetch, which refuses it


def test_reporting_tells_of_each_fetch_failed_or_not() -> None:
    told: list[str] = []

    async def failing(feed: FeedState) -> FetchResult:
        raise FeedError("timeout", "slow")

    ok = reporting(Http(), told.append)
    bad = reporting(failing, told.append)
    fetch_once(ok, name_source("https://a.example.com/rss").feed())
    with pytest.raises(FeedError):
        fetch_once(bad, name_source("https://b.example.com/rss").feed())
    assert len(told) == 2
    urls = ("https://a.example.com/rss", "https://b.example.com/rss")
    assert told == [name_source(u).feed_id for u in urls]


def test_poll_named_reports_in_order_matches_and_failures(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_bytes(rss("Troops at home", "Rain"))
    (tmp_path / "big.xml").write_bytes(rss("Troops", "and more") * 50)
    (tmp_path / "c.xml").write_bytes(rss("Calm"))
    sources = [name_source(str(tmp_path / n)) for n in ("a.xml", "big.xml", "c.xml")]
    fetched: list[str] = []
    reports = asyncio.run(
        poll_named(
            sources,
            RULES,
            guard=AddressGuard(),
            policy=FetchPolicy(max_body=4096),
            fetched=fetched.append,
            keep_items=True,
        )
    )
    assert [r.feed_id for r in reports] == ["a", "big", "c"]
    a, big, c = reports
    assert [i.title for i, _ in a.matched] == ["Troops at home"]
    assert [i.title for i in a.items] == ["Troops at home", "Rain"]
    assert (big.status, big.error_kind) == ("error", "too_large")
    assert (c.status, c.matched, len(c.items)) == ("ok", (), 1)
    assert sorted(fetched) == ["a", "big", "c"]


def test_poll_one_raises_the_error_of_the_feed(tmp_path: Path) -> None:
    path = tmp_path / "page.xml"
    path.write_bytes(b"<html><body>not a feed</body></html>")
    with pytest.raises(FeedError) as caught:
        poll_one(str(path), RULES)
    assert caught.value.kind in {"not_a_feed", "parse"}


def test_a_url_urlsplit_refuses_is_a_feed_error_naming_it() -> None:
    # "http://[bad" raises ValueError in urlsplit: a traceback from `rules test --feed` before.
    with pytest.raises(FeedError) as caught:
        name_source("http://[bad/rss")
    assert str(caught.value).startswith("http://[bad/rss: is not a usable URL (Invalid IPv6 URL)")


@pytest.mark.parametrize("arg", ["", "  "])
def test_an_empty_name_is_a_feed_error_not_the_current_folder(arg: str) -> None:
    # `--feed "$FEED"` with FEED unset: Path("") is ".", which `check` called "a folder" and
    # `archive import` read as a folder of snapshots.
    with pytest.raises(FeedError, match="an empty feed name: give a path to a feed file or a URL"):
        name_source(arg)


def test_poll_one_without_rules_reads_every_item(tmp_path: Path) -> None:
    path = tmp_path / "wire.xml"
    path.write_bytes(rss("Troops at home", "Rain"))
    report = poll_one(str(path), None, keep_items=True)
    assert report.matched == ()
    assert [i.title for i in report.items] == ["Troops at home", "Rain"]
    assert poll_one(str(path), RULES).items == ()  # unless asked, the items are not held


def test_a_file_url_from_a_config_is_refused_by_the_http_fetch(tmp_path: Path) -> None:
    path = tmp_path / "wire.xml"
    path.write_bytes(rss("Troops at home"))
    configured = NamedSource(feed_id="cfg", url=path.resolve().as_uri())  # no path: not named
    (report,) = asyncio.run(poll_named([configured], RULES, guard=AddressGuard()))
    assert report.status == "error"
    assert report.error is not None
    assert "not an http(s) URL" in report.error
    assert report.items == ()

"""A NUL character in a feed's text (a JSON Feed's "\\u0000", a raw NUL or `&#0;` in an
ill-formed XML feed) becomes U+FFFD when parsed. PostgreSQL's text cannot hold NUL: before, one
such item failed its feed's every commit, and a whole `check` with it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import astuple
from pathlib import Path

import pytest

from monitor.cli.main import main
from monitor.feeds.parse import parse_feed
from tests.feedserver import feed_server
from tests.receiver import Receiver
from tests.store_fixtures import postgres_url, skip_without_postgres

ROOT = Path(__file__).resolve().parent.parent
TITLE = "Troops dispatched to the border"


def json_feed(title: str = TITLE) -> bytes:
    item = {
        "id": "a\u0000b",
        "title": f"{title}\u0000 now",
        "content_text": "Two\u0000brigades.",
        "url": "https://example.com/a",
        "authors": [{"name": "A\u0000B"}],
        "tags": ["war\u0000"],
        "date_published": "2026-12-07T10:00:00Z",
    }
    doc = {"version": "https://jsonfeed.org/version/1.1", "title": "Wire\u0000", "items": [item]}
    return json.dumps(doc).encode()


RAW_NUL = (
    b"<rss version='2.0'><channel><title>Wire\x00</title><item><title>Troops\x00 sent</title>"
    b"<description>Two\x00brigades.</description><guid>g\x001</guid></item></channel></rss>"
)
CHAR_REF = (
    b"<?xml version='1.0'?><rss version='2.0'><channel><title>Wire&#0;</title><item>"
    b"<title>Troops&#x0; sent</title><guid>g&#00;1</guid><author>a&#0;b</author>"
    b"<category>war&#0;</category><description>Two&#0;brigades.</description></item>"
    b"</channel></rss>"
)


def strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, tuple):
        for v in value:
            yield from strings(v)


@pytest.mark.parametrize(
    ("data", "content_type"),
    [(json_feed(), "application/feed+json"), (RAW_NUL, None), (CHAR_REF, None)],
    ids=["json", "raw-nul", "char-ref"],
)
def test_no_parsed_text_holds_a_nul(data: bytes, content_type: str | None) -> None:
    parsed = parse_feed(data, feed_id="f", content_type=content_type)

    texts = [parsed.title, *(s for item in parsed.items for s in strings(astuple(item)))]
    assert parsed.items
    assert not [t for t in texts if "\x00" in t]
    assert "Wire\ufffd" in parsed.title
    assert "\ufffd" in parsed.items[0].title
    # The same document gives the same keys: nothing random in the replacement.
    again = parse_feed(data, feed_id="f", content_type=content_type)
    assert [i.key for i in again.items] == [i.key for i in parsed.items]


def _check_delivers(database_url: str, tmp_path: Path) -> None:
    with feed_server() as server, Receiver() as rx:
        server.put("/wire", json_feed(), content_type="application/feed+json")
        config = tmp_path / "newsmon.yaml"
        config.write_text(
            f"database_url: {database_url}\n"
            f"rules: {ROOT / 'rules'}\n"
            "allow_networks: ['127.0.0.1/32']\n"
            "retention: 36500d\n"
            "log_level: error\n"
            f"feeds:\n  - {{id: wire, url: '{server.url('/wire')}', backfill: 36500d}}\n"
            f"destinations:\n  - {{name: hook, type: webhook, url: '{rx.url}'}}\n"
        )
        code = main(["check", "--deliver", "--config", str(config)])
        again = main(["check", "--deliver", "--config", str(config)])

    assert (code, again) == (0, 1)  # matched and sent; then nothing new
    assert len(rx.requests) == 1
    title = json.loads(rx.requests[0].body)["item"]["title"]
    assert title == f"{TITLE}\ufffd now"


def test_check_delivers_an_item_that_held_a_nul_with_sqlite(tmp_path: Path) -> None:
    _check_delivers(str(tmp_path / "state.db"), tmp_path)


@pytest.mark.postgres
def test_check_delivers_an_item_that_held_a_nul_with_postgres(tmp_path: Path) -> None:
    import psycopg

    url = skip_without_postgres()
    name = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        _check_delivers(f"{url.rsplit('/', 1)[0]}/{name}", tmp_path)
    finally:
        with psycopg.connect(postgres_url() or "", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')

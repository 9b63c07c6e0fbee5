"""Connection reuse: 304s and redirects leave their connection in the pool (issue 9).

A 304 closed without reading its (empty) body made httpcore drop the connection, so every
unchanged feed cost a new TCP (and on HTTPS a TLS) handshake.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from monitor.feeds.fetch import fetch
from monitor.net.feedclient import make_feed_client
from monitor.net.guard import AddressGuard
from tests.test_fetch_support import LocalServer, keep_alive_server, redirect, respond, run

LOCAL = AddressGuard(["127.0.0.1/32"])
FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


@pytest.fixture
def keepalive_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalServer]:
    yield from keep_alive_server(monkeypatch)


async def _fetch_many(urls: list[str], etag: str | None = None) -> list[int]:
    async with make_feed_client(LOCAL) as client:
        return [(await fetch(client, url, etag=etag)).status for url in urls]


def test_304s_reuse_one_connection(keepalive_server: LocalServer) -> None:
    keepalive_server.routes["/feed"] = respond(304, headers={"ETag": '"v1"'})
    statuses = run(_fetch_many([keepalive_server.url("/feed")] * 20, etag='"v1"'))
    assert statuses == [304] * 20
    assert keepalive_server.connections == 1


def test_200s_and_304s_mixed_share_the_connection(keepalive_server: LocalServer) -> None:
    keepalive_server.routes["/a"] = respond(200, FEED, {"ETag": '"a"'})
    keepalive_server.routes["/b"] = respond(304, headers={"ETag": '"b"'})
    urls = [keepalive_server.url(p) for p in ("/a", "/b") * 5]
    assert run(_fetch_many(urls, etag='"b"')) == [200, 304] * 5
    assert keepalive_server.connections == 1


def test_redirect_with_small_body_keeps_the_connection(keepalive_server: LocalServer) -> None:
    keepalive_server.routes["/old"] = respond(301, b"<html>moved</html>" * 10, {"Location": "/new"})
    keepalive_server.routes["/new"] = respond(200, FEED)
    statuses = run(_fetch_many([keepalive_server.url("/old")] * 5))
    assert statuses == [200] * 5
    assert keepalive_server.connections == 1


def test_redirect_with_huge_body_is_not_read_to_the_end(keepalive_server: LocalServer) -> None:
    # 4 MB of redirect body: draining stops at the limit and the connection is dropped instead.
    keepalive_server.routes["/old"] = respond(302, b"x" * (4 << 20), {"Location": "/new"})
    keepalive_server.routes["/new"] = redirect(302, "/feed")
    keepalive_server.routes["/feed"] = respond(200, FEED)
    statuses = run(_fetch_many([keepalive_server.url("/old")] * 2))
    assert statuses == [200, 200]
    assert keepalive_server.connections >= 3  # each big redirect cost its connection


def test_cookies_set_by_one_feed_are_not_sent_with_the_next(
    keepalive_server: LocalServer,
) -> None:
    # Fetches go through the transport, not AsyncClient.send: no cookie jar to carry a tracking
    # cookie from one feed (or one poll) to the next.
    keepalive_server.routes["/a"] = respond(200, FEED, {"Set-Cookie": "session=abc; Path=/"})
    keepalive_server.routes["/b"] = respond(200, FEED)
    urls = [keepalive_server.url(p) for p in ("/a", "/b", "/a")]
    assert run(_fetch_many(urls)) == [200, 200, 200]
    assert [h.get("cookie") for _, h in keepalive_server.requests] == [None, None, None]
    assert keepalive_server.connections == 1

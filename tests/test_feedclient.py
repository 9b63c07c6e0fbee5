"""The feed client's own promises against real servers on 127.0.0.1: which connections it keeps,
which it drops, and how a broken exchange is worded (the fetch-level ones: test_fetch*.py, the
guard's: test_guard_http.py)."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from monitor.errors import BlockedAddressError, FeedError
from monitor.feeds.fetch import FetchResult, fetch
from monitor.net.feedclient import FeedClient, make_feed_client
from monitor.net.guard import AddressGuard
from tests import test_fetch_support
from tests.daemon_support import refusing_port
from tests.test_fetch_support import LocalServer, keep_alive_server, respond, run

DATA = Path(__file__).parent / "data" / "fetch"
LOCAL = AddressGuard(["127.0.0.1/32"])
FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalServer]:
    yield from keep_alive_server(monkeypatch, {"/feed": respond(200, FEED)})


async def _fetch_all(client: FeedClient, urls: list[str]) -> list[FetchResult]:
    async with client:
        return [await fetch(client, url, deadline=5) for url in urls]


def _error(client: FeedClient, url: str) -> FeedError:
    with pytest.raises(FeedError) as info:
        run(_fetch_all(client, [url]))
    return info.value


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_kept_connection_is_reused_only_until_it_expires(server: LocalServer) -> None:
    clock = _Clock()
    client = FeedClient(LOCAL, keepalive_expiry=5.0, clock=clock)

    async def go() -> None:
        async with client:
            await fetch(client, server.url("/feed"))
            clock.now += 4.9
            await fetch(client, server.url("/feed"))
            assert server.connections == 1
            clock.now += 5.1
            await fetch(client, server.url("/feed"))

    run(go())
    assert server.connections == 2
    assert client.connections_opened == 2


def test_a_connection_the_server_closed_while_idle_is_replaced(server: LocalServer) -> None:
    def then_hang_up(h: BaseHTTPRequestHandler) -> None:
        respond(200, FEED)(h)  # no "Connection: close": the client thinks it may keep it
        h.close_connection = True

    server.routes["/once"] = then_hang_up
    results = run(_fetch_all(make_feed_client(LOCAL), [server.url("/once")] * 3))
    assert [r.body for r in results] == [FEED] * 3
    assert server.connections == 3
    assert len(server.requests) == 3  # no request was lost or sent twice to a live server


def test_connection_close_from_the_server_is_honoured(server: LocalServer) -> None:
    server.routes["/close"] = respond(200, FEED, {"Connection": "close"})
    client = make_feed_client(LOCAL)
    results = run(_fetch_all(client, [server.url("/close")] * 2))
    assert [r.status for r in results] == [200, 200]
    assert server.connections == 2


def test_a_pooled_connection_serves_only_the_origin_the_guard_checked(
    server: LocalServer,
) -> None:
    # feeds.example is allowed by name and resolves to 127.0.0.1; the same address and port
    # spelled as a literal is loopback and refused, even with a live connection in the pool.
    async def dns(host: str, port: int) -> list[str]:
        return {"feeds.example": ["127.0.0.1"]}[host]

    client = FeedClient(AddressGuard(["feeds.example"]), resolver=dns)

    async def go() -> None:
        async with client:
            await fetch(client, server.url("/feed", host="feeds.example"))
            with pytest.raises(BlockedAddressError, match="loopback"):
                await fetch(client, server.url("/feed"))

    run(go())
    assert len(server.requests) == 1


def test_tls_connections_are_kept_and_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(test_fetch_support._Handler, "protocol_version", "HTTP/1.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(DATA / "localhost-cert.pem", DATA / "localhost-key.pem")
    srv = LocalServer(tls=context)
    try:
        srv.routes["/feed"] = respond(304, headers={"ETag": '"v"'})
        verify = ssl.create_default_context(cafile=str(DATA / "localhost-cert.pem"))
        client = make_feed_client(AddressGuard(["localhost"]), verify=verify)
        results = run(_fetch_all(client, [srv.url("/feed", host="localhost")] * 3))
        assert [r.status for r in results] == [304] * 3
        assert srv.connections == 1
    finally:
        srv.close()


def test_the_default_context_is_made_at_the_first_https_connection_and_verifies(
    server: LocalServer,
) -> None:
    # Plain http never reads the CA bundle (a cron round over http feeds); the first https
    # connection gets the verifying default context: a self-signed server is refused.
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(DATA / "localhost-cert.pem", DATA / "localhost-key.pem")
    srv = LocalServer(tls=context)
    try:
        srv.routes["/feed"] = respond(200, FEED)
        client = make_feed_client(AddressGuard(["127.0.0.1/32", "localhost"]))
        assert client._context is None
        run(_fetch_all(client, [server.url("/feed")]))
        assert client._context is None
        client = make_feed_client(AddressGuard(["localhost"]))
        error = _error(client, srv.url("/feed", host="localhost"))
        assert client._context is not None
        assert client._context.verify_mode == ssl.CERT_REQUIRED
        assert "certificate" in str(error).lower()
        assert srv.requests == []
    finally:
        srv.close()


def test_chunked_bodies_are_read_and_capped(server: LocalServer) -> None:
    def chunked(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for _ in range(100):
            h.wfile.write(b"%x\r\n%s\r\n" % (len(FEED), FEED))
        h.wfile.write(b"0\r\n\r\n")

    server.routes["/chunked"] = chunked
    (result,) = run(_fetch_all(make_feed_client(LOCAL), [server.url("/chunked")]))
    assert result.body == FEED * 100

    async def capped() -> None:
        async with make_feed_client(LOCAL) as client:
            await fetch(client, server.url("/chunked"), max_bytes=len(FEED) * 10)

    with pytest.raises(FeedError) as info:
        run(capped())
    assert info.value.kind == "too_large"


def test_a_validator_with_non_ascii_bytes_goes_back_byte_for_byte(server: LocalServer) -> None:
    etag = '"caf\xe9"'  # the server's bytes, as the test server decodes them (Latin-1)

    def feed(h: BaseHTTPRequestHandler) -> None:
        if h.headers.get("If-None-Match") == etag:
            respond(304)(h)
        else:
            respond(200, FEED, {"ETag": etag})(h)

    server.routes["/feed"] = feed

    async def go() -> tuple[FetchResult, FetchResult]:
        async with make_feed_client(LOCAL) as client:
            first = await fetch(client, server.url("/feed"))
            return first, await fetch(client, server.url("/feed"), etag=first.etag)

    first, second = run(go())
    assert (first.status, first.etag) == (200, etag)
    assert second.status == 304
    # One stored by an older version from a UTF-8 decoding is sent as UTF-8, not refused.
    run(_fetch_one(server.url("/feed"), etag='"\u6771"'))
    assert server.requests[-1][1]["if-none-match"] == '"\u6771"'.encode().decode("latin-1")


async def _fetch_one(url: str, etag: str) -> FetchResult:
    async with make_feed_client(LOCAL) as client:
        return await fetch(client, url, etag=etag)


def test_a_body_cut_short_is_a_connect_error(server: LocalServer) -> None:
    def short(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "1000")
        h.end_headers()
        h.wfile.write(b"<rss>")
        h.close_connection = True

    server.routes["/short"] = short
    error = _error(make_feed_client(LOCAL), server.url("/short"))
    assert error.kind == "connect"
    assert "RemoteProtocolError" in str(error)
    assert str(error).startswith(server.url("/short"))


def test_an_oversized_response_head_is_refused(server: LocalServer) -> None:
    server.routes["/head"] = respond(200, FEED, {f"X-Filler-{n}": "y" * 1000 for n in range(200)})
    error = _error(make_feed_client(LOCAL), server.url("/head"))
    assert error.kind == "connect"
    assert "RemoteProtocolError" in str(error)


def test_a_silent_server_is_a_timeout_after_the_read_timeout(server: LocalServer) -> None:
    def silent(h: BaseHTTPRequestHandler) -> None:
        server.stopping.wait(3.0)

    server.routes["/silent"] = silent
    started = time.monotonic()
    error = _error(make_feed_client(LOCAL, read_timeout=0.3), server.url("/silent"))
    elapsed = time.monotonic() - started
    assert error.kind == "timeout"
    assert "stopped answering" in str(error)
    assert elapsed < 2.0


def test_a_name_that_does_not_resolve_is_a_connect_error() -> None:
    async def no_such_host(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    client = make_feed_client(LOCAL, resolver=no_such_host)
    error = _error(client, "http://nowhere.example/feed")
    assert error.kind == "connect"
    assert str(error) == "http://nowhere.example/feed: name or service not known"


def test_nothing_listening_is_worded_as_refused() -> None:
    port = refusing_port()
    error = _error(make_feed_client(LOCAL), f"http://127.0.0.1:{port}/feed")
    assert error.kind == "connect"
    assert "connection refused" in str(error)


def test_closing_the_client_closes_its_kept_connections(server: LocalServer) -> None:
    client = make_feed_client(LOCAL)

    async def go() -> None:
        async with client:
            await fetch(client, server.url("/feed"))
            (kept,) = [c for pool in client._idle.values() for c in pool]
        assert kept.writer.transport.is_closing()
        assert client._idle == {}

    run(go())

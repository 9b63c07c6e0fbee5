"""fetch() against real HTTP servers on 127.0.0.1: validators, redirects, caps and deadlines."""

from __future__ import annotations

import functools
import struct
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler
from typing import Any

import brotli
import pytest

from monitor.errors import FeedError
from monitor.feeds.fetch import FeedStatusError, FetchResult, fetch
from monitor.net.feedclient import make_feed_client
from monitor.net.guard import AddressGuard
from tests.daemon_support import refusing_port
from tests.test_fetch_support import LocalServer, Route, redirect, respond, run

LOCAL = AddressGuard(["127.0.0.1/32"])
FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
GIB = 1 << 30


@pytest.fixture
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    yield srv
    srv.close()


async def do_fetch(url: str, **options: Any) -> FetchResult:
    """`fetch` through a client that allows 127.0.0.1; `options` go to fetch as they are."""
    async with make_feed_client(LOCAL) as client:
        return await fetch(client, url, **options)


def fetch_error(url: str, **kwargs: object) -> FeedError:
    with pytest.raises(FeedError) as info:
        run(do_fetch(url, **kwargs))
    return info.value


def test_conditional_get_sends_validators_and_takes_304(server: LocalServer) -> None:
    etag, modified = '"v1"', "Wed, 25 Nov 2026 10:00:00 GMT"

    def feed(h: BaseHTTPRequestHandler) -> None:
        if h.headers.get("If-None-Match") == etag:
            respond(304, headers={"ETag": etag})(h)
        else:
            headers = {"ETag": etag, "Last-Modified": modified, "Cache-Control": "max-age=600"}
            respond(200, FEED, {**headers, "Content-Type": "application/rss+xml"})(h)

    server.routes["/feed"] = feed
    first = run(do_fetch(server.url("/feed")))
    assert (first.status, first.body, first.etag, first.last_modified) == (
        200,
        FEED,
        etag,
        modified,
    )
    assert first.cache_max_age == 600
    assert first.content_type == "application/rss+xml"
    assert first.permanent_url is None
    assert "if-none-match" not in server.requests[0][1]

    second = run(do_fetch(server.url("/feed"), etag=first.etag, last_modified=first.last_modified))
    assert (second.status, second.body) == (304, None)
    assert (second.etag, second.last_modified) == (etag, modified)  # kept across the 304
    sent = server.requests[1][1]
    assert sent["if-none-match"] == etag
    assert sent["if-modified-since"] == modified
    assert "gzip" in sent["accept-encoding"]


@functools.cache
def gzip_bomb(size: int = GIB) -> bytes:
    """`size` zero bytes gzipped (about 1 MB for 1 GiB), built without holding the zeros.

    After a full flush, deflate output for each further MiB of zeros is the same bytes, so one
    compressed MiB is repeated; the trailer carries the real CRC and length.
    """
    zeros = b"\0" * (1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    first = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeat = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    end = compressor.flush()
    mib = size >> 20
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    return header + first + repeat * (mib - 1) + end + struct.pack("<II", crc, size & 0xFFFFFFFF)


def test_gzip_bomb_helper_is_a_real_gzip_stream() -> None:
    small = gzip_bomb(8 << 20)
    assert zlib.decompress(small, 31) == b"\0" * (8 << 20)


def _serve_chunks(body: bytes, encoding: str) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Encoding", encoding)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        for start in range(0, len(body), 64 * 1024):
            h.wfile.write(body[start : start + 64 * 1024])

    return route


def test_gzip_bomb_stops_at_the_cap_in_bounded_memory(server: LocalServer) -> None:
    bomb = gzip_bomb()
    assert len(bomb) < 2 << 20  # 1 GiB of zeros in about 1 MB on the wire
    server.routes["/bomb"] = _serve_chunks(bomb, "gzip")
    tracemalloc.start()
    started = time.monotonic()
    try:
        error = fetch_error(server.url("/bomb"), max_bytes=10 << 20)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.kind == "too_large"
    assert "decoded" in str(error)
    assert elapsed < 5
    # The cap is 10 MiB; everything else (client, server thread, tracing) stays small.
    assert peak < 30 << 20, f"peak {peak / 2**20:.1f} MiB"


def test_brotli_bomb_stops_at_the_cap(server: LocalServer) -> None:
    bomb = brotli.compress(b"\0" * (64 << 20), quality=5)
    server.routes["/bomb"] = _serve_chunks(bomb, "br")
    tracemalloc.start()
    try:
        error = fetch_error(server.url("/bomb"), max_bytes=1 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.kind == "too_large"
    assert peak < 12 << 20, f"peak {peak / 2**20:.1f} MiB"


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", lambda b: zlib.compress(b, wbits=31)),
        ("x-gzip", lambda b: zlib.compress(b, wbits=31)),
        # two members, in one read: the second was dropped
        ("gzip", lambda b: zlib.compress(b[:100], wbits=31) + zlib.compress(b[100:], wbits=31)),
        ("deflate", zlib.compress),  # zlib-wrapped, as the RFC says
        ("deflate", lambda b: zlib.compress(b, wbits=-15)),  # raw, as some servers send
        ("br", brotli.compress),
        ("identity", lambda b: b),
    ],
)
def test_content_encodings_are_decoded(
    server: LocalServer, encoding: str, encode: Callable[[bytes], bytes]
) -> None:
    body = FEED * 500
    server.routes["/feed"] = respond(200, encode(body), {"Content-Encoding": encoding})
    assert run(do_fetch(server.url("/feed"))).body == body


@pytest.mark.parametrize(
    ("encoding", "body", "words"),
    [
        ("gzip", b"not gzip at all", "not valid gzip"),
        ("zstd", b"whatever", "unsupported content encoding"),
        ("gzip, br", b"whatever", "stacked"),
    ],
)
def test_undecodable_bodies_are_parse_errors(
    server: LocalServer, encoding: str, body: bytes, words: str
) -> None:
    server.routes["/feed"] = respond(200, body, {"Content-Encoding": encoding})
    error = fetch_error(server.url("/feed"))
    assert error.kind == "parse"
    assert words in str(error)


def test_a_200_without_validators_drops_the_old_ones(server: LocalServer) -> None:
    server.routes["/feed"] = respond(200, FEED)
    result = run(do_fetch(server.url("/feed"), etag='"old"', last_modified="Mon, 01 Jan 2024"))
    assert (result.status, result.etag, result.last_modified) == (200, None, None)


def test_plain_body_over_the_cap_is_too_large(server: LocalServer) -> None:
    server.routes["/feed"] = respond(200, b"x" * 5000)
    assert run(do_fetch(server.url("/feed"), max_bytes=5000)).body == b"x" * 5000
    assert fetch_error(server.url("/feed"), max_bytes=4999).kind == "too_large"


def test_wire_bytes_are_capped_too(server: LocalServer) -> None:
    # Trailing bytes after a gzip stream decode to nothing but still cost time and bandwidth.
    body = zlib.compress(FEED, wbits=31) + b"\0" * 5000
    server.routes["/feed"] = respond(200, body, {"Content-Encoding": "gzip"})
    assert run(do_fetch(server.url("/feed"))).body == FEED
    error = fetch_error(server.url("/feed"), max_reply_bytes=4096)
    assert error.kind == "too_large"
    assert "received" in str(error)


def test_trickling_server_is_cut_off_at_the_deadline(server: LocalServer) -> None:
    def trickle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "1000")
        h.end_headers()
        stopping = server.stopping
        while True:  # one byte a second, until the client hangs up or the test ends
            h.wfile.write(b"<")
            h.wfile.flush()
            if stopping.wait(1.0):
                break

    server.routes["/slow"] = trickle
    started = time.monotonic()
    error = fetch_error(server.url("/slow"), deadline=1.5)
    elapsed = time.monotonic() - started
    assert error.kind == "timeout"
    assert 1.4 < elapsed < 2.5


def test_redirect_loop_is_too_many_redirects(server: LocalServer) -> None:
    server.routes["/a"] = redirect(302, "/b")
    server.routes["/b"] = redirect(301, server.url("/a"))
    error = fetch_error(server.url("/a"))
    assert error.kind == "too_many_redirects"
    assert "loop" in str(error)
    assert len(server.requests) == 2


def _chain(server: LocalServer, hops: int, status: int = 302) -> str:
    for n in range(hops):
        server.routes[f"/hop{n}"] = redirect(status, f"/hop{n + 1}")
    server.routes[f"/hop{hops}"] = respond(200, FEED)
    return server.url("/hop0")


def test_five_redirects_are_followed_six_are_not(server: LocalServer) -> None:
    assert run(do_fetch(_chain(server, 5))).url == server.url("/hop5")
    error = fetch_error(_chain(server, 6))
    assert error.kind == "too_many_redirects"
    assert len(server.requests) == 6 + 6  # the 6-hop chain stopped before its last answer


@pytest.mark.parametrize(
    ("statuses", "permanent"),
    [
        ((301,), True),
        ((301, 308), True),
        ((308, 301, 301), True),
        ((302,), False),
        ((301, 302), False),
        ((307, 301), False),
        ((303,), False),
    ],
)
def test_permanent_url_only_when_every_hop_is_permanent(
    server: LocalServer, statuses: tuple[int, ...], permanent: bool
) -> None:
    for n, status in enumerate(statuses):
        # Relative, absolute-path and absolute Location forms are all resolved.
        target = [f"/r{n + 1}", f"r{n + 1}", server.url(f"/r{n + 1}")][n % 3]
        server.routes[f"/r{n}"] = redirect(status, target)
    server.routes[f"/r{len(statuses)}"] = respond(200, FEED)
    result = run(do_fetch(server.url("/r0")))
    final = server.url(f"/r{len(statuses)}")
    assert (result.status, result.url, result.body) == (200, final, FEED)
    assert result.permanent_url == (final if permanent else None)


def test_redirect_to_another_scheme_is_refused(server: LocalServer) -> None:
    server.routes["/feed"] = redirect(301, "file:///etc/passwd")
    error = fetch_error(server.url("/feed"))
    assert error.kind == "http_status"
    assert "non-HTTP" in str(error)


@pytest.mark.parametrize("status", [200, 429])
def test_a_date_header_past_the_year_datetime_holds_is_ignored(
    server: LocalServer, status: int
) -> None:
    # email.utils raised OverflowError for it, out of fetch: `newsmon check` ended in a
    # traceback and reported none of the other feeds.
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response_only(status)  # no Date of the server's own beside this one
        h.send_header("Date", "Mon, 01 Jan 99999999999 00:00:00 GMT")
        h.send_header("Retry-After", "120")
        h.send_header("Content-Length", str(len(FEED)))
        h.end_headers()
        h.wfile.write(FEED)

    server.routes["/feed"] = route
    if status == 200:
        assert run(do_fetch(server.url("/feed"))).retry_after == 120.0
    else:
        error = fetch_error(server.url("/feed"))
        assert isinstance(error, FeedStatusError)
        assert error.retry_after == 120.0


def test_a_body_in_one_byte_chunks_is_cut_off_before_the_deadline(server: LocalServer) -> None:
    # Each chunk costs about 7 us of CPU whatever its size: one-byte chunks as fast as the server
    # can send them kept a core busy until the deadline, far from the 10 MiB reply cap (6 bytes
    # of wire a byte of body: 1.75 million chunks).
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response_only(200)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        while not server.stopping.is_set():
            h.wfile.write(b"1\r\na\r\n" * 10_000)

    server.routes["/feed"] = route
    # The cost is CPU, so CPU is what is bounded: on a busy machine the wall time of those
    # 1.2 CPU seconds passed an 8 s deadline. The deadline is far, so only a cap ends the fetch;
    # the message says which one (the 10 MiB cap is ten times as many chunks).
    started = time.thread_time()  # the fetch runs on this thread; the server on its own
    error = fetch_error(server.url("/feed"), deadline=60)
    assert error.kind == "too_large", error
    assert "more than 163840 pieces (1 bytes each on average)" in str(error)
    assert time.thread_time() - started < 6


def test_a_body_of_many_small_reads_is_not_refused(server: LocalServer) -> None:
    # 4,000 chunks of 2,560 bytes (10 MB): the piece cap is far (163,840).
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response_only(200)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for _ in range(4000):
            h.wfile.write(b"a00\r\n" + b"a" * 0xA00 + b"\r\n")
        h.wfile.write(b"0\r\n\r\n")

    server.routes["/feed"] = route
    assert len(run(do_fetch(server.url("/feed"))).body or b"") == 4000 * 0xA00


def test_a_server_that_closes_without_answering_is_worded_as_httpx_did(server: LocalServer) -> None:
    server.routes["/feed"] = lambda h: None  # the request read, the connection closed
    error = fetch_error(server.url("/feed"))
    assert error.kind == "connect"
    assert str(error).endswith(
        "RemoteProtocolError: Server disconnected without sending a response."
    ), error  # not h11's "can't handle event type ConnectionClosed when role=SERVER ..."


@pytest.mark.parametrize("port", [65536, 99999, 10**30, -1])
def test_a_port_out_of_range_is_a_connect_error(server: LocalServer, port: int) -> None:
    # httpx.URL takes any number as a port; the socket's connect raised OverflowError, which
    # crashed `newsmon check` with a traceback (a hostile redirect is enough).
    server.routes["/feed"] = redirect(301, f"http://127.0.0.1:{port}/feed")
    for url in (server.url("/feed"), f"http://127.0.0.1:{port}/feed"):
        error = fetch_error(url)
        assert error.kind == "connect"
        assert f"port {port} is out of range" in str(error)


def test_http_error_carries_status_and_retry_after_seconds(server: LocalServer) -> None:
    server.routes["/feed"] = respond(503, b"busy", {"Retry-After": "120"})
    error = fetch_error(server.url("/feed"))
    assert isinstance(error, FeedStatusError)
    assert (error.kind, error.status, error.retry_after) == ("http_status", 503, 120.0)


def test_http_error_retry_after_as_date_uses_the_server_clock(server: LocalServer) -> None:
    # Date says 1 h ago and Retry-After says 10 min after that: 600 s regardless of our clock.
    then = time.time() - 3600
    headers = {"Retry-After": formatdate(then + 600, usegmt=True)}

    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response_only(429)
        h.send_header("Date", formatdate(then, usegmt=True))
        for name, value in headers.items():
            h.send_header(name, value)
        h.send_header("Content-Length", "0")
        h.end_headers()

    server.routes["/feed"] = route
    error = fetch_error(server.url("/feed"))
    assert isinstance(error, FeedStatusError)
    assert error.status == 429
    assert error.retry_after == pytest.approx(600, abs=1)


def test_404_is_http_status(server: LocalServer) -> None:
    error = fetch_error(server.url("/missing"))
    assert (error.kind, error.status) == ("http_status", 404)


def test_nothing_listening_is_connect_error() -> None:
    port = refusing_port()
    error = fetch_error(f"http://127.0.0.1:{port}/feed")
    assert error.kind == "connect"


def test_unsupported_url_is_connect_error() -> None:
    assert fetch_error("ftp://127.0.0.1/feed").kind == "connect"

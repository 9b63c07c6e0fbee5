"""The feed client against servers that break HTTP on purpose (real sockets on 127.0.0.1): a
hostile answer is a worded FeedError, and bytes a server sends beyond an answer never become
the answer to a later request on a pooled connection."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from monitor.errors import FeedError
from monitor.feeds.fetch import FetchResult, fetch
from monitor.net.feedclient import FeedClient, make_feed_client
from monitor.net.guard import AddressGuard
from tests.test_fetch_support import LocalServer, Route, keep_alive_server, respond, run

LOCAL = AddressGuard(["127.0.0.1/32"])
GOOD = b"<rss>good</rss>"
# What a hostile server appends, hoping it answers the next request on the same connection.
SMUGGLED = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalServer]:
    yield from keep_alive_server(monkeypatch, {"/feed": respond(200, GOOD)})


def raw(*parts: bytes, pause: float = 0.0) -> Route:
    """A route that writes `parts` as they are, flushing and pausing between them."""

    def route(h: BaseHTTPRequestHandler) -> None:
        for n, part in enumerate(parts):
            if n and pause:
                time.sleep(pause)
            h.wfile.write(part)
            h.wfile.flush()

    return route


async def _in_turn(client: FeedClient, urls: list[str], gap: float = 0.0) -> list[FetchResult]:
    results = []
    async with client:
        for url in urls:
            results.append(await fetch(client, url, deadline=5))
            await asyncio.sleep(gap)
    return results


def test_a_malformed_chunk_that_arrives_with_the_head_is_a_connect_error(
    server: LocalServer,
) -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    server.routes["/chunk"] = raw(head + b"ZZZ\r\n")
    with pytest.raises(FeedError) as info:
        run(_in_turn(make_feed_client(LOCAL), [server.url("/chunk")]))
    assert info.value.kind == "connect"
    assert "illegal chunk header" in str(info.value)


@pytest.mark.parametrize(
    "answer",
    [
        # h11 gives a 304 no body whatever its headers say: the bytes stay on the connection.
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: %d\r\n\r\n" % len(SMUGGLED) + SMUGGLED,
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n<rss>" + SMUGGLED,  # a Content-Length lie
    ],
    ids=["304-with-body", "content-length-short"],
)
def test_bytes_past_the_end_of_an_answer_do_not_answer_the_next_request(
    server: LocalServer, answer: bytes
) -> None:
    server.routes["/lie"] = raw(answer)
    client = make_feed_client(LOCAL)
    first, second = run(_in_turn(client, [server.url("/lie"), server.url("/feed")]))
    assert first.body in (None, b"<rss>")
    assert second.body == GOOD
    assert client.connections_opened == 2  # the connection that carried extra bytes was dropped


def test_bytes_sent_while_a_connection_sat_idle_do_not_answer_the_next_request(
    server: LocalServer,
) -> None:
    # The answer ends cleanly; the server "answers" the next request before it is sent.
    server.routes["/early"] = raw(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n<rss>", SMUGGLED, pause=0.1
    )
    client = make_feed_client(LOCAL)
    first, second = run(_in_turn(client, [server.url("/early"), server.url("/feed")], gap=0.4))
    assert first.body == b"<rss>"
    assert second.body == GOOD
    assert client.connections_opened == 2


def test_a_body_in_one_byte_chunks_does_not_hold_the_event_loop(server: LocalServer) -> None:
    # Each 1-byte chunk is one h11 event; a read from a full buffer does not suspend, so
    # without a turn given back now and then, one feed holds every other task (and its own
    # deadline) for as long as the buffered bytes last.
    chunks = 20_000
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    server.routes["/tiny"] = raw(head + b"1\r\nA\r\n" * chunks + b"0\r\n\r\n")
    turns = 0

    async def other_task() -> None:
        nonlocal turns
        while True:
            await asyncio.sleep(0)
            turns += 1

    async def go() -> FetchResult:
        ticker = asyncio.create_task(other_task())
        try:
            async with make_feed_client(LOCAL) as client:
                return await fetch(client, server.url("/tiny"), deadline=30)
        finally:
            ticker.cancel()

    result = run(go())
    assert result.body == b"A" * chunks
    assert turns >= chunks // 512  # a turn at least every 512 events (one per 256 is given)


@pytest.mark.parametrize(
    "sent",
    [b"", b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n<rss>"],
    ids=["waiting-for-the-head", "mid-body"],
)
def test_a_cancelled_fetch_closes_its_connection(server: LocalServer, sent: bytes) -> None:
    # Cancelled while waiting for the head, or halfway through the body, on a kept connection.
    closed = threading.Event()

    def stall(h: BaseHTTPRequestHandler) -> None:
        h.wfile.write(sent)
        h.wfile.flush()
        h.connection.settimeout(3.0)
        with contextlib.suppress(OSError):
            if h.connection.recv(1) == b"":  # the client closed its end
                closed.set()

    server.routes["/stall"] = stall

    async def go() -> tuple[int, bytes | None]:
        async with make_feed_client(LOCAL) as client:
            await fetch(client, server.url("/feed"))
            task = asyncio.create_task(fetch(client, server.url("/stall"), deadline=5))
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await asyncio.to_thread(closed.wait, 2.0)
            idle = sum(len(pool) for pool in client._idle.values())
            after = await fetch(client, server.url("/feed"))
            assert client.connections_opened == 2
            return idle, after.body

    assert run(go()) == (0, GOOD)


def test_informational_answers_are_skipped_and_an_unasked_upgrade_refused(
    server: LocalServer,
) -> None:
    final = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n<rss>"
    server.routes["/100"] = raw(b"HTTP/1.1 100 Continue\r\n\r\n" * 3, final, pause=0.05)
    upgrade = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"
    server.routes["/101"] = raw(upgrade + final)
    (result,) = run(_in_turn(make_feed_client(LOCAL), [server.url("/100")]))
    assert result.body == b"<rss>"
    with pytest.raises(FeedError) as info:
        run(_in_turn(make_feed_client(LOCAL), [server.url("/101")]))
    assert info.value.kind == "connect"


def test_an_http_1_0_body_ends_at_close_and_its_connection_is_not_kept(
    server: LocalServer,
) -> None:
    def old(h: BaseHTTPRequestHandler) -> None:
        h.wfile.write(b"HTTP/1.0 200 OK\r\n\r\n" + GOOD)  # no length: the body ends at close
        h.close_connection = True

    server.routes["/old"] = old
    client = make_feed_client(LOCAL)
    results = run(_in_turn(client, [server.url("/old"), server.url("/old")]))
    assert [r.body for r in results] == [GOOD, GOOD]
    assert client.connections_opened == 2


def test_chunk_framing_counts_against_the_bytes_received(server: LocalServer) -> None:
    # 1 byte of body per chunk behind 1,000 bytes of chunk extension: the body is tiny, the
    # wire is not. The cap on bytes received counts what came over the wire after the head.
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"1;" + b"x" * 1000 + b"\r\nA\r\n"
    server.routes["/framed"] = raw(head + chunk * 300 + b"0\r\n\r\n")

    async def go(url: str, cap: int) -> FetchResult:
        async with make_feed_client(LOCAL) as client:
            return await fetch(client, url, max_bytes=cap, deadline=5)

    with pytest.raises(FeedError) as info:
        run(go(server.url("/framed"), 100_000))
    assert info.value.kind == "too_large"
    assert "received" in str(info.value)
    # Ordinary chunking stays well inside the same cap.
    server.routes["/plain"] = raw(head + b"%x\r\n%s\r\n0\r\n\r\n" % (90_000, b"A" * 90_000))
    assert run(go(server.url("/plain"), 100_000)).body == b"A" * 90_000


def test_endless_informational_answers_are_a_connect_error(server: LocalServer) -> None:
    # 1xx heads are no body and count against no cap: without a bound, a server could send
    # them until the deadline.
    server.routes["/100s"] = raw(*[b"HTTP/1.1 100 Continue\r\n\r\n" * 50] * 40, pause=0.01)
    with pytest.raises(FeedError) as info:
        run(_in_turn(make_feed_client(LOCAL), [server.url("/100s")]))
    assert info.value.kind == "connect"
    assert "informational" in str(info.value)


def test_a_redirect_body_is_drained_by_its_bytes_on_the_wire(server: LocalServer) -> None:
    # 300 bytes of body behind 300 KB of chunk extensions: draining it for the sake of reuse
    # stops at the drain limit counted on the wire, and the connection is dropped instead.
    head = b"HTTP/1.1 302 Found\r\nLocation: /feed\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"1;" + b"x" * 1000 + b"\r\nA\r\n"
    server.routes["/moved"] = raw(head + chunk * 300 + b"0\r\n\r\n")
    client = make_feed_client(LOCAL)
    (result,) = run(_in_turn(client, [server.url("/moved")]))
    assert result.body == GOOD
    assert client.connections_opened == 2


def test_lookups_that_hang_do_not_hold_the_threads_the_store_runs_on(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A feed's domain decides how long its lookup blocks a thread (a name server that never
    answers), and a lookup given up at the connect timeout goes on in it. Eight such lookups
    must leave the event loop's default executor, where the store's calls run
    (`asyncio.to_thread`), free: they held all of its threads, and every commit waited."""
    release = threading.Event()
    real = socket.getaddrinfo

    def getaddrinfo(host: str | None, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".hang.test"):
            release.wait(30)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    async def scenario() -> tuple[float, FetchResult, list[FetchResult | BaseException]]:
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(4))
        async with make_feed_client(LOCAL, connect_timeout=0.5) as client:
            hanging = [
                asyncio.create_task(fetch(client, f"http://f{n}.hang.test/feed", deadline=2))
                for n in range(8)
            ]
            await asyncio.sleep(0.2)  # every lookup has started
            started = time.monotonic()
            try:
                await asyncio.wait_for(asyncio.to_thread(lambda: None), 3)  # a store call
                waited = time.monotonic() - started
            except TimeoutError:
                waited = float("inf")
            good = await fetch(client, server.url("/feed"), deadline=2)
            release.set()
            outcomes = await asyncio.gather(*hanging, return_exceptions=True)
        return waited, good, outcomes

    try:
        waited, good, outcomes = asyncio.run(scenario())
    finally:
        release.set()
    assert waited < 2  # at once on a free thread; on shared ones, none within the 3 s (inf)
    assert good.body == GOOD
    assert all(isinstance(o, FeedError) and o.kind == "connect" for o in outcomes), outcomes

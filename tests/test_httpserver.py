"""The HTTP listener, against a real server on 127.0.0.1:0: routes, hostile clients, addresses."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from h11 import _readers as h11_readers

from monitor.clock import FakeClock
from monitor.errors import ConfigError
from monitor.metrics import Metrics
from monitor.process.httpserver import Heartbeat, ReadyState, Server, parse_addr, serve

READY = ReadyState(store=True, rules_version="3f2a9c", rules=3)


class Checks:
    """What the daemon would pass: a liveness flag and a readiness state the test can flip."""

    def __init__(self) -> None:
        self.alive = True
        self.state = READY
        self.readiness_error: Exception | None = None
        self.readiness_delay = 0.0

    def liveness(self) -> bool:
        return self.alive

    async def readiness(self) -> ReadyState:
        await asyncio.sleep(self.readiness_delay)
        if self.readiness_error is not None:
            raise self.readiness_error
        return self.state


def run(scenario: Callable[[Server, Checks, Metrics], Awaitable[None]], **options: Any) -> None:
    async def main() -> None:
        checks, metrics = Checks(), Metrics()
        options.setdefault("read_timeout", 0.5)
        srv = await serve(
            "127.0.0.1:0",
            metrics=metrics,
            liveness=checks.liveness,
            readiness=checks.readiness,
            **options,
        )
        async with srv:
            await asyncio.wait_for(scenario(srv, checks, metrics), 10)

    asyncio.run(main())


async def raw(port: int, data: bytes) -> bytes:
    """Send bytes, read until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(trust_env=False, timeout=5)


def test_healthz_follows_liveness() -> None:
    async def scenario(srv: Server, checks: Checks, _: Metrics) -> None:
        async with client() as c:
            url = f"http://127.0.0.1:{srv.port}/healthz"
            r = await c.get(url)
            assert (r.status_code, r.text) == (200, "ok\n")
            checks.alive = False
            assert (await c.get(url)).status_code == 503

    run(scenario)


def test_readyz_json_flips_to_503_when_store_fails() -> None:
    async def scenario(srv: Server, checks: Checks, _: Metrics) -> None:
        async with client() as c:
            url = f"http://127.0.0.1:{srv.port}/readyz"
            r = await c.get(url)
            assert r.status_code == 200
            assert r.headers["content-type"] == "application/json"
            assert r.json() == {"store": True, "rules_version": "3f2a9c", "rules": 3}
            checks.state = ReadyState(store=False, rules_version="3f2a9c", rules=3)
            r = await c.get(url)
            assert r.status_code == 503
            assert r.json() == {"store": False, "rules_version": "3f2a9c", "rules": 3}
            checks.state = ReadyState(store=True, rules_version=None, rules=0)  # no rules yet
            assert (await c.get(url)).status_code == 503
            checks.state = ReadyState(store=True, rules_version="3f2a9c", rules=3, stopping=True)
            r = await c.get(url)
            assert r.status_code == 503  # shutting down: take it out of the load balancer
            assert r.json()["stopping"] is True

    run(scenario)


def test_readyz_503_when_the_check_raises_or_hangs() -> None:
    async def scenario(srv: Server, checks: Checks, _: Metrics) -> None:
        async with client() as c:
            url = f"http://127.0.0.1:{srv.port}/readyz"
            checks.readiness_error = RuntimeError("database is locked")
            r = await c.get(url)
            assert r.status_code == 503
            assert r.json()["store"] is False
            checks.readiness_error, checks.readiness_delay = None, 5.0
            started = time.monotonic()
            assert (await c.get(url)).status_code == 503
            assert time.monotonic() - started < 2  # callback_timeout, not the check's 5 s

    run(scenario, callback_timeout=0.3)


def test_metrics_exposition_reflects_calls() -> None:
    async def scenario(srv: Server, _: Checks, metrics: Metrics) -> None:
        async with client() as c:
            url = f"http://127.0.0.1:{srv.port}/metrics"
            before = (await c.get(url)).text
            assert 'newsmon_deliveries_total{destination="slack-desk"' not in before
            metrics.poll_finished("feed-1", "ok", 0.4)
            metrics.delivery_result("slack-desk", "dead")
            metrics.delivery_result("https://hooks.slack.com/services/T/B/x", "delivered")
            r = await c.get(url)
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
            assert 'newsmon_polls_total{status="ok"} 1.0' in r.text
            assert 'newsmon_deliveries_total{destination="slack-desk",outcome="dead"} 1.0' in r.text
            assert (
                'newsmon_deliveries_total{destination="invalid",outcome="delivered"} 1.0' in r.text
            )
            assert "hooks.slack.com" not in r.text

    run(scenario)


def test_head_404_and_405() -> None:
    async def scenario(srv: Server, _: Checks, __: Metrics) -> None:
        async with client() as c:
            base = f"http://127.0.0.1:{srv.port}"
            r = await c.head(f"{base}/metrics")
            assert r.status_code == 200
            assert int(r.headers["content-length"]) > 100
            assert r.content == b""
            assert (await c.get(f"{base}/")).status_code == 404
            assert (await c.get(f"{base}/metrics/../admin")).status_code == 404
            r = await c.post(f"{base}/metrics", content=b"x" * 200_000)
            assert r.status_code == 405
            assert r.headers["allow"] == "GET, HEAD"
            assert (await c.delete(f"{base}/healthz")).status_code == 405
            assert (await c.get(f"{base}/healthz?verbose=1")).status_code == 200

    run(scenario)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"garbage\r\n\r\n",
        b"GET /healthz\r\n\r\n",  # HTTP/0.9 style
        b"GET /healthz HTTP/2.0\r\n\r\n",
        b"GET healthz HTTP/1.1\r\n\r\n",
        b"G\xffT /healthz HTTP/1.1\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x",  # closed before the end of the headers
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",  # a TLS hello
    ],
)
def test_malformed_request_gets_400_and_server_survives(request_bytes: bytes) -> None:
    async def scenario(srv: Server, _: Checks, __: Metrics) -> None:
        if request_bytes.endswith(b"\n"):
            assert status_of(await raw(srv.port, request_bytes)) == 400
        else:  # half-close so the server sees EOF mid-headers
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
            writer.write(request_bytes)
            writer.write_eof()
            assert status_of(await asyncio.wait_for(reader.read(), 5)) == 400
            writer.close()
        assert status_of(await raw(srv.port, b"GET /healthz HTTP/1.0\r\n\r\n")) == 200

    run(scenario)


def test_oversized_headers_get_431() -> None:
    async def scenario(srv: Server, _: Checks, __: Metrics) -> None:
        many = b"GET /healthz HTTP/1.1\r\n" + (b"X-Pad: " + b"a" * 100 + b"\r\n") * 100 + b"\r\n"
        assert status_of(await raw(srv.port, many)) == 431
        one_long_line = b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\n\r\n"
        assert status_of(await raw(srv.port, one_long_line)) == 431
        assert status_of(await raw(srv.port, b"GET /healthz HTTP/1.0\r\n\r\n")) == 200

    run(scenario)


def test_slow_client_is_dropped_and_does_not_block_others() -> None:
    async def scenario(srv: Server, _: Checks, __: Metrics) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        started = time.monotonic()
        writer.write(b"GET /healthz HTTP/1.1\r\n")
        await writer.drain()
        # While it dawdles, another client is served at once.
        assert status_of(await raw(srv.port, b"GET /healthz HTTP/1.0\r\n\r\n")) == 200
        for _i in range(3):  # one header byte at a time, slowloris style
            await asyncio.sleep(0.1)
            writer.write(b"X")
            await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 5)
        elapsed = time.monotonic() - started
        assert status_of(answer) == 408
        assert 0.4 <= elapsed < 2.0  # read_timeout 0.5 s bounds the whole head, not each byte
        assert await reader.read() == b""  # and the connection is closed
        writer.close()

    run(scenario, read_timeout=0.5)


def test_idle_connections_take_no_slot_and_answers_over_the_limit_get_503() -> None:
    async def scenario(srv: Server, checks: Checks, _: Metrics) -> None:
        idle = [await asyncio.open_connection("127.0.0.1", srv.port) for _ in range(5)]
        await asyncio.sleep(0.05)  # let the server accept them all: they hold no slot
        assert status_of(await raw(srv.port, b"GET /healthz HTTP/1.0\r\n\r\n")) == 200
        checks.readiness_delay = 1.0  # two slow /readyz fill the probes' two slots
        slow = [asyncio.ensure_future(raw(srv.port, b"GET /readyz HTTP/1.0\r\n\r\n"))
                for _ in range(2)]  # fmt: skip
        await asyncio.sleep(0.3)
        assert status_of(await raw(srv.port, b"GET /healthz HTTP/1.0\r\n\r\n")) == 503
        assert status_of(await raw(srv.port, b"GET /metrics HTTP/1.0\r\n\r\n")) == 200
        assert [status_of(r) for r in await asyncio.gather(*slow)] == [200, 200]
        assert status_of(await raw(srv.port, b"GET /healthz HTTP/1.0\r\n\r\n")) == 200
        for _r, w in idle:
            w.close()

    run(scenario, max_connections=2, read_timeout=3)


def test_bodies_read_at_once_are_bounded_and_hold_no_answering_slot() -> None:
    from monitor.feedback.http import Answer

    async def feedback(headers: dict[str, str], body: bytes) -> Answer:
        return Answer(200, {"bytes": len(body)})

    post = b"POST /feedback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n\r\n"

    async def scenario(srv: Server, _: Checks, __: Metrics) -> None:
        stalled = []
        for _i in range(2):  # two bodies that stall fill the two body slots
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
            writer.write(post + b"x")
            await writer.drain()
            stalled.append((reader, writer))
        await asyncio.sleep(0.2)
        assert status_of(await raw(srv.port, post + b"full")) == 503  # a third body: no slot
        # The one answering slot is free: a request without a body is answered.
        assert status_of(await raw(srv.port, b"GET /metrics HTTP/1.0\r\n\r\n")) == 200
        for reader, writer in stalled:
            writer.write(b"yzw")  # the rest of the body: each is answered
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), 5)
            assert status_of(answer) == 200
            assert answer.endswith(b'{"bytes": 4}\n')
            writer.close()
        assert status_of(await raw(srv.port, post + b"full")) == 200

    run(scenario, feedback=feedback, max_connections=1, max_pending=2, read_timeout=3)


def test_a_body_in_chunks_is_refused_411_before_any_chunk_is_parsed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """h11 spends about 13 µs on each chunk: a client sending one-byte chunks kept the event
    loop busy half a second per read (256 KB), and held a daemon's polls and deliveries up to
    8 s. A chunked body is refused with 411 before its first chunk is parsed; the route never
    sees the request, and the loop keeps its pace meanwhile."""
    from monitor.feedback.http import Answer

    called: list[bytes] = []

    async def feedback(headers: dict[str, str], body: bytes) -> Answer:
        called.append(body)
        return Answer(200, {"bytes": len(body)})

    chunks = b"1\r\na\r\n" * 50_000  # 300 KB of one-byte chunks, in the head's own packet
    # What h11 parsed of them, counted where it parses a chunk (its reader of chunked bodies):
    # the behaviour, where the loop's worst pause below is only its symptom.
    parsed: list[object] = []
    read_chunk = h11_readers.ChunkedReader.__call__

    def counting(self: Any, buf: Any) -> Any:
        event = read_chunk(self, buf)
        if event is not None:
            parsed.append(event)
        return event

    monkeypatch.setattr(h11_readers.ChunkedReader, "__call__", counting)

    async def ticks(stop: asyncio.Event) -> float:
        worst, last = 0.0, time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.monotonic()
            worst, last = max(worst, now - last), now
        return worst

    async def scenario(srv: Server, _: Checks, __: Metrics) -> None:
        stop = asyncio.Event()
        ticker = asyncio.ensure_future(ticks(stop))
        for path in (b"/feedback", b"/healthz"):
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
            head = b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            writer.write(head + b"Transfer-Encoding: chunked\r\n\r\n" + chunks)
            with contextlib.suppress(ConnectionError):
                for _i in range(5):  # and more, as fast as the server takes them
                    writer.write(chunks)
                    await writer.drain()
            answer = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            assert status_of(answer) == 411, answer[:200]
            assert answer.endswith(b"send the body with a Content-Length, not in chunks\n")
        stop.set()
        assert parsed == []  # not a chunk: the 411 came first
        assert await ticker < 2  # the loop kept its pace (a wide bound: CI shares 2 CPUs)
        assert called == []
        post = b"POST /feedback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}"
        assert status_of(await raw(srv.port, post)) == 200  # a Content-Length is answered
        assert called == [b"{}"]

    run(scenario, feedback=feedback, read_timeout=3)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts open files in /proc")
def test_slow_bodies_and_refusals_keep_few_connections_open() -> None:
    """Each connection is an open file. A body sent slowly to any route was read and dropped
    for up to `read_timeout`, and a refused request lingered half a second, however many came:
    one client opened a thousand a second and a daemon under the usual limit of 1,024 open files
    could no longer poll or deliver. At most `max_pending` (here 4) of each stay open."""

    def server_side(clients: int, before: int) -> int:
        return len(os.listdir("/proc/self/fd")) - before - clients

    async def scenario(srv: Server, _: Checks, __: Metrics) -> None:
        before = len(os.listdir("/proc/self/fd"))
        held = []
        slow = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\nx"
        for _i in range(40):
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
            writer.write(slow)
            held.append((reader, writer))
        await asyncio.sleep(0.5)
        assert server_side(len(held), before) <= 8
        # Those past the 4 whose bodies are read were answered at once, their bodies unread.
        answers = await asyncio.gather(*(asyncio.wait_for(r.read(), 0.2) for r, _w in held),
                                       return_exceptions=True)  # fmt: skip
        assert sum(isinstance(a, bytes) and a.startswith(b"HTTP/1.1 200 ") for a in answers) >= 30
        for _r, w in held:
            w.close()
        await asyncio.sleep(0.2)
        before, held = len(os.listdir("/proc/self/fd")), []
        for _i in range(40):
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
            writer.write(b"garbage\r\n\r\n")
            held.append((reader, writer))
        await asyncio.sleep(0.2)  # less than the half second a refusal lingers
        assert server_side(len(held), before) <= 8
        assert {status_of(await r.read()) for r, _w in held} == {400}
        for _r, w in held:
            w.close()

    run(scenario, max_pending=4, read_timeout=3)


def test_metrics_renders_leave_the_daemons_threads_free() -> None:
    """The daemon's store calls (claims, commits, heartbeats) run on the event loop's default
    thread pool. /metrics needs no credential, and with 10,000 rules and 1,000 feeds a render
    takes 160 ms: renders there, as many at once as requests came, took every thread of that
    pool and the daemon's calls waited behind them. Here each render takes 0.5 s."""

    class SlowMetrics(Metrics):
        def render(self) -> bytes:
            time.sleep(0.5)
            return super().render()

    async def main() -> None:
        async def ready() -> ReadyState:
            return READY

        srv = await serve(
            "127.0.0.1:0", metrics=SlowMetrics(), liveness=lambda: True, readiness=ready
        )
        async with srv:
            scrapes = [asyncio.ensure_future(raw(srv.port, b"GET /metrics HTTP/1.0\r\n\r\n"))
                       for _ in range(40)]  # fmt: skip
            await asyncio.sleep(0.2)  # the scrapes are being rendered
            started = time.monotonic()
            await asyncio.to_thread(lambda: None)  # what the daemon does for each store call
            waited = time.monotonic() - started
            for scrape in scrapes:
                scrape.cancel()
            await asyncio.gather(*scrapes, return_exceptions=True)
        assert waited < 2.0  # behind the 40 renders: over 3 s; wide, for a loaded CI machine

    asyncio.run(asyncio.wait_for(main(), 30))


def test_a_metrics_render_that_fails_is_a_500_and_the_next_one_renders_again() -> None:
    class FailingOnce(Metrics):
        failed = False

        def render(self) -> bytes:
            if not self.failed:
                self.failed = True
                raise RuntimeError("a bug")
            return super().render()

    async def main() -> None:
        async def ready() -> ReadyState:
            return READY

        srv = await serve(
            "127.0.0.1:0", metrics=FailingOnce(), liveness=lambda: True, readiness=ready
        )
        async with srv:
            assert status_of(await raw(srv.port, b"GET /metrics HTTP/1.0\r\n\r\n")) == 500
            assert status_of(await raw(srv.port, b"GET /metrics HTTP/1.0\r\n\r\n")) == 200

    asyncio.run(asyncio.wait_for(main(), 10))


def test_the_oldest_connection_still_sending_its_request_makes_room() -> None:
    async def scenario(srv: Server, _: Checks, __: Metrics) -> None:
        first = await asyncio.open_connection("127.0.0.1", srv.port)
        await asyncio.sleep(0.05)
        rest = [await asyncio.open_connection("127.0.0.1", srv.port) for _ in range(3)]
        await asyncio.sleep(0.05)
        assert await asyncio.wait_for(first[0].read(), 2) == b""  # dropped for the newer ones
        assert status_of(await raw(srv.port, b"GET /healthz HTTP/1.0\r\n\r\n")) == 200
        for _r, w in [first, *rest]:
            w.close()

    run(scenario, max_pending=3, read_timeout=3)


def test_close_drops_open_connections() -> None:
    async def main() -> None:
        async def ready() -> ReadyState:
            return READY

        srv = await serve("127.0.0.1:0", metrics=Metrics(), liveness=lambda: True, readiness=ready)
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(b"GET /healthz HTTP/1.1\r\n")
        await asyncio.sleep(0.05)
        await asyncio.wait_for(srv.close(), 2)  # does not wait for the 5 s read timeout
        assert await asyncio.wait_for(reader.read(), 2) == b""
        writer.close()
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", srv.port)

    asyncio.run(main())


@pytest.mark.parametrize(
    ("addr", "expected"),
    [
        ("127.0.0.1:9464", ("127.0.0.1", 9464)),
        ("0.0.0.0:9464", ("0.0.0.0", 9464)),
        ("[::1]:9464", ("::1", 9464)),
        ("[::]:0", ("::", 0)),
        ("localhost:8080", ("localhost", 8080)),
    ],
)
def test_parse_addr(addr: str, expected: tuple[str, int]) -> None:
    assert parse_addr(addr) == expected


@pytest.mark.parametrize(
    ("addr", "hint"),
    [
        ("9464", "host:port"),
        (":9464", "host:port"),
        ("127.0.0.1", "host:port"),
        ("::1:9464", "brackets"),
        ("127.0.0.1:99999", "0 to 65535"),
        ("127.0.0.1:http", "0 to 65535"),
        ("[]:9464", "0 to 65535"),
        ("127.0.0.1:-1", "0 to 65535"),
    ],
)
def test_parse_addr_refuses_with_a_clear_message(addr: str, hint: str) -> None:
    with pytest.raises(ConfigError, match=hint) as info:
        parse_addr(addr)
    assert "NEWSMON_HTTP_ADDR" in str(info.value)
    assert "\n" not in str(info.value)


def test_port_in_use_is_a_config_error() -> None:
    async def ready() -> ReadyState:
        return READY

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match="already in use"):
            asyncio.run(
                serve(
                    f"127.0.0.1:{port}", metrics=Metrics(), liveness=lambda: True, readiness=ready
                )
            )


def test_ipv6_loopback() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 in this environment")

    async def main() -> None:
        async def ready() -> ReadyState:
            return READY

        try:
            srv = await serve("[::1]:0", metrics=Metrics(), liveness=lambda: True, readiness=ready)
        except ConfigError as e:
            pytest.skip(f"::1 not bindable here: {e}")
        async with srv:
            reader, writer = await asyncio.open_connection("::1", srv.port)
            writer.write(b"GET /readyz HTTP/1.0\r\n\r\n")
            answer = await asyncio.wait_for(reader.read(), 5)
            writer.close()
        assert status_of(answer) == 200
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["rules"] == 3

    asyncio.run(main())


def test_heartbeat_goes_silent_after_max_silence() -> None:
    clock = FakeClock()
    heart = Heartbeat(clock, max_silence_s=60)
    assert heart.alive()  # alive from the start, before the first tick
    clock.advance(60)
    assert heart.alive()
    clock.advance(1)
    assert not heart.alive()
    heart.beat()
    assert heart.alive()

"""CPU per conditional GET answered 304: newsmon's fetch and the layers it could be built on.

Does I/O: generated feeds on nginx (127.0.0.1; `serve.py`), nothing else. Learns each feed's
ETag once, then sends `--rounds` rounds of conditional GETs, one at a time on kept-alive
connections, five ways: `monitor.feeds.fetch.fetch` through `make_feed_client` (the guard, the
pool, the drain: what every poll of an unchanged feed pays), `httpx.AsyncClient.get`,
httpcore's connection pool with the guarded backend (httpx's transport without httpx's
models: what `fetch` could use one layer down), h11 on one asyncio stream (the HTTP/1.1 state
machine alone), and HTTP/1.1 written by hand on one asyncio stream (the floor: the exchange
itself). Each way's CPU time is the process's, best of the rounds.

    python benchmarks/httpcost.py [--feeds 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import feedgen
import h11
import httpcore
import httpx
import serve

from monitor.feeds.fetch import fetch
from monitor.net.client import make_transport
from monitor.net.feedclient import make_feed_client
from monitor.net.guard import AddressGuard


async def _best(rounds: int, n: int, one_round: Callable[[], Awaitable[None]]) -> float:
    """Best CPU milliseconds per request over `rounds` rounds of `n` requests."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        await one_round()
        best = min(best, time.process_time() - started)
    return best / n * 1000


async def measure(urls: list[str], rounds: int) -> list[tuple[str, float]]:
    async with make_feed_client(AddressGuard(["127.0.0.1/32"])) as client:
        etags = {u: (await fetch(client, u)).etag for u in urls}

        async def newsmon() -> None:
            for u in urls:
                result = await fetch(client, u, etag=etags[u])
                assert result.status == 304, result.status

        ours = await _best(rounds, len(urls), newsmon)

    async with httpx.AsyncClient(trust_env=False) as bare:

        async def plain_httpx() -> None:
            for u in urls:
                reply = await bare.get(u, headers={"If-None-Match": etags[u] or ""})
                assert reply.status_code == 304, reply.status_code

        theirs = await _best(rounds, len(urls), plain_httpx)

    pool = make_transport(AddressGuard(["127.0.0.1/32"]))._pool
    timeouts = {"connect": 10.0, "read": 30.0, "write": 30.0, "pool": 30.0}

    async def httpcore_pool() -> None:
        for u in urls:
            request = httpcore.Request(
                "GET",
                u,
                headers=[
                    (b"Host", urlsplit(u).netloc.encode()),
                    (b"If-None-Match", etags[u] or ""),
                ],
                extensions={"timeout": timeouts},
            )
            response = await pool.handle_async_request(request)
            async for _ in response.aiter_stream():
                pass
            await response.aclose()
            assert response.status == 304, response.status

    core = await _best(rounds, len(urls), httpcore_pool)
    await pool.aclose()

    first = urlsplit(urls[0])
    reader, writer = await asyncio.open_connection(first.hostname, first.port)
    state = h11.Connection(h11.CLIENT)

    async def on_h11() -> None:
        for u in urls:
            headers = [("Host", first.netloc), ("If-None-Match", etags[u] or "")]
            writer.write(
                state.send(h11.Request(method="GET", target=urlsplit(u).path, headers=headers))
                or b""
            )
            writer.write(state.send(h11.EndOfMessage()) or b"")
            status = 0
            while True:
                event = state.next_event()
                if event is h11.NEED_DATA:
                    state.receive_data(await reader.read(65536))
                elif isinstance(event, h11.Response):
                    status = event.status_code
                elif isinstance(event, h11.EndOfMessage):
                    break
            assert status == 304, status
            state.start_next_cycle()

    state_machine = await _best(rounds, len(urls), on_h11)

    async def stream() -> None:
        for u in urls:
            writer.write(
                f"GET {urlsplit(u).path} HTTP/1.1\r\nHost: {first.netloc}\r\n"
                f"If-None-Match: {etags[u]}\r\n\r\n".encode()
            )
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            assert b" 304 " in head.split(b"\r\n", 1)[0], head[:40]

    floor = await _best(rounds, len(urls), stream)
    writer.close()
    await writer.wait_closed()
    return [
        ("newsmon fetch (guarded feed client, drained 304)", ours),
        ("httpx.AsyncClient.get", theirs),
        ("httpcore pool, guarded backend (no httpx models)", core),
        ("h11 on one asyncio stream", state_machine),
        ("HTTP/1.1 by hand on one asyncio stream (the floor)", floor),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="newsmon-httpcost-") as tmp:
        work = Path(tmp)
        feedgen.generate(work, args.feeds, feedgen.recent_base(datetime.now(UTC)))
        with serve.Server(work / "feeds") as server:
            urls = [server.url(p.name) for p in sorted((work / "feeds").glob("f*.xml"))]
            rows = asyncio.run(measure(urls, args.rounds))
            name = server.kind
    print(f"{args.feeds} conditional GETs answered 304 ({name}), best of {args.rounds} rounds")
    print()
    print("| way | CPU ms per request |")
    print("|---|---:|")
    for way, ms in rows:
        print(f"| {way} | {ms:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

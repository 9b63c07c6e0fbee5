"""Probes that answer while someone holds connections open: 100 connections that send nothing and
100 slowloris connections (a header byte now and then, reconnecting when dropped) against the
real listener on 127.0.0.1, and `newsmon healthcheck` (the container's HEALTHCHECK, a real
process) must answer healthy every time. Before: 9 of 9 failed with 503 busy, so Kubernetes
would have restarted a healthy pod for as long as the connections were held."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from monitor.metrics import Metrics
from monitor.process.httpserver import ReadyState, Server, serve

pytestmark = [pytest.mark.fault, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
READY = ReadyState(store=True, rules_version="v1", rules=1)
PROBES = 9


@dataclass
class Attack:
    """Counts what the attackers did, so the test knows they really held connections."""

    opened: int = 0
    dropped: int = 0  # closed by the server (read timeout, or room made for a newer one)


async def idle(port: int, attack: Attack, stop: asyncio.Event, reconnect: bool) -> None:
    """Connect and send nothing; when the server drops the connection, connect again."""
    while not stop.is_set():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        attack.opened += 1
        closed = asyncio.ensure_future(reader.read())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait([closed, stopped], return_when=asyncio.FIRST_COMPLETED)
        if closed.done():
            attack.dropped += 1
        closed.cancel()
        stopped.cancel()
        writer.close()
        if not reconnect:
            await stop.wait()


async def slowloris(port: int, attack: Attack, stop: asyncio.Event, reconnect: bool) -> None:
    """A request line, then one header byte every 0.3 s; reconnect when dropped."""
    while not stop.is_set():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        attack.opened += 1
        writer.write(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
        answer = b""
        try:
            while not stop.is_set() and not answer:
                writer.write(b"a")
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    # EOF (dropped) or the server's 408 end the loop
                    answer = await asyncio.wait_for(reader.read(1024), 0.3) or b"EOF"
        except ConnectionError:
            answer = b"reset"
        if answer:
            attack.dropped += 1
        writer.close()
        if not reconnect:
            await stop.wait()


async def healthcheck(port: int) -> tuple[int, str]:
    """`python -m monitor.cli.healthcheck` exactly as the container runs it."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor.cli.healthcheck", "--addr", f"127.0.0.1:{port}",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


def under_attack(
    check: Callable[[Server, Attack], Awaitable[None]], *, reconnect: bool, **options: Any
) -> None:
    async def main() -> None:
        async def ready() -> ReadyState:
            return READY

        srv = await serve("127.0.0.1:0", metrics=Metrics(), liveness=lambda: True,
                          readiness=ready, **options)  # fmt: skip
        attack, stop = Attack(), asyncio.Event()
        async with srv:
            tasks = [asyncio.ensure_future(idle(srv.port, attack, stop, reconnect))
                     for _ in range(100)]  # fmt: skip
            tasks += [asyncio.ensure_future(slowloris(srv.port, attack, stop, reconnect))
                      for _ in range(100)]  # fmt: skip
            try:
                # every attacker holds a connection (ASYNC110: they count, they signal nothing)
                while attack.opened < 200:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.2)  # and the server has taken them all in
                await check(srv, attack)
            finally:
                stop.set()
                await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())


def test_healthcheck_answers_while_200_idle_and_slowloris_connections_are_held() -> None:
    async def check(srv: Server, attack: Attack) -> None:
        results = [await healthcheck(srv.port) for _ in range(PROBES)]
        failed = [out for code, out in results if code != 0]
        assert failed == [], f"{len(failed)} of {PROBES} failed: {failed[:1]}"
        assert all("answered 200" in out for _, out in results)
        assert attack.opened >= 200

    under_attack(check, reconnect=True)


def test_the_oldest_waiting_connection_makes_room_for_a_new_one() -> None:
    """Beyond `max_pending` connections still sending their request, the oldest is dropped:
    a probe, which sends its request at once, is never the oldest for long."""

    async def check(srv: Server, attack: Attack) -> None:
        async with asyncio.timeout(10):
            # the server really dropped the oldest (ASYNC110: counted, not signalled)
            while attack.dropped < 200 - 32:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        results = [await healthcheck(srv.port) for _ in range(3)]
        assert [code for code, _ in results] == [0, 0, 0], results

    under_attack(check, reconnect=False, max_pending=32, read_timeout=30)

"""The daemon's tiny HTTP listener: /healthz, /readyz and /metrics. Does network I/O.

Stdlib asyncio only (`asyncio.start_server`); one request per connection, answered and closed
(HTTP/1.0 style), so there is no keep-alive state to get wrong. It faces whatever can reach the
port, so a request can never crash or stall the daemon:
- the request line and headers are read under one deadline (`read_timeout`, slowloris) and are
  capped at `max_header_bytes` (431 above it); anything unparsable gets 400; the body is ignored;
- a connection takes no slot while its request is still arriving: idle and slowloris
  connections once starved the probes (64 of them made every healthcheck a 503). At most
  `max_pending` connections wait for their request; beyond that the oldest is dropped, so a
  newcomer (a probe sends its request at once) always gets in;
- once read, at most `max_connections` requests are answered at once, and the probes (`/healthz`,
  `/readyz`) have slots of their own, so slow `/metrics` readers cannot starve them either; a
  request over its limit gets 503 and is closed;
- the liveness, readiness and render callbacks are guarded: an exception or a hang is a 503/500.

Routes: GET or HEAD `/healthz` (200 "ok" while `liveness()` is True), `/readyz` (200 or 503 with
`{"store": bool, "rules_version": str|null, "rules": int}`, plus `"stopping": true` once shutdown
has started), `/metrics` (the exposition); any
other path 404; any other method 405.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Final, TypeVar

import structlog

from monitor.clock import Clock
from monitor.errors import ConfigError
from monitor.metrics import CONTENT_TYPE, Metrics

__all__ = ["DEFAULT_ADDR", "Heartbeat", "ReadyState", "Server", "parse_addr", "serve"]

DEFAULT_ADDR: Final = "127.0.0.1:9464"
log = structlog.get_logger(__name__)
T = TypeVar("T")

_REQUEST_LINE = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP/(\d)\.(\d)\r?\n")
_REASONS: Final = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_TEXT: Final = "text/plain; charset=utf-8"
_PROBES: Final = frozenset({"/healthz", "/readyz"})
_LINGER_SECONDS: Final = 0.5


class Heartbeat:
    """The daemon's liveness: `beat()` on every scheduler tick; `alive()` is the /healthz check.

    Alive until `max_silence_s` pass without a beat (a wedged loop or a dead scheduler thread);
    alive from construction so the first tick has time to happen.
    """

    def __init__(self, clock: Clock, max_silence_s: float) -> None:
        self._clock = clock
        self._max_silence = timedelta(seconds=max_silence_s)
        self._last = clock.now()

    def beat(self) -> None:
        self._last = self._clock.now()

    def alive(self) -> bool:
        return self._clock.now() - self._last <= self._max_silence


@dataclass(frozen=True)
class ReadyState:
    """What /readyz reports. Ready when the store answers, a rules version is live and shutdown
    has not started (a stopping daemon refuses new work: a load balancer should stop sending)."""

    store: bool
    rules_version: str | None
    rules: int
    stopping: bool = False

    @property
    def ready(self) -> bool:
        return self.store and self.rules_version is not None and not self.stopping

    def to_json(self) -> bytes:
        body: dict[str, object] = {
            "store": self.store,
            "rules_version": self.rules_version,
            "rules": self.rules,
        }
        if self.stopping:
            body["stopping"] = True
        return json.dumps(body).encode()


def parse_addr(addr: str) -> tuple[str, int]:
    """`host:port` -> (host, port). IPv6 hosts in brackets: `[::1]:9464`. Port 0 = any free port."""
    what = f"NEWSMON_HTTP_ADDR {addr!r}"
    host, sep, port_text = addr.strip().rpartition(":")
    if not sep or not host:
        raise ConfigError(f"{what}: expected host:port, for example {DEFAULT_ADDR} or [::1]:9464")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ConfigError(f"{what}: put an IPv6 address in brackets, for example [::1]:9464")
    if not host or not port_text.isdigit() or int(port_text) > 65535:
        raise ConfigError(f"{what}: expected host:port with a port from 0 to 65535")
    return host, int(port_text)


Liveness = Callable[[], bool]
Readiness = Callable[[], Awaitable[ReadyState]]


class Server:
    """A running listener. `port` is the bound port (useful with port 0); `close()` stops it."""

    def __init__(self, server: asyncio.Server, handler: _Handler) -> None:
        self._server = server
        self._handler = handler
        sockname = server.sockets[0].getsockname()
        self.host: str = sockname[0]
        self.port: int = sockname[1]

    async def close(self) -> None:
        """Stop listening and drop the connections still open."""
        self._server.close()
        for task in list(self._handler.tasks):
            task.cancel()
        await asyncio.gather(*self._handler.tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def serve(
    addr: str = DEFAULT_ADDR,
    *,
    metrics: Metrics,
    liveness: Liveness,
    readiness: Readiness,
    read_timeout: float = 5.0,
    callback_timeout: float = 3.0,
    max_header_bytes: int = 8192,
    max_connections: int = 64,
    max_pending: int = 256,
    source: str = "http_addr",
) -> Server:
    """Start listening on `addr`. ConfigError for a bad address or one that cannot be bound,
    naming `source`: where the address was set (`NEWSMON_HTTP_ADDR`, `http_addr in FILE`)."""
    host, port = parse_addr(addr)
    handler = _Handler(
        metrics,
        liveness,
        readiness,
        read_timeout,
        callback_timeout,
        max_header_bytes,
        max_connections,
        max_pending,
    )
    try:
        server = await asyncio.start_server(handler.on_connect, host, port, limit=max_header_bytes)
    except OSError as e:  # socket.gaierror is an OSError too
        reason = "address already in use" if e.errno == errno.EADDRINUSE else (e.strerror or str(e))
        if isinstance(e, socket.gaierror):
            reason = f"unknown host ({e.strerror})"
        raise ConfigError(
            f"cannot listen on {addr} ({source}): {reason}; choose another host:port"
            " (an empty value turns the listener off)"
        ) from e
    result = Server(server, handler)
    log.info("http_listening", host=result.host, port=result.port)
    return result


class _BadRequest(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


class _Handler:
    """Reads one request per connection and answers it. Never lets an exception escape."""

    def __init__(
        self,
        metrics: Metrics,
        liveness: Liveness,
        readiness: Readiness,
        read_timeout: float,
        callback_timeout: float,
        max_header_bytes: int,
        max_connections: int,
        max_pending: int,
    ) -> None:
        self.metrics = metrics
        self.liveness = liveness
        self.readiness = readiness
        self.read_timeout = read_timeout
        self.callback_timeout = callback_timeout
        self.max_header_bytes = max_header_bytes
        self.slots = asyncio.Semaphore(max(1, max_connections))
        self.probe_slots = asyncio.Semaphore(max(1, max_connections))
        self.max_pending = max(1, max_pending)
        # Connections still sending their request, oldest first (dicts keep insertion order).
        self.waiting: dict[asyncio.Task[None], None] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    async def on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        try:
            await self._handle(reader, writer, task)
            await self._linger(reader, writer)
        except asyncio.CancelledError:
            # Server.close() and `_wait` (room for a newer connection) cancel these tasks; on
            # 3.11 asyncio's stream callback logs a cancelled handler as an error: end quietly.
            pass
        except Exception as e:  # a peer resetting mid-reply, or a bug: never take the loop down
            log.debug("http_connection_error", error=type(e).__name__)
        finally:
            writer.close()
            if task is not None:
                self.tasks.discard(task)

    async def _linger(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Half-close, then discard what the client still sends, briefly.

        Closing a socket with unread input makes the kernel send a reset, which can destroy the
        response before the client reads it (a POST body, a request that arrived after a 503).
        """
        with contextlib.suppress(Exception):
            if writer.can_write_eof():
                writer.write_eof()
            async with asyncio.timeout(_LINGER_SECONDS):
                while await reader.read(4096):
                    pass

    def _wait(self, task: asyncio.Task[None] | None) -> None:
        """Count `task` as waiting for its request; drop the oldest waiting ones over the cap."""
        if task is None:
            return
        self.waiting[task] = None
        while len(self.waiting) > self.max_pending:
            oldest = next(iter(self.waiting))
            del self.waiting[oldest]
            oldest.cancel()
            log.debug("http_waiting_dropped")

    async def _handle(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        task: asyncio.Task[None] | None,
    ) -> None:
        self._wait(task)
        try:
            async with asyncio.timeout(self.read_timeout):
                method, path = await self._read_head(reader)
        except TimeoutError:
            log.debug("http_read_timeout")
            await self._send(writer, 408, _TEXT, b"request timeout\n", head=False)
            return
        except _BadRequest as e:
            await self._send(writer, e.status, _TEXT, _REASONS[e.status].encode() + b"\n", False)
            return
        finally:
            if task is not None:
                self.waiting.pop(task, None)
        head = method == "HEAD"
        if method not in ("GET", "HEAD"):
            await self._send(writer, 405, _TEXT, b"method not allowed\n", head, allow=True)
            return
        slots = self.probe_slots if path in _PROBES else self.slots
        if slots.locked():  # full: refuse at once rather than queue behind slow clients
            await self._send(writer, 503, _TEXT, b"busy\n", head)
            return
        async with slots:
            status, ctype, body = await self._route(path)
            await self._send(writer, status, ctype, body, head)

    async def _read_head(self, reader: asyncio.StreamReader) -> tuple[str, str]:
        """The method and path of the request; the headers are read (bounded) and ignored."""
        total = 0
        first = b""
        while True:
            try:
                line = await reader.readline()
            except ValueError as e:  # one line longer than the stream limit
                raise _BadRequest(431) from e
            total += len(line)
            if total > self.max_header_bytes:
                raise _BadRequest(431)
            if not line.endswith(b"\n"):  # EOF before the end of the headers
                raise _BadRequest(400)
            if not first:
                first = line
                continue
            if line in (b"\r\n", b"\n"):
                break
        match = _REQUEST_LINE.fullmatch(first)
        if match is None or match.group(3) != b"1":
            raise _BadRequest(400)
        target = match.group(2).decode("ascii", "replace")
        if not target.startswith("/"):
            raise _BadRequest(400)
        return match.group(1).decode("ascii"), target.split("?", 1)[0]

    async def _route(self, path: str) -> tuple[int, str, bytes]:
        if path == "/healthz":
            alive = await self._guard(self._alive, default=False)
            return (200, _TEXT, b"ok\n") if alive else (503, _TEXT, b"unhealthy\n")
        if path == "/readyz":
            state = await self._guard(self.readiness, default=ReadyState(False, None, 0))
            return (200 if state.ready else 503), "application/json", state.to_json()
        if path == "/metrics":
            try:
                # ~20 ms with hundreds of rules: render off the event loop so ticks are not held up.
                return 200, CONTENT_TYPE, await asyncio.to_thread(self.metrics.render)
            except Exception as e:
                log.warning("metrics_render_failed", error=type(e).__name__)
                return 500, _TEXT, b"metrics unavailable\n"
        return 404, _TEXT, b"not found\n"

    async def _alive(self) -> bool:
        return bool(self.liveness())

    async def _guard(self, call: Callable[[], Awaitable[T]], *, default: T) -> T:
        """`call()`'s result, or `default` if it raises or outlasts callback_timeout."""
        try:
            async with asyncio.timeout(self.callback_timeout):
                return await call()
        except Exception as e:
            log.warning("http_check_failed", error=type(e).__name__)
            return default

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        ctype: str,
        body: bytes,
        head: bool,
        *,
        allow: bool = False,
    ) -> None:
        lines = [
            f"HTTP/1.1 {status} {_REASONS[status]}",
            f"Content-Type: {ctype}",
            f"Content-Length: {len(body)}",
            "Cache-Control: no-store",
            "Connection: close",
        ]
        if allow:
            lines.append("Allow: GET, HEAD")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("ascii"))
        if not head:
            writer.write(body)
        async with asyncio.timeout(self.read_timeout):  # a client that never reads is dropped
            await writer.drain()

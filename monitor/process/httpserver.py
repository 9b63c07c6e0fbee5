"""The daemon's HTTP listener: uvicorn (h11) serving `monitor.process.httpapp`. Does network I/O.

Routes (`monitor.process.httpapp`): GET or HEAD `/healthz` (200 "ok" while `liveness()` is True),
`/readyz` (200 or 503 with `{"store": bool, "rules_version": str|null, "rules": int}`, plus
`"stopping": true` once shutdown has started), `/metrics` (the exposition); POST `/feedback` when
a handler is given; any other path 404; any other method 405. A request whose `Host` names a
host the listener does not answer to gets 403 first (DNS rebinding; `allowed_hosts`,
monitor.net.hosts).

It faces whatever can reach the port, so a connection can never crash or stall the daemon. uvicorn
parses HTTP; what it does not bound, the protocol class here does:
- the request line and headers must arrive within `read_timeout` of the connection (slowloris:
  408) and within `max_header_bytes` (431); anything unparsable gets 400;
- a connection takes no slot while its request is still arriving: idle and slowloris
  connections once starved the probes (64 of them made every healthcheck a 503). At most
  `max_pending` connections wait for their request; beyond that the oldest is dropped, so a
  newcomer (a probe sends its request at once) always gets in;
- an answer the client does not read within `read_timeout` is dropped with its connection;
- a body sent in chunks (`Transfer-Encoding: chunked`) is refused (411) before any of it is
  parsed: h11 spends about 13 µs on each chunk, so one client sending one-byte chunks kept the
  event loop busy half a second per read and held polls and deliveries up to 8 s. Every sender
  of the small bodies taken here (forms, JSON) can send a Content-Length;
- a refusal (400, 408, 411, 431) half-closes and discards what the client still sends, briefly,
  so a reset cannot destroy it before the client reads it; at most `max_pending` connections
  linger so at once (beyond, a refusal closes at once), so refusals cannot pile up open files.
Answering slots, guards and body limits are the app's (`monitor.process.httpapp`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import re
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar, Final

import structlog
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from monitor.clock import Clock
from monitor.errors import ConfigError
from monitor.metrics import Metrics
from monitor.net.hosts import host_check
from monitor.process.httpapp import App, Console, Feedback

__all__ = ["DEFAULT_ADDR", "Heartbeat", "ReadyState", "Server", "parse_addr", "serve"]

DEFAULT_ADDR: Final = "127.0.0.1:9464"
log = structlog.get_logger(__name__)

_REASONS: Final = {
    400: "Bad Request",
    408: "Request Timeout",
    411: "Length Required",
    431: "Request Header Fields Too Large",
}
_SAYS: Final = {411: "length required: send the body with a Content-Length, not in chunks"}
_END_OF_HEAD: Final = re.compile(rb"\n\r?\n")
_LINGER_SECONDS: Final = 0.5
_CLOSE_GRACE_SECONDS: Final = 1.0


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


@dataclass(frozen=True)
class _Limits:
    read_timeout: float
    max_header_bytes: int
    max_pending: int


class _Protocol(H11Protocol):
    """uvicorn's h11 protocol with the limits it lacks (see the module doc). `serve` makes a
    subclass per server that carries its `limits` and its own `waiting` connections."""

    limits: ClassVar[_Limits]
    # Connections still sending their request, oldest first (dicts keep insertion order).
    waiting: ClassVar[dict[_Protocol, None]]
    # Connections lingering after a refusal.
    lingering: ClassVar[set[_Protocol]]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._head_bytes = 0
        self._tail = b""
        self._head_done = False
        self._refused = False
        self._timer: asyncio.TimerHandle | None = self.loop.call_later(
            self.limits.read_timeout, self._head_timeout
        )
        waiting = type(self).waiting
        waiting[self] = None
        while len(waiting) > self.limits.max_pending:
            oldest = next(iter(waiting))
            del waiting[oldest]
            log.debug("http_waiting_dropped")
            oldest._close()

    def connection_lost(self, exc: Exception | None) -> None:
        type(self).waiting.pop(self, None)
        type(self).lingering.discard(self)
        self._cancel_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering after a refusal: drop what still comes
        if not self._head_done:
            seen = self._tail + data
            end = _END_OF_HEAD.search(seen)
            taken = (end.end() - len(self._tail)) if end else len(data)
            self._head_bytes += taken
            self._tail = seen[-3:]
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse(431)
                return
            if 0 < taken < len(data):  # the head ends in this read: h11 reads it alone first
                self._receive(data[:taken])
                if self._refused:
                    return
                data = data[taken:]
        self._receive(data)

    def _receive(self, data: bytes) -> None:
        super().data_received(data)
        if not self._head_done and self.cycle is not None:  # the request's head is read
            self._head_done = True
            self._cancel_timer()
            type(self).waiting.pop(self, None)
            if any(name == b"transfer-encoding" for name, _ in self.headers):
                # Refused before a byte of the body is parsed (see the module doc). The app,
                # already started, is told the client left, so its answer is dropped.
                self.cycle.disconnected = True
                self.cycle.message_event.set()
                self._refuse(411)

    def eof_received(self) -> bool | None:  # type: ignore[override]  # asyncio's own type
        if self._refused:
            self._close()
            return None
        if not self._head_done:
            if self._head_bytes:  # closed in the middle of the head
                self._refuse(400)
                return True
            return None  # connected and left: nothing to answer
        return True  # a request is being answered: keep the socket for the answer

    def send_400_response(self, msg: str) -> None:
        self._refuse(400)

    def on_response_complete(self) -> None:
        if self.transport.is_closing():  # the answer is being written: bound how long
            self._cancel_timer()
            self._timer = self.loop.call_later(self.limits.read_timeout, self.transport.abort)
        super().on_response_complete()

    def _head_timeout(self) -> None:
        self._timer = None
        if not self._head_done and not self.transport.is_closing():
            log.debug("http_read_timeout")
            self._refuse(408)

    def _refuse(self, status: int) -> None:
        """Answer `status` and close, lingering (see the module doc)."""
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        type(self).waiting.pop(self, None)
        body = (_SAYS.get(status, _REASONS[status].lower()) + "\n").encode()
        head = (
            f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
        )
        self.transport.write(head.encode("ascii") + body)
        with contextlib.suppress(Exception):
            if self.transport.can_write_eof():
                self.transport.write_eof()
        self._cancel_timer()
        lingering = type(self).lingering
        if len(lingering) >= self.limits.max_pending:  # refusals by the thousand: no lingering
            self._close()
            return
        lingering.add(self)
        self._timer = self.loop.call_later(_LINGER_SECONDS, self._close)

    def _close(self) -> None:
        self._cancel_timer()
        if not self.transport.is_closing():
            self.transport.close()
        # A close still flushing an unread answer ends after read_timeout at the latest.
        self._timer = self.loop.call_later(self.limits.read_timeout, self.transport.abort)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class Server:
    """A running listener. `port` is the bound port (useful with port 0); `close()` stops it."""

    def __init__(self, server: uvicorn.Server, sock: socket.socket) -> None:
        self._server = server
        self._sock = sock
        sockname = sock.getsockname()
        self.host: str = sockname[0]
        self.port: int = sockname[1]

    async def close(self) -> None:
        """Stop listening and drop the connections still open (answers in progress get a
        moment to finish)."""
        server = self._server
        for listener in server.servers:
            listener.close()
        for connection in list(server.server_state.connections):
            with contextlib.suppress(Exception):  # h11 may refuse a state change: closing anyway
                connection.shutdown()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_CLOSE_GRACE_SECONDS):
                # ASYNC110: uvicorn's task set has no event to wait on
                while server.server_state.tasks:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
        for task in list(server.server_state.tasks):
            task.cancel()
        for connection in list(server.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()
        await asyncio.gather(*server.server_state.tasks, return_exceptions=True)
        for listener in server.servers:
            await listener.wait_closed()
        self._sock.close()

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _bind(host: str, port: int, addr: str, source: str) -> socket.socket:
    """A listening socket on host:port; ConfigError naming `source` when it cannot be had."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, sockaddr = infos[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(sockaddr)
            sock.listen(1024)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
    except OSError as e:  # socket.gaierror is an OSError too
        reason = "address already in use" if e.errno == errno.EADDRINUSE else (e.strerror or str(e))
        if isinstance(e, socket.gaierror):
            reason = f"unknown host ({e.strerror})"
        raise ConfigError(
            f"cannot listen on {addr} ({source}): {reason}; choose another host:port"
            " (an empty value turns the listener off)"
        ) from e
    return sock


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
    feedback: Feedback | None = None,
    max_body_bytes: int = 16_384,
    console: Console | None = None,
    allowed_hosts: Sequence[str] = (),
) -> Server:
    """Start listening on `addr`. ConfigError for a bad address or one that cannot be bound,
    naming `source`: where the address was set (`NEWSMON_HTTP_ADDR`, `http_addr in FILE`).
    `feedback` None: POST /feedback is off (405, as a POST to any path not served; a GET 404).
    `allowed_hosts` is `http_allowed_hosts`: the `Host` names answered besides localhost and IP
    addresses (monitor.net.hosts)."""
    host, port = parse_addr(addr)
    app = App(
        metrics=metrics, liveness=liveness, readiness=readiness,
        not_ready=ReadyState(False, None, 0), read_timeout=read_timeout,
        callback_timeout=callback_timeout, max_connections=max_connections,
        feedback=feedback, max_body_bytes=max_body_bytes, console=console,
        max_bodies=max(1, max_pending),
    )  # fmt: skip
    limits = _Limits(read_timeout, max_header_bytes, max(1, max_pending))
    protocol = type("Protocol", (_Protocol,), {"limits": limits, "waiting": {}, "lingering": set()})
    config = uvicorn.Config(
        app,
        http=protocol,
        ws="none",
        lifespan="off",
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        h11_max_incomplete_event_size=max_header_bytes,
        timeout_keep_alive=max(1, int(read_timeout)),
    )
    # uvicorn says "Invalid HTTP request received." at WARNING for each bad request: whoever
    # can reach the port could flood the log. Our own debug lines say it instead.
    logging.getLogger("uvicorn.error").setLevel(logging.ERROR)
    sock = _bind(host, port, addr, source)
    server = uvicorn.Server(config)
    try:
        # Decided on the address bound: `localhost` or a name in http_addr resolve to one.
        try:
            app.hosts = host_check(allowed_hosts, sock.getsockname()[0], named=host)
        except ValueError as e:  # the config checks the entries; a direct caller may not
            raise ConfigError(f"http_allowed_hosts: {e}") from e
        config.load()
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=[sock])
    except BaseException:
        sock.close()
        raise
    result = Server(server, sock)
    # host_names: "checked" (localhost, IP addresses and the listed names) or "any", so the
    # cause of a proxy's 403s is in the start-up lines.
    log.info(
        "http_listening",
        host=result.host,
        port=result.port,
        host_names="any" if app.hosts is None else "checked",
    )
    return result

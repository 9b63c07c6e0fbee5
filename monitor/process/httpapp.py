"""The daemon's HTTP routes as an ASGI application: /healthz, /readyz, /metrics, POST /feedback
when a token is configured, and the console under /ui when it is on (monitor.console). Served by
`monitor.process.httpserver`; no sockets here.

Every response closes its connection (`Connection: close`): one request per connection, as
before, so no keep-alive state can pile up. A request never crashes or stalls the daemon:
- at most `max_connections` requests are answered at once, and the probes (`/healthz`,
  `/readyz`) have slots of their own, so slow `/metrics` readers cannot starve them; a request
  over its limit gets 503 at once rather than queueing;
- the liveness, readiness and render callbacks are guarded: an exception or a hang is a 503/500;
- a body is read only up to `max_body_bytes` and within `read_timeout` (413, 408); a body the route
  does not want is read and dropped first (bounded alike), because closing a socket with unread
  input makes the kernel send a reset that can destroy the answer before the client reads it;
- a POST's body is read before the request takes an answering slot, in `max_bodies` slots of
  its own (503 past them): 64 clients sending their bodies a byte at a time held every answering
  slot, and every console page and /metrics was a 503 until they timed out;
- at most `max_bodies` requests drop a body at once; past that it is left unread, so no number
  of slow senders keeps more connections (open files) than that.

A request whose `Host` the `hosts` check refuses (DNS rebinding, monitor.net.hosts) gets 403
before any route sees it, its body unread.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final, TypeVar

import structlog

from monitor.metrics import CONTENT_TYPE, Metrics
from monitor.net.hosts import HostCheck

if TYPE_CHECKING:
    from monitor.console.web import Reply as ConsoleReply
    from monitor.console.web import Request as ConsoleRequest
    from monitor.feedback.http import Answer as FeedbackAnswer

__all__ = ["App", "Console", "Feedback", "Response"]

log = structlog.get_logger(__name__)
T = TypeVar("T")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

TEXT: Final = "text/plain; charset=utf-8"
JSON: Final = "application/json"
_PROBES: Final = frozenset({"/healthz", "/readyz"})
_DRAIN_MAX: Final = 1 << 20  # an unwanted body is read and dropped up to this much
# Said to whoever sent a refused Host: what to change, never the Host itself.
HOST_REFUSED: Final = (
    b"this listener does not answer to that host name (a guard against DNS rebinding);"
    b" to reach it under that name, add the name to http_allowed_hosts"
    b" (NEWSMON_HTTP_ALLOWED_HOSTS)\n"
)
_LOGGED_HOSTS_MAX: Final = 64  # refused names logged at warning; later ones at debug


class Response:
    __slots__ = ("body", "ctype", "headers", "status")

    def __init__(self, status: int, ctype: str, body: bytes, **headers: str) -> None:
        self.status, self.ctype, self.body, self.headers = status, ctype, body, headers

    @classmethod
    def json(cls, status: int, data: object, **headers: str) -> Response:
        return cls(status, JSON, json.dumps(data, ensure_ascii=False).encode() + b"\n", **headers)


# The console under /ui (monitor.console.app.Console): a request in, a reply out.
Console = Callable[["ConsoleRequest"], Awaitable["ConsoleReply"]]

# POST /feedback: (the request's headers, its body) -> an answer sent as JSON. Reading the body
# is the app's job (bounded); the handler decides (monitor.feedback.http).
Feedback = Callable[[dict[str, str], bytes], Awaitable["FeedbackAnswer"]]


class _BodyError(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


class App:
    """The ASGI callable. `liveness`, `readiness` and `metrics` as in
    `monitor.process.httpserver.serve`; `feedback` None turns POST /feedback off (405 for a
    POST, 404 for a GET, as on any path not served)."""

    def __init__(
        self,
        *,
        metrics: Metrics,
        liveness: Callable[[], bool],
        readiness: Callable[[], Awaitable[Any]],
        not_ready: Any,
        read_timeout: float,
        callback_timeout: float,
        max_connections: int,
        feedback: Feedback | None = None,
        max_body_bytes: int = 16_384,
        console: Console | None = None,
        max_bodies: int = 256,
        hosts: HostCheck | None = None,
    ) -> None:
        self.metrics = metrics
        self.liveness = liveness
        self.readiness = readiness
        self.not_ready = not_ready
        self.read_timeout = read_timeout
        self.callback_timeout = callback_timeout
        self.feedback = feedback
        self.console = console
        self.max_body_bytes = max_body_bytes
        self.slots = asyncio.Semaphore(max(1, max_connections))
        self.probe_slots = asyncio.Semaphore(max(1, max_connections))
        self.body_slots = asyncio.Semaphore(max(1, max_bodies))
        self.drain_slots = asyncio.Semaphore(max(1, max_bodies))
        self.hosts = hosts
        self._refused_hosts: set[str] = set()
        self._metrics_thread = ThreadPoolExecutor(1, thread_name_prefix="newsmon-metrics")
        self._rendering: asyncio.Future[bytes] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan is off; anything else is not ours
            return
        try:
            response = await self._answer(scope, receive)
        # BLE001: a bug must not become uvicorn's traceback in the log
        except Exception as e:  # noqa: BLE001
            log.warning("http_handler_failed", error=type(e).__name__)
            response = Response(500, TEXT, b"internal error\n")
        if self.console is not None and _console_path(scope["path"]):
            # Refusals made here (busy, too large, too slow, a bug) are console answers too.
            from monitor.console.web import SECURITY_HEADERS

            response.headers = {**SECURITY_HEADERS, **response.headers}
        await _send(send, response)

    async def _answer(self, scope: Scope, receive: Receive) -> Response:
        method: str = scope["method"]
        path: str = scope["path"]
        if scope["http_version"] not in ("1.0", "1.1") or not scope["raw_path"].startswith(b"/"):
            await self._drain(receive)
            return Response(400, TEXT, b"Bad Request\n")
        if self.hosts is not None and not self._host_accepted(scope):
            await self._drain(receive)
            return Response(403, TEXT, HOST_REFUSED)
        if self.console is not None and _console_path(path):
            return await self._console(scope, receive)
        if path == "/feedback" and self.feedback is not None:
            if method != "POST":
                await self._drain(receive)
                return Response(405, TEXT, b"method not allowed\n", allow="POST")
            try:
                body = await self._read_body(scope, receive)
            except _BodyError as e:
                return e.response
            if self.slots.locked():
                return Response(503, TEXT, b"busy\n")
            async with self.slots:
                headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
                answer = await self.feedback(headers, body)
                return Response.json(answer.status, answer.data, **answer.headers)
        await self._drain(receive)
        if method not in ("GET", "HEAD"):
            return Response(405, TEXT, b"method not allowed\n", allow="GET, HEAD")
        slots = self.probe_slots if path in _PROBES else self.slots
        if slots.locked():  # full: refuse at once rather than queue behind slow clients
            return Response(503, TEXT, b"busy\n")
        async with slots:
            return await self._route(path)

    def _host_accepted(self, scope: Scope) -> bool:
        """Whether the `hosts` check accepts the request's Host; a refusal is logged, at
        warning the first time for each of the first names (an operator behind a proxy needs
        to see which name to list), then at debug (whoever reaches the port could flood it)."""
        assert self.hosts is not None
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
        if self.hosts.accepts(host):
            return True
        shown = (host or "")[:100]
        if shown not in self._refused_hosts and len(self._refused_hosts) < _LOGGED_HOSTS_MAX:
            self._refused_hosts.add(shown)
            log.warning("http_host_refused", host=shown, setting="http_allowed_hosts")
        else:
            log.debug("http_host_refused", host=shown)
        return False

    async def _console(self, scope: Scope, receive: Receive) -> Response:
        """A console request: the body read (bounded) for a POST, then the console's answer in
        the same slots as /metrics (the probes keep theirs)."""
        from monitor.console.web import Request as ConsoleRequest

        assert self.console is not None
        try:
            body = await self._read_body(scope, receive)
        except _BodyError as e:
            return e.response
        if self.slots.locked():
            return Response(503, TEXT, b"busy\n")
        async with self.slots:
            client = scope.get("client") or ("", 0)
            request = ConsoleRequest(
                method=scope["method"],
                path=scope["path"],
                query=scope.get("query_string", b"").decode("latin-1"),
                headers={k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
                body=body,
                client=str(client[0]),
                scheme=scope.get("scheme", "http"),
            )
            reply = await self.console(request)
            return Response(reply.status, reply.ctype, reply.body, **reply.headers)

    async def _route(self, path: str) -> Response:
        if path == "/healthz":
            alive = await self._guard(self._alive, default=False)
            return Response(200, TEXT, b"ok\n") if alive else Response(503, TEXT, b"unhealthy\n")
        if path == "/readyz":
            state = await self._guard(self.readiness, default=self.not_ready)
            return Response(200 if state.ready else 503, JSON, state.to_json())
        if path == "/metrics":
            try:
                return Response(200, CONTENT_TYPE, await self._metrics_body())
            # BLE001: a render bug answers 500, never kills the listener
            except Exception as e:  # noqa: BLE001
                log.warning("metrics_render_failed", error=type(e).__name__)
                return Response(500, TEXT, b"metrics unavailable\n")
        return Response(404, TEXT, b"not found\n")

    async def _metrics_body(self) -> bytes:
        """The exposition, rendered off the event loop (160 ms with 10,000 rules and 1,000
        feeds) on a thread of its own, one render at a time; a request that comes during a
        render shares it. On the loop's default pool, where the daemon's store calls run, a
        flood of scrapes (no credential needed) took every thread and the daemon waited."""
        if self._rendering is None:
            loop = asyncio.get_running_loop()
            self._rendering = loop.run_in_executor(self._metrics_thread, self.metrics.render)
            self._rendering.add_done_callback(self._rendered)
        return await asyncio.shield(self._rendering)

    def _rendered(self, future: asyncio.Future[bytes]) -> None:
        self._rendering = None
        if not future.cancelled():
            future.exception()  # retrieved: each waiter sees it; none is left unread

    async def _alive(self) -> bool:
        return bool(self.liveness())

    async def _guard(self, call: Callable[[], Awaitable[T]], *, default: T) -> T:
        """`call()`'s result, or `default` if it raises or outlasts callback_timeout."""
        try:
            async with asyncio.timeout(self.callback_timeout):
                return await call()
        except Exception as e:  # noqa: BLE001 - a failing health callback reads as unhealthy
            log.warning("http_check_failed", error=type(e).__name__)
            return default

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        """A POST's body (`_body`), read in the body slots, before any answering slot is taken
        (see the module doc); any other method's body is dropped (`_drain`)."""
        if scope["method"] != "POST":
            await self._drain(receive)
            return b""
        if self.body_slots.locked():
            await self._drain(receive)
            raise _BodyError(Response(503, TEXT, b"busy\n"))
        async with self.body_slots:
            return await self._body(scope, receive)

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        """The whole body: 413 past `max_body_bytes` (said by Content-Length or counted), 408
        when it does not arrive within `read_timeout`."""
        cap = self.max_body_bytes
        too_large = Response.json(413, {"error": f"the body is larger than {cap} bytes"})
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > cap:
                await self._drain(receive)
                raise _BodyError(too_large)
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.read_timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise _BodyError(Response.json(400, {"error": "the body was cut off"}))
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > cap:
                        if message.get("more_body", False):
                            await self._drain(receive)
                        raise _BodyError(too_large)
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError:
            raise _BodyError(Response.json(408, {"error": "the body took too long"})) from None

    async def _drain(self, receive: Receive) -> None:
        """Read and drop what is left of the body, bounded in size and time, and in how many
        requests do it at once (`max_bodies`): past that the body is left unread and the
        answer may be lost to a reset. Unbounded, clients sending bodies slowly to any route
        held a connection each for `read_timeout`: one client opened 1,000 a second, and a
        daemon under the usual limit of 1,024 open files could no longer poll or deliver."""
        if self.drain_slots.locked():
            return
        size = 0
        async with self.drain_slots:
            try:
                async with asyncio.timeout(self.read_timeout):
                    while size <= _DRAIN_MAX:
                        message = await receive()
                        size += len(message.get("body", b""))
                        if message["type"] != "http.request" or not message.get("more_body"):
                            return
            except TimeoutError:
                return


def _console_path(path: str) -> bool:
    return path == "/ui" or path.startswith("/ui/")


async def _send(send: Send, response: Response) -> None:
    headers = [
        (b"content-type", response.ctype.encode()),
        (b"content-length", str(len(response.body)).encode()),
        (b"cache-control", b"no-store"),
        (b"connection", b"close"),
    ]
    headers += [(k.replace("_", "-").encode(), v.encode()) for k, v in response.headers.items()]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})

"""The feed client: plain HTTP/1.1 GETs for feed polls, h11 over asyncio streams. Does I/O.

Why not httpx here: a conditional GET answered 304 cost about 0.9 ms of CPU through httpx and
httpcore (request and response models, anyio streams, the pool's bookkeeping) against about
0.25 ms through h11 (the HTTP/1.1 state machine httpcore itself uses) on an asyncio stream; see
docs/design-notes.md. Deliveries and the health check keep httpx (`monitor.net.client`).

What it keeps from the httpx client it replaces on this path:
- The address guard at connect time: the host is resolved here, refused if ANY address is
  refused, and the socket connects to a checked IP literal (no second lookup). Every redirect
  hop is a new `get`, so every hop's connection is checked; a pooled connection is only ever
  reused for the origin (scheme, host, port) it was checked for.
- TLS verification with the process's shared context; SNI and the certificate check use the
  host name of the URL, not the address connected to.
- No proxies, no cookies, no redirects followed, no environment read at all.
- Per-read and connect timeouts (the overall deadline is `fetch`'s).
- Responses are streamed raw (`FeedResponse.aiter_raw`); decoding and caps are `fetch`'s.

A connection goes back to the pool only when its exchange was read to the end, both sides
may keep it open and no byte arrived beyond the answer (one is checked again before reuse: a
server must not answer a request before it is sent); any other ending closes it. A reused
connection that the server closed while it sat idle is retried once on a new one (a GET is
safe to resend) when nothing of the answer had arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

import h11
import httpx

from monitor.errors import NewsmonError
from monitor.net.connect import (
    USER_AGENT,
    Resolver,
    checked_addresses,
    default_context,
    system_resolver,
)
from monitor.net.failures import connect_reason
from monitor.net.guard import AddressGuard

# httpcore's limit for a response head (h11's own default is 16 KiB).
_MAX_HEAD = 100 * 1024
_READ_SIZE = 64 * 1024
# h11 events handled between turns given back to the event loop. A read from a full stream
# buffer does not suspend, and a body in 1-byte chunks is one event per byte: without a turn
# now and then, a few hundred KiB of them hold every other task, and the fetch's own deadline,
# for seconds.
_EVENTS_PER_TURN = 256
_DEFAULT_PORTS = {"http": 80, "https": 443}
# 1xx answers taken before the final one (a 100 Continue, a few 103 Early Hints): they carry no
# body and count against no cap, so without a bound they could come until the deadline.
_MAX_INFORMATIONAL = 16

Origin = tuple[str, str, int]


class HTTPFailure(NewsmonError):
    """An exchange that failed below HTTP semantics; `fetch` words it as a `FeedError`.

    `kind`: connect, tls or timeout (the `FeedError` kinds); `detail`: what happened, without
    the URL (the caller prefixes the one the user asked for).
    """

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


@dataclass(eq=False)
class _Connection:
    """One kept-alive connection to an origin, with its HTTP/1.1 state."""

    origin: Origin
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    h11: h11.Connection = field(
        default_factory=lambda: h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEAD)
    )
    idle_since: float = 0.0
    events: int = 0
    received: int = 0  # bytes read from the socket, all exchanges together

    def usable(self, now: float, expiry: float) -> bool:
        return (
            now - self.idle_since < expiry
            and not self.unsolicited()
            and not self.reader.at_eof()
            and not self.writer.transport.is_closing()
        )

    def unsolicited(self) -> bool:
        """Whether bytes arrived that no request asked for: past the end of the last answer
        (a 304 with a body, a Content-Length shorter than the body), or while the connection
        sat idle. Sending a request on it would take them as its answer."""
        # StreamReader has no public look at its buffer; it holds what the transport has read.
        return bool(self.h11.trailing_data[0]) or bool(getattr(self.reader, "_buffer", b""))

    def close(self) -> None:
        self.writer.close()


class FeedResponse:
    """A streamed answer: status, reason, headers (lower-case names; repeated ones joined with
    ", " as httpx does), and the raw body through `aiter_raw` (transfer coding undone, content
    coding not). `aclose` must be called: it returns or closes the connection.

    `wire_bytes`: the bytes received after the head so far, chunk framing included (a body in
    1-byte chunks behind long chunk extensions is small, its wire is not).
    """

    def __init__(
        self,
        client: FeedClient,
        connection: _Connection,
        url: httpx.URL,
        head: h11.Response,
        pending: Sequence[h11.Data],
        ended: bool,
        head_end: int,
    ) -> None:
        self._client = client
        self._head_end = head_end
        self.wire_bytes = connection.received - head_end
        self._connection: _Connection | None = connection
        self.url = url
        self.status = head.status_code
        self.reason = head.reason.decode("latin-1")
        headers: dict[str, str] = {}
        for name, value in head.headers:
            key = name.decode("latin-1")
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        self.headers = headers
        self._pending = list(pending)
        self._ended = ended
        if ended:
            self._release()

    def _release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            self._client._release(connection)

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        """The body as it arrives, in pieces of at most the read size."""
        pending, self._pending = self._pending, []
        for data in pending:
            yield bytes(data.data)
        while not self._ended:
            connection = self._connection
            if connection is None:
                return
            event = await self._client._next_event(connection)
            self.wire_bytes = connection.received - self._head_end
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self._ended = True
                self._release()

    async def aclose(self) -> None:
        """Return the connection when the exchange ended cleanly, else close it."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


class FeedClient:
    """Guarded HTTP/1.1 GETs with a small keep-alive pool per origin. Use as `async with`.

    `max_idle` connections are kept open between requests (all origins together) for at most
    `keepalive_expiry` seconds each; connections in use are bounded by the caller (the per-host
    and total limits of `HostLimiter`). `resolver` and `clock` are injectable for tests.
    """

    def __init__(
        self,
        guard: AddressGuard,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        user_agent: str = USER_AGENT,
        verify: ssl.SSLContext | bool = True,
        max_idle: int = 20,
        keepalive_expiry: float = 5.0,
        resolver: Resolver = system_resolver,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.guard = guard
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._user_agent = user_agent
        # The default context (the CA bundle read: ~30-40 ms) is made at the first https
        # connection: a round over plain http feeds never needs it.
        self._verify = verify
        self._context = verify if isinstance(verify, ssl.SSLContext) else None
        self._max_idle = max_idle
        self._expiry = keepalive_expiry
        self._resolver = resolver
        self._clock = clock
        self._idle: dict[Origin, list[_Connection]] = {}
        self._idle_count = 0
        self._closed = False
        self.connections_opened = 0  # for tests and benchmarks: how many TCP connects

    async def __aenter__(self) -> FeedClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every idle connection (and wait briefly for them to go)."""
        self._closed = True
        idle = [c for pool in self._idle.values() for c in pool]
        self._idle.clear()
        self._idle_count = 0
        for connection in idle:
            connection.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await asyncio.gather(
                    *(c.writer.wait_closed() for c in idle), return_exceptions=True
                )

    async def get(self, url: httpx.URL, headers: Sequence[tuple[str, str]]) -> FeedResponse:
        """Send GET `url` with `headers` (plus Host and User-Agent); the answer's head, with the
        body still to be read. Raises HTTPFailure, or BlockedAddressError from the guard."""
        scheme = url.scheme
        if scheme not in _DEFAULT_PORTS:
            raise HTTPFailure("connect", f"not a fetchable URL: unsupported scheme {scheme!r}")
        host = url.raw_host.decode("ascii")
        if not host:
            raise HTTPFailure("connect", "not a fetchable URL: no host")
        port = url.port or _DEFAULT_PORTS[scheme]
        if not 0 <= port <= 65535:  # httpx.URL takes any integer; the socket raised OverflowError
            raise HTTPFailure("connect", f"not a fetchable URL: port {port} is out of range")
        origin = (scheme, host, port)
        request = h11.Request(
            method="GET",
            target=url.raw_path,
            headers=[
                (b"Host", url.netloc),
                (b"User-Agent", self._user_agent.encode("ascii")),
                *((name.encode("ascii"), _header_bytes(value)) for name, value in headers),
            ],
        )
        while True:
            connection = self._reusable(origin)
            reused = connection is not None
            if connection is None:
                connection = await self._connect(origin)
            try:
                return await self._exchange(connection, url, request, reused)
            except _StaleConnection:
                connection.close()  # the server let it go while it was idle: once more, anew
            except BaseException:
                connection.close()
                raise

    def _reusable(self, origin: Origin) -> _Connection | None:
        pool = self._idle.get(origin)
        now = self._clock()
        while pool:
            connection = pool.pop()
            self._idle_count -= 1
            if connection.usable(now, self._expiry):
                return connection
            connection.close()
        return None

    def _release(self, connection: _Connection) -> None:
        state = connection.h11
        if (
            self._closed
            or state.our_state is not h11.DONE
            or state.their_state is not h11.DONE
            or connection.unsolicited()
        ):
            connection.close()
            return
        state.start_next_cycle()
        connection.idle_since = self._clock()
        if self._idle_count >= self._max_idle:
            self._evict_oldest()
        self._idle.setdefault(connection.origin, []).append(connection)
        self._idle_count += 1

    def _evict_oldest(self) -> None:
        oldest: list[_Connection] | None = None
        for pool in self._idle.values():
            if pool and (oldest is None or pool[0].idle_since < oldest[0].idle_since):
                oldest = pool
        if oldest:
            oldest.pop(0).close()
            self._idle_count -= 1

    async def _addresses(self, host: str, port: int) -> list[str]:
        """The host's addresses, every one checked by the guard (a literal is checked too)."""
        try:
            return await checked_addresses(
                self.guard, self._resolver, host, port, self._connect_timeout
            )
        except TimeoutError as e:
            raise HTTPFailure("connect", "connecting timed out") from e
        except OSError as e:
            raise HTTPFailure("connect", connect_reason(e)) from e
        except UnicodeError as e:
            raise HTTPFailure("connect", f"cannot resolve {host}: {e}") from e

    def _tls(self) -> ssl.SSLContext:
        if self._context is None:
            self._context = default_context(bool(self._verify))
        return self._context

    async def _connect(self, origin: Origin) -> _Connection:
        scheme, host, port = origin
        addresses = await self._addresses(host, port)
        tls = self._tls() if scheme == "https" else None
        failure: HTTPFailure | None = None
        for address in addresses:  # every address passed the guard; try them in DNS order
            try:
                async with asyncio.timeout(self._connect_timeout):
                    reader, writer = await asyncio.open_connection(
                        address,
                        port,
                        ssl=tls,
                        server_hostname=host.strip("[]") if tls else None,
                        limit=_READ_SIZE,
                    )
            except TimeoutError as e:
                failure = HTTPFailure("connect", "connecting timed out")
                failure.__cause__ = e
            except ssl.SSLError as e:  # before OSError: SSLError is one
                raise HTTPFailure("tls", str(e) or type(e).__name__) from e
            except OSError as e:
                failure = HTTPFailure("connect", connect_reason(e))
                failure.__cause__ = e
            else:
                self.connections_opened += 1
                return _Connection(origin, reader, writer)
        assert failure is not None  # check_addresses never returns an empty list
        raise failure

    async def _exchange(
        self, connection: _Connection, url: httpx.URL, request: h11.Request, reused: bool
    ) -> FeedResponse:
        state = connection.h11
        try:
            connection.writer.write(state.send(request) + (state.send(h11.EndOfMessage()) or b""))
        except h11.LocalProtocolError as e:  # a header value h11 will not send
            raise HTTPFailure("connect", f"cannot send the request: {e}") from e
        except OSError as e:
            if reused:
                raise _StaleConnection from e
            raise HTTPFailure("connect", f"WriteError: {e}") from e
        stale = reused
        informational = 0
        while True:
            event = await self._next_event(connection, stale_if_empty=stale)
            stale = False
            if isinstance(event, h11.Response):
                break
            # 1xx answers (h11.InformationalResponse) are skipped, as httpcore does
            informational += 1
            if informational > _MAX_INFORMATIONAL:
                raise HTTPFailure(
                    "connect",
                    f"RemoteProtocolError: more than {_MAX_INFORMATIONAL} informational (1xx)"
                    " answers",
                )
        # Where the head ended in the byte count: what was read, less what h11 has not parsed.
        head_end = connection.received - len(state.trailing_data[0])
        pending: list[h11.Data] = []
        ended = False
        # What already arrived with the head (a 304's end, a small body); past a turn's worth
        # of events the rest is left to `aiter_raw`.
        while len(pending) < _EVENTS_PER_TURN:
            following = _pull(state)
            if isinstance(following, h11.Data):
                pending.append(following)
                continue
            ended = isinstance(following, h11.EndOfMessage)
            break
        return FeedResponse(self, connection, url, event, pending, ended, head_end)

    async def _next_event(self, connection: _Connection, *, stale_if_empty: bool = False) -> object:
        """The next h11 event, reading from the socket as needed (each read within the read
        timeout). Raises HTTPFailure for timeouts, resets and protocol errors."""
        state = connection.h11
        connection.events += 1
        if connection.events % _EVENTS_PER_TURN == 0:
            await asyncio.sleep(0)
        while True:
            event = _pull(state)
            if event is h11.PAUSED:
                raise HTTPFailure("connect", "RemoteProtocolError: unexpected data after answer")
            if event is not h11.NEED_DATA:
                if isinstance(event, h11.ConnectionClosed):
                    raise HTTPFailure(
                        "connect",
                        "RemoteProtocolError: Server disconnected without sending a response.",
                    )
                return event
            try:
                async with asyncio.timeout(self._read_timeout):
                    data = await connection.reader.read(_READ_SIZE)
            except TimeoutError as e:
                quiet = f"no data for {self._read_timeout:g} s"
                raise HTTPFailure("timeout", f"the server stopped answering ({quiet})") from e
            except OSError as e:
                if stale_if_empty:
                    raise _StaleConnection from e
                raise HTTPFailure("connect", f"ReadError: {e}") from e
            if not data and stale_if_empty:
                raise _StaleConnection
            if not data and state.their_state is h11.SEND_RESPONSE and not state.trailing_data[0]:
                # h11 would say "can't handle event type ConnectionClosed when role=SERVER and
                # state=SEND_RESPONSE"; this is httpx's wording of it.
                raise HTTPFailure(
                    "connect",
                    "RemoteProtocolError: Server disconnected without sending a response.",
                )
            stale_if_empty = False
            connection.received += len(data)
            state.receive_data(data)


def _pull(state: h11.Connection) -> object:
    """h11's next event; a protocol error (a bad head, a bad chunk header, even one that came
    in the same read as the head) is an HTTPFailure, never h11's own exception."""
    try:
        return state.next_event()
    except h11.RemoteProtocolError as e:
        raise HTTPFailure("connect", f"RemoteProtocolError: {e}") from e


def _header_bytes(value: str) -> bytes:
    """A header value as it came (answers are decoded as Latin-1, so an ETag goes back byte for
    byte); a value stored from a UTF-8 decoding, as httpx did, goes back as UTF-8."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


class _StaleConnection(Exception):
    """A kept-alive connection the server had closed: nothing of the answer arrived."""


def make_feed_client(
    guard: AddressGuard,
    *,
    connect_timeout: float = 10.0,
    read_timeout: float = 30.0,
    user_agent: str = USER_AGENT,
    verify: ssl.SSLContext | bool = True,
    resolver: Resolver = system_resolver,
) -> FeedClient:
    """The client feed polls fetch through; the same arguments as `make_client`."""
    return FeedClient(
        guard,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        user_agent=user_agent,
        verify=verify,
        resolver=resolver,
    )

"""The feed server of the tests, on 127.0.0.1. Does I/O (a server thread).

- `feed_server()`: mutable feeds with ETag and Last-Modified, 304 on a conditional GET, every
  request recorded, and routes for hostile answers (bombs, tricklers, redirect loops).
- `answering(answer)`: the same server for generated feeds (`tests.replicas_feeds`,
  `tests.story_feeds`): each GET is answered with what `answer(path, headers)` returns.
- `serving(handler)`: the thread, start and shutdown that both use.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol


@dataclass
class Served:
    body: bytes
    etag: str
    last_modified: str
    content_type: str = "application/rss+xml"


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    status: int


@dataclass
class FeedServer:
    port: int = 0
    feeds: dict[str, Served] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    validators: bool = True
    # Paths answered by a function instead (hostile servers: bombs, tricklers, redirect loops).
    routes: dict[str, Callable[[BaseHTTPRequestHandler], None]] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def put(self, path: str, body: bytes, *, content_type: str = "application/rss+xml") -> None:
        """Serve `body` at `path`; a changed body gets a new ETag and Last-Modified."""
        with self.lock:
            old = self.feeds.get(path)
            if old and old.body == body:
                return
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            self.feeds[path] = Served(body, etag, formatdate(usegmt=True), content_type)

    def hits(self, path: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path == path]


def rss(items: Sequence[tuple[str, str, str]], title: str = "Local Wire") -> bytes:
    """An RSS 2.0 document from (guid, title, description) triples, published an hour ago (items
    older than the retention window would be ignored)."""
    published = formatdate(time.time() - 3600, usegmt=True)
    entries = "".join(
        f"<item><guid isPermaLink='false'>{guid}</guid><title>{head}</title>"
        f"<link>https://news.example.com/{guid}</link>"
        f"<pubDate>{published}</pubDate>"
        f"<description>{text}</description></item>"
        for guid, head, text in items
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>{title}</title><link>https://news.example.com/</link>{entries}</channel></rss>"
    ).encode()


@contextmanager
def feed_server() -> Iterator[FeedServer]:
    state = FeedServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            route = state.routes.get(self.path)
            if route is not None:
                with state.lock:
                    state.requests.append(Request(self.path, dict(self.headers.items()), 0))
                # The client may give up mid-answer, as a deadline means it to.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    route(self)
                return
            with state.lock:
                served = state.feeds.get(self.path)
            status = 404
            if served is not None:
                status = 200
                inm = self.headers.get("If-None-Match")
                ims = self.headers.get("If-Modified-Since")
                # RFC 9110 13.2.2: If-None-Match, when sent, decides; If-Modified-Since only
                # without it (Last-Modified has one-second resolution).
                unchanged = inm == served.etag if inm is not None else ims == served.last_modified
                if state.validators and unchanged:
                    status = 304
            with state.lock:
                state.requests.append(Request(self.path, dict(self.headers.items()), status))
            self.send_response(status)
            if served is not None and state.validators:
                self.send_header("ETag", served.etag)
                self.send_header("Last-Modified", served.last_modified)
            if status == 200 and served is not None:
                self.send_header("Content-Type", served.content_type)
                self.send_header("Content-Length", str(len(served.body)))
                self.end_headers()
                self.wfile.write(served.body)
            else:
                self.send_header("Content-Length", "0")
                self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serving(Handler) as server:
        state.port = server.server_address[1]
        yield state


# What a generated feed answers a GET with: status, headers (Content-Length is added), body.
Answer = tuple[int, dict[str, str], bytes]


class Headers(Protocol):
    """A request's headers, looked up without regard to case."""

    def get(self, name: str, /) -> str | None: ...


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the default backlog of 5 refuses bursts of polls

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up (deadline, SIGKILL, a held answer) is part of the tests


@contextmanager
def answering(answer: Callable[[str, Headers], Answer]) -> Iterator[ThreadingHTTPServer]:
    """An HTTP/1.1 server on a free port of 127.0.0.1 that answers each GET with
    `answer(path, request headers)`, for as long as the block runs."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            status, headers, body = answer(self.path, self.headers)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serving(Handler, server_class=_QuietServer) as server:
        yield server


@contextmanager
def serving(
    handler: Callable[..., BaseHTTPRequestHandler],
    server_class: type[ThreadingHTTPServer] = ThreadingHTTPServer,
) -> Iterator[ThreadingHTTPServer]:
    """A threaded HTTP server on a free port of 127.0.0.1, serving until the block ends; then it
    is shut down, closed and its thread joined."""
    server = server_class(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

"""A real HTTP server on 127.0.0.1 for the fetch and guard tests (no tests of its own).

Routes are functions that write the whole response; the server records every request and counts
every TCP connection it accepts, so a test can prove that a refused URL reached nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Callable, Coroutine, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import pytest

Route = Callable[[BaseHTTPRequestHandler], None]
T = TypeVar("T")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, routes: dict[str, Route]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes = routes
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.connections = 0
        self.stopping = threading.Event()

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.connections += 1
        return True


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self.server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        route = self.server.routes.get(self.path.split("?", 1)[0])
        if route is None:
            self.send_error(404)
            return
        # The client may give up mid-answer, as the deadline tests want it to.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            route(self)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LocalServer:
    """`server.url('/feed')`; `server.routes['/feed'] = fn`; `server.requests`."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self._server = _Server({})
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.scheme = "https" if tls else "http"
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def routes(self) -> dict[str, Route]:
        return self._server.routes

    @property
    def requests(self) -> list[tuple[str, dict[str, str]]]:
        return self._server.requests

    @property
    def connections(self) -> int:
        return self._server.connections

    @property
    def stopping(self) -> threading.Event:
        return self._server.stopping

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def close(self) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    yield srv
    srv.close()


def keep_alive_server(
    monkeypatch: pytest.MonkeyPatch, routes: dict[str, Route] | None = None
) -> Iterator[LocalServer]:
    """A LocalServer that keeps connections open (BaseHTTPRequestHandler speaks HTTP/1.0, one
    request a connection, unless told otherwise), with `routes`; for a fixture to `yield from`."""
    monkeypatch.setattr(_Handler, "protocol_version", "HTTP/1.1")
    srv = LocalServer()
    srv.routes.update(routes or {})
    yield srv
    srv.close()


def respond(status: int = 200, body: bytes = b"", headers: dict[str, str] | None = None) -> Route:
    """A route that answers with a fixed status, headers and body."""

    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return route


def redirect(status: int, location: str) -> Route:
    return respond(status, headers={"Location": location})


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)

"""A real HTTP receiver on 127.0.0.1 for delivery tests (reusable by the end-to-end tests).

    with Receiver([Reply(503), Reply(200)]) as rx:      # reply i to request i; the last repeats
        ... post to rx.url ...
    rx.requests[0].headers["webhook-id"], rx.requests[0].body

`replies` may also be a function `(Received) -> Reply`, e.g. to answer by a fake clock. A Reply can
hang (`delay`), trickle its bytes (`trickle` seconds between bytes), or send an endless body
(`endless=True`); handler threads stop waiting when the receiver stops.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # wait this long before sending anything
    trickle: float = 0.0  # seconds between single bytes of the whole response
    trickle_body_only: bool = False  # send the status line and headers at once, trickle the body
    endless: bool = False  # after the headers, send body bytes until the client goes away


@dataclass(frozen=True)
class Received:
    index: int
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    at: float  # time.monotonic() when the request was read


Responder = Callable[[Received], Reply]


class Receiver:
    def __init__(self, replies: Sequence[Reply] | Responder = ()) -> None:
        self._replies = replies
        self.requests: list[Received] = []
        self.endless_bytes_sent = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _reply_for(self, received: Received) -> Reply:
        if callable(self._replies):
            return self._replies(received)
        if not self._replies:
            return Reply()
        return self._replies[min(received.index, len(self._replies) - 1)]

    def _handler_class(self) -> type[http.server.BaseHTTPRequestHandler]:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet tests
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                with receiver._lock:
                    received = Received(
                        index=len(receiver.requests),
                        method=self.command,
                        path=self.path,
                        headers={k.lower(): v for k, v in self.headers.items()},
                        body=body,
                        at=time.monotonic(),
                    )
                    receiver.requests.append(received)
                self._send(receiver._reply_for(received))

            do_GET = do_POST
            do_PUT = do_POST

            def _send(self, reply: Reply) -> None:
                if reply.delay and receiver._stop.wait(reply.delay):
                    return
                try:
                    reason = HTTPStatus(reply.status).phrase
                except ValueError:
                    reason = "Other"
                lines = [f"HTTP/1.1 {reply.status} {reason}", "Connection: close"]
                lines += [f"{k}: {v}" for k, v in reply.headers.items()]
                if not reply.endless:
                    lines.append(f"Content-Length: {len(reply.body)}")
                head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
                try:
                    if reply.trickle:
                        if reply.trickle_body_only:
                            self.wfile.write(head)
                        for byte in reply.body if reply.trickle_body_only else head + reply.body:
                            self.wfile.write(bytes([byte]))
                            if receiver._stop.wait(reply.trickle):
                                return
                    else:
                        self.wfile.write(head + reply.body)
                    while reply.endless and not receiver._stop.is_set():
                        self.wfile.write(b"x" * 16384)
                        with receiver._lock:
                            receiver.endless_bytes_sent += 16384
                except OSError:  # the client hung up: that is the point of these replies
                    return
                self.close_connection = True

        return Handler

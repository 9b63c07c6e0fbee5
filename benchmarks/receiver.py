"""A local webhook receiver for benchmarks: answers every POST with 204 and counts them.

Does I/O: a threaded HTTP server on 127.0.0.1 (port 0 unless given), run as its own process so its
CPU is not charged to the tool under test. It prints its port on the first line of stdout;
``GET /count`` answers ``{"count": N}`` with the POSTs received so far.

    python benchmarks/receiver.py [--port P]
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Counter:
    def __init__(self) -> None:
        self.value = 0
        self.lock = threading.Lock()


def make_server(port: int = 0) -> ThreadingHTTPServer:
    counter = _Counter()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(min(length, 10 * 1024 * 1024))
            with counter.lock:
                counter.value += 1
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            with counter.lock:
                body = json.dumps({"count": counter.value}).encode()
            self.send_response(200 if self.path == "/count" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="webhook receiver: 204 and count")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = make_server(args.port)
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

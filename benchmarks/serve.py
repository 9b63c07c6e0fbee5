"""Serve a folder of static feeds on 127.0.0.1 with ETag and Last-Modified; count what was asked.

Does I/O: starts nginx (Debian's package) as a child process with a generated config in a temp
dir, on a free port, `etag on`, one access-log line per request (status, validators sent, agent).
Stopped by its own pid. When nginx is missing it falls back to a small threaded Python server with
the same validators and log format, and says so (`Server.kind`). Only 127.0.0.1 is ever bound.

    with Server(feeds_dir) as server:
        mark = server.log_mark()
        ...                                  # a tool polls server.url("f0000.xml")
        print(server.stats_since(mark))      # {"requests": 200, "200": 180, "304": 20, ...}
"""

from __future__ import annotations

import contextlib
import email.utils
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

# One line per request: status, method, path, If-None-Match and If-Modified-Since as sent, and
# nginx's connection serial number (how many TCP connections a tool opened).
_LOG_FORMAT = (
    '$status $request_method $uri "$http_if_none_match" "$http_if_modified_since" $connection'
)

# nginx escapes a quote inside a value as \x22, so a quoted field never holds a bare quote.
_LOG_LINE = re.compile(r'^(\d{3}) \S+ \S+ "([^"]*)" "([^"]*)"(?: (\S+))?')

_NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 2;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
{user}
events {{ worker_connections 4096; }}
http {{
    default_type application/rss+xml;
    log_format bench '{fmt}';
    access_log {log} bench;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    keepalive_requests 100000;
    sendfile on;
    etag on;
    if_modified_since exact;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ try_files $uri =404; }}
    }}
}}
"""


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def parse_log_lines(lines: list[str]) -> dict[str, int]:
    """Counts of requests by status, of conditional ones, and of connections (pure)."""
    counts: Counter[str] = Counter()
    connections: set[str] = set()
    for line in lines:
        match = _LOG_LINE.match(line)
        if match is None:
            counts["unparsed"] += 1
            continue
        status, inm, ims, conn = match.groups()
        if conn and conn != "-":
            connections.add(conn)
        counts["requests"] += 1
        counts[status] += 1
        if inm not in ("", "-") or ims not in ("", "-"):
            counts["conditional"] += 1
    if connections:
        counts["connections"] = len(connections)
    return dict(counts)


class Server:
    """nginx (or the Python fallback) serving ``root`` on 127.0.0.1; a context manager."""

    def __init__(self, root: Path, *, prefer_nginx: bool = True) -> None:
        self.root = root.resolve()
        self.tmp = Path(tempfile.mkdtemp(prefix="newsmon-bench-http-"))
        os.chmod(self.tmp, 0o755)
        self.log_path = self.tmp / "access.log"
        self.port = 0
        self.kind = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._httpd: ThreadingHTTPServer | None = None
        self._prefer_nginx = prefer_nginx

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        nginx = shutil.which("nginx") or (
            "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
        )
        if nginx and self._prefer_nginx:
            self._start_nginx(nginx)
        else:
            self._start_python("nginx not found" if not nginx else "nginx not wanted")

    def _start_nginx(self, nginx: str) -> None:
        for _attempt in range(5):
            self.port = free_port()
            conf = self.tmp / "nginx.conf"
            # Workers run as root when we are root, so they can read a 0700 temp tree.
            user = "user root;" if os.geteuid() == 0 else ""
            conf.write_text(
                _NGINX_CONF.format(
                    tmp=self.tmp,
                    fmt=_LOG_FORMAT,
                    log=self.log_path,
                    port=self.port,
                    root=self.root,
                    user=user,
                )
            )
            self.log_path.touch()
            proc = subprocess.Popen(
                [nginx, "-c", str(conf), "-p", str(self.tmp), "-e", str(self.tmp / "error.log")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            if self._wait_listening(proc):
                self._proc = proc
                self.kind = "nginx"
                return
            self._kill(proc)
        raise RuntimeError(f"nginx did not start; see {self.tmp / 'error.log'}")

    def _wait_listening(self, proc: subprocess.Popen[bytes]) -> bool:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return True
            time.sleep(0.05)
        return False

    def _start_python(self, why: str) -> None:
        self.log_path.touch()
        handler = _make_handler(self.root, self.log_path)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        self.kind = f"python http.server ({why})"
        if why == "nginx not found":
            print("serve: nginx not found, falling back to Python's http.server", file=sys.stderr)

    def log_mark(self) -> int:
        """The access log's current size: pass it to ``stats_since``."""
        return self.log_path.stat().st_size

    def stats_since(self, mark: int) -> dict[str, int]:
        # nginx writes each line with one write(2) and no buffer: a short settle is enough.
        time.sleep(0.1)
        with self.log_path.open("rb") as fh:
            fh.seek(mark)
            text = fh.read().decode("utf-8", "replace")
        return parse_log_lines([line for line in text.splitlines() if line.strip()])

    def stop(self) -> None:
        if self._proc is not None:
            self._kill(self._proc)
            self._proc = None
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        shutil.rmtree(self.tmp, ignore_errors=True)

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            # SIGQUIT: nginx's graceful stop; its workers are in the group we created for it.
            proc.send_signal(signal.SIGQUIT)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _make_handler(root: Path, log_path: Path) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()
    serials = itertools.count(1)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            self.serial = next(serials)  # one handler per connection, like nginx's $connection

        def do_GET(self) -> None:
            path = (root / self.path.lstrip("/").split("?")[0]).resolve()
            inm = self.headers.get("If-None-Match", "")
            ims = self.headers.get("If-Modified-Since", "")
            if not path.is_relative_to(root) or not path.is_file():
                status, body, headers = 404, b"not found\n", {}
            else:
                st = path.stat()
                etag = f'"{int(st.st_mtime):x}-{st.st_size:x}"'
                modified = email.utils.formatdate(int(st.st_mtime), usegmt=True)
                headers = {"ETag": etag, "Last-Modified": modified}
                if (inm and inm == etag) or (not inm and ims == modified):
                    status, body = 304, b""
                else:
                    status, body = 200, path.read_bytes()
                    headers["Content-Type"] = "application/rss+xml"
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            with lock, log_path.open("a") as fh:
                quoted = [(v or "-").replace('"', "\\x22") for v in (inm, ims)]
                fh.write(f'{status} GET {self.path} "{quoted[0]}" "{quoted[1]}" {self.serial}\n')

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


if __name__ == "__main__":
    with Server(Path(sys.argv[1])) as srv:
        print(f"{srv.kind} serving {srv.root} on {srv.url('')} (Ctrl-C to stop)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)

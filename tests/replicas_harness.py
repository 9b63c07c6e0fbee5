"""Harness for several `newsmon run` replicas on one PostgreSQL database. Does I/O.

Shared by `tests/test_replicas.py` and `benchmarks/replicas.py`:

- `LoadFeedServer`: one ThreadingHTTPServer on 127.0.0.1 serving many generated RSS feeds, with
  ETags (304 on a match), an optional delay per response, and a way to add items to every feed.
- `fresh_database(url)`: a database of its own (created, then dropped with its connections).
- `Replica`: a `python -m monitor run` subprocess with its own http_addr port; reads its
  /metrics, stops with SIGTERM or SIGKILL (only the pid it started).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent

MATCHING_TITLE = "Troops dispatched to the border, report {guid}"
OTHER_TITLE = "Local bakery wins a prize, report {guid}"
RULE = """rules:
  - id: troops
    name: Troops dispatched
    query: troops NEAR/4 dispatched
    severity: high
"""


# -- feeds ---------------------------------------------------------------------------------------
@dataclass
class _Feed:
    items: list[tuple[str, str]] = field(default_factory=list)  # (guid, title), newest first
    version: int = 0
    body: bytes = b""


class LoadFeedServer:
    """`count` feeds at /f/<i>.rss; `add_round(n)` adds one item to each (every `match_every`-th
    feed's item matches the test rule). Keeps the newest `keep` items in a body."""

    def __init__(self, count: int, *, delay: float = 0.0, keep: int = 5) -> None:
        self.count = count
        self.delay = delay
        self.keep = keep
        self.feeds = [_Feed() for _ in range(count)]
        self.lock = threading.Lock()
        self.requests = 0
        self.not_modified = 0
        self.matching: list[str] = []  # guids of matching items added after the baseline
        for i in range(count):
            self._add(i, f"f{i}-base", OTHER_TITLE)
        server = _QuietServer(("127.0.0.1", 0), self._handler())
        self.server = server
        self.thread = threading.Thread(target=server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.port}/f/{i}.rss"

    def _add(self, i: int, guid: str, template: str) -> None:
        feed = self.feeds[i]
        feed.items.insert(0, (guid, template.format(guid=guid)))
        del feed.items[self.keep :]
        feed.version += 1
        feed.body = _rss(i, feed.items)

    def add_round(self, n: int, match_every: int = 2) -> int:
        """One new item in every feed; returns how many of them match."""
        return self.add_to(range(self.count), n, match_every)

    def add_to(self, feeds: Iterable[int], n: int, match_every: int = 2) -> int:
        """One new item (round `n`) in each of `feeds` (indices wrap); returns how many match."""
        matched = 0
        with self.lock:
            for index in feeds:
                i = index % self.count
                guid = f"f{i}-r{n}"
                match = (i + n) % match_every == 0
                self._add(i, guid, MATCHING_TITLE if match else OTHER_TITLE)
                if match:
                    self.matching.append(guid)
                    matched += 1
        return matched

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        state = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                match = re.fullmatch(r"/f/(\d+)\.rss", self.path)
                index = int(match.group(1)) if match else -1
                if state.delay:
                    time.sleep(state.delay)
                with state.lock:
                    state.requests += 1
                    feed = state.feeds[index] if 0 <= index < state.count else None
                    body = feed.body if feed else b""
                    etag = f'"v{feed.version}"' if feed else ""
                    fresh = feed is not None and self.headers.get("If-None-Match") == etag
                    state.not_modified += fresh
                if feed is None:
                    self.send_response(404)
                    body = b""
                elif fresh:
                    self.send_response(304)
                    body = b""
                else:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/rss+xml")
                if etag:
                    self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def __enter__(self) -> LoadFeedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the default backlog of 5 refuses bursts of polls

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up (deadline, SIGKILL) is part of these tests, not news


def _rss(i: int, items: list[tuple[str, str]]) -> bytes:
    entries = "".join(
        f"<item><guid isPermaLink='false'>{guid}</guid><title>{title}</title>"
        f"<link>https://news.example.com/{guid}</link>"
        f"<description>{title}.</description></item>"
        for guid, title in items
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>Feed {i}</title><link>https://news.example.com/</link>{entries}</channel></rss>"
    ).encode()


# -- database ------------------------------------------------------------------------------------
def database_url(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@contextlib.contextmanager
def fresh_database(url: str, prefix: str = "replicas") -> Iterator[str]:
    """A new empty database on the server `url` names; dropped afterwards (even if in use)."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_url(url, name)
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- replicas ------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(
    folder: Path,
    server: LoadFeedServer,
    receiver_url: str,
    *,
    interval: str,
    settings: Mapping[str, str] | None = None,
) -> Path:
    """A config with every feed of `server`, one webhook destination and the test rule."""
    rules = folder / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "troops.yaml").write_text(RULE)
    values = {
        "rules": str(rules),
        "allow_networks": '["127.0.0.1/32"]',
        "log_level": "warning",
        "log_format": "json",
        "jitter": "0.1",
        "per_host_concurrency": "100",  # every feed is on 127.0.0.1
    } | dict(settings or {})
    lines = [f"{key}: {value}" for key, value in values.items()]
    lines.append("feeds:")
    for i in range(server.count):
        lines.append(f"  - {{id: f{i}, url: '{server.url(i)}', interval: {interval}}}")
    lines += [
        "destinations:",
        "  - name: hook",
        "    type: webhook",
        f"    url: {receiver_url}",
        "    secret_env: REPLICAS_HOOK_SECRET",
    ]
    path = folder / "newsmon.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


SECRET = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="


class Replica:
    """One `newsmon run` subprocess."""

    def __init__(self, name: str, config: Path, database: str, logs: Path) -> None:
        self.name = name
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
        env |= {
            "NEWSMON_DATABASE_URL": database,
            "NEWSMON_HTTP_ADDR": f"127.0.0.1:{self.port}",
            "REPLICAS_HOOK_SECRET": SECRET,
            "PYTHONPATH": str(ROOT),
        }
        self.log_path = logs / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--config", str(config)],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.last_polls: float | None = None

    @property
    def pid(self) -> int:
        return int(self.proc.pid)

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())

    def polls(self) -> float:
        """`newsmon_polls_total` summed over statuses; remembered for after the process ends."""
        total = 0.0
        for line in self.metrics().splitlines():
            if line.startswith("newsmon_polls_total"):
                total += float(line.rsplit(" ", 1)[1])
        self.last_polls = total
        return total

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited {self.proc.returncode}: {self.tail()}")
            with contextlib.suppress(OSError):
                url = f"http://127.0.0.1:{self.port}/readyz"
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            time.sleep(0.2)
        raise AssertionError(f"{self.name} not ready in {timeout}s: {self.tail()}")

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return int(self.proc.returncode)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def tail(self, lines: int = 20) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


@contextlib.contextmanager
def replicas(n: int, config: Path, database: str, logs: Path) -> Iterator[list[Replica]]:
    started: list[Replica] = []
    try:
        for i in range(n):
            started.append(Replica(f"replica{i + 1}", config, database, logs))
        for replica in started:
            replica.wait_ready()
        yield started
    finally:
        for replica in started:
            replica.stop()

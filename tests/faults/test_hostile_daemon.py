"""`newsmon run` (a real process) with hostile feeds beside a healthy one, a 1 s parse budget:
10 MB under `charset=punycode`, 10 MB of `<a` in a description, and 10 MB of escaped HTML that no
check refuses (the stand-in for the next trap). The healthy feed keeps its schedule and alerts,
/healthz answers throughout, the daemon stays under 300 MB, and each hostile feed ends classified
(parsed with the charset ignored, `too_large`, `too_costly`) within its budget, backed off, and
shown in `feeds list`, /metrics and the log."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from monitor.feeds.budget import ParseBudget
from tests.daemon_support import DaemonProcess, daemon_env, wait_for, write_config, write_rules
from tests.feedserver import feed_server, rss
from tests.hostile import charset_header, escaped_html, stray_markup
from tests.receiver import Receiver

pytestmark = [pytest.mark.fault, pytest.mark.slow]

MB10 = 10_000_000
INTERVAL_S = 1.0  # write_config's interval for every feed
RUN_S = 25.0
SLACK_S = 5.0  # "interval + a few seconds" (the worst measured: 4.5 s, as all four start at once)
MEMORY_LIMIT_KB = 300 * 1024
# parse_cpu 0.5 s (the default is 5 s): the escaped HTML costs about 1.6-2.7 s of CPU, and the
# kernel counts the limit in whole seconds past what the worker used before (so at most 1.5 s;
# with 1 s it could have 2 s, which a fast machine parses this document within). The other
# documents parse in about 0.2 s.
BUDGET = ParseBudget(cpu_s=0.5)


def _status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (the parse workers), from /proc/*/stat."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


class Timed:
    """Routes that serve a body and note when each request came (time.time, as the log's)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.hits: dict[str, list[float]] = {}
        self.bodies: dict[str, tuple[str, bytes]] = {}

    def route(self, path: str, content_type: str, body: bytes) -> Callable[..., None]:
        self.bodies[path] = (content_type, body)

        def serve(handler: BaseHTTPRequestHandler) -> None:
            with self.lock:
                self.hits.setdefault(path, []).append(time.time())
                content_type, data = self.bodies[path]
            handler.send_response(200)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)

        return serve

    def times(self, path: str) -> list[float]:
        with self.lock:
            return list(self.hits.get(path, []))


def test_hostile_feeds_beside_a_healthy_one(tmp_path: Path) -> None:
    rules = write_rules(tmp_path / "rules", {"troops": ("troops", ["rx"])})
    timed = Timed()
    hostile = {
        "punycode": charset_header(MB10),
        "stray": stray_markup(MB10),
        "costly": escaped_html(MB10),
    }
    with feed_server() as server, Receiver() as rx:
        server.routes["/good"] = timed.route(
            "/good", "application/rss+xml", rss([("w0", "Weather", "Rain.")])
        )
        for name, (content_type, body) in hostile.items():
            server.routes[f"/{name}"] = timed.route(f"/{name}", content_type or "", body)
        config = write_config(
            tmp_path,
            feeds={name: server.url(f"/{name}") for name in ("good", *hostile)},
            destinations={"rx": rx.url},
            rules=rules,
            parse_cpu="500ms",
        )
        peak_daemon = peak_worker = 0
        # NEWSMON_PARSE_WORKERS=0 shows what the budget prevents (this test then fails).
        workers = os.environ.get("NEWSMON_PARSE_WORKERS", "2")
        env = daemon_env(NEWSMON_PARSE_WORKERS=workers)
        with DaemonProcess(config, tmp_path, env=env) as daemon:
            daemon.wait_healthy()
            started = time.monotonic()
            added = False
            while time.monotonic() - started < RUN_S:
                if not added and time.monotonic() - started > RUN_S / 2:
                    timed.bodies["/good"] = (
                        "application/rss+xml",
                        rss([("t1", "Troops cross the river", "Brigades."), ("w0", "W", "R.")]),
                    )
                    added = True
                assert daemon.get("/healthz")[0] == 200  # within the client's 5 s timeout
                pid = daemon.proc.pid
                peak_daemon = max(peak_daemon, _status_kb(pid, "VmHWM"))
                for child in _children(pid):
                    peak_worker = max(peak_worker, _status_kb(child, "VmHWM"))
                time.sleep(0.5)
            wait_for("the alert of the healthy feed", lambda: rx.requests, timeout=10)
            metrics = daemon.metrics()
            events = daemon.events("feed_error")
            listed = subprocess.run(
                [sys.executable, "-m", "monitor", "feeds", "list", "--json", "--config", config],
                env=daemon_env(),
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            ).stdout

    # The healthy feed kept its schedule: no gap between its polls beyond interval + slack.
    good = timed.times("/good")
    gaps = [b - a for a, b in itertools.pairwise(good)]
    print(  # the numbers for docs/reliability.md (pytest -s)
        f"healthy polls {len(good)}, gaps {[round(g, 1) for g in gaps]}; daemon peak "
        f"{peak_daemon // 1024} MB, worker peak {peak_worker // 1024} MB; fetches "
        + ", ".join(f"{n} {len(timed.times('/' + n))}" for n in hostile)
    )
    assert len(good) >= RUN_S / (INTERVAL_S + SLACK_S)
    assert max(gaps) < INTERVAL_S + SLACK_S, gaps
    assert json.loads(rx.requests[0].body)["item"]["title"] == "Troops cross the river"

    assert peak_daemon < MEMORY_LIMIT_KB, f"daemon peak {peak_daemon} kB"
    # A worker cannot pass its address-space limit; its resident peak stays below it.
    assert peak_worker < (BUDGET.memory >> 10) + 100 * 1024, f"worker peak {peak_worker} kB"

    feeds = {row["id"]: row for row in map(json.loads, listed.splitlines())}
    assert feeds["good"]["error_kind"] is None
    assert feeds["punycode"]["error_kind"] is None  # parsed, the charset ignored
    assert feeds["stray"]["error_kind"] == "too_large"
    assert feeds["costly"]["error_kind"] == "too_costly"

    def polls(status: str) -> float:
        return sum(v for (n, labels), v in metrics.items() if n == "newsmon_polls_total" and
                   dict(labels).get("status") == status)  # fmt: skip

    assert polls("too_costly") >= 1
    assert polls("too_large") >= 1
    kinds = {(e["feed"], e["kind"]) for e in events}
    assert ("costly", "too_costly") in kinds
    assert ("stray", "too_large") in kinds

    # Backed off: far fewer fetches than one a second, and each costly parse ended in time.
    for name in ("stray", "costly"):
        assert len(timed.times(f"/{name}")) < len(good) / 2, name
    fetches = timed.times("/costly")
    for event in (e for e in events if e["feed"] == "costly"):
        ended = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()
        fetched = max(t for t in fetches if t <= ended)
        assert ended - fetched < BUDGET.wall_s, event  # fetch and parse, within the budget


HUNG_FEEDS = 60


def test_a_host_that_never_answers_does_not_stall_the_other_feeds(tmp_path: Path) -> None:
    # 60 feeds of one host that takes the request and never answers (10 s deadline) beside a
    # feed of another host: the hung host's polls queued for its two connections, a deadline
    # each, while counting among the daemon's 50 polls in flight, and the other feed was polled
    # once in 45 s. Now they give up on it after 11 s without progress (the deadline and 1 s).
    rules = write_rules(tmp_path / "rules", {"troops": ("troops", ["rx"])})
    timed = Timed()
    release = threading.Event()

    def hang(handler: BaseHTTPRequestHandler) -> None:
        release.wait(60)  # until the test ends; the daemon gives up long before

    with feed_server() as server, Receiver() as rx:
        server.routes["/good"] = timed.route(
            "/good", "application/rss+xml", rss([("w0", "Weather", "Rain.")])
        )
        hung = {f"hung{n}": f"/hung{n}" for n in range(HUNG_FEEDS)}
        for path in hung.values():
            server.routes[path] = hang
        # Two spellings of 127.0.0.1: two hosts to the host limits, one address to the guard.
        feeds = {
            name: server.url(path).replace("127.0.0.1", "127.1") for name, path in hung.items()
        }
        config = write_config(
            tmp_path,
            feeds={"good": server.url("/good"), **feeds},
            destinations={"rx": rx.url},
            rules=rules,
            fetch_deadline="10s",
        )
        try:
            with DaemonProcess(config, tmp_path) as daemon:
                daemon.wait_healthy()
                started = time.time()
                time.sleep(RUN_S)
                events = daemon.events("feed_error")
        finally:
            release.set()

    good = [t for t in timed.times("/good") if t >= started - 1]
    gaps = [b - a for a, b in itertools.pairwise(good)]
    print(f"healthy polls {len(good)}, gaps {[round(g, 1) for g in gaps]}")  # pytest -s
    assert len(good) >= 6, good  # 11-12 here; once in 25 s before
    assert max(gaps) < 11 + SLACK_S, gaps  # the host's patience (deadline + 1 s), once
    gave_up = [e for e in events if "not fetched: 127.1" in e.get("error", "")]
    assert gave_up
    assert all(e["kind"] == "timeout" for e in gave_up)

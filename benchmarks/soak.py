"""A soak of `newsmon run`: does anything keep growing while the daemon runs?

Does I/O: generated feeds on nginx (127.0.0.1), a local server for the failing feeds and a flaky
webhook receiver (in this process, on 127.0.0.1), one `newsmon run` on SQLite started and stopped
(SIGTERM, by its pid) by this script, temp files (removed at the end).

The daemon polls `--feeds` generated feeds every 10, 20 or 30 s (each its own) and fifteen that
fail: five answer 500, five answer after the 5 s `fetch_deadline` (timeouts), five are not XML.
Every 10 s a tenth of the feeds gain five items, the newest dated now, so with `retention` and
`archive_retention` at 4m the items keep alerting and the housekeeping (every 10 minutes) has seen
keys, archive rows, stories and alerts to prune. The example rules match some items; the webhook
answers 500 to 30% of posts, so deliveries are retried. Every `--hup` seconds a rules file
changes and the daemon gets a SIGHUP.

Every `--sample` seconds: the RSS, threads, open fds and CPU of the daemon, the RSS of each parse
worker, the daemon's asyncio tasks (a thread in the daemon's process counts them every 5 s: it
is one of the threads counted), the database and WAL sizes, the rows of every table, the log's
size and `newsmon_polls_total`.

    python benchmarks/soak.py [--feeds 300] [--minutes 15] [--sample 30] [--hup 180] [--json F]

Prints a markdown table of the first sample and those at 5, 10 and 15 minutes; a quantity that
rises from the 5th minute to the last is one to look at.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bed
import feedgen
import serve
import tools
from daemon import children

_TICK = os.sysconf("SC_CLK_TCK")
FAILING = 5  # feeds of each failing kind
SLOW_S = 8.0  # the slow feeds' answer: past the 5 s fetch_deadline
HOOK_FAILS = 0.3

# `python -m monitor`, plus a thread that writes the live asyncio task count to a file.
_WRAPPER = """\
import os, runpy, sys, threading, time
from asyncio import tasks

def count(path):
    while True:
        time.sleep(5)
        try:
            n = len(tasks._all_tasks)
        except RuntimeError:  # the set changed while it was counted
            continue
        with open(path + ".tmp", "w") as f:
            f.write(str(n))
        os.replace(path + ".tmp", path)

threading.Thread(target=count, args=(os.environ["SOAK_TASKS"],), daemon=True).start()
sys.argv = ["newsmon", *sys.argv[1:]]
runpy.run_module("monitor", run_name="__main__", alter_sys=True)
"""


def _failing_server() -> ThreadingHTTPServer:
    """/500/N answers 500, /slow/N answers after SLOW_S, POST answers 500 to HOOK_FAILS of posts
    (seeded: the same run fails the same posts)."""
    rnd, lock = random.Random(7), threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            if self.path.startswith("/slow/"):
                time.sleep(SLOW_S)
            self._answer(500 if self.path.startswith("/500/") else 200)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                fail = rnd.random() < HOOK_FAILS
            self._answer(500 if fail else 204)

        def _answer(self, code: int) -> None:
            body = b"" if code == 204 else b"<rss version='2.0'><channel/></rss>"
            try:
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # the daemon gave up on a slow answer
                pass

        def handle(self) -> None:
            with contextlib.suppress(OSError):  # the daemon gave up on a slow answer
                super().handle()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    return server


def _write_feed(work: Path, feed: int, generation: int) -> None:
    """`feed` at `generation`, its newest item dated now (older ones 17 minutes apart)."""
    newest = generation * feedgen.NEW_ITEMS_PER_MUTATION + feedgen.ITEMS_PER_FEED - 1
    base = datetime.now(UTC) - timedelta(minutes=17 * newest + feed % 60)
    path = feedgen.feed_path(work, feed)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(feedgen.render_feed(feed, generation, base))
    os.replace(tmp, path)  # nginx never serves half a file


def _proc(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return {
        "rss_mb": int(fields["VmRSS"].split()[0]) / 1024,
        "threads": int(fields["Threads"]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "cpu_s": (int(stat[11]) + int(stat[12])) / _TICK,
    }


def _polls(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return 0
    return int(
        sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line.startswith("newsmon_polls_total{"))
    )  # fmt: skip


def _rows(db: Path) -> dict[str, int]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        rows = {n: int(con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]) for n in names}
        for status, count in con.execute("SELECT status, count(*) FROM alerts GROUP BY status"):
            rows[f"alerts {status}"] = int(count)
        return rows
    finally:
        con.close()


def _config(work: Path, server: serve.Server, failing: int, port: int, feeds: int) -> Path:
    state = work / "state"
    state.mkdir()
    rnd = random.Random(1)
    lines = [
        f"database_url: {state / 'newsmon.db'}",
        f"rules: {work / 'rules'}",
        'allow_networks: ["127.0.0.1/32"]',
        "log_format: json",
        f"http_addr: 127.0.0.1:{port}",
        "retention: 4m",
        "archive_retention: 4m",
        "story_window: 4m",
        "fetch_deadline: 5s",
        "destinations:",
        f"  - {{name: hook, type: webhook, url: 'http://127.0.0.1:{failing}/hook'}}",
        "feeds:",
    ]
    for i in range(feeds):
        url = server.url(feedgen.feed_path(work, i).name)
        lines.append(f"  - {{id: f{i:04d}, url: '{url}', interval: {rnd.choice((10, 20, 30))}s}}")
    for i in range(FAILING):
        bad = server.url(f"bad{i}.xml")
        e500, slow = (f"http://127.0.0.1:{failing}/{kind}/{i}" for kind in ("500", "slow"))
        lines.append(f"  - {{id: bad{i}, url: '{bad}', interval: 15s}}")
        lines.append(f"  - {{id: e500_{i}, url: '{e500}', interval: 15s}}")
        lines.append(f"  - {{id: slow{i}, url: '{slow}', interval: 20s}}")
    config = state / "newsmon.yaml"
    config.write_text("\n".join(lines) + "\n")
    return config


def run(feeds: int, minutes: float, every: float, hup: float) -> list[dict[str, Any]]:
    work = Path(tempfile.mkdtemp(prefix="newsmon-soak-"))
    proc: subprocess.Popen[bytes] | None = None
    failing = _failing_server()
    threading.Thread(target=failing.serve_forever, daemon=True).start()
    samples: list[dict[str, Any]] = []
    try:
        (work / "feeds").mkdir()
        generations = [0] * feeds
        for i in range(feeds):
            _write_feed(work, i, 0)
        for i in range(FAILING):
            bad = "<rss><channel><item><title>cut</item>" if i % 2 else "not XML \x00 <<<"
            (work / "feeds" / f"bad{i}.xml").write_text(bad)
        shutil.copytree(tools.REPO / "rules", work / "rules")
        with serve.Server(work / "feeds") as server, (work / "daemon.log").open("wb") as log:
            port = serve.free_port()
            config = _config(work, server, failing.server_address[1], port, feeds)
            db = work / "state" / "newsmon.db"
            env = tools.clean_env(PYTHONPATH=str(tools.REPO), SOAK_TASKS=str(work / "tasks"))
            for key in [k for k in env if k.startswith("NEWSMON_")]:
                del env[key]
            argv = [sys.executable, "-c", _WRAPPER, "run", "--config", str(config)]
            proc = subprocess.Popen(
                argv, cwd=tools.REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
            t0 = time.monotonic()
            next_sample, next_change, next_hup, hups = t0, t0 + 10, t0 + hup, 0
            last: tuple[float, float] | None = None
            mutations = random.Random(2)
            while time.monotonic() - t0 < minutes * 60 + 1:
                now = time.monotonic()
                if proc.poll() is not None:
                    raise SystemExit(f"newsmon run exited with {proc.returncode}")
                if now >= next_change:
                    for i in mutations.sample(range(feeds), feeds // 10):
                        generations[i] += 1
                        _write_feed(work, i, generations[i])
                    next_change += 10
                if now >= next_hup:
                    sets = work / "rules" / "sets.yaml"
                    sets.write_text(sets.read_text() + f"\n# reload {hups}\n")
                    os.kill(proc.pid, signal.SIGHUP)
                    hups, next_hup = hups + 1, next_hup + hup
                if now >= next_sample:
                    sample = _sample(proc.pid, work, db, port, now - t0, last)
                    sample["sighups"] = hups
                    last = (now - t0, sample["cpu_s"])
                    samples.append(sample)
                    next_sample += every
                time.sleep(0.5)
    finally:
        bed.stop_child(proc)
        failing.shutdown()
        failing.server_close()
        shutil.rmtree(work, ignore_errors=True)
    return samples


def _sample(
    pid: int, work: Path, db: Path, port: int, t: float, last: tuple[float, float] | None
) -> dict[str, Any]:
    sample: dict[str, Any] = {"t": round(t), **_proc(pid)}
    workers = []
    for child in children(pid):
        try:
            workers.append(round(_proc(child)["rss_mb"], 1))
        except OSError:
            continue
    sample["workers_rss_mb"] = workers
    sample["cpu_share"] = None if last is None else (sample["cpu_s"] - last[1]) / (t - last[0])
    try:
        sample["tasks"] = int((work / "tasks").read_text())
    except (OSError, ValueError):
        sample["tasks"] = None
    wal = db.with_name(db.name + "-wal")
    sample["db_mb"] = db.stat().st_size / 2**20 if db.exists() else 0.0
    sample["wal_mb"] = wal.stat().st_size / 2**20 if wal.exists() else 0.0
    sample["log_kb"] = (work / "daemon.log").stat().st_size / 1024
    sample["polls"] = _polls(f"http://127.0.0.1:{port}/metrics")
    try:
        sample["rows"] = _rows(db)
    except sqlite3.Error:
        sample["rows"] = {}
    return sample


def table(samples: list[dict[str, Any]], minutes: float) -> list[str]:
    """The first sample and those nearest 5, 10 and `minutes` minutes, one column each."""
    picks = [samples[0]]
    for m in (5, 10, minutes):
        picks.append(min(samples, key=lambda s: abs(s["t"] - m * 60)))
    tables = sorted({k for s in picks for k in s["rows"]})

    def rate(key: str, s: dict[str, Any]) -> str:  # per poll, since the sample before it
        i = samples.index(s)
        if i == 0:
            return "–"
        polls = s["polls"] - samples[i - 1]["polls"]
        return f"{(s[key] - samples[i - 1][key]) * 1024 / polls:.0f}" if polls else "–"

    lines = [
        "| | " + " | ".join(f"{s['t'] / 60:.1f} min" for s in picks) + " |",
        "|---|" + "---:|" * len(picks),
    ]
    shown: list[tuple[str, Any]] = [
        ("polls so far", lambda s: f"{s['polls']:,}"),
        ("daemon RSS MB", lambda s: f"{s['rss_mb']:.1f}"),
        ("parse workers' RSS MB", lambda s: " + ".join(f"{w:.1f}" for w in s["workers_rss_mb"])),
        ("open fds", lambda s: s["fds"]),
        ("threads", lambda s: s["threads"]),
        ("asyncio tasks", lambda s: "–" if s["tasks"] is None else s["tasks"]),
        ("daemon CPU share (last 30 s)", lambda s: "–" if s["cpu_share"] is None
         else f"{s['cpu_share']:.1%}"),
        ("DB MB", lambda s: f"{s['db_mb']:.1f}"),
        ("WAL MB", lambda s: f"{s['wal_mb']:.1f}"),
        ("log KB", lambda s: f"{s['log_kb']:.0f}"),
        ("log bytes per poll (last 30 s)", lambda s: rate("log_kb", s)),
        ("SIGHUPs so far", lambda s: s["sighups"]),
    ]  # fmt: skip
    shown += [(f"rows: {t}", lambda s, t=t: f"{s['rows'].get(t, 0):,}") for t in tables]
    for name, cell in shown:
        lines.append(f"| {name} | " + " | ".join(str(cell(s)) for s in picks) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=300)
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--sample", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--hup", type=float, default=180.0, help="seconds between SIGHUPs")
    parser.add_argument("--json", type=Path, help="write every sample to this file")
    args = parser.parse_args(argv)
    samples = run(args.feeds, args.minutes, args.sample, args.hup)
    if args.json:
        args.json.write_text("".join(json.dumps(s) + "\n" for s in samples))
    print(f"#### newsmon run soak, {args.feeds} + {3 * FAILING} feeds, {args.minutes:g} min "
          f"— {tools._git_describe()}")  # fmt: skip
    print()
    print("\n".join(table(samples, args.minutes)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

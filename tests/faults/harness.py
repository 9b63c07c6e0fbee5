"""Helpers for the fault tests. Does I/O (local servers, subprocesses, the store file).

- `GrowingFeeds`: RSS feeds on a local `FeedServer` that gain items (each one's title matches the
  example rule `troop-dispatch`), and the list of what was added after the baseline: the test's
  own account of which alerts must arrive, independent of anything newsmon records.
- `DaemonProcess`: `python -m monitor run` as a real child process, started, killed (SIGKILL),
  stopped (SIGTERM), with its output appended to one log file across lives.
- `write_config`: a config with short leases and deadlines, so a killed process's leases expire
  within seconds and the next life takes its work over.
- `tally`: the received webhooks against the expected items.
- `daemons_past_baseline`: one daemon, or N replicas on one store, started and past the
  baseline polls, killed on the way out.
"""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from tests.feedserver import FeedServer
from tests.receiver import Received, Receiver

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec_" + base64.b64encode(b"fault-tests-signing-key-32bytes!").decode()
SOAK = os.environ.get("NEWSMON_SOAK", "") not in ("", "0")

PLACES = ("Kharkiv", "Riga", "Tallinn", "Vilnius", "Warsaw", "Minsk", "Odesa", "Gdansk", "Narva")
WORDS = (
    "amber", "birch", "cobalt", "delta", "ember", "falcon", "granite", "harbor", "indigo",
    "juniper", "kestrel", "lantern", "meadow", "nimbus", "orchid", "pewter", "quartz", "raven",
    "saffron", "tundra", "umber", "violet", "willow", "yarrow", "zephyr", "alder", "bramble",
)  # fmt: skip


@dataclass(frozen=True)
class Generated:
    feed: str
    guid: str
    title: str
    link: str
    added_at: float


class GrowingFeeds:
    """Feeds that gain matching items; `added` lists every item added after `baseline_done()`."""

    def __init__(
        self, server: FeedServer, feed_ids: Sequence[str], seed: int = 7, window: int = 400
    ) -> None:
        self.server = server
        # Like a real feed, only the newest `window` items are served; the tests keep the rate
        # low enough that no item leaves the window before a live daemon has polled it.
        self.window = window
        self.feed_ids = list(feed_ids)
        self.rng = random.Random(seed)
        self.items: dict[str, list[Generated]] = {f: [] for f in self.feed_ids}
        self.added: list[Generated] = []
        self._counter = 0
        self._after_baseline = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        for feed in self.feed_ids:  # the baseline: matching items that must NOT alert
            for _ in range(2):
                self.add(feed)

    def url(self, feed: str) -> str:
        return self.server.url(f"/{feed}.rss")

    def urls(self) -> dict[str, str]:
        return {f: self.url(f) for f in self.feed_ids}

    def baseline_done(self) -> None:
        """From now on, added items are expected to alert."""
        with self._lock:
            self._after_baseline = True

    def add(self, feed: str, *, publish: bool = True) -> Generated:
        """Add a matching item; `publish=False` leaves the served body alone (see `render`)."""
        with self._lock:
            self._counter += 1
            n = self._counter
            words = " ".join(self.rng.sample(WORDS, 3))
            title = f"Troops dispatched to {self.rng.choice(PLACES)} with {words} unit {n}"
            item = Generated(feed, f"{feed}-{n}", title, f"https://news.example.com/{feed}/{n}",
                             time.time())  # fmt: skip
            self.items[feed].append(item)
            if self._after_baseline:
                self.added.append(item)
            body = self._render(feed)
        if publish:
            self.server.put(f"/{feed}.rss", body)
        return item

    def render(self, feed: str) -> bytes:
        with self._lock:
            return self._render(feed)

    def _render(self, feed: str) -> bytes:
        entries = "".join(
            f"<item><guid isPermaLink='false'>{i.guid}</guid><title>{escape(i.title)}</title>"
            f"<link>{i.link}</link><pubDate>{formatdate(i.added_at, usegmt=True)}</pubDate>"
            f"<description>Soldiers were sent overnight ({i.guid}).</description></item>"
            for i in reversed(self.items[feed][-self.window :])
        )
        return (
            "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
            f"<title>Feed {feed}</title><link>https://news.example.com/{feed}</link>"
            f"{entries}</channel></rss>"
        ).encode()

    def start(self, period: float = 0.1, per_tick: int = 2) -> None:
        """A thread that adds an item to `per_tick` random feeds every `period` seconds."""

        def grow() -> None:
            while not self._stop.wait(period):
                for feed in self.rng.sample(self.feed_ids, min(per_tick, len(self.feed_ids))):
                    self.add(feed)

        self._thread = threading.Thread(target=grow, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def expected(self) -> list[Generated]:
        with self._lock:
            return list(self.added)


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a newsmon child: ours without NEWSMON_*, the repo importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    env["PYTHONPATH"] = str(ROOT)
    env["TEST_HOOK_SECRET"] = SECRET
    env.update(extra or {})
    return env


def hook_destination(url: str, name: str = "hook", secret_env: str = "TEST_HOOK_SECRET") -> str:
    """A signed webhook whose rate limit is not what a test waits for."""
    return f"""  - name: {name}
    type: webhook
    url: {url}
    secret_env: {secret_env}
    rate: 500
    burst: 100
"""


def write_config(
    folder: Path,
    *,
    database_url: str,
    feeds: Mapping[str, str],
    destinations: str,
    http_addr: str = "",
    extra: str = "",
    name: str = "newsmon.yaml",
    short_leases: bool = True,
) -> Path:
    """A daemon config with 1 s intervals and leases of a few seconds (a killed process's work
    is taken over soon; `short_leases=False` keeps the default leases, so only the heartbeat
    frees a dead process's work), the example rules, and 127.0.0.1 allowed."""
    feed_yaml = "".join(
        f"  - id: {fid}\n    url: {url}\n    interval: 1s\n    backfill: 0\n"
        for fid, url in feeds.items()
    )
    leases = "feed_lease: 3s\ndelivery_lease: 3s\n" if short_leases else ""
    config = folder / name
    config.write_text(
        f"""database_url: {database_url}
rules: {ROOT / "rules"}
allow_networks: ["127.0.0.1/32"]
http_addr: "{http_addr}"
log_level: info
log_format: json
retention: 3650d
fetch_deadline: 2s
connect_timeout: 1s
delivery_deadline: 2s
grace_period: 2s
{leases}{extra}
feeds:
{feed_yaml}
destinations:
{destinations}"""
    )
    return config


class DaemonProcess:
    """`newsmon run` as a child process; every life appends to the same log file."""

    def __init__(self, config: Path, log_path: Path, env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.log_path = log_path
        self.env = child_env(env)
        self.proc: subprocess.Popen[bytes] | None = None
        self.lives = 0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> DaemonProcess:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "monitor", "run", "--config", str(self.config)],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.lives += 1
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL and reap."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, wait for a graceful exit; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def events(self) -> list[dict[str, object]]:
        """The JSON log lines (other lines, e.g. a traceback, are skipped)."""
        found = []
        for line in self.log_text().splitlines():
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return found


def wait_until(
    predicate: Callable[[], bool],
    timeout: float,
    what: str,
    step: float = 0.1,
    *,
    running: Sequence[DaemonProcess] = (),
) -> None:
    """Poll `predicate` until it holds; fail after `timeout`, or at once, with its log, when one
    of the `running` daemons has exited (it will not do what is waited for)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        for daemon in running:
            if not daemon.alive():
                raise AssertionError(
                    f"waiting for {what}: the daemon exited; its log ends:\n"
                    + daemon.log_text()[-3000:]
                )
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(step)


@dataclass
class Tally:
    """Received webhooks against the items the test added."""

    expected: int = 0
    requests: int = 0
    delivered: int = 0  # expected items that arrived at least once
    duplicates: int = 0  # requests beyond the first for one webhook-id
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)  # titles not expected (e.g. baseline)
    ids_per_title: dict[str, set[str]] = field(default_factory=dict)
    bad_ids: list[str] = field(default_factory=list)  # payload id differs from webhook-id
    torn: int = 0  # requests cut off by a kill before their body was complete

    def titles_with_several_ids(self) -> dict[str, set[str]]:
        return {t: ids for t, ids in self.ids_per_title.items() if len(ids) > 1}

    def summary(self) -> str:
        return (
            f"expected={self.expected} delivered={self.delivered} requests={self.requests} "
            f"duplicates={self.duplicates} missing={len(self.missing)} "
            f"unexpected={len(self.unexpected)} torn={self.torn}"
        )


def tally(expected: Iterable[Generated], requests: Sequence[Received]) -> Tally:
    wanted = {g.title for g in expected}
    out = Tally(expected=len(wanted), requests=len(requests))
    per_id: dict[str, int] = {}
    for request in requests:
        length = int(request.headers.get("content-length") or 0)
        if len(request.body) < length:
            out.torn += 1  # the sender was killed mid-request: no receiver would accept it
            continue
        payload = json.loads(request.body)
        webhook_id = request.headers.get("webhook-id", "")
        if payload.get("id") != webhook_id:
            out.bad_ids.append(webhook_id)
        title = str(payload["item"]["title"])
        per_id[webhook_id] = per_id.get(webhook_id, 0) + 1
        out.ids_per_title.setdefault(title, set()).add(webhook_id)
        if title not in wanted:
            out.unexpected.append(title)
    out.duplicates = sum(n - 1 for n in per_id.values())
    out.delivered = sum(1 for t in wanted if t in out.ids_per_title)
    out.missing = sorted(t for t in wanted if t not in out.ids_per_title)
    return out


# -- reading the SQLite file the daemon writes (a second connection, as any other process) -----
def _sqlite(db: Path) -> Any:
    from monitor.store.sqlite import SQLiteStore

    return SQLiteStore(db)


def baselined(db: Path, feeds: int) -> bool:
    """All `feeds` feeds exist and have had their baseline poll."""
    from monitor.errors import StoreError

    if not db.exists():
        return False
    store = _sqlite(db)
    try:
        found = store.list_feeds()
    except StoreError:  # not migrated yet
        return False
    finally:
        store.close()
    return len(found) == feeds and all(f.baseline_done for f in found)


def alert_states(db: Path) -> list[tuple[str, str]]:
    """(alert id, status) of every alert."""
    store = _sqlite(db)
    try:
        return [(a.id, a.status) for a in store.list_alerts(limit=100_000)]
    finally:
        store.close()


def pending_count(db: Path) -> int:
    store = _sqlite(db)
    try:
        return int(store.outbox_stats(datetime.now(UTC))[0])
    finally:
        store.close()


# -- reading a PostgreSQL database the daemons write ---------------------------------------------
def pg_baselined(url: str, feeds: int) -> bool:
    from monitor.errors import StoreError
    from monitor.store.postgres import PostgresStore

    try:
        store = PostgresStore(url)
    except StoreError:
        return False
    try:
        found = store.list_feeds()
    except StoreError:
        return False
    finally:
        store.close()
    return len(found) == feeds and all(f.baseline_done for f in found)


def pg_pending(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM alerts WHERE status = 'pending'").fetchone()
    return int(row[0]) if row else -1


@contextmanager
def daemons_past_baseline(
    folder: Path,
    database_url: str,
    feeds: GrowingFeeds,
    rx: Receiver,
    count: int = 1,
    *,
    short_leases: bool = True,
) -> Iterator[list[DaemonProcess]]:
    """`count` `newsmon run` processes on one store (a SQLite file or a PostgreSQL URL) with one
    config (`write_config`'s short leases, or the defaults with `short_leases=False`, so that
    only the heartbeat frees a dead replica's work), logging to `daemon.log` (one) or
    `replicaN.log`. Yields them once every feed had its silent baseline poll, with
    `feeds.baseline_done()` called; on the way out the feeds stop growing and whatever still
    runs is SIGKILLed."""
    config = write_config(
        folder,
        database_url=database_url,
        feeds=feeds.urls(),
        destinations=hook_destination(rx.url),
        short_leases=short_leases,
    )
    logs = ["daemon.log"] if count == 1 else [f"replica{i}.log" for i in range(count)]
    daemons = [DaemonProcess(config, folder / log) for log in logs]
    postgres = database_url.startswith(("postgres://", "postgresql://"))

    def past_baseline() -> bool:
        if postgres:
            return pg_baselined(database_url, len(feeds.feed_ids))
        return baselined(Path(database_url), len(feeds.feed_ids))

    try:
        for daemon in daemons:
            daemon.start()
        wait_until(past_baseline, 60, "the baseline polls", running=daemons)
        assert rx.requests == [], "baseline items must not alert"
        feeds.baseline_done()
        yield daemons
    finally:
        feeds.stop()
        for daemon in daemons:
            daemon.kill()

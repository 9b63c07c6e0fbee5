"""Harness for several `newsmon run` replicas on one PostgreSQL database. Does I/O.

Shared by `tests/test_replicas.py` and `benchmarks/replicas.py`:

- `LoadFeedServer` (from `tests.replicas_feeds`): many generated feeds on 127.0.0.1.
- `fresh_database(url)`: a database of its own (created, then dropped with its connections).
- `Replica`: a `python -m monitor run` subprocess with its own http_addr port; reads its
  /metrics, stops with SIGTERM or SIGKILL (only the pid it started).
- `rows`, `baselined`, `outbox`: what the replicas wrote, read from the database; `wait_until`;
  `guid`: which generated item a received webhook is about.
- `kill_holding_leases`: SIGKILL a replica at a moment it holds feed and alert leases.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tests.receiver import Received
from tests.replicas_feeds import RULE, LoadFeedServer

ROOT = Path(__file__).resolve().parent.parent
__all__ = [
    "LoadFeedServer",
    "Replica",
    "baselined",
    "fresh_database",
    "guid",
    "outbox",
    "replicas",
    "rows",
    "wait_until",
    "write_config",
]


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


def rows(url: str, query: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(url, row_factory=dict_row, autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def baselined(url: str) -> int:
    """How many feeds had their (silent) baseline poll."""
    return int(rows(url, "SELECT count(*) AS n FROM feeds WHERE baseline_done")[0]["n"])


def outbox(url: str) -> dict[str, int]:
    """Alerts by status."""
    found = rows(url, "SELECT status, count(*) AS n FROM alerts GROUP BY status")
    return {r["status"]: int(r["n"]) for r in found}


def wait_until(what: str, check: Callable[[], bool], timeout: float, step: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(step)


def guid(request: Received) -> str:
    """The generated item a webhook is about: the last part of its URL."""
    return str(json.loads(request.body)["item"]["url"]).rsplit("/", 1)[1]


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
    destination: Mapping[str, str] | None = None,
) -> Path:
    """A config with every feed of `server`, one webhook destination (`destination`: more of its
    settings, e.g. rate and burst) and the test rule."""
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
        *(f"    {key}: {value}" for key, value in (destination or {}).items()),
    ]
    path = folder / "newsmon.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


SECRET = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="


class Replica:
    """One `newsmon run` subprocess."""

    def __init__(self, name: str, config: Path, database: str, logs: Path) -> None:
        self.name = name
        self._config = config
        self._database = database
        self.log_path = logs / f"{name}.log"
        self.last_polls: float | None = None
        self._starts = 0
        self._start()

    def _start(self) -> None:
        """Start the process on a port that was free a moment ago (the replicas log at warning,
        so they cannot say which port 0 gave them)."""
        self._starts += 1
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
        env |= {
            "NEWSMON_DATABASE_URL": self._database,
            "NEWSMON_HTTP_ADDR": f"127.0.0.1:{self.port}",
            "REPLICAS_HOOK_SECRET": SECRET,
            "PYTHONPATH": str(ROOT),
        }
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--config", str(self._config)],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def _lost_its_port(self) -> bool:
        """Exited because another socket on the machine (another test's, in the other worker)
        took the port between free_port and the bind: the start said so and did nothing else."""
        return self.proc.returncode == 2 and "address already in use" in self.tail()

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
                if self._lost_its_port() and self._starts < 3:
                    self._log.close()
                    self._start()
                    continue
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


Held = list[dict[str, Any]]


def kill_holding_leases(
    database: str, victim: Replica, timeout: float
) -> tuple[datetime, Held, Held]:
    """Wait until `victim` holds live feed leases and leases of pending alerts, SIGKILL it, and
    return the database's time of the kill and the feeds and alerts it held then (id,
    lease_until; neither list empty)."""
    owned = f"%:{victim.pid}:%"

    def held_now() -> tuple[Held, Held]:
        feeds = rows(
            database,
            "SELECT id, lease_until FROM feeds WHERE lease_owner LIKE %s AND lease_until > now()",
            (owned,),
        )
        alerts = rows(
            database,
            "SELECT id, lease_until FROM alerts WHERE lease_owner LIKE %s"
            " AND status = 'pending' AND lease_until > now()",
            (owned,),
        )
        return feeds, alerts

    # Frozen with SIGSTOP, the victim can commit nothing more: what the database shows it holding
    # then is what it holds when the SIGKILL lands. Reading first and killing after raced with a
    # poll that ended in between and left the victim holding no feed.
    deadline = time.monotonic() + timeout
    while True:
        if time.monotonic() > deadline:
            raise AssertionError(f"{victim.name} never held feed and alert leases at once")
        os.kill(victim.pid, signal.SIGSTOP)
        feeds_held, alerts_held = held_now()
        if feeds_held and alerts_held:
            break
        os.kill(victim.pid, signal.SIGCONT)
        time.sleep(0.02)
    victim.kill()
    killed_at = rows(database, "SELECT now() AS t")[0]["t"]
    return killed_at, feeds_held, alerts_held

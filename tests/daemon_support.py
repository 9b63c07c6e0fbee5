"""`newsmon run` as a real subprocess for the daemon tests: start, scrape, signal and stop it.

    with DaemonProcess(config, tmp_path) as daemon:      # killed (by its pid) on the way out
        daemon.wait_healthy()
        daemon.metric("newsmon_matches_total", rule="troops")
        daemon.signal(signal.SIGTERM); daemon.wait()

Its log (JSON lines: stdout is not a terminal) goes to a file, read back with `events()`.
Every address is 127.0.0.1.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from prometheus_client.parser import text_string_to_metric_families

from tests.feedserver import FeedServer, rss

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1; another socket may take it before whoever
    binds it next (the daemons of `write_config` bind port 0 instead and log the port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@functools.cache
def _refusing_socket() -> socket.socket:
    # Bound, never listening, without SO_REUSEADDR: a connection is refused, and no other socket
    # (a test's server, an outgoing connection) can take the port while this process runs.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def refusing_port() -> int:
    """A port on 127.0.0.1 that refuses every connection, for as long as the tests run."""
    return int(_refusing_socket().getsockname()[1])


def wait_for(
    what: str, check: Callable[[], T | None], timeout: float = 20.0, step: float = 0.05
) -> T:
    """Poll `check` every `step` seconds until it returns something truthy; fail with `what`
    after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(step)


def children(pid: int) -> list[int]:
    """The pids of `pid`'s children (Linux; none elsewhere)."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def daemon_env(**extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "HOME": os.environ.get("HOME", "/tmp"),
    }
    env.update(extra)
    return env


class DaemonProcess:
    def __init__(self, config: Path, workdir: Path, env: dict[str, str] | None = None) -> None:
        self.config = config
        self._port = _http_port(config)  # 0: the daemon picks one and logs it
        self.log_path = workdir / f"daemon-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--config", str(config)],
            cwd=workdir,
            env=env or daemon_env(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> DaemonProcess:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.kill()

    def kill(self) -> None:
        """Kill the process we started (by its pid) if it is still running; close the log."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30.0) -> int:
        return self.proc.wait(timeout=timeout)

    # -- HTTP ------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The listener's port: the config's, else the one the daemon logged it bound (waiting
        for that line; the daemon exiting first fails the test with its log)."""
        if not self._port:

            def listening() -> int | None:
                found = self.events("http_listening")
                if found:
                    return int(found[0]["port"])
                assert self.proc.poll() is None, f"the daemon exited: {self.log_text()}"
                return None

            self._port = wait_for("the daemon's http_listening line", listening, 30.0)
        return self._port

    def get(self, path: str) -> tuple[int, bytes]:
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def get_or_none(self, path: str) -> int | None:
        """The status of one GET, or None while nothing answers on the port (or the daemon has
        not said yet which port it picked)."""
        if not self._port and not self.events("http_listening"):
            return None
        try:
            return self.get(path)[0]
        except OSError:
            return None

    def readiness(self) -> tuple[int, dict[str, object]]:
        """`/readyz`: its status and its JSON body."""
        status, body = self.get("/readyz")
        answer: dict[str, object] = json.loads(body)
        return status, answer

    def assert_healthz_prompt(self, times: int, within: float = 1.0, pause: float = 0.5) -> None:
        """`/healthz` answers 200 within `within` seconds, `times` times, `pause` apart: the
        event loop is not held up (by a store call waiting on it, say)."""
        for _ in range(times):
            asked = time.monotonic()
            assert self.get_or_none("/healthz") == 200
            assert time.monotonic() - asked < within
            time.sleep(pause)

    def wait_healthy(self, timeout: float = 20.0) -> None:
        def healthy() -> bool:
            assert self.proc.poll() is None, f"the daemon exited: {self.log_text()}"
            try:
                return self.get("/healthz")[0] == 200
            except OSError:
                return False

        wait_for("/healthz", healthy, timeout)

    def ready(self) -> dict[str, Any]:
        status, body = self.get("/readyz")
        assert status == 200, body
        result: dict[str, Any] = json.loads(body)
        return result

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample of /metrics: (name, sorted labels) -> value."""
        status, body = self.get("/metrics")
        assert status == 200
        samples = {}
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return samples

    def metric(self, name: str, **labels: str) -> float:
        """One sample's value (0.0 if the series does not exist yet)."""
        return self.metrics().get((name, tuple(sorted(labels.items()))), 0.0)

    # -- log -------------------------------------------------------------------------------
    def log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """The JSON log lines (only `name` events if given); anything else fails the test."""
        found = []
        for line in self.log_text().splitlines():
            event = json.loads(line)  # every line is JSON when stdout is not a terminal
            if name is None or event.get("event") == name:
                found.append(event)
        return found


def _http_port(config: Path) -> int:
    for line in config.read_text().splitlines():
        if line.startswith("http_addr:"):
            return int(line.rsplit(":", 1)[1])
    raise AssertionError("the test config needs an http_addr: 127.0.0.1:PORT line")


def write_config(
    tmp: Path,
    *,
    feeds: dict[str, str],
    destinations: dict[str, str],
    rules: Path,
    **settings: str,
) -> Path:
    """A daemon config: feeds polled every second, webhooks, the HTTP listener on a port the
    daemon picks (`DaemonProcess.port` reads it from the log)."""
    lines = [
        f"database_url: {tmp / 'state.db'}",
        f"rules: {rules}",
        'allow_networks: ["127.0.0.1/32"]',
        # Port 0, the daemon's pick, read from its log: no port another socket could take first.
        "http_addr: 127.0.0.1:0",
        "log_level: info",
        "jitter: 0",
        "retention: 3650d",  # the test items are dated March 2026: keep them "new"
        *(f"{key}: {value}" for key, value in settings.items()),
        "feeds:",
        *(f"  - {{id: {fid}, url: '{url}', interval: 1s}}" for fid, url in feeds.items()),
        "destinations:",
        *(f"  - {{name: {n}, type: webhook, url: '{url}'}}" for n, url in destinations.items()),
    ]
    path = tmp / "newsmon.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


CALM = ("c0", "Weather", "Rain.")  # an item the calm config's troops rule does not match


def calm_config(
    tmp: Path, server: FeedServer, destinations: dict[str, str] | None = None, **settings: str
) -> Path:
    """A daemon's config for one feed, `wire` on `server`, whose one item (CALM) its one rule
    (`troops`, in tmp/rules) does not match, with these destinations and other settings: polls
    that commit, nothing to deliver until the test puts a story on the feed."""
    rules = write_rules(tmp / "rules", {"troops": ("troops", [])})
    server.put("/wire.rss", rss([CALM]))
    return write_config(
        tmp,
        feeds={"wire": server.url("/wire.rss")},
        destinations=destinations or {},
        rules=rules,
        **settings,
    )


def write_rules(folder: Path, rules: dict[str, tuple[str, list[str]]]) -> Path:
    """One file per rule: id -> (query, notify)."""
    folder.mkdir(parents=True, exist_ok=True)
    for rule_id, (query, notify) in rules.items():
        (folder / f"{rule_id}.yaml").write_text(
            f"rules:\n  - id: {rule_id}\n    name: {rule_id}\n    query: {json.dumps(query)}\n"
            f"    notify: {json.dumps(notify)}\n"
        )
    return folder

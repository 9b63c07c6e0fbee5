"""`newsmon run` whose log's reader goes away (`newsmon run | head -1`, a log shipper that dies),
through real pipes: one line on stderr, a graceful stop (leases and the holder row given back),
exit 141, never a traceback. It ended with exit 141 and no word, from wherever the failed log
line was written."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.cli.run import READER_GONE
from tests.daemon_support import daemon_env, refusing_port, write_config, write_rules

pytestmark = pytest.mark.slow  # a daemon per test, ~2 s each


def _config(tmp_path: Path) -> Path:
    # A feed nobody serves (a port on 127.0.0.1 that refuses): every poll logs a feed_error, so the
    # daemon writes more lines after the first without any help.
    rules = write_rules(tmp_path / "rules", {"troops": ("troops", [])})
    closed = refusing_port()
    return write_config(
        tmp_path, feeds={"gone": f"http://127.0.0.1:{closed}/feed.xml"}, destinations={},
        rules=rules,
    )  # fmt: skip


def _after_the_stop(db: Path, exited_at: float) -> tuple[list[float], list[object]]:
    """The holder rows' `alive_until` and the feeds' lease owners, as the daemon left them."""
    with sqlite3.connect(db) as conn:
        holders = [row[0] for row in conn.execute("SELECT alive_until FROM holders")]
        owners = [row[0] for row in conn.execute("SELECT lease_owner FROM feeds")]
    assert all(until <= exited_at for until in holders), (holders, exited_at)
    return holders, owners


def test_a_log_reader_that_goes_away_stops_the_daemon_gracefully_in_one_line(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--config", str(config)],
        cwd=tmp_path,
        env=daemon_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert proc.stderr is not None
        assert "event" in json.loads(proc.stdout.readline())  # the first log line
        proc.stdout.close()  # the reader goes away, as `head -1` does
        proc.send_signal(signal.SIGHUP)  # a rules check: one more log line at once
        code = proc.wait(timeout=30)
        exited_at = time.time()
        err = proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert code == 141, err
    assert err == READER_GONE + "\n"
    holders, owners = _after_the_stop(tmp_path / "state.db", exited_at)
    assert len(holders) == 1  # its heartbeat row, ended by the stop
    assert owners == [None]  # the feed's lease given back


@pytest.mark.parametrize("both", [False, True], ids=["stdout", "stdout-and-stderr"])
def test_newsmon_run_piped_to_head_ends_with_141(tmp_path: Path, both: bool) -> None:
    # What a user types, in a shell: the pipeline must end, not hang, and say why.
    config = _config(tmp_path)
    redirect = "2>&1 " if both else ""
    script = (
        f"{sys.executable} -m monitor run --config {config} {redirect}| head -1;"
        ' echo "rc=${PIPESTATUS[0]}"'
    )
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=daemon_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = done.stdout.splitlines()
    assert len(lines) == 2, done.stdout + done.stderr
    assert "event" in json.loads(lines[0])
    assert lines[1] == "rc=141"
    # With stderr in the same pipe there is nobody to tell; without, one line and no more.
    assert done.stderr == ("" if both else READER_GONE + "\n")

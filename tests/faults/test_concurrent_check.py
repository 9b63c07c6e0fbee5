"""The daemon and `newsmon check --deliver` (cron) on the same SQLite file at the same time, while
the feeds keep gaining items: no "database is locked", nothing lost, nothing sent twice (no process
is killed here, so there is no excuse for a duplicate)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.faults.harness import (
    ROOT,
    SOAK,
    GrowingFeeds,
    child_env,
    daemons_past_baseline,
    pending_count,
    tally,
    wait_until,
)
from tests.feedserver import feed_server
from tests.receiver import Receiver

FEEDS = ["north", "south", "east"]
SECONDS = 60.0 if SOAK else 15.0


@pytest.mark.fault
@pytest.mark.timeout(300)
def test_daemon_and_check_deliver_share_one_sqlite_file(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    runs: list[subprocess.CompletedProcess[str]] = []
    with feed_server() as server, Receiver() as rx:
        feeds = GrowingFeeds(server, FEEDS)
        with daemons_past_baseline(tmp_path, str(db), feeds, rx) as [daemon]:
            feeds.start(period=0.1, per_tick=2)
            until = time.monotonic() + SECONDS
            while time.monotonic() < until:
                runs.append(
                    subprocess.run(
                        [sys.executable, "-m", "monitor", "check", "--deliver", "--config",
                         str(daemon.config)],
                        cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=120,
                    )
                )  # fmt: skip
            feeds.stop()
            expected = feeds.expected()
            wait_until(
                lambda: not tally(expected, list(rx.requests)).missing and pending_count(db) == 0,
                60,
                "every expected alert",
                step=0.5,
            )
            time.sleep(2)
            assert daemon.stop() == 0
        requests = list(rx.requests)

    outputs = [r.stdout + r.stderr for r in runs] + [daemon.log_text()]
    assert not [o for o in outputs if "locked" in o.lower()]
    assert [r.returncode for r in runs if r.returncode not in (0, 1)] == [], outputs[0][-2000:]
    result = tally(expected, requests)
    print(f"concurrent check: runs={len(runs)} {result.summary()}")
    assert len(runs) >= 3
    assert result.expected > 0
    assert result.missing == []
    assert result.unexpected == []
    assert result.duplicates == 0, result.summary()
    assert result.titles_with_several_ids() == {}
    # Both processes did deliver: the check runs are not idle bystanders.
    assert any("alert_delivered" in r.stderr + r.stdout for r in runs)
    assert "alert_delivered" in daemon.log_text()

"""`newsmon check --deliver` (a cron cycle) with one destination down: the run delivers the rest
and finishes at once; the failed alerts keep their retry time for the next run instead of the run
waiting out the destination's pause and trying them again (it used to take over a minute)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from monitor.cli.main import main
from monitor.store.sqlite import SQLiteStore
from tests.daemon_support import refusing_port
from tests.faults.harness import SECRET, GrowingFeeds, hook_destination, write_config
from tests.feedserver import feed_server
from tests.receiver import Receiver, Reply

pytestmark = [pytest.mark.fault, pytest.mark.timeout(120)]


@pytest.mark.parametrize("failing", ["refused", "503"])
def test_a_failing_destination_does_not_hold_the_cron_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    monkeypatch.setenv("TEST_HOOK_SECRET", SECRET)
    for name in ("NEWSMON_CONFIG", "NEWSMON_RULES", "NEWSMON_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    db = tmp_path / "state.db"
    with feed_server() as server, Receiver() as good, Receiver([Reply(503)]) as bad:
        bad_url = bad.url if failing == "503" else f"http://127.0.0.1:{refusing_port()}/hook"
        feeds = GrowingFeeds(server, ["wire"])
        config = write_config(tmp_path, database_url=str(db), feeds=feeds.urls(),
                              destinations=hook_destination(good.url)
                              + hook_destination(bad_url, name="bad"))  # fmt: skip
        assert main(["check", "--deliver", "--config", str(config)]) == 1  # the baseline
        feeds.baseline_done()
        for _ in range(3):
            feeds.add("wire")
        started = time.monotonic()
        assert main(["check", "--deliver", "--config", str(config)]) == 0
        took = time.monotonic() - started
        assert len(good.requests) == 3
        assert len(bad.requests) == (1 if failing == "503" else 0)  # paused after one failure
    assert took < 4.0, f"the cron run took {took:.1f}s"
    store = SQLiteStore(db)
    try:
        pending = [a for a in store.list_alerts() if a.destination == "bad"]
    finally:
        store.close()
    assert [a.status for a in pending] == ["pending"] * 3
    assert sum(a.attempts for a in pending) == 1  # one attempt, the other two released

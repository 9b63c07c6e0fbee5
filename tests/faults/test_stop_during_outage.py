"""SIGTERM while the SQLite file refuses writes (a full disk, a file made read-only): the stop is
still graceful (exit 0, no error line), and nothing is lost: the alerts whose leases could not be
given back are delivered by the restart, each under its one `webhook-id`."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.faults.test_store_outage import immutable, immutable_supported
from tests.feedserver import feed_server
from tests.test_daemon_shutdown import (
    STORIES,
    SlowReceiver,
    assert_each_story_once_under_one_id,
    restart_and_collect,
    start_with_alerts,
)


@pytest.mark.fault
@pytest.mark.timeout(120)
def test_sigterm_while_the_store_refuses_writes_exits_0_and_the_restart_sends_the_rest(
    tmp_path: Path,
) -> None:
    why = immutable_supported(tmp_path)
    if why is not None:
        pytest.skip(why)
    db = tmp_path / "state.db"
    with feed_server() as server, SlowReceiver(delay=4.0) as rx:
        config, daemon = start_with_alerts(tmp_path, server, rx, grace="1s")
        with daemon:
            # The post in flight is cancelled at the end of the grace period; its lease and the
            # four claimed behind it cannot be given back while the file refuses writes.
            with immutable(db, Path(f"{db}-wal")):
                sent = time.monotonic()
                daemon.signal(signal.SIGTERM)
                code = daemon.wait(timeout=15)
                took = time.monotonic() - sent
            assert code == 0, daemon.log_text()[-2000:]
            assert took < 5.0
            # Every line is a JSON event (events() fails on any other line: no traceback, no
            # "newsmon: SQLite ..." error on the way out).
            failed = daemon.events("alerts_release_failed")
            assert [e["alerts"] for e in failed] == [len(STORIES)]
            assert str(db) in failed[0]["error"]  # which store failed
            assert daemon.events("shutdown_finished")[0]["clean"] is False
        # The restart on this host ends the dead holder's row: the leases are free at once.
        assert restart_and_collect(config, tmp_path, rx) < 10.0
    assert_each_story_once_under_one_id(rx)

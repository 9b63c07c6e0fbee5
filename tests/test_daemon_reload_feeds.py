"""Live feeds: a SIGHUP applies the config's `feeds:` to a running `newsmon run` (a real daemon,
a real SQLite file, a feed server on 127.0.0.1): an added feed is baselined and then alerts, a
removed one is polled no more, and a config that does not load (or whose feeds a rule needs)
changes nothing."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests.daemon_support import (
    CALM,
    DaemonProcess,
    calm_config,
    wait_for,
    write_config,
)
from tests.feedserver import feed_server, rss
from tests.receiver import Receiver

OLD_TROOPS = ("x1", "Troops crossed the river last week", "Old news.")
NEW_TROOPS = ("x2", "Troops cross the mountains at dawn", "Two brigades moved north.")


def active_feeds(db: Path) -> dict[str, bool]:
    with sqlite3.connect(db) as conn:
        return {r[0]: bool(r[1]) for r in conn.execute("SELECT id, active FROM feeds")}


@pytest.mark.slow
def test_a_sighup_adds_and_removes_feeds_and_an_invalid_config_changes_nothing(
    tmp_path: Path,
) -> None:
    with feed_server() as server, Receiver() as rx:
        config = calm_config(tmp_path, server, {"hook": rx.url})
        # Already on the new feed before it is added: its baseline, not an alert.
        server.put("/extra.rss", rss([OLD_TROOPS, CALM]))
        wire, extra = server.url("/wire.rss"), server.url("/extra.rss")
        start = config.read_text()
        with DaemonProcess(config, tmp_path) as daemon:
            daemon.wait_healthy()
            wait_for("the first poll of wire", lambda: server.hits("/wire.rss"))

            def hup_and_wait(answers: int) -> None:
                daemon.signal(signal.SIGHUP)
                wait_for("the reload", lambda: len(daemon.events("rules_unchanged")) == answers)

            # Added: polled at once (due now), baselined, no alert for what it already held.
            both = start.replace(
                "feeds:\n", f"feeds:\n  - {{id: extra, url: '{extra}', interval: 1s}}\n"
            )
            config.write_text(both)
            hup_and_wait(1)
            reloaded = daemon.events("feeds_reloaded")
            assert [(e["added"], e["removed"], e["changed"], e["feeds"]) for e in reloaded] == [
                (1, 0, 0, 2)
            ]
            assert daemon.events("config_changed") == []  # nothing waits for a restart
            baseline = wait_for(
                "the baseline poll of extra",
                lambda: [e for e in daemon.events("feed_polled") if e.get("feed") == "extra"],
                timeout=5,  # its interval is 1s, and it is due at once
            )
            assert (baseline[0]["baseline"], baseline[0]["alerts"]) == (2, 0)
            # Its later new items alert; the one it held before never does.
            server.put("/extra.rss", rss([NEW_TROOPS, OLD_TROOPS, CALM]))
            wait_for("the alert from the added feed", lambda: rx.requests)
            time.sleep(1.5)  # another poll of both feeds: still that one alert
            assert [json.loads(r.body)["item"]["title"] for r in rx.requests] == [NEW_TROOPS[1]]

            # Removed: deactivated in the store, polled no more (one in flight may finish).
            config.write_text(start.replace(f"url: '{wire}'", f"url: '{extra}'").replace(
                "id: wire", "id: extra"))  # fmt: skip
            hup_and_wait(2)
            assert [(e["added"], e["removed"]) for e in daemon.events("feeds_reloaded")][1] == (
                0,
                1,
            )
            assert active_feeds(tmp_path / "state.db") == {"wire": False, "extra": True}
            polls_at_removal = len(server.hits("/wire.rss"))
            extra_then = len(server.hits("/extra.rss"))
            wait_for(
                "three more polls of extra",
                lambda: len(server.hits("/extra.rss")) >= extra_then + 3,
            )
            assert len(server.hits("/wire.rss")) <= polls_at_removal + 1
            removed_polls = len(server.hits("/wire.rss"))
            assert active_feeds(tmp_path / "state.db") == {"wire": False, "extra": True}

            # Invalid: nothing changes (wire stays removed), the error located, the rest runs on.
            kept = config.read_text()
            config.write_text(start + "grace_period: soon\n")
            hup_and_wait(3)
            invalid = daemon.events("config_invalid")
            assert len(invalid) == 1
            assert f"newsmon.yaml:{len(start.splitlines()) + 1}:" in invalid[0]["error"]
            assert len(daemon.events("feeds_reloaded")) == 2
            extra_then = len(server.hits("/extra.rss"))
            wait_for(
                "two more polls of extra", lambda: len(server.hits("/extra.rss")) >= extra_then + 2
            )
            assert len(server.hits("/wire.rss")) == removed_polls
            assert active_feeds(tmp_path / "state.db") == {"wire": False, "extra": True}

            # Valid, but another key changed too: the feeds apply, that key is named as waiting.
            config.write_text(kept + "grace_period: 7s\n")
            hup_and_wait(4)
            changed = daemon.events("config_changed")
            assert [e["keys"] for e in changed] == [["grace_period"]]
            assert len(daemon.events("feeds_reloaded")) == 2  # the feeds had not changed

            daemon.signal(signal.SIGTERM)
            assert daemon.wait() == 0


@pytest.mark.slow
def test_a_sighup_keeps_a_feed_a_rule_names(tmp_path: Path) -> None:
    """Removing a feed that a rule names would leave the rule never firing, which a restart
    refuses: so does a SIGHUP, and the feed is kept."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(
        "rules:\n  - id: wire-only\n    name: wire only\n    query: troops\n    feeds: [wire]\n"
    )
    with feed_server() as server:
        server.put("/wire.rss", rss([CALM]))
        server.put("/extra.rss", rss([CALM]))
        wire, extra = server.url("/wire.rss"), server.url("/extra.rss")
        config = write_config(
            tmp_path, feeds={"wire": wire, "extra": extra}, destinations={}, rules=rules
        )
        start = config.read_text()
        with DaemonProcess(config, tmp_path) as daemon:
            daemon.wait_healthy()
            config.write_text(start.replace(f"  - {{id: wire, url: '{wire}', interval: 1s}}\n", ""))
            assert "id: wire" not in config.read_text()
            daemon.signal(signal.SIGHUP)
            invalid = wait_for("the refusal", lambda: daemon.events("config_invalid"))
            assert "'wire-only'" in invalid[0]["error"]
            assert "r.yaml:2" in invalid[0]["error"]
            assert daemon.events("feeds_reloaded") == []
            assert active_feeds(tmp_path / "state.db") == {"wire": True, "extra": True}
            daemon.signal(signal.SIGTERM)
            assert daemon.wait() == 0

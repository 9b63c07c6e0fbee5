"""`newsmon run` as a real process against a local feed server and local webhook receivers:
what /metrics counts is what happened at the feed server and the receivers."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from monitor.query.rulefiles import load_rules
from tests.daemon_support import DaemonProcess, wait_for, write_config, write_rules
from tests.feedserver import answering, feed_server, rss
from tests.receiver import Receiver

pytestmark = pytest.mark.slow

TROOPS_1 = ("t1", "Troops cross the river at dawn", "Two brigades moved north.")
TROOPS_2 = ("t2", "Parliament votes on soldiers for the mission", "Soldiers, troops, a vote.")
BAKERY = ("b1", "Village bakery wins the national prize", "Bread and cakes.")


def test_metrics_count_what_happened(tmp_path: Path) -> None:
    rules = write_rules(
        tmp_path / "rules",
        {"troops": ("troops OR soldiers", ["a", "b"]), "bakery": ("bakery", ["b"])},
    )
    with feed_server() as server, Receiver() as rx_a, Receiver() as rx_b:
        server.put("/wire.rss", rss([("w0", "Weather", "Rain.")]))
        server.put("/city.rss", rss([("c0", "Traffic", "Jams.")]))
        config = write_config(
            tmp_path,
            feeds={"wire": server.url("/wire.rss"), "city": server.url("/city.rss")},
            destinations={"a": rx_a.url, "b": rx_b.url},
            rules=rules,
        )
        with DaemonProcess(config, tmp_path) as daemon:
            daemon.wait_healthy()
            assert daemon.get("/healthz") == (200, b"ok\n")
            ready = daemon.ready()
            assert ready == {"store": True, "rules_version": load_rules(rules).version, "rules": 2}
            assert daemon.metric("newsmon_rules_info", version=ready["rules_version"]) == 1.0

            # The first poll of each feed is its baseline: nothing alerts.
            wait_for("both baselines", lambda: len(daemon.events("feed_polled")) >= 2)
            server.put("/wire.rss", rss([TROOPS_1, BAKERY, ("w0", "Weather", "Rain.")]))
            server.put("/city.rss", rss([TROOPS_2, ("c0", "Traffic", "Jams.")]))

            def delivered() -> bool:
                return len(rx_a.requests) >= 2 and len(rx_b.requests) >= 3

            wait_for("5 deliveries", delivered)
            wait_for(
                "outbox depth back to 0 after the deliveries",
                lambda: (
                    daemon.metric("newsmon_deliveries_total", destination="b", outcome="delivered")
                    == 3
                    and daemon.metric("newsmon_outbox_depth") == 0
                ),
            )
            m = daemon.metrics()
            requests = list(server.requests)
            events = daemon.events()

        assert daemon.proc.returncode is not None  # killed on leaving the block

    def value(name: str, **labels: str) -> float:
        return m.get((name, tuple(sorted(labels.items()))), 0.0)

    # Matches per rule and alerts per destination: exactly what the items and routes imply.
    assert value("newsmon_matches_total", rule="troops") == 2
    assert value("newsmon_matches_total", rule="bakery") == 1
    assert value("newsmon_alerts_enqueued_total", destination="a") == 2
    assert value("newsmon_alerts_enqueued_total", destination="b") == 3
    for dest, count in (("a", 2), ("b", 3)):
        assert value("newsmon_deliveries_total", destination=dest, outcome="delivered") == count
        assert value("newsmon_deliveries_total", destination=dest, outcome="retried") == 0
        assert value("newsmon_deliveries_total", destination=dest, outcome="dead") == 0
    assert len(rx_a.requests) == 2
    assert len(rx_b.requests) == 3
    assert {json.loads(r.body)["item"]["title"] for r in rx_b.requests} == {
        TROOPS_1[1],
        TROOPS_2[1],
        BAKERY[1],
    }
    assert value("newsmon_outbox_depth") == 0
    assert value("newsmon_outbox_oldest_age_seconds") == 0
    assert value("newsmon_feeds_in_error") == 0
    # The fetches' body turns, from the config's defaults (64 MiB / 10 MiB); small feeds take none.
    assert value("newsmon_body_turns") == 6
    assert value("newsmon_body_turns_in_use") == 0
    assert value("newsmon_body_turn_waits_total") == 0
    # Items parsed: the two baselines (1 + 1) and the two changed bodies (3 + 2).
    assert value("newsmon_items_parsed_total") == 7
    # Of those, what did not alert and why: the two baseline items, then both seen again.
    assert value("newsmon_items_skipped_total", reason="baseline") == 2
    assert value("newsmon_items_skipped_total", reason="seen") == 2
    assert value("newsmon_items_skipped_total", reason="too_old") == 0
    assert value("newsmon_items_skipped_total", reason="repeated_story") == 0
    polled = [e for e in events if e.get("event") == "feed_polled" and e.get("status") == "ok"]
    assert sorted(json.dumps(e["skipped"], sort_keys=True) for e in polled) == sorted(
        ['{"baseline": 1}', '{"baseline": 1}', '{"seen": 1}', '{"seen": 1}']
    )

    # Polls by status against the feed server's own record: every 200 it sent is an "ok" poll
    # and every 304 a "not_modified" one; at most one poll per feed may still be in flight.
    polls_ok = value("newsmon_polls_total", status="ok")
    polls_304 = value("newsmon_polls_total", status="not_modified")
    sent_200 = sum(1 for r in requests if r.status == 200)
    sent_304 = sum(1 for r in requests if r.status == 304)
    assert polls_ok == 4  # two baselines, two changed feeds
    assert sent_200 == 4
    assert polls_304 <= sent_304 <= polls_304 + 2
    assert value("newsmon_fetch_seconds_count") == polls_ok + polls_304

    # The log: JSON lines (stdout is not a terminal), short event names, feed and rule in context.
    matched = [e for e in events if e["event"] == "item_matched"]
    assert sorted((e["feed"], e["rule"]) for e in matched) == [
        ("city", "troops"),
        ("wire", "bakery"),
        ("wire", "troops"),
    ]
    sent = [e for e in events if e["event"] == "alert_delivered"]
    assert len(sent) == 5
    assert sorted((e["destination"], e["feed"], tuple(e["rules"])) for e in sent) == [
        ("a", "city", ("troops",)),
        ("a", "wire", ("troops",)),
        ("b", "city", ("troops",)),
        ("b", "wire", ("bakery",)),
        ("b", "wire", ("troops",)),
    ]
    polled = [e for e in events if e["event"] == "feed_polled"]
    assert {e["feed"] for e in polled} == {"wire", "city"}
    assert all(e["level"] == "info" and "timestamp" in e for e in polled)


def test_the_store_gauges_are_right_at_the_first_scrape_after_a_restart(tmp_path: Path) -> None:
    """A feed failing before a restart is in error from the restart's first scrape on: the gauge
    read 0 until the first stats tick (5 s), which reset the `for:` of NewsmonFeedsInError."""
    rules = write_rules(tmp_path / "rules", {"troops": ("troops", [])})
    with answering(lambda path, headers: (500, {}, b"down")) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}/wire.rss"
        config = write_config(tmp_path, feeds={"wire": url}, destinations={}, rules=rules)
        with DaemonProcess(config, tmp_path) as first:
            wait_for("the feed's error", lambda: first.events("feed_error") or None)
            first.signal(signal.SIGTERM)
            assert first.wait() == 0
        with DaemonProcess(config, tmp_path) as daemon:
            assert daemon.metric("newsmon_feeds_in_error") == 1  # the first scrape it answers


@pytest.mark.skipif(not Path("/proc/self/limits").exists(), reason="reads /proc/PID/limits")
def test_run_raises_the_usual_soft_limit_of_1024_open_files(tmp_path: Path) -> None:
    """systemd starts services with a soft limit of 1,024 open files (hard: 524,288): a flood of
    connections to the listener took them all, and the daemon could neither poll nor deliver.
    `newsmon run` raises the soft limit towards the hard one, up to 65,536."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 1024:
        pytest.skip("the hard limit here is 1,024 open files: nothing to raise it to")
    rules = write_rules(tmp_path / "rules", {"troops": ("troops", ["a"])})
    with feed_server() as server, Receiver() as rx:
        server.put("/wire.rss", rss([("w0", "Weather", "Rain.")]))
        config = write_config(
            tmp_path, feeds={"wire": server.url("/wire.rss")}, destinations={"a": rx.url},
            rules=rules,
        )  # fmt: skip
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))  # the daemon inherits it
        try:
            daemon = DaemonProcess(config, tmp_path)
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        with daemon:
            daemon.wait_healthy()
            limits = Path(f"/proc/{daemon.proc.pid}/limits").read_text().splitlines()
            open_files = next(line for line in limits if line.startswith("Max open files"))
            expected = 65_536 if hard == resource.RLIM_INFINITY else min(hard, 65_536)
            assert open_files.split()[3] == str(expected)
            raised = daemon.events("open_files_limit_raised")
            assert [(e["before"], e["now"]) for e in raised] == [(1024, expected)]

"""What a SIGHUP applies of a config read again (monitor.process.feedreload), without a daemon."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from monitor.clock import FakeClock
from monitor.config import load_config
from monitor.metrics import Metrics
from monitor.pipeline.rules import CurrentRules
from monitor.process.bootstrap import load_checked_rules
from monitor.process.feedreload import FeedReloader, unapplied_changes, with_fresh_feeds
from monitor.process.reload import RuleReloader
from monitor.query import rulefiles
from monitor.store import open_store
from tests.daemon_support import write_rules

BASE = "database_url: {db}\nrules: rules\ndefault_interval: 5m\nfeeds:\n  - {{id: a, url: 'https://a.example/rss'}}\n"


def test_feeds_and_default_interval_are_applied_and_every_other_change_is_named(
    tmp_path: Path,
) -> None:
    path = tmp_path / "newsmon.yaml"
    path.write_text(BASE.format(db=tmp_path / "s.db"))
    running = load_config(path, env={})
    path.write_text(
        BASE.format(db=tmp_path / "other.db").replace("5m", "2m")
        + "  - {id: b, url: 'https://b.example/rss', tags: [x]}\ngrace_period: 5s\n"
    )
    fresh = load_config(path, env={})
    assert unapplied_changes(running, fresh) == ["database_url", "grace_period"]
    applied = with_fresh_feeds(running, fresh)
    assert [(s.id, s.interval_s, s.tags) for s in applied.feed_specs()] == [
        ("a", 120.0, ()),
        ("b", 120.0, ("x",)),
    ]
    # The rest is the config running: its database, its grace period, its file.
    assert applied.database_url == running.database_url
    assert applied.grace_period == running.grace_period
    assert applied.path == path
    assert unapplied_changes(running, running) == []


def test_a_sighup_that_changes_the_feeds_reads_the_rules_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The new feeds were checked against the rules read from disk, and then the rules were read
    again to be reloaded: a folder's every file (and its `like:` examples) read twice a SIGHUP."""
    rules = write_rules(tmp_path / "rules", {"troops": ("troops", [])})
    path = tmp_path / "newsmon.yaml"
    path.write_text(BASE.format(db=tmp_path / "s.db").replace("rules: rules", f"rules: {rules}"))
    config = load_config(path, env={})
    clock = FakeClock()
    store = open_store(config.database_url)
    reads: list[Path] = []
    real_file = rulefiles._Loader.file

    def counted_file(loader: rulefiles._Loader, file: Path) -> None:
        reads.append(file)
        real_file(loader, file)

    try:
        store.sync_feeds(config.feed_specs(), clock.now())
        live = CurrentRules(load_checked_rules(config), [])
        reloader = RuleReloader(live, config, Metrics(), None, FeedReloader(store, clock, None))
        path.write_text(path.read_text() + "  - {id: b, url: 'https://b.example/rss'}\n")
        monkeypatch.setattr(rulefiles._Loader, "file", counted_file)
        asyncio.run(reloader(True))
        assert sorted(f.id for f in store.list_feeds()) == ["a", "b"]
    finally:
        store.close()
    assert reads == [rules / "troops.yaml"]
    assert reloader.config.feed_specs()[-1].id == "b"  # the rules were checked against these

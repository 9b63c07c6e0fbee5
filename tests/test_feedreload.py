"""What a SIGHUP applies of a config read again (monitor.process.feedreload), without a daemon."""

from __future__ import annotations

from pathlib import Path

from monitor.config import load_config
from monitor.process.feedreload import unapplied_changes, with_fresh_feeds

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

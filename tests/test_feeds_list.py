"""`newsmon feeds list`: a configured feed the store has not polled yet is listed, in the table
and in --json alike."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.cli.main import main


def test_a_configured_feed_not_polled_yet_is_in_the_json_as_in_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "newsmon.yaml"
    config.write_text(
        f"database_url: {tmp_path / 'n.db'}\n"
        "feeds:\n  - id: wire\n    url: 'https://ana:pw@feeds.example.org/rss?token=abc'\n",
        encoding="utf-8",
    )
    assert main(["feeds", "list", "--config", str(config)]) == 0
    assert ["wire", "not", "polled", "yet", "-", "-"] in [
        line.split() for line in capsys.readouterr().out.splitlines()
    ]
    assert main(["feeds", "list", "--json", "--config", str(config)]) == 0
    # Before, --json printed nothing for it: a script watching the list missed every new feed.
    (line,) = capsys.readouterr().out.splitlines()
    listed = json.loads(line)
    assert listed["id"] == "wire"
    assert listed["status"] == "not_polled"
    assert listed["configured"] is True
    assert listed["url"] == "https://***@feeds.example.org/rss?token=***"
    assert listed["last_fetch_at"] is None
    assert not (tmp_path / "n.db").exists()  # a read creates no store


def test_a_feed_the_config_lists_again_shows_the_state_the_store_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from monitor.config import load_config
    from monitor.store import open_store

    db = tmp_path / "n.db"
    config = tmp_path / "newsmon.yaml"
    config.write_text(
        f"database_url: {db}\nfeeds:\n"
        "  - id: wire\n    url: https://feeds.example.org/wire\n"
        "  - id: desk\n    url: https://feeds.example.org/desk\n",
        encoding="utf-8",
    )
    specs = load_config(str(config)).feed_specs()
    store = open_store(str(db))
    try:
        store.migrate()
        now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
        store.sync_feeds(specs, now)
        store.sync_feeds([s for s in specs if s.id == "wire"], now)  # desk removed: state kept
    finally:
        store.close()
    # desk is back in the file, not applied yet: the state it goes on from is listed.
    assert main(["feeds", "list", "--config", str(config)]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert "(back in config)" in rows["desk"]
    assert "not polled yet" not in rows["desk"]  # before: as if the store had never seen it
    assert "(back in config)" not in rows["wire"]
    assert main(["feeds", "list", "--json", "--config", str(config)]) == 0
    listed = {d["id"]: d for d in map(json.loads, capsys.readouterr().out.splitlines())}
    assert listed["desk"]["configured"] is True
    assert listed["desk"]["status"] != "not_polled"

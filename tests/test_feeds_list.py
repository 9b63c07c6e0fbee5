"""`newsmon feeds list`: a configured feed the store has not polled yet is listed, in the table
and in --json alike."""

from __future__ import annotations

import json
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

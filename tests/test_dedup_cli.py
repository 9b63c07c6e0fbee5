"""`newsmon stories list`: text and JSON output, an unknown story, an empty store."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from monitor.cli.stories import cmd_list, register
from monitor.model import StorySource
from monitor.store.sqlite import SQLiteStore
from tests.store_fixtures import T0

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("NEWSMON_CONFIG", "NEWSMON_RULES", "NEWSMON_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "newsmon.yaml"
    path.write_text(f"database_url: {tmp_path / 'state.db'}\nrules: {ROOT / 'rules'}\n")
    store = SQLiteStore(tmp_path / "state.db")
    store.migrate()
    store.close()
    return path


def run(config: Path, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["stories", "list", "--config", str(config), *argv])
    assert args.func is cmd_list
    result: int = args.func(args)
    return result


def test_lists_stories_and_sightings(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = SQLiteStore(config.parent / "state.db")
    store.add_story_sources([
        StorySource("u:abc", "wire", "g:1", T0, "https://wire.example/1", "Troops sent"),
        StorySource("u:abc", "agg", "g:9", T0.replace(hour=13), None, "Troops were sent"),
    ])  # fmt: skip
    store.close()
    assert run(config) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["STORY", "SIGHTINGS", "FIRST", "SEEN", "TITLE"]
    assert lines[1].split() == ["u:abc", "2", "2026-03-01", "12:00", "UTC", "Troops", "sent"]
    assert lines[2].startswith("1 story, newest first; SIGHTINGS: the items, in any feed,")
    assert run(config, "--story", "u:abc") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["SEEN", "ITEM", "TITLE", "URL"]
    # The item as `newsmon feedback` takes it: the docs said this list showed it, and it did not.
    assert lines[1].split() == [
        "2026-03-01",
        "12:00",
        "UTC",
        "wire/g:1",
        "Troops",
        "sent",
        "https://wire.example/1",
    ]
    assert lines[3].startswith("ITEM: the feed and the item's key, as `newsmon feedback ITEM`")
    assert run(config, "--story", "u:abc", "--json") == 0
    records = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(x["feed"], x["seen_at"], x["url"]) for x in records] == [
        ("wire", "2026-03-01T12:00:00Z", "https://wire.example/1"),
        ("agg", "2026-03-01T13:00:00Z", None),
    ]


def test_unknown_story_and_empty_store_exit_1(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config) == 1
    assert run(config, "--story", "nothing") == 1
    assert "no sightings of story 'nothing'" in capsys.readouterr().err


def test_a_limit_below_one_is_a_usage_error(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # It was read as 1: `--limit 0` listed a story.
    from monitor.cli.main import main

    with pytest.raises(SystemExit) as stop:
        main(["stories", "list", "--limit", "0", "--config", str(config)])
    assert stop.value.code == 2
    assert "argument --limit: must be 1 or more, not 0" in capsys.readouterr().err


def test_a_store_not_there_says_where_it_was_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `database_url: newsmon.db` is read relative to where newsmon runs: run from elsewhere,
    # `feeds list` said only "no feeds polled yet", though the store was beside the config.
    from monitor.cli.main import main

    for name in ("NEWSMON_CONFIG", "NEWSMON_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "newsmon.yaml").write_text("database_url: newsmon.db\n")
    monkeypatch.chdir(tmp_path)
    note = (
        f"note: no store at newsmon.db (relative to {tmp_path}) yet: `newsmon run` or"
        " `newsmon check --deliver` makes it"
    )
    for command in (["feeds", "list"], ["stories", "list"], ["deliveries", "list", "--json"]):
        main([*command, "--config", "etc/newsmon.yaml"])
        assert note in capsys.readouterr().err.splitlines(), command
    assert not (tmp_path / "newsmon.db").exists()

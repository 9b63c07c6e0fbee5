"""`newsmon deliveries list / replay / enable` on a real SQLite store and config file."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.cli.main import main
from monitor.clock import SystemClock
from monitor.delivery.destinations import Destination
from monitor.store.sqlite import SQLiteStore
from tests.delivery_support import T0, deliverer, enqueue, open_sqlite
from tests.receiver import Receiver, Reply


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    """A config naming a database with one delivered, one dead and one disabled destination."""
    for name in ("NEWSMON_DATABASE_URL", "NEWSMON_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    db = tmp_path / "newsmon.db"
    config = tmp_path / "newsmon.yaml"
    config.write_text(
        f"database_url: {db}\ndestinations:\n  - {{name: team, type: slack, url_env: TEAM_URL}}\n",
        encoding="utf-8",
    )
    store: SQLiteStore = open_sqlite(db)
    ids = enqueue(store, T0, "ops", ["s1", "s2"]) + enqueue(store, T0, "team", ["s1"])
    rows = store.claim_due_alerts(T0, 10, timedelta(minutes=1), "w")
    by_id = {r.id: r for r in rows}
    store.mark_delivered(ids[0], "w", T0)
    store.dead_letter(ids[1], "w", T0, "HTTP 400")
    store.release_alert(ids[2], "w")
    store.disable_destination("team", "HTTP 404 no_service", T0)
    store.close()
    assert set(by_id) == set(ids)
    return config, ids


def test_list_shows_disabled_destinations_first(
    setup: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    config, ids = setup
    assert main(["deliveries", "list", "--config", str(config)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "!! DESTINATION DISABLED: team: HTTP 404 no_service"
    assert "replay --all-dead" in out[1]
    body = "\n".join(out)
    assert all(i in body for i in ids)
    assert "HTTP 400" in body


def test_list_dead_as_json(
    setup: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    config, ids = setup
    assert main(["deliveries", "list", "--dead", "--json", "--config", str(config)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["disabled_destinations"] == {"team": "HTTP 404 no_service"}
    assert {a["id"] for a in doc["alerts"]} == {ids[1], ids[2]}
    assert {a["status"] for a in doc["alerts"]} == {"dead"}
    assert doc["pending"] == 0


def test_replay_one_keeps_its_id(
    setup: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    config, ids = setup
    assert main(["deliveries", "replay", ids[1], "--config", str(config)]) == 0
    # Replay queues; it does not post: the line says who sends (a cron user has no daemon).
    assert capsys.readouterr().out == (
        "replayed 1 dead letter (same ids): pending again; `newsmon run` sends it,"
        " or the next `newsmon check --deliver`\n"
    )
    store = open_sqlite(config.parent / "newsmon.db")
    row = store.get_alert(ids[1])
    store.close()
    assert row is not None
    assert row.status == "pending"
    assert row.document["id"] == ids[1]


def test_replay_takes_ids_after_options_too(
    setup: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    # The ids were a positional in an argparse mutually exclusive group, which cannot be read
    # intermixed: the id after --config was "unknown argument(s)", exit 2, nothing replayed.
    config, ids = setup
    assert main(["deliveries", "replay", ids[1], "--config", str(config), ids[2]]) == 0
    assert "replayed 2 dead letters (same ids)" in capsys.readouterr().out
    store = open_sqlite(config.parent / "newsmon.db")
    statuses = [row.status for i in ids[1:] if (row := store.get_alert(i)) is not None]
    store.close()
    assert statuses == ["pending", "pending"]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        ([], "one of the arguments ID --all-dead is required"),
        (["msg_x", "--all-dead"], "argument --all-dead: not allowed with argument ID"),
    ],
)
def test_replay_wants_ids_or_all_dead_not_both(
    setup: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    config, ids = setup
    with pytest.raises(SystemExit) as stop:
        main(["deliveries", "replay", *argv, "--config", str(config)])
    assert stop.value.code == 2
    assert capsys.readouterr().err == (
        f"newsmon deliveries replay: {says} (see `newsmon deliveries replay --help`)\n"
    )
    store = open_sqlite(config.parent / "newsmon.db")
    row = store.get_alert(ids[1])
    store.close()
    assert row is not None
    assert row.status == "dead"  # nothing replayed


def test_replay_refuses_unknown_and_undead_ids(
    setup: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    config, ids = setup
    assert main(["deliveries", "replay", "msg_nope", ids[0], "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "msg_nope: no such alert" in err
    assert "is delivered" in err


def test_replay_all_dead_then_enable(
    setup: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    config, _ids = setup
    assert main(["deliveries", "replay", "--all-dead", "--config", str(config)]) == 0
    captured = capsys.readouterr()
    assert "replayed 2 dead letters" in captured.out
    assert "DESTINATION DISABLED: team" in captured.err
    assert main(["deliveries", "replay", "--all-dead", "--config", str(config)]) == 1
    assert main(["deliveries", "enable", "team", "--config", str(config)]) == 0
    assert main(["deliveries", "enable", "team", "--config", str(config)]) == 1
    capsys.readouterr()
    assert main(["deliveries", "list", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "DISABLED" not in out
    # What made them dead letters is said to be past: "destination disabled: HTTP 404
    # no_service" read as if the enable and the replay had not worked.
    [team] = [line for line in out.splitlines() if " team " in line]
    assert team.endswith("replayed; it was: destination disabled: HTTP 404 no_service")


def test_a_bad_config_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("database_url: [\n", encoding="utf-8")
    assert main(["deliveries", "list", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("newsmon: ")
    assert "Traceback" not in err


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_a_limit_below_one_is_a_usage_error(
    setup: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str], limit: str
) -> None:
    # It was read as 1: `--limit 0` listed an alert.
    config, _ = setup
    with pytest.raises(SystemExit) as stop:
        main(["deliveries", "list", "--limit", limit, "--config", str(config)])
    assert stop.value.code == 2
    assert capsys.readouterr().err == (
        f"newsmon deliveries list: argument --limit: must be 1 or more, not {limit}"
        " (see `newsmon deliveries list --help`)\n"
    )
    assert main(["deliveries", "list", "--limit", "1", "--json", "--config", str(config)]) == 0
    assert len(json.loads(capsys.readouterr().out)["alerts"]) == 1


def test_enable_without_a_config_file_says_none_was_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # It said "no such destination 'team' in no config file found (destinations: none)".
    for name in ("NEWSMON_CONFIG", "NEWSMON_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["deliveries", "enable", "team"]) == 2
    assert capsys.readouterr().err == (
        "newsmon: no such destination 'team': no config file found"
        " (give --config FILE or set NEWSMON_CONFIG)\n"
    )


def test_a_limit_past_what_sqlite_takes_lists_everything(
    setup: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    # An OverflowError traceback ("Python int too large to convert to SQLite INTEGER").
    config, ids = setup
    argv = ["deliveries", "list", "--limit", "9" * 30, "--json", "--config", str(config)]
    assert main(argv) == 0
    assert len(json.loads(capsys.readouterr().out)["alerts"]) == len(ids)


def _desk_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, SQLiteStore]:
    """A config whose one destination is `desk`, and the store it names (opened)."""
    for name in ("NEWSMON_DATABASE_URL", "NEWSMON_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    db = tmp_path / "newsmon.db"
    config = tmp_path / "newsmon.yaml"
    config.write_text(
        f"database_url: {db}\ndestinations:\n  - {{name: desk, type: slack, url_env: DESK}}\n",
        encoding="utf-8",
    )
    return config, open_sqlite(db)


def test_list_says_pending_alerts_of_a_destination_no_longer_configured_are_not_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A destination renamed or removed from the config leaves its queued alerts pending: no
    process sends to it. They were listed as due, with their last error or title, for ever."""
    config, store = _desk_only(tmp_path, monkeypatch)
    [old] = enqueue(store, T0, "hook", ["s1"])  # the destination's name before the rename
    [new] = enqueue(store, T0, "desk", ["s2"])
    store.close()

    assert main(["deliveries", "list", "--config", str(config)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("!! NOT SENT: pending alerts for hook, not a destination in ")
    [old_line] = [line for line in out if old in line]
    [new_line] = [line for line in out if new in line]
    assert old_line.endswith("not sent: no such destination in the config")
    assert "not sent" not in new_line

    assert main(["deliveries", "list", "--json", "--config", str(config)]) == 0
    assert json.loads(capsys.readouterr().out)["unconfigured_destinations"] == ["hook"]


def test_the_not_sent_banner_counts_pending_alerts_past_the_rows_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The banner looked only at the rows shown (the newest --limit, of the status asked for):
    a removed destination's older alerts, or a list of dead letters, said nothing of them."""
    config, store = _desk_only(tmp_path, monkeypatch)
    enqueue(store, T0, "hook", ["s1"])  # the oldest alert, for a destination removed since
    enqueue(store, T0 + timedelta(minutes=1), "desk", ["s2", "s3"])
    store.close()

    for shown in (["--limit", "1"], ["--dead"]):
        assert main(["deliveries", "list", *shown, "--config", str(config)]) == 0
        out = capsys.readouterr().out.splitlines()
        assert out[0].startswith("!! NOT SENT: pending alerts for hook, not a destination in ")
        assert main(["deliveries", "list", *shown, "--json", "--config", str(config)]) == 0
        assert json.loads(capsys.readouterr().out)["unconfigured_destinations"] == ["hook"]


def test_list_says_a_destination_is_paused_by_a_429_and_what_waits_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 429 asking for an hour pauses the destination for every process: its other alerts,
    due, were listed as due with their titles and no word of why nothing was sent."""
    config, store = _desk_only(tmp_path, monkeypatch)
    now = SystemClock().now()
    first, second = enqueue(store, now, "desk", ["s1", "s2"])
    with Receiver([Reply(429, headers={"retry-after": "3600"})]) as rx:
        desk = Destination.create("desk", "webhook", rx.url, rate=1e6, burst=1e6)
        asyncio.run(deliverer(store, {"desk": desk}, SystemClock()).run_once())
    assert len(rx.requests) == 1
    store.close()

    assert main(["deliveries", "list", "--config", str(config)]) == 0
    out = capsys.readouterr().out.splitlines()
    [banner] = [line for line in out if line.startswith("!! PAUSED: desk until ")]
    assert banner.endswith(": it answered 429 (too many requests); its alerts wait until then")
    rows = {line.split()[0]: line for line in out if line.startswith((first, second))}
    tried, waiting = sorted(rows.values(), key=lambda line: "HTTP 429" not in line)
    assert tried.endswith("HTTP 429")
    assert "waits: desk paused until " in waiting

    assert main(["deliveries", "list", "--json", "--config", str(config)]) == 0
    until = json.loads(capsys.readouterr().out)["paused_destinations"]["desk"]
    left = datetime.fromisoformat(until.replace("Z", "+00:00")) - datetime.now(UTC)
    assert timedelta(minutes=59) < left <= timedelta(hours=1)

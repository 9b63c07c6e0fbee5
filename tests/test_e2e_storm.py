"""End to end through `newsmon check --deliver`: a storm of 200 matching items in one poll of a
real feed server, to a real receiver with `storm: {max: 5, within: 10m}`. Five alerts go out;
the other 195 are held for the fold, and all 200 are in `deliveries list`."""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

import pytest

from monitor.cli.main import main
from tests.feedserver import feed_server, rss
from tests.receiver import Receiver

RULE = """rules:
  - id: quake
    name: Earthquake
    query: earthquake
    notify: [hook]
"""


def storm_items(n: int) -> list[tuple[str, str, str]]:
    # Distinct words per item, so no two items are the same story to the near-duplicate check.
    rng = random.Random(20)
    items = []
    for i in range(n):
        words = " ".join("".join(rng.choices(string.ascii_lowercase, k=8)) for _ in range(8))
        items.append((f"q{i}", f"Earthquake {words}", f"Report {words}"))
    return items


def test_storm_of_200_in_one_poll(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NEWSMON_CONFIG", "NEWSMON_RULES", "NEWSMON_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "quake.yaml").write_text(RULE, encoding="utf-8")
    with feed_server() as server, Receiver() as rx:
        server.put("/wire.rss", rss(storm_items(200)))
        config = tmp_path / "newsmon.yaml"
        config.write_text(
            f"""
database_url: {tmp_path / "state.db"}
rules: {tmp_path / "rules"}
allow_networks: ["127.0.0.1/32"]
log_level: warning
feeds:
  - id: wire
    url: {server.url("/wire.rss")}
    backfill: 1d
destinations:
  - name: hook
    type: webhook
    url: {rx.url}
    rate: 1000
    burst: 1000
    storm: {{max: 5, within: 10m}}
"""
        )
        assert main(["check", "--deliver", "--config", str(config)]) == 0
        capsys.readouterr()
        assert len(rx.requests) == 5
        assert all(json.loads(r.body)["type"] == "newsmon.alert" for r in rx.requests)
    assert main(["deliveries", "list", "--config", str(config), "--json", "--limit", "500"]) == 0
    rows = json.loads(capsys.readouterr().out)["alerts"]
    assert len(rows) == 200
    statuses = sorted(str(r["status"]) for r in rows)
    assert statuses.count("delivered") == 5
    assert statuses.count("pending") == 195

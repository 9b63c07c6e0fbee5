"""End to end through `newsmon check --deliver`: a real feed server and a real webhook receiver on
127.0.0.1, a real SQLite file. The promises: one alert per story, signed; nothing twice; only new
items alert; conditional GETs on unchanged feeds."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from monitor.cli.main import main
from monitor.delivery.signing import verify
from tests.feedserver import FeedServer, feed_server, rss
from tests.receiver import Receiver

ROOT = Path(__file__).resolve().parent.parent
SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def write_config(tmp: Path, server: FeedServer, receiver_url: str, *, backfill: str) -> Path:
    config = tmp / "newsmon.yaml"
    config.write_text(
        f"""
database_url: {tmp / "state.db"}
rules: {ROOT / "rules"}
allow_networks: ["127.0.0.1/32"]
log_level: warning
retention: 3650d   # the seed article is from 2024: older items than this are ignored
feeds:
  - id: seed
    url: {server.url("/seed.rss")}
    interval: 1s
    backfill: {backfill}
  - id: wire
    url: {server.url("/wire.rss")}
    interval: 1s
destinations:
  - name: hook
    type: webhook
    url: {receiver_url}
    secret_env: TEST_HOOK_SECRET
"""
    )
    return config


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_HOOK_SECRET", SECRET)
    for name in ("NEWSMON_CONFIG", "NEWSMON_RULES", "NEWSMON_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("env")
def test_seed_article_gives_one_signed_webhook_naming_all_three_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with feed_server() as server, Receiver() as rx:
        server.put("/seed.rss", (ROOT / "seeds" / "article.rss").read_bytes())
        server.put("/wire.rss", rss([("w1", "Local bakery wins prize", "Bread.")]))
        config = write_config(tmp_path, server, rx.url, backfill="36500d")

        assert main(["check", "--deliver", "--config", str(config), "--json"]) == 0
        assert len(rx.requests) == 1
        request = rx.requests[0]
        assert verify(SECRET, request.headers, request.body)
        payload = json.loads(request.body)
        assert payload["id"] == request.headers["webhook-id"]
        assert sorted(r["id"] for r in payload["rules"]) == [
            "arms-to-ukraine",
            "nato-delegation",
            "troop-dispatch",
        ]
        assert payload["item"]["feed"]["id"] == "seed"

        # A second run: the feeds answer 304 and nothing is sent again.
        assert main(["check", "--deliver", "--config", str(config)]) == 1
        assert len(rx.requests) == 1
        second = server.hits("/seed.rss")[-1]
        assert second.status == 304
        assert "If-None-Match" in second.headers


@pytest.mark.usefixtures("env")
def test_only_new_items_alert_and_a_restart_alerts_nothing_again(tmp_path: Path) -> None:
    troops = ("t1", "Troops dispatched to the border", "The army deployed two brigades.")
    with feed_server() as server, Receiver() as rx:
        server.put("/seed.rss", rss([("s0", "Weather", "Rain.")]))
        server.put("/wire.rss", rss([troops]))
        config = write_config(tmp_path, server, rx.url, backfill="0")

        # First poll of a new feed is its baseline: the troop story already there does not alert.
        assert main(["check", "--deliver", "--config", str(config)]) == 1
        assert rx.requests == []

        gained = ("t2", "Russia sends troops to Belarus", "Soldiers were dispatched overnight.")
        server.put("/wire.rss", rss([gained, troops]))
        assert main(["check", "--deliver", "--config", str(config)]) == 0
        assert len(rx.requests) == 1
        assert json.loads(rx.requests[0].body)["item"]["title"] == gained[1]

        # A new process on the same store (a restart) with the feed changed only cosmetically.
        server.put("/wire.rss", rss([gained, troops], title="Local Wire (renamed)"))
        assert main(["check", "--deliver", "--config", str(config)]) == 1
        assert len(rx.requests) == 1


@pytest.mark.usefixtures("env")
def test_an_unchanged_200_body_is_not_parsed_again(tmp_path: Path) -> None:
    with feed_server() as server, Receiver() as rx:
        server.validators = False  # a server that ignores conditional GETs
        server.put("/seed.rss", rss([("s0", "Weather", "Rain.")]))
        server.put("/wire.rss", rss([("w1", "Weather", "Sun.")]))
        config = write_config(tmp_path, server, rx.url, backfill="0")
        assert main(["check", "--deliver", "--config", str(config)]) == 1
        assert main(["check", "--deliver", "--config", str(config), "--json"]) == 1
        assert [r.status for r in server.hits("/seed.rss")] == [200, 200]

    out = feeds_json(config)
    assert {f["id"]: f["status"] for f in out} == {"seed": "unchanged", "wire": "unchanged"}


def feeds_json(config: Path) -> list[dict[str, object]]:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["feeds", "list", "--config", str(config), "--json"]) == 0
    return [json.loads(line) for line in buf.getvalue().splitlines()]

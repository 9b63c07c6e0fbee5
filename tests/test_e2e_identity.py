"""Item identity through real polls: missing GUIDs, a GUID repeated inside one feed, and GUID
churn (the same items with new GUIDs on every poll) give no duplicate alerts."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from email.utils import formatdate
from pathlib import Path

import pytest

from monitor.cli.main import main
from tests.feedserver import feed_server
from tests.receiver import Receiver

ROOT = Path(__file__).resolve().parent.parent
WHEN = formatdate(time.time() - 3600, usegmt=True)


def item(title: str, *, guid: str | None, link: str | None) -> str:
    parts = [f"<title>{title}</title>", f"<pubDate>{WHEN}</pubDate>"]
    if guid is not None:
        parts.append(f"<guid isPermaLink='false'>{guid}</guid>")
    if link is not None:
        parts.append(f"<link>{link}</link>")
    return "<item>" + "".join(parts) + "</item>"


def feed(*items: str) -> bytes:
    return (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>Wire</title>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


# One `check --deliver` over the feed body given, and the receiver that saw the webhooks.
Cycle = tuple[Callable[[bytes], int], Receiver]


@pytest.fixture
def cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cycle]:
    for name in ("NEWSMON_CONFIG", "NEWSMON_RULES", "NEWSMON_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with feed_server() as server, Receiver() as rx:
        config = tmp_path / "newsmon.yaml"
        config.write_text(
            f"database_url: {tmp_path / 'state.db'}\n"
            f"rules: {ROOT / 'rules'}\n"
            "allow_networks: ['127.0.0.1/32']\n"
            "log_level: error\n"
            f"feeds:\n  - {{id: wire, url: '{server.url('/wire')}', backfill: 30d}}\n"
            f"destinations:\n  - {{name: hook, type: webhook, url: '{rx.url}'}}\n"
        )

        def run(body: bytes) -> int:
            server.put("/wire", body)
            return main(["check", "--deliver", "--config", str(config)])

        yield run, rx


TROOPS = "Troops dispatched to the border"
ARMS = "Germany to send more air defence systems to Ukraine"


def test_guid_churn_alerts_each_real_item_once(cycle: Cycle) -> None:
    run, rx = cycle
    for poll in range(3):
        run(
            feed(
                item(
                    TROOPS,
                    guid=f"tag:wire,{poll}:a",
                    link=f"https://wire.example/a?utm_source=x{poll}",
                ),
                item(
                    ARMS,
                    guid=f"tag:wire,{poll}:b",
                    link=f"https://wire.example/b?utm_campaign={poll}",
                ),
            )
        )
    titles = sorted(json.loads(r.body)["item"]["title"] for r in rx.requests)
    assert titles == sorted([TROOPS, ARMS])


def test_missing_guids_fall_back_to_links_and_titles(cycle: Cycle) -> None:
    run, rx = cycle
    body = feed(
        item(TROOPS, guid=None, link="https://wire.example/troops"),
        item(ARMS, guid=None, link=None),
    )
    assert run(body) == 0
    assert run(body) == 1
    assert len(rx.requests) == 2


def test_a_guid_repeated_inside_one_feed_is_two_items(cycle: Cycle) -> None:
    run, rx = cycle
    body = feed(
        item(TROOPS, guid="same", link="https://wire.example/troops"),
        item(ARMS, guid="same", link="https://wire.example/arms"),
    )
    assert run(body) == 0
    assert run(body) == 1
    assert len(rx.requests) == 2  # told apart, not collapsed; and not alerted twice

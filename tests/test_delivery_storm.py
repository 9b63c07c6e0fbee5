"""Storm folding: a storm of 200 matching items in one poll becomes the configured number of
single alerts plus one "N more for rule X" message per window; every alert stays in the outbox."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.clock import FakeClock
from monitor.config import load_config
from monitor.delivery.channels import discord
from monitor.delivery.channels.message import from_document
from monitor.delivery.destinations import Destination
from monitor.delivery.storm import GRACE, Storm, fold_document, fold_id
from monitor.errors import ConfigError
from monitor.model import OutboxRow
from monitor.store.base import Store
from tests.delivery_support import T0, deliverer, document, enqueue
from tests.receiver import Receiver, Reply
from tests.store_fixtures import StoreFactory

STORM = Storm(max=5, within=timedelta(minutes=10))
END = T0 + STORM.within + GRACE


@pytest.fixture
def store(make_store: StoreFactory) -> Store:
    """SQLite, and PostgreSQL too when NEWSMON_TEST_POSTGRES_URL is set (tests/store_fixtures)."""
    s: Store = make_store()
    return s


def hook(url: str) -> Destination:
    return Destination.create("ops", "webhook", url, rate=1e6, burst=1e6, storm=STORM)


def drain(store: Store, dest: Destination, clock: FakeClock) -> None:
    d = deliverer(store, {"ops": dest}, clock)
    d.batch = 500
    for _ in range(5):
        asyncio.run(d.run_once())


def test_storm_of_200_is_five_alerts_and_one_fold(store: Store) -> None:
    clock = FakeClock(T0 + timedelta(minutes=1))
    with Receiver() as rx:
        ids = enqueue(store, T0, "ops", [f"s{i:03d}" for i in range(200)])
        dest = hook(rx.url)
        drain(store, dest, clock)
        assert len(rx.requests) == 5  # the first five, one by one
        held = store.list_alerts("pending", limit=500)
        assert len(held) == 195
        assert all("held until the storm window ends" in (r.last_error or "") for r in held)
        assert all(r.attempts == 0 for r in held)  # holding is not a failed attempt
        clock.set(END)
        drain(store, dest, clock)
    assert len(rx.requests) == 6
    fold = json.loads(rx.requests[5].body)
    expected_id = fold_id("ops", "troops", T0)
    assert fold["type"] == "newsmon.fold"
    assert fold["id"] == expected_id == rx.requests[5].headers["webhook-id"]
    assert fold["item"]["title"] == "195 more for rule Troops (12:00–12:10 UTC)"
    singles = {json.loads(r.body)["id"] for r in rx.requests[:5]}
    assert {a["id"] for a in fold["alerts"]} == set(ids) - singles
    rows = store.list_alerts(limit=500)
    assert len(rows) == 200  # nothing dropped: every alert is in `deliveries list`
    assert {r.status for r in rows} == {"delivered"}
    folded_rows = [r for r in rows if r.id not in singles]
    assert all(r.last_error == f"folded into {expected_id}" for r in folded_rows)


def test_fold_resent_with_the_same_id_and_members(store: Store) -> None:
    clock = FakeClock(T0)
    replies = [Reply(200)] * 5 + [Reply(503), Reply(200)]
    with Receiver(replies) as rx:
        enqueue(store, T0, "ops", [f"s{i:02d}" for i in range(12)])
        dest = hook(rx.url)
        drain(store, dest, clock)
        clock.set(END)
        drain(store, dest, clock)  # the fold fails: 503
        assert len(rx.requests) == 6
        clock.advance(minutes=2)  # past the retry delay and the destination's pause
        drain(store, dest, clock)
    assert len(rx.requests) == 7
    first, again = (json.loads(r.body) for r in rx.requests[5:7])
    assert rx.requests[5].headers["webhook-id"] == rx.requests[6].headers["webhook-id"]
    assert first == again  # the same message, not a second, different one
    assert len(first["alerts"]) == 7
    assert {r.status for r in store.list_alerts(limit=50)} == {"delivered"}


def test_each_window_counts_apart(store: Store) -> None:
    with Receiver() as rx:
        enqueue(store, T0, "ops", [f"a{i}" for i in range(4)])
        later = T0 + timedelta(minutes=10)  # the next window: counts start again
        enqueue(store, later, "ops", [f"b{i}" for i in range(4)])
        drain(store, hook(rx.url), FakeClock(later))
    assert len(rx.requests) == 8
    assert all(json.loads(r.body)["type"] == "newsmon.alert" for r in rx.requests)


def test_fold_renders_in_a_channel() -> None:
    rows = []
    for i in range(30):
        doc = document("ops", f"s{i}", title=f"@everyone headline {i}")
        rows.append(OutboxRow(doc["id"], "ops", f"s{i}", "f1", f"i{i}", doc, T0))
    fold = fold_document("ops", "troops", T0, T0 + STORM.within, rows)
    message = from_document(fold)
    assert message.title == "30 more for rule Troops (12:00–12:10 UTC)"
    body: dict[str, Any] = discord.payload(message)
    embed = body["embeds"][0]
    assert "@everyone" not in embed["description"]
    assert "and 10 more" in embed["description"]


def test_fold_of_long_headlines_keeps_its_count() -> None:
    """Feed titles run to 1,000 characters: two filled the fold's 2,000 and its "and N more"
    was cut off, silently, in every channel."""
    rows = []
    for i in range(30):
        doc = document("ops", f"s{i}", title=f"{i} " + "\U0001f4f0 headline " * 100)
        rows.append(OutboxRow(doc["id"], "ops", f"s{i}", "f1", f"i{i}", doc, T0))
    fold = fold_document("ops", "troops", T0, T0 + STORM.within, rows)
    assert fold["snippet"].endswith("…; and 10 more")
    assert len(fold["snippet"]) <= 2_000
    assert fold["snippet"].count("…") == 20  # each listed headline cut, with a marker
    assert fold["alerts"][0]["title"] == rows[0].document["item"]["title"]  # whole for webhooks
    body: dict[str, Any] = discord.payload(from_document(fold))
    assert "and 10 more" in body["embeds"][0]["description"]


def test_storm_config_keys(tmp_path: Path) -> None:
    path = tmp_path / "newsmon.yaml"
    path.write_text(
        "destinations:\n  - {name: d, type: webhook, url_env: U, storm: {max: 5, within: 10m}}\n",
        encoding="utf-8",
    )
    config = load_config(path, env={"U": "https://hooks.example.org/x"})
    [resolved] = config.resolve_destinations()
    dest = Destination.from_resolved(resolved)
    assert dest.storm == STORM
    path.write_text(
        "destinations:\n  - {name: d, type: webhook, url_env: U, storm: {max: 0, within: 5s}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert "destinations[0].storm.max" in message
    assert "destinations[0].storm.within: " in message
    assert "between 1m and 1d" in message


def test_a_days_storm_names_its_dates() -> None:
    """A storm window of a day read "(00:00–00:00 UTC)": the fold names its dates then."""
    rows = [
        OutboxRow(f"msg_{i}", "ops", f"s{i}", "f1", f"i{i}", document("ops", f"s{i}"), T0)
        for i in range(3)
    ]
    start = T0.replace(hour=0)
    fold = fold_document("ops", "troops", start, start + timedelta(days=1), rows)
    assert fold["item"]["title"] == "3 more for rule Troops (2026-03-01 00:00–2026-03-02 00:00 UTC)"


def test_a_fold_refused_after_its_alert_was_taken_over_leaves_its_members_alone(
    store: Store,
) -> None:
    """This process stalled while posting a fold and another took the fold's alerts over (it
    sends the same message). The refusal this process then got is not its to act on: its
    members were dead-lettered though the other's post went through, and its settlement then
    left them dead."""
    clock = FakeClock(T0)
    taken: list[str] = []

    def answer(req: Any) -> Reply:
        if json.loads(req.body)["type"] == "newsmon.fold" and not taken:
            later = END + timedelta(minutes=5)
            got = store.claim_due_alerts(later, 50, timedelta(seconds=30), "replica-2")
            taken.extend(r.id for r in got)
            return Reply(400)
        return Reply(200)

    with Receiver(answer) as rx:
        enqueue(store, T0, "ops", [f"s{i:02d}" for i in range(8)])
        dest = hook(rx.url)
        drain(store, dest, clock)  # five singles; three held for the fold
        clock.set(END)
        drain(store, dest, clock)
    assert len(taken) == 3
    assert len(rx.requests) == 6
    rows = {r.id: r for r in store.list_alerts(limit=50)}
    assert {rows[i].status for i in taken} == {"pending"}  # before: dead

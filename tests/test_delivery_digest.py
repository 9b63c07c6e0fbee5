"""Digests: one message per period grouping its alerts by rule, exactly once across a SIGKILL
between sending it and recording it."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import pytest

from monitor.clock import FakeClock
from monitor.config import load_config
from monitor.delivery.channels import telegram
from monitor.delivery.channels.message import from_document
from monitor.delivery.destinations import Destination
from monitor.delivery.digest import Digest, digest_document, digest_id
from monitor.errors import ConfigError
from monitor.model import OutboxRow
from monitor.store.base import Store
from tests.bidi_support import RLO, SPOOF_TITLE, assert_outside
from tests.delivery_support import T0, alert_row, deliverer, document, enqueue, open_sqlite
from tests.digest_worker import LEASE
from tests.receiver import Received, Receiver, Reply
from tests.store_fixtures import StoreFactory

ROOT = Path(__file__).resolve().parent.parent
HOURLY = Digest(every=timedelta(hours=1))


@pytest.fixture
def store(make_store: StoreFactory) -> Store:
    s: Store = make_store()
    return s


def test_periods_every_and_at_local_times() -> None:
    assert HOURLY.period(T0 + timedelta(minutes=59)) == (T0, T0 + timedelta(hours=1))
    berlin = Digest(at=(clock_time(8), clock_time(17)), timezone="Europe/Berlin")
    noon = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # 13:00 in Berlin (UTC+1)
    assert berlin.period(noon) == (
        datetime(2026, 3, 1, 7, 0, tzinfo=UTC),
        datetime(2026, 3, 1, 16, 0, tzinfo=UTC),
    )
    evening = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
    assert berlin.period(evening) == (
        datetime(2026, 3, 1, 16, 0, tzinfo=UTC),
        datetime(2026, 3, 2, 7, 0, tzinfo=UTC),
    )
    summer = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)  # UTC+2: the local times hold
    assert berlin.period(summer)[0] == datetime(2026, 7, 1, 6, 0, tzinfo=UTC)


def _row(story: str, first_rule: str, title: str, second: int) -> OutboxRow:
    doc = document("ops", story, title)
    doc["rules"].sort(key=lambda r: r["id"] != first_rule)
    created = T0 + timedelta(seconds=second)
    return OutboxRow(doc["id"], "ops", story, "f1", f"i-{story}", doc, created)


def test_digest_groups_by_rule_with_counts_and_top_items() -> None:
    rows = [_row(f"t{i}", "troops", f"Troops story {i}", i) for i in range(7)]
    rows += [_row(f"s{i}", "sf", f"@everyone <b>SF</b> {i}", 10 + i) for i in range(2)]
    doc = digest_document("ops", HOURLY, T0, T0 + timedelta(hours=1), rows)
    assert doc["id"] == digest_id("ops", T0)
    assert doc["type"] == "newsmon.digest"
    assert [(g["rule"], g["count"]) for g in doc["groups"]] == [("troops", 7), ("sf", 2)]
    assert sum(len(g["alerts"]) for g in doc["groups"]) == 9
    assert doc["item"]["title"] == "Digest: 9 alerts, 2026-03-01 12:00–13:00 UTC"
    assert doc["snippet"].startswith("Troops (7): Troops story 0; Troops story 1;")
    assert "and 2 more · SF (2):" in doc["snippet"]
    text = telegram.text(from_document(doc))  # feed text still escaped inside a digest
    assert "<b>SF</b>" not in text
    assert "@everyone" not in text


def test_a_digest_over_midnight_names_the_day_it_ends() -> None:
    """A daily digest's title read "2026-03-01 08:00–08:00 Europe/Berlin", as if its period
    were empty; the end's date is named whenever it is another day."""
    daily = Digest(at=(clock_time(8),), timezone="Europe/Berlin")
    start, end = daily.period(T0)  # 13:00 in Berlin
    doc = digest_document("ops", daily, start, end, [_row("a", "troops", "A", 0)])
    assert (
        doc["item"]["title"] == "Digest: 1 alert, 2026-03-01 08:00–2026-03-02 08:00 Europe/Berlin"
    )
    weekly = Digest(every=timedelta(days=7))
    start, end = weekly.period(T0)
    doc = digest_document("ops", weekly, start, end, [_row("a", "troops", "A", 0)])
    assert doc["item"]["title"] == "Digest: 1 alert, 2026-02-26 00:00–2026-03-05 00:00 UTC"


def test_a_headline_in_a_digest_does_not_reorder_the_next() -> None:
    """A digest's text lists many feed titles: one ending in an open RLO reversed every
    headline after it, and the counts. Each headline is closed where it ends; the digest's
    list of alerts, for webhooks, keeps each title as it came."""
    rows = [_row(f"t{i}", "troops", SPOOF_TITLE if i == 0 else f"Troops {i}", i) for i in range(3)]
    doc = digest_document("ops", HOURLY, T0, T0 + timedelta(hours=1), rows)
    assert RLO in doc["snippet"]
    assert_outside(doc["snippet"], "Troops 1")
    assert_outside(telegram.text(from_document(doc)), "Troops 2")
    assert doc["groups"][0]["alerts"][0]["title"] == SPOOF_TITLE


def test_a_digest_of_500_long_alerts_names_what_it_leaves_out() -> None:
    """500 alerts over 60 rules, each title at the parser's 1,000 characters: the text was the
    first rule's first four titles cut at 4,000 characters, no marker, 59 rules unmentioned."""
    rows = []
    for i in range(500):
        title = f"{i} " + "\U0001f4f0 war & <peace> " * 60
        row = _row(f"t{i}", "troops", title[:1_000], i)
        row.document["rules"][0] = {"id": f"r{i % 60:02}", "name": f"Rule {i % 60:02}"}
        rows.append(row)
    doc = digest_document("ops", HOURLY, T0, T0 + timedelta(hours=1), rows)
    snippet = doc["snippet"]
    assert len(snippet) <= 4_000
    shown = snippet.count("): ")
    assert shown > 3
    assert snippet.endswith(f" · and {60 - shown} more rules")
    assert all(len(t.strip()) <= 90 for t in snippet.split(" · and")[0].split(";")[1:4])
    assert sum(g["count"] for g in doc["groups"]) == 500  # every alert still in the document
    text = telegram.text(from_document(doc))
    assert len(text) <= telegram.TEXT_MAX


def test_held_until_the_period_ends_then_one_digest(store: Store) -> None:
    with Receiver() as rx:
        ids = enqueue(store, T0, "ops", [f"s{i}" for i in range(12)])
        dest = Destination.create("ops", "webhook", rx.url, rate=1e6, burst=1e6, digest=HOURLY)
        clock = FakeClock(T0 + timedelta(minutes=30))
        d = deliverer(store, {"ops": dest}, clock)
        asyncio.run(d.run_once())
        assert rx.requests == []
        pending = store.list_alerts("pending", limit=50)
        assert len(pending) == 12
        assert all(r.attempts == 0 for r in pending)
        clock.set(T0 + timedelta(hours=1, seconds=10))
        asyncio.run(d.run_once())
        asyncio.run(d.run_once())
    [req] = rx.requests
    body = json.loads(req.body)
    assert req.headers["webhook-id"] == body["id"] == digest_id("ops", T0)
    assert {a["id"] for g in body["groups"] for a in g["alerts"]} == set(ids)
    rows = store.list_alerts(limit=50)
    assert {r.status for r in rows} == {"delivered"}
    assert {r.last_error for r in rows} == {f"in digest {body['id']}"}


def test_digest_across_sigkill_is_resent_the_same(tmp_path: Path) -> None:
    """The worker is killed after the receiver has the digest and before it records it: the next
    run sends the same digest, with the same id, and never a second, different one."""
    db = tmp_path / "newsmon.db"
    store = open_sqlite(db)
    ids = enqueue(store, T0, "ops", [f"s{i:02d}" for i in range(30)])
    worker: list[subprocess.Popen[str]] = []

    def answer(req: Received) -> Reply:
        if req.index == 0:
            os.kill(worker[-1].pid, signal.SIGKILL)  # before it can record the delivery
            time.sleep(0.2)
        return Reply(200)

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with Receiver(answer) as rx:
        for run in range(3):
            command = [sys.executable, "-m", "tests.digest_worker", str(db), rx.url]
            worker.append(subprocess.Popen(command, env=env, cwd=ROOT, text=True))
            code = worker[-1].wait(timeout=60)
            if run == 0:
                assert code == -signal.SIGKILL
                assert {r.status for r in store.list_alerts(limit=50)} == {"pending"}
                time.sleep(LEASE.total_seconds() + 0.5)  # the dead worker's leases lapse
            else:
                assert code == 0
    assert len(rx.requests) == 2  # the killed send and its resend; the third run sends nothing
    first, again = rx.requests
    assert first.headers["webhook-id"] == again.headers["webhook-id"]
    assert json.loads(first.body) == json.loads(again.body)  # the same digest, not another
    assert {a["id"] for g in json.loads(again.body)["groups"] for a in g["alerts"]} == set(ids)
    rows = store.list_alerts(limit=50)
    assert {r.status for r in rows} == {"delivered"}
    store.close()


def test_digest_config(tmp_path: Path) -> None:
    path = tmp_path / "newsmon.yaml"
    head = "destinations:\n  - {name: d, type: webhook, url_env: U, "
    path.write_text(head + "digest: {at: '08:00, 17:30', timezone: Europe/Berlin}}\n")
    [resolved] = load_config(path, env={"U": "https://h.example.org/x"}).resolve_destinations()
    dest = Destination.from_resolved(resolved)
    assert dest.digest == Digest(at=(clock_time(8), clock_time(17, 30)), timezone="Europe/Berlin")
    for bad, expected in [
        ("digest: {every: 1h, at: '08:00'}", "destinations[0].digest: "),
        ("digest: {at: '25:00'}", "destinations[0].digest.at: "),
        ("digest: {every: 1h, timezone: Mars/Base}", "unknown time zone: 'Mars/Base'"),
        ("digest: {every: 1m}", "a digest period is between 5m and 7d"),
        ("digest: {every: 1h}, storm: {max: 1, within: 1h}", "destinations[0].storm: give either"),
    ]:
        path.write_text(head + bad + "}\n")
        with pytest.raises(ConfigError) as info:
            load_config(path, env={})
        assert expected in str(info.value), bad
        assert "newsmon.yaml:2:" in str(info.value)


# A local time that happens twice (autumn) or never (spring), in two zones that change on
# different days, and zones 30 and 45 minutes off the hour.
DST_DAYS = [
    ("Europe/Berlin", "02:30", datetime(2026, 3, 29, tzinfo=UTC)),
    ("Europe/Berlin", "02:30", datetime(2026, 10, 25, tzinfo=UTC)),
    ("America/New_York", "02:30", datetime(2026, 3, 8, 5, tzinfo=UTC)),
    ("America/New_York", "01:30", datetime(2026, 11, 1, 4, tzinfo=UTC)),
    ("Asia/Kolkata", "00:00", datetime(2026, 12, 31, tzinfo=UTC)),
    ("Asia/Kathmandu", "00:00, 12:15", datetime(2026, 12, 31, tzinfo=UTC)),
    ("Europe/Berlin", "02:30, 03:30", datetime(2026, 3, 29, tzinfo=UTC)),
    ("Australia/Lord_Howe", "02:00", datetime(2026, 4, 5, tzinfo=UTC)),  # a 30-minute change
    ("America/Nuuk", "23:30", datetime(2026, 3, 28, tzinfo=UTC)),  # a gap at the day's end
]


@pytest.mark.parametrize(("zone", "at", "day"), DST_DAYS)
def test_local_time_periods_hold_every_moment_across_dst(zone: str, at: str, day: datetime) -> None:
    """Every moment falls in the period returned for it, and the periods tile time: one digest
    per period, none skipped, none doubled. Local times were compared as wall clocks, so in the
    hour after a change a moment was given a period that had ended, or not yet begun."""
    times = tuple(clock_time.fromisoformat(t.strip()) for t in at.split(","))
    digest = Digest(at=times, timezone=zone)
    when = day - timedelta(days=1)
    periods = set()
    while when < day + timedelta(days=2):
        start, end = digest.period(when)
        assert start <= when < end, when
        assert end - start >= timedelta(minutes=30)
        periods.add((start, end))
        when += timedelta(minutes=5)
    ordered = sorted(periods)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ordered))
    assert len(ordered) in (3 * len(times) + 1, 3 * len(times))


def test_autumn_repeated_hour_alerts_go_in_that_days_digest(store: Store) -> None:
    """`at: 02:30` in Berlin on the day 02:00-03:00 happens twice: an alert at 02:15 of the
    second pass belongs to the period that began at the first 02:30. It was put in the previous
    day's period, long ended, and went out alone."""
    daily = Digest(at=(clock_time(2, 30),), timezone="Europe/Berlin")
    first = datetime(2026, 10, 25, 0, 45, tzinfo=UTC)  # 02:45 CEST
    second = datetime(2026, 10, 25, 1, 15, tzinfo=UTC)  # 02:15 CET, after the change
    with Receiver() as rx:
        ids = enqueue(store, first, "ops", ["a"]) + enqueue(store, second, "ops", ["b"])
        dest = Destination.create("ops", "webhook", rx.url, rate=1e6, burst=1e6, digest=daily)
        clock = FakeClock(second + timedelta(minutes=1))
        d = deliverer(store, {"ops": dest}, clock)
        asyncio.run(d.run_once())
        assert rx.requests == []  # the period runs to 02:30 CET the next day
        clock.set(datetime(2026, 10, 26, 1, 30, 10, tzinfo=UTC))
        asyncio.run(d.run_once())
        asyncio.run(d.run_once())
    [req] = rx.requests
    body = json.loads(req.body)
    assert body["window"] == {"start": "2026-10-25T00:30:00Z", "end": "2026-10-26T01:30:00Z"}
    assert {a["id"] for g in body["groups"] for a in g["alerts"]} == set(ids)


def test_spring_gap_alert_is_in_the_digest_that_carries_it(store: Store) -> None:
    """`at: 02:30` in Berlin on the day 02:30 does not exist (it is read as 03:30 CEST): an
    alert at 03:10 CEST, alone in its period, falls before it. It was given the next day's
    period, and then carried an empty digest for that day in its place: an alert lost."""
    daily = Digest(at=(clock_time(2, 30),), timezone="Europe/Berlin")
    gap = datetime(2026, 3, 29, 1, 10, tzinfo=UTC)  # 03:10 CEST
    with Receiver() as rx:
        ids = enqueue(store, gap, "ops", ["b"])
        dest = Destination.create("ops", "webhook", rx.url, rate=1e6, burst=1e6, digest=daily)
        clock = FakeClock(datetime(2026, 3, 29, 1, 30, 10, tzinfo=UTC))
        d = deliverer(store, {"ops": dest}, clock)
        asyncio.run(d.run_once())
        clock.set(datetime(2026, 3, 30, 0, 30, 10, tzinfo=UTC))
        asyncio.run(d.run_once())
    [req] = rx.requests
    body = json.loads(req.body)
    assert body["window"] == {"start": "2026-03-28T01:30:00Z", "end": "2026-03-29T01:30:00Z"}
    assert {a["id"] for g in body["groups"] for a in g["alerts"]} == set(ids)


def test_a_gap_at_the_end_of_a_day_still_sends_the_digest(store: Store) -> None:
    """`at: 23:30` in Nuuk, whose clocks go from 23:00 to 00:00 on 2026-03-28: that 23:30 is
    read as 00:30 summer time, so an alert at 00:10 belongs to the period that began the day
    before. No period was found for it (a ValueError on every delivery run): the destination's
    outbox stuck behind it, nothing sent to it again."""
    daily = Digest(at=(clock_time(23, 30),), timezone="America/Nuuk")
    after_change = datetime(2026, 3, 29, 1, 10, tzinfo=UTC)  # 00:10 local, summer time
    with Receiver() as rx:
        ids = enqueue(store, after_change, "ops", ["a", "b"])
        dest = Destination.create("ops", "webhook", rx.url, rate=1e6, burst=1e6, digest=daily)
        clock = FakeClock(after_change + timedelta(minutes=1))
        d = deliverer(store, {"ops": dest}, clock)
        asyncio.run(d.run_once())
        assert rx.requests == []  # held: the period runs to 00:30 local
        clock.set(datetime(2026, 3, 29, 1, 30, 10, tzinfo=UTC))
        asyncio.run(d.run_once())
    [req] = rx.requests
    body = json.loads(req.body)
    assert body["window"] == {"start": "2026-03-28T01:30:00Z", "end": "2026-03-29T01:30:00Z"}
    assert {a["id"] for g in body["groups"] for a in g["alerts"]} == set(ids)


def test_alerts_held_for_a_digest_do_not_age_the_outbox(store: Store) -> None:
    """`newsmon_outbox_oldest_age_seconds` (and `deliveries list`'s "oldest") counted alerts
    held for their digest: a daily digest aged the outbox to a day, and the stuck-outbox
    alert of docs/metrics.md fired every day for hours."""
    daily = Digest(at=(clock_time(8),), timezone="Europe/Berlin")
    with Receiver() as rx:
        enqueue(store, T0, "ops", ["a", "b"])
        dest = Destination.create("ops", "webhook", rx.url, rate=1e6, burst=1e6, digest=daily)
        clock = FakeClock(T0 + timedelta(hours=6))
        asyncio.run(deliverer(store, {"ops": dest}, clock).run_once())
    assert rx.requests == []
    assert store.outbox_stats(clock.now()) == (2, None)


def test_a_refused_digest_says_why_on_each_of_its_alerts(store: Store) -> None:
    """Each alert of a digest refused for good read "the fold dig_… failed for good (see
    msg_…)": a digest called a fold, and why only on the alert it was sent as."""
    with Receiver([Reply(400)]) as rx:
        ids = enqueue(store, T0, "ops", ["a", "b", "c"])
        dest = Destination.create("ops", "webhook", rx.url, rate=1e6, burst=1e6, digest=HOURLY)
        clock = FakeClock(T0 + timedelta(hours=1, seconds=10))
        asyncio.run(deliverer(store, {"ops": dest}, clock).run_once())
    [req] = rx.requests
    rows = [alert_row(store, i) for i in ids]
    assert {r.status for r in rows} == {"dead"}
    sent_as = next(r for r in rows if r.last_error == "HTTP 400")
    for row in rows:
        if row is not sent_as:
            assert row.last_error == (
                f"HTTP 400: the digest {json.loads(req.body)['id']} failed for good"
                f" (sent as {sent_as.id})"
            )

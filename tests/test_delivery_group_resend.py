"""A digest or storm fold whose post timed out after the receiver read it is sent again with the
same id and the same alerts; an alert committed late into its period (after that first post)
does not join the resend: it goes on its own once the message is confirmed. A resend that
carried it under the same id was dropped by a receiver that drops duplicate ids, as Standard
Webhooks receivers are told to, and the late alert was lost. Real stores, a real receiver on
127.0.0.1 whose first reply comes after the deliverer's deadline."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from monitor.clock import FakeClock
from monitor.delivery.deliverer import DEFAULT_LEASE
from monitor.delivery.destinations import Destination
from monitor.delivery.digest import Digest, digest_id
from monitor.delivery.retry import SCHEDULE_S
from monitor.delivery.storm import GRACE, Storm, fold_id
from monitor.store.base import Store
from tests.delivery_support import T0, alert_row, deliverer, enqueue
from tests.parts_support import titles
from tests.receiver import Received, Receiver, Reply
from tests.store_fixtures import StoreFactory

HOURLY = Digest(every=timedelta(hours=1))
STORM = Storm(max=2, within=timedelta(minutes=10))
DEADLINE = 0.5  # the deliverer's; the receiver's first reply comes after it


@pytest.fixture
def store(make_store: StoreFactory) -> Store:
    s: Store = make_store()
    return s


class FirstGroupLate:
    """The receiver reads every post; it answers the first digest or fold post too late (a slow
    handler, a proxy's timeout): the deliverer cannot know whether it was taken."""

    def __init__(self) -> None:
        self.answered_late = False

    def __call__(self, request: Received) -> Reply:
        if request.headers["webhook-id"].startswith("msg_") or self.answered_late:
            return Reply(200)
        self.answered_late = True
        return Reply(200, delay=DEADLINE * 3)


def carried(body: dict[str, Any]) -> list[str]:
    if body["type"] == "newsmon.digest":
        return sorted(a["id"] for g in body["groups"] for a in g["alerts"])
    if body["type"] == "newsmon.fold":
        return sorted(a["id"] for a in body["alerts"])
    return [body["id"]]


def run(store: Store, dest: Destination, clock: FakeClock, runs: int = 1) -> None:
    d = deliverer(store, {"ops": dest}, clock, deadline=DEADLINE)
    for _ in range(runs):
        asyncio.run(d.run_once())


def assert_one_content_per_id_and_every_alert_once(rx: Receiver, ids: list[str]) -> None:
    """Each id names one content; a receiver that keeps the first post of each id (and drops
    the rest) has every alert exactly once."""
    by_id: dict[str, list[list[str]]] = {}
    for request in rx.requests:
        body = json.loads(request.body)
        assert request.headers["webhook-id"] == body["id"]
        by_id.setdefault(body["id"], []).append(carried(body))
    assert {k: v for k, v in by_id.items() if len({tuple(c) for c in v}) > 1} == {}
    kept = [alert for contents in by_id.values() for alert in contents[0]]
    assert sorted(kept) == sorted(ids)


def resend_after_a_late_alert(
    store: Store, dest: Destination, rx: Receiver, clock: FakeClock, late_at: datetime
) -> str:
    """The first post of the message times out; an alert created at `late_at` (in the
    message's period) is committed; the deliverer runs on until the outbox is empty."""
    before = len(rx.requests)
    run(store, dest, clock)
    assert len(rx.requests) == before + 1  # read by the receiver, not confirmed in time
    [late] = enqueue(store, clock.now(), "ops", ["late"], created_at=late_at)
    for _ in range(8):
        clock.advance(minutes=10)  # past the retry (5 s) and the pause
        run(store, dest, clock)
        if not store.list_alerts("pending", limit=10):
            break
    return late


def test_a_digest_resent_after_a_timeout_carries_the_same_alerts(store: Store) -> None:
    ids = enqueue(store, T0, "ops", ["s00", "s01", "s02"])
    with Receiver(FirstGroupLate()) as rx:
        dest = Destination.create("ops", "webhook", rx.url, rate=1e6, burst=1e6, digest=HOURLY)
        clock = FakeClock(T0 + timedelta(hours=1, seconds=10))
        ids.append(resend_after_a_late_alert(store, dest, rx, clock, T0 + timedelta(minutes=30)))
    bodies = [json.loads(r.body) for r in rx.requests]
    whole = digest_id("ops", T0)
    assert [b["id"] for b in bodies[:2]] == [whole, whole]
    assert bodies[1] == bodies[0]  # the resend is the same message, not one with the late alert
    assert_one_content_per_id_and_every_alert_once(rx, ids)
    assert [b["type"] for b in bodies[2:]] == ["newsmon.alert"]  # the late alert, on its own
    assert {r.status for r in store.list_alerts(limit=10)} == {"delivered"}
    assert alert_row(store, ids[0]).last_error == f"in digest {whole}"


def test_a_fold_resent_after_a_timeout_carries_the_same_alerts(store: Store) -> None:
    ids = enqueue(store, T0, "ops", [f"s{i:02d}" for i in range(5)])
    with Receiver(FirstGroupLate()) as rx:
        dest = Destination.create("ops", "webhook", rx.url, rate=1e6, burst=1e6, storm=STORM)
        clock = FakeClock(T0 + timedelta(minutes=1))
        run(store, dest, clock)  # the first two alone, the rest held to the window's end
        alone = [r.headers["webhook-id"] for r in rx.requests]
        assert len(alone) == 2
        clock.set(T0 + STORM.within + GRACE * 2)
        ids.append(resend_after_a_late_alert(store, dest, rx, clock, T0 + timedelta(minutes=5)))
    bodies = [json.loads(r.body) for r in rx.requests]
    fold = fold_id("ops", "troops", T0)
    folds = [b for b in bodies if b["type"] == "newsmon.fold"]
    assert [b["id"] for b in folds] == [fold, fold]
    assert folds[1] == folds[0]
    assert carried(folds[0]) == sorted(set(ids) - set(alone) - {ids[-1]})
    assert_one_content_per_id_and_every_alert_once(rx, ids)
    assert {r.status for r in store.list_alerts(limit=10)} == {"delivered"}


def test_a_digest_part_resent_after_a_timeout_is_the_same_part(store: Store) -> None:
    """A part's id comes from its alerts, so a late alert never joined one under its id; but
    cut again with the late alert first, the part that timed out went again as another part
    (another id), its alerts twice for a receiver that had the first post."""
    long = titles(6)  # 1,000-character titles
    ids = enqueue(store, T0 + timedelta(minutes=10), "ops", list(long), long)
    with Receiver(FirstGroupLate()) as rx:
        small = Digest(every=timedelta(hours=1), max_body=4_000)  # two alerts a part
        dest = Destination.create("ops", "webhook", rx.url, rate=1e6, burst=1e6, digest=small)
        clock = FakeClock(T0 + timedelta(hours=1, seconds=10))
        ids.append(resend_after_a_late_alert(store, dest, rx, clock, T0))  # first in the period
    bodies = [json.loads(r.body) for r in rx.requests]
    assert (bodies[0]["part"], bodies[0]["parts"]) == (1, 3)
    assert bodies[1] == bodies[0]  # part 1 again, as it was
    assert_one_content_per_id_and_every_alert_once(rx, ids)
    assert {r.status for r in store.list_alerts(limit=10)} == {"delivered"}


def test_a_late_alert_goes_in_the_run_that_confirms_the_resend(store: Store) -> None:
    """The late alert is claimed in the same run as the resend (both due) and sent on its own
    right after it is confirmed: it was skipped as if the digest had carried it, and stayed
    claimed until its lease ran out (5 minutes by default)."""
    ids = enqueue(store, T0, "ops", ["s00", "s01", "s02"])
    with Receiver(FirstGroupLate()) as rx:
        dest = Destination.create("ops", "webhook", rx.url, rate=1e6, burst=1e6, digest=HOURLY)
        clock = FakeClock(T0 + timedelta(hours=1, seconds=10))
        d = deliverer(store, {"ops": dest}, clock, deadline=DEADLINE, lease=DEFAULT_LEASE)
        asyncio.run(d.run_once())  # read, not confirmed in time
        late = T0 + timedelta(minutes=50)  # after the others: claimed after the digest's holder
        ids += enqueue(store, clock.now(), "ops", ["late"], created_at=late)
        clock.advance(minutes=1)  # past the retry (5 s) and the pause
        asyncio.run(d.run_once())
        assert len(rx.requests) == 3
    assert store.list_alerts("pending", limit=10) == []
    assert_one_content_per_id_and_every_alert_once(rx, ids)


class LateThenRefused:
    """The first digest or fold post is read and answered too late, its resend refused (400):
    the receiver may have kept the first post's id."""

    def __init__(self) -> None:
        self.group_posts = 0

    def __call__(self, request: Received) -> Reply:
        if request.headers["webhook-id"].startswith("msg_"):
            return Reply(200)
        self.group_posts += 1
        if self.group_posts == 1:
            return Reply(200, delay=DEADLINE * 3)
        return Reply(400) if self.group_posts == 2 else Reply(200)


@pytest.mark.parametrize("kind", ["digest", "storm"])
def test_a_late_alert_after_a_post_that_failed_for_good_goes_alone(kind: str, store: Store) -> None:
    """The post the late alert waited for is refused on its resend: its alerts are dead letters,
    and the late alert goes on its own. It went as the digest (or fold) of one, under the id the
    receiver may have kept from the first post, and a receiver dropping repeated ids dropped it."""
    ids = enqueue(store, T0, "ops", [f"s{i:02d}" for i in range(5)])
    with Receiver(LateThenRefused()) as rx:
        if kind == "digest":
            dest = Destination.create("ops", "webhook", rx.url, rate=1e6, burst=1e6, digest=HOURLY)
            clock = FakeClock(T0 + timedelta(hours=1, seconds=10))
        else:
            dest = Destination.create("ops", "webhook", rx.url, rate=1e6, burst=1e6, storm=STORM)
            clock = FakeClock(T0 + timedelta(minutes=1))
            run(store, dest, clock)  # the first two alone, the rest held to the window's end
            clock.set(T0 + STORM.within + GRACE * 2)
        ids.append(resend_after_a_late_alert(store, dest, rx, clock, T0 + timedelta(minutes=5)))
    grouped = [json.loads(r.body) for r in rx.requests if r.headers["webhook-id"][:4] != "msg_"]
    assert len(grouped) == 2
    assert grouped[1] == grouped[0]  # the resend, refused
    assert json.loads(rx.requests[-1].body)["id"] == ids[-1]  # the late alert, on its own
    assert_one_content_per_id_and_every_alert_once(rx, ids)
    dead = {r.id for r in store.list_alerts("dead", limit=10)}
    assert dead == set(carried(grouped[0]))


def test_a_digest_given_up_on_dead_letters_its_alerts_with_it(store: Store) -> None:
    """The receiver fails every digest post: once the retry schedule of the alert it is sent in
    place of is spent (about 28 hours), the digest's alerts are dead letters with it and the late
    alert that waited goes on its own. Each of the others started a schedule of its own in turn,
    the same digest posted 8 times more each, and the late alert waited behind them all: four
    days for three alerts, months for a busy period."""
    ids = enqueue(store, T0, "ops", ["s00", "s01", "s02"])
    start = T0 + timedelta(hours=1, seconds=10)

    def answer(request: Received) -> Reply:
        return Reply(200) if request.headers["webhook-id"].startswith("msg_") else Reply(503)

    with Receiver(answer) as rx:
        dest = Destination.create("ops", "webhook", rx.url, rate=1e6, burst=1e6, digest=HOURLY)
        clock = FakeClock(start)
        run(store, dest, clock)
        ids += enqueue(store, clock.now(), "ops", ["late"], created_at=T0 + timedelta(minutes=50))
        for _ in range(48):
            clock.advance(hours=1)
            run(store, dest, clock)
            if not store.list_alerts("pending", limit=10):
                break
    assert store.list_alerts("pending", limit=10) == []
    assert clock.now() - start < timedelta(hours=36)
    assert {r.id for r in store.list_alerts("dead", limit=10)} == set(ids[:3])
    digests = [r for r in rx.requests if r.headers["webhook-id"].startswith("dig_")]
    assert len(digests) == len(SCHEDULE_S) + 1
    assert [r.headers["webhook-id"] for r in rx.requests[len(digests) :]] == [ids[3]]

"""A webhook digest over `max_body` goes in parts, each a digest of its own that fits, signed,
with `digest_id`, `part` and `parts`; a crash or a retry between parts resends only the parts
not recorded, each with its id and body as before. The receiver refuses bodies over 1 MiB with
413, as nginx's default `client_max_body_size` does."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.clock import FakeClock
from monitor.config import load_config
from monitor.delivery.destinations import Destination
from monitor.delivery.digest import Digest, digest_document, digest_id, digest_parts
from monitor.delivery.parts import MAX_BODY, body_size
from monitor.delivery.signing import verify
from monitor.errors import ConfigError, StoreError
from monitor.model import OutboxRow
from monitor.store.base import Store
from tests.delivery_support import SECRET, T0, deliverer, document, enqueue, open_sqlite
from tests.digest_worker import LEASE
from tests.parts_support import (
    NGINX_LIMIT,
    SettleFailsOnce,
    deliver_all,
    long_title,
    nginx,
    titles,
)
from tests.receiver import Received, Receiver, Reply
from tests.store_fixtures import StoreFactory

ROOT = Path(__file__).resolve().parent.parent
HOURLY = Digest(every=timedelta(hours=1))
END = T0 + timedelta(hours=1)
AFTER = END + timedelta(seconds=10)  # the period and its grace are over


@pytest.fixture
def store(make_store: StoreFactory) -> Store:
    s: Store = make_store()
    return s


def rows(count: int, title: Any = long_title) -> list[OutboxRow]:
    out = []
    for i in range(count):
        doc = document("ops", f"s{i:04d}", title(i))
        if i % 3 == 0:  # two rules first, so parts carry several groups
            doc["rules"].reverse()
        out.append(OutboxRow(doc["id"], "ops", f"s{i:04d}", "f1", f"i{i}", doc, T0))
    return out


def carried(parts: list[dict[str, Any]]) -> list[str]:
    return [a["id"] for p in parts for g in p["groups"] for a in g["alerts"]]


def test_a_digest_that_fits_is_one_post_as_before() -> None:
    few = rows(20)
    [part] = digest_parts("ops", HOURLY, T0, END, few, max_body=MAX_BODY)
    assert part.document == digest_document("ops", HOURLY, T0, END, few)
    assert part.document["id"] == digest_id("ops", T0)
    assert "part" not in part.document
    assert part.note == f"in digest {digest_id('ops', T0)}"


def test_1000_long_alerts_go_in_parts_that_each_fit() -> None:
    alerts = rows(1_000)
    whole = digest_document("ops", HOURLY, T0, END, alerts)
    assert body_size(whole) > NGINX_LIMIT  # what receivers refused with 413
    parts = digest_parts("ops", HOURLY, T0, END, alerts, max_body=MAX_BODY)
    docs = [p.document for p in parts]
    sizes = [body_size(d) for d in docs]
    assert len(parts) == 3
    assert all(size <= MAX_BODY for size in sizes)
    assert sum(sizes) < body_size(whole) + 3 * 20_000  # no more than an envelope per part
    in_order = sorted(r.id for r in alerts)  # all made at T0: the outbox's order is by id
    assert [m for p in parts for m in p.members] == in_order  # each alert once, in order
    assert [sorted(p.members) for p in parts] == [sorted(carried([d])) for d in docs]
    assert [(d["part"], d["parts"], d["digest_id"]) for d in docs] == [
        (k, 3, digest_id("ops", T0)) for k in (1, 2, 3)
    ]
    assert len({d["id"] for d in docs}) == 3
    assert all(d["id"].startswith("dig_") and d["id"] != d["digest_id"] for d in docs)
    for d in docs:  # each one a digest by the documented format
        assert d["type"] == "newsmon.digest"
        assert d["window"] == whole["window"]
        assert sum(g["count"] for g in d["groups"]) == sum(len(g["alerts"]) for g in d["groups"])
        assert d["item"]["title"].startswith(f"Digest part {d['part']} of 3: ")
    assert parts[1].note == f"in digest {digest_id('ops', T0)}, part 2 of 3 ({docs[1]['id']})"


def test_cutting_what_is_left_gives_the_same_next_parts() -> None:
    """After part 1 is recorded, the alerts left are cut into the same parts 2 and 3, with the
    same ids and bodies: what a resend after a crash between parts relies on."""
    alerts = rows(1_000)
    parts = digest_parts("ops", HOURLY, T0, END, alerts, max_body=MAX_BODY)
    left = [r for r in alerts if r.id not in parts[0].members]
    again = digest_parts("ops", HOURLY, T0, END, left, sent=1, max_body=MAX_BODY)
    assert [p.document for p in again] == [p.document for p in parts[1:]]
    assert [p.note for p in again] == [p.note for p in parts[1:]]


def test_one_alert_alone_over_the_cap_goes_with_its_title_cut() -> None:
    wide = rows(3, lambda i: f"{i} " + "\U0001f4f0" * 998)  # 4 bytes a character
    parts = digest_parts("ops", HOURLY, T0, END, wide, max_body=3_000)
    assert [len(p.members) for p in parts] == [1, 1, 1]
    for part in parts:
        assert body_size(part.document) <= 3_000
        [group] = part.document["groups"]
        [entry] = group["alerts"]
        assert entry["title"].endswith("…")
        assert entry["title"][1:3] == " \U0001f4f0"  # cut at its end, whole characters
        assert len(entry["title"]) > 100
    # Below what even an empty title needs: it still goes, once, title cut to the marker.
    [tiny] = digest_parts("ops", HOURLY, T0, END, wide[:1], max_body=500)
    assert tiny.members == [wide[0].id]
    assert tiny.document["groups"][0]["alerts"][0]["title"] == "…"


def test_a_receiver_refusing_over_1mib_gets_every_alert_in_signed_parts(store: Store) -> None:
    ids = enqueue(store, T0, "ops", [f"s{i:04d}" for i in range(1_000)], titles(1_000))
    with Receiver(nginx) as rx:
        dest = Destination.create(
            "ops", "webhook", rx.url, [SECRET], rate=1e6, burst=1e6, digest=HOURLY
        )
        deliver_all(store, dest, FakeClock(AFTER))
    bodies = [json.loads(r.body) for r in rx.requests]
    assert len(bodies) == 3
    assert all(len(r.body) <= MAX_BODY for r in rx.requests)
    assert all(verify(SECRET, r.headers, r.body) for r in rx.requests)
    assert [r.headers["webhook-id"] for r in rx.requests] == [b["id"] for b in bodies]
    assert [(b["part"], b["parts"]) for b in bodies] == [(1, 3), (2, 3), (3, 3)]
    assert sorted(carried(bodies)) == sorted(ids)
    outbox = store.list_alerts(limit=2_000)
    assert {r.status for r in outbox} == {"delivered"}
    notes = {r.last_error for r in outbox}
    assert notes == {
        f"in digest {digest_id('ops', T0)}, part {b['part']} of 3 ({b['id']})" for b in bodies
    }


def test_without_parts_the_413_dead_letters_the_digest_and_a_replay_sends_it_in_parts(
    store: Store,
) -> None:
    """What happened to every large digest before: the receiver's 413 is a dead letter (any
    other 4xx is too), and the digest's alerts with it. A replay with the cap in place sends
    them."""
    ids = enqueue(store, T0, "ops", [f"s{i:04d}" for i in range(1_000)], titles(1_000))
    with Receiver(nginx) as rx:
        unbounded = Digest(every=timedelta(hours=1), max_body=10 * NGINX_LIMIT)
        dest = Destination.create("ops", "webhook", rx.url, rate=1e6, burst=1e6, digest=unbounded)
        deliver_all(store, dest, FakeClock(AFTER), runs=2)
        assert len(rx.requests) == 1
        assert len(rx.requests[0].body) > NGINX_LIMIT
        dead = store.list_alerts("dead", limit=2_000)
        assert len(dead) == 1_000
        assert {r.last_error for r in dead} >= {"HTTP 413"}
        assert store.replay(None, AFTER) == 1_000
        dest = Destination.create("ops", "webhook", rx.url, rate=1e6, burst=1e6, digest=HOURLY)
        deliver_all(store, dest, FakeClock(AFTER + timedelta(minutes=1)))
    parts = [json.loads(r.body) for r in rx.requests[1:]]
    assert [p["parts"] for p in parts] == [3, 3, 3]
    assert sorted(carried(parts)) == sorted(ids)
    assert {r.status for r in store.list_alerts(limit=2_000)} == {"delivered"}


def test_a_failed_part_is_retried_alone_with_its_id_and_the_rest_follow(store: Store) -> None:
    enqueue(store, T0, "ops", [f"s{i:04d}" for i in range(1_000)], titles(1_000))
    replies = iter([Reply(200), Reply(503)])

    def answer(request: Received) -> Reply:
        return next(replies, Reply(200))

    with Receiver(answer) as rx:
        dest = Destination.create("ops", "webhook", rx.url, rate=1e6, burst=1e6, digest=HOURLY)
        clock = FakeClock(AFTER)
        deliver_all(store, dest, clock, runs=1)
        assert len(rx.requests) == 2  # part 1 taken, part 2 refused for now: the run stops
        clock.set(AFTER + timedelta(minutes=5))
        deliver_all(store, dest, clock, runs=2)
    ids = [r.headers["webhook-id"] for r in rx.requests]
    assert len(ids) == 4
    assert ids[1] == ids[2]  # part 2 again, the same post
    assert rx.requests[1].body == rx.requests[2].body
    assert len(set(ids)) == 3
    assert [json.loads(r.body)["part"] for r in rx.requests] == [1, 2, 2, 3]
    assert {r.status for r in store.list_alerts(limit=2_000)} == {"delivered"}


def test_sigkill_between_parts_resends_only_the_part_not_recorded(tmp_path: Path) -> None:
    """The worker is killed once the receiver has part 2, before it answers: part 1 was
    recorded, so the next run sends part 2 again (same id, same body) and then part 3; part 1
    never goes twice."""
    db = tmp_path / "newsmon.db"
    store = open_sqlite(db)
    ids = enqueue(store, T0, "ops", [f"s{i:04d}" for i in range(600)], titles(600))
    worker: list[subprocess.Popen[str]] = []

    def answer(request: Received) -> Reply:
        if request.index == 1:
            os.kill(worker[-1].pid, signal.SIGKILL)  # before it can record part 2
            time.sleep(0.2)
        return Reply(200)

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    codes = []
    with Receiver(answer) as rx:
        # A worker stops when its short lease's budget is spent: as many runs as that takes.
        while store.list_alerts("pending", limit=1) and len(worker) < 15:
            command = [sys.executable, "-m", "tests.digest_worker", str(db), rx.url]
            command += ["131072", "1.0"]  # max_body; a deadline that leaves the run time
            worker.append(subprocess.Popen(command, env=env, cwd=ROOT, text=True))
            codes.append(worker[-1].wait(timeout=60))
            if codes[-1] == -signal.SIGKILL:
                time.sleep(LEASE.total_seconds() + 0.5)  # the dead worker's leases lapse
    assert sorted(codes)[0] == -signal.SIGKILL
    assert sorted(codes)[1:] == [0] * (len(codes) - 1)
    bodies = [json.loads(r.body) for r in rx.requests]
    assert all(len(r.body) <= 131_072 for r in rx.requests)
    heads = [r.headers["webhook-id"] for r in rx.requests]
    count = bodies[0]["parts"]
    assert count >= 4
    assert len(heads) == count + 1  # one resend, no more
    assert heads[1] == heads[2]
    assert rx.requests[1].body == rx.requests[2].body
    assert [b["part"] for b in bodies] == [1, 2, *range(2, count + 1)]
    assert {b["parts"] for b in bodies} == {count}
    distinct = list({b["id"]: b for b in bodies}.values())
    assert sorted(carried(distinct)) == sorted(ids)  # every alert once, once duplicates dropped
    assert {r.status for r in store.list_alerts(limit=2_000)} == {"delivered"}
    store.close()


def test_max_body_config(tmp_path: Path) -> None:
    path = tmp_path / "newsmon.yaml"
    head = "destinations:\n  - {name: d, type: webhook, url_env: U, "
    path.write_text(head + "digest: {every: 1h, max_body: 256KiB}}\n")
    [resolved] = load_config(path, env={"U": "https://h.example.org/x"}).resolve_destinations()
    assert Destination.from_resolved(resolved).digest == Digest(
        every=timedelta(hours=1), max_body=256 * 1024
    )
    path.write_text(head + "digest: {every: 1h}}\n")
    [resolved] = load_config(path, env={"U": "https://h.example.org/x"}).resolve_destinations()
    dest = Destination.from_resolved(resolved)
    assert dest.digest is not None
    assert dest.digest.max_body == MAX_BODY
    for bad, expected in [
        ("digest: {every: 1h, max_body: 1KB}", "max_body is at least 16KiB"),
        ("digest: {every: 1h, max_body: lots}", "not a size: 'lots'"),
    ]:
        path.write_text(head + bad + "}\n")
        with pytest.raises(ConfigError) as info:
            load_config(path, env={})
        assert expected in str(info.value), bad
        assert "newsmon.yaml:2:" in str(info.value)
        assert "digest.max_body" in str(info.value)


def test_a_part_refused_with_413_dead_letters_its_alerts_alone(store: Store) -> None:
    """A receiver whose limit is below max_body refuses one part: that part's alerts are dead
    letters, the other parts still go (the next one numbered in its place), and a replay after
    the last part went sends the refused alerts each on its own."""
    enqueue(store, T0, "ops", [f"s{i:04d}" for i in range(1_000)], titles(1_000))

    def answer(request: Received) -> Reply:
        return Reply(413) if request.index == 1 else Reply(200)

    with Receiver(answer) as rx:
        dest = Destination.create("ops", "webhook", rx.url, rate=1e6, burst=1e6, digest=HOURLY)
        clock = FakeClock(AFTER)
        deliver_all(store, dest, clock, runs=1)
        clock.set(AFTER + timedelta(seconds=10))  # past the others' wait for the refused part
        deliver_all(store, dest, clock, runs=2)
        bodies = [json.loads(r.body) for r in rx.requests]
        assert [(b["part"], b["parts"]) for b in bodies] == [(1, 3), (2, 3), (2, 2)]
        assert bodies[1]["id"] != bodies[2]["id"]
        dead = store.list_alerts("dead", limit=2_000)
        assert sorted(r.id for r in dead) == sorted(carried([bodies[1]]))
        assert {r.last_error for r in dead} >= {"HTTP 413"}
        assert store.replay(None, clock.now()) == len(dead)
        deliver_all(store, dest, clock, runs=2)
    alone = [json.loads(r.body) for r in rx.requests[3:]]
    assert len(alone) == len(dead)
    assert {b["type"] for b in alone} == {"newsmon.alert"}
    assert {r.status for r in store.list_alerts(limit=2_000)} == {"delivered"}


def test_a_part_whose_record_failed_goes_again_with_its_id(store: Store) -> None:
    """The part's post is confirmed but its record fails: the next run sends that part again,
    the same post with the same id, never its alerts in a part with another id."""
    ids = enqueue(store, T0, "ops", [f"s{i:04d}" for i in range(1_000)], titles(1_000))
    flaky = SettleFailsOnce(store)
    with Receiver(lambda request: Reply(200)) as rx:
        dest = Destination.create("ops", "webhook", rx.url, rate=1e6, burst=1e6, digest=HOURLY)
        clock = FakeClock(AFTER)
        d = deliverer(flaky, {"ops": dest}, clock)
        d.batch = 2_000
        with pytest.raises(StoreError):
            asyncio.run(d.run_once())
        clock.set(AFTER + timedelta(minutes=1))  # the failed run's leases have lapsed
        for _ in range(4):
            asyncio.run(d.run_once())
    assert flaky.failed
    bodies = [json.loads(r.body) for r in rx.requests]
    assert rx.requests[0].headers["webhook-id"] == rx.requests[1].headers["webhook-id"]
    assert rx.requests[0].body == rx.requests[1].body
    distinct = list({b["id"]: b for b in bodies}.values())
    assert [(b["part"], b["parts"]) for b in distinct] == [(1, 3), (2, 3), (3, 3)]
    assert sorted(carried(distinct)) == sorted(ids)  # every alert in one post id, once
    assert {r.status for r in store.list_alerts(limit=2_000)} == {"delivered"}

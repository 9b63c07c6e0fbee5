"""A webhook storm fold over `max_body` goes in parts as a digest does (tests/
test_delivery_digest_parts.py): each a `newsmon.fold` of its own that fits, signed, with
`fold_id`, `part` and `parts`; a crash or a failed record between parts resends only the part
not recorded, with its id and body as before. The receiver refuses bodies over 1 MiB with 413,
as nginx's default `client_max_body_size` does."""

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
from monitor.delivery.parts import MAX_BODY, body_size
from monitor.delivery.signing import verify
from monitor.delivery.storm import GRACE, Storm, fold_document, fold_id, fold_parts
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
STORM = Storm(max=5, within=timedelta(minutes=10))
END = T0 + STORM.within
AFTER = END + GRACE + timedelta(seconds=5)  # the window and its grace are over
FOLD = fold_id("ops", "troops", T0)


@pytest.fixture
def store(make_store: StoreFactory) -> Store:
    s: Store = make_store()
    return s


def rows(count: int, title: Any = long_title) -> list[OutboxRow]:
    out = []
    for i in range(count):
        doc = document("ops", f"s{i:04d}", title(i))
        out.append(OutboxRow(doc["id"], "ops", f"s{i:04d}", "f1", f"i{i}", doc, T0))
    return out


def carried(folds: list[dict[str, Any]]) -> list[str]:
    return [a["id"] for f in folds for a in f["alerts"]]


def hook(url: str, storm: Storm = STORM) -> Destination:
    return Destination.create("ops", "webhook", url, [SECRET], rate=1e6, burst=1e6, storm=storm)


def test_a_fold_that_fits_is_one_post_as_before() -> None:
    few = sorted(rows(20), key=lambda r: r.id)  # in the outbox's order, as storm.members gives
    [part] = fold_parts("ops", "troops", T0, END, few, max_body=MAX_BODY)
    assert part.document == fold_document("ops", "troops", T0, END, few)
    assert part.document["id"] == FOLD
    assert "part" not in part.document
    assert part.note == f"folded into {FOLD}"


def test_1000_long_alerts_fold_in_parts_that_each_fit() -> None:
    alerts = rows(1_000)
    whole = fold_document("ops", "troops", T0, END, alerts)
    assert body_size(whole) > NGINX_LIMIT  # what receivers refused with 413
    parts = fold_parts("ops", "troops", T0, END, alerts, max_body=MAX_BODY)
    docs = [p.document for p in parts]
    assert len(parts) == 3
    assert all(body_size(d) <= MAX_BODY for d in docs)
    assert [m for p in parts for m in p.members] == sorted(r.id for r in alerts)
    assert [p.members for p in parts] == [carried([d]) for d in docs]
    assert [(d["part"], d["parts"], d["fold_id"]) for d in docs] == [
        (k, 3, FOLD) for k in (1, 2, 3)
    ]
    assert len({d["id"] for d in docs}) == 3
    assert all(d["id"].startswith("fold_") and d["id"] != FOLD for d in docs)
    for d in docs:
        assert d["type"] == "newsmon.fold"
        assert d["window"] == whole["window"]
        assert d["item"]["title"] == (
            f"Fold part {d['part']} of 3: {len(d['alerts'])} more for rule Troops (12:00–12:10 UTC)"
        )
    assert parts[1].note == f"folded into {FOLD}, part 2 of 3 ({docs[1]['id']})"
    # What is left once part 1 is recorded cuts into the same parts 2 and 3 (a resend's).
    left = [r for r in alerts if r.id not in parts[0].members]
    again = fold_parts("ops", "troops", T0, END, left, sent=1, max_body=MAX_BODY)
    assert [(p.document, p.note) for p in again] == [(p.document, p.note) for p in parts[1:]]


def test_one_alert_alone_over_the_cap_folds_with_its_title_cut() -> None:
    wide = rows(2, lambda i: f"{i} " + "\U0001f4f0" * 998)  # 4 bytes a character
    parts = fold_parts("ops", "troops", T0, END, wide, max_body=3_000)
    assert [len(p.members) for p in parts] == [1, 1]
    for part in parts:
        assert body_size(part.document) <= 3_000
        [entry] = part.document["alerts"]
        assert entry["title"].endswith("…")
        assert len(entry["title"]) > 100


def test_a_receiver_refusing_over_1mib_gets_every_folded_alert_in_signed_parts(
    store: Store,
) -> None:
    ids = enqueue(store, T0, "ops", [f"s{i:04d}" for i in range(1_000)], titles(1_000))
    with Receiver(nginx) as rx:
        deliver_all(store, hook(rx.url), FakeClock(AFTER))
    bodies = [json.loads(r.body) for r in rx.requests]
    assert [b["type"] for b in bodies] == ["newsmon.alert"] * 5 + ["newsmon.fold"] * 3
    folds = bodies[5:]
    assert all(len(r.body) <= MAX_BODY for r in rx.requests)
    assert all(verify(SECRET, r.headers, r.body) for r in rx.requests)
    assert [r.headers["webhook-id"] for r in rx.requests[5:]] == [b["id"] for b in folds]
    assert [(b["part"], b["parts"], b["fold_id"]) for b in folds] == [
        (k, 3, FOLD) for k in (1, 2, 3)
    ]
    singles = {b["id"] for b in bodies[:5]}
    assert sorted(carried(folds)) == sorted(set(ids) - singles)
    outbox = store.list_alerts(limit=2_000)
    assert {r.status for r in outbox} == {"delivered"}
    assert {r.last_error for r in outbox if r.id not in singles} == {
        f"folded into {FOLD}, part {b['part']} of 3 ({b['id']})" for b in folds
    }


def test_without_parts_the_413_dead_letters_the_whole_fold(store: Store) -> None:
    """What happened to every large fold before: one post over 1 MiB, a 413, and all 995
    folded alerts in the dead letters."""
    enqueue(store, T0, "ops", [f"s{i:04d}" for i in range(1_000)], titles(1_000))
    unbounded = Storm(max=5, within=timedelta(minutes=10), max_body=10 * NGINX_LIMIT)
    with Receiver(nginx) as rx:
        deliver_all(store, hook(rx.url, unbounded), FakeClock(AFTER), runs=2)
    assert len(rx.requests) == 6
    assert len(rx.requests[5].body) > NGINX_LIMIT
    assert len(store.list_alerts("dead", limit=2_000)) == 995


def test_a_fold_part_whose_record_failed_goes_again_with_its_id(store: Store) -> None:
    ids = enqueue(store, T0, "ops", [f"s{i:04d}" for i in range(1_000)], titles(1_000))
    flaky = SettleFailsOnce(store)
    with Receiver(lambda request: Reply(200)) as rx:
        clock = FakeClock(AFTER)
        d = deliverer(flaky, {"ops": hook(rx.url)}, clock)
        d.batch = 2_000
        with pytest.raises(StoreError):
            asyncio.run(d.run_once())
        clock.set(AFTER + timedelta(minutes=1))  # the failed run's leases have lapsed
        for _ in range(4):
            asyncio.run(d.run_once())
    assert flaky.failed
    folds = [json.loads(r.body) for r in rx.requests[5:]]
    assert rx.requests[5].headers["webhook-id"] == rx.requests[6].headers["webhook-id"]
    assert rx.requests[5].body == rx.requests[6].body
    distinct = list({b["id"]: b for b in folds}.values())
    assert [(b["part"], b["parts"]) for b in distinct] == [(1, 3), (2, 3), (3, 3)]
    assert len(carried(distinct)) == 995
    assert set(carried(distinct)) < set(ids)  # every folded alert in one post id, once
    assert {r.status for r in store.list_alerts(limit=2_000)} == {"delivered"}


def test_sigkill_between_fold_parts_resends_only_the_part_not_recorded(tmp_path: Path) -> None:
    """The worker is killed once the receiver has fold part 2, before it answers: part 1 was
    recorded, so the next run sends part 2 again (same id, same body) and then the rest."""
    db = tmp_path / "newsmon.db"
    store = open_sqlite(db)
    ids = enqueue(store, T0, "ops", [f"s{i:04d}" for i in range(600)], titles(600))
    worker: list[subprocess.Popen[str]] = []

    def answer(request: Received) -> Reply:
        if request.index == 2:  # the one alert sent alone, fold part 1, then part 2
            os.kill(worker[-1].pid, signal.SIGKILL)  # before it can record part 2
            time.sleep(0.2)
        return Reply(200)

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    codes = []
    with Receiver(answer) as rx:
        while store.list_alerts("pending", limit=1) and len(worker) < 15:
            command = [sys.executable, "-m", "tests.digest_worker", str(db), rx.url]
            command += ["131072", "1.0", "fold"]  # max_body; a deadline that leaves the run time
            worker.append(subprocess.Popen(command, env=env, cwd=ROOT, text=True))
            codes.append(worker[-1].wait(timeout=60))
            if codes[-1] == -signal.SIGKILL:
                time.sleep(LEASE.total_seconds() + 0.5)  # the dead worker's leases lapse
    assert sorted(codes)[0] == -signal.SIGKILL
    assert sorted(codes)[1:] == [0] * (len(codes) - 1)
    assert all(len(r.body) <= 131_072 for r in rx.requests)
    folds = [json.loads(r.body) for r in rx.requests[1:]]
    heads = [r.headers["webhook-id"] for r in rx.requests[1:]]
    count = folds[0]["parts"]
    assert count >= 4
    assert len(heads) == count + 1  # one resend, no more
    assert heads[1] == heads[2]
    assert rx.requests[2].body == rx.requests[3].body
    assert [b["part"] for b in folds] == [1, 2, *range(2, count + 1)]
    assert {(b["parts"], b["fold_id"]) for b in folds} == {(count, FOLD)}
    distinct = list({b["id"]: b for b in folds}.values())
    single = json.loads(rx.requests[0].body)["id"]
    assert sorted(carried(distinct)) == sorted(set(ids) - {single})  # each once, once deduped
    assert {r.status for r in store.list_alerts(limit=2_000)} == {"delivered"}
    store.close()


def test_an_alert_committed_after_its_fold_went_goes_alone(store: Store) -> None:
    """Its fold is done (the last part, or the one post, recorded): a resend of that fold
    under its id would be dropped by the receiver as a duplicate, and the alert with it."""
    enqueue(store, T0, "ops", [f"s{i:02d}" for i in range(10)])
    with Receiver() as rx:
        clock = FakeClock(AFTER)
        deliver_all(store, hook(rx.url), clock, runs=2)
        assert len(rx.requests) == 6
        # Made last in the window (so folded), committed after its fold went.
        late = enqueue(store, T0 + timedelta(minutes=9), "ops", ["late"])
        deliver_all(store, hook(rx.url), clock, runs=2)
    assert len(rx.requests) == 7
    alone = json.loads(rx.requests[6].body)
    assert (alone["type"], alone["id"]) == ("newsmon.alert", late[0])
    assert {r.status for r in store.list_alerts(limit=50)} == {"delivered"}


def test_storm_max_body_config(tmp_path: Path) -> None:
    path = tmp_path / "newsmon.yaml"
    head = "destinations:\n  - {name: d, type: webhook, url_env: U, "
    path.write_text(head + "storm: {max: 5, within: 10m, max_body: 256KiB}}\n")
    [resolved] = load_config(path, env={"U": "https://h.example.org/x"}).resolve_destinations()
    assert Destination.from_resolved(resolved).storm == Storm(
        max=5, within=timedelta(minutes=10), max_body=256 * 1024
    )
    path.write_text(head + "storm: {max: 5, within: 10m}}\n")
    [resolved] = load_config(path, env={"U": "https://h.example.org/x"}).resolve_destinations()
    dest = Destination.from_resolved(resolved)
    assert dest.storm is not None
    assert dest.storm.max_body == MAX_BODY
    path.write_text(head + "storm: {max: 5, within: 10m, max_body: 1KB}}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert "storm.max_body" in str(info.value)
    assert "max_body is at least 16KiB" in str(info.value)
    assert "newsmon.yaml:2:" in str(info.value)

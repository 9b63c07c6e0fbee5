"""Several `newsmon run` replicas on one PostgreSQL database (real subprocesses, a real feed
server and webhook receiver on 127.0.0.1). The promises: every matching item is alerted exactly
once, the replicas share the polling, and a replica killed with SIGKILL loses nothing: its feed
and outbox leases are taken over once they expire, with at most one duplicate delivery per kill,
under the same idempotency key (webhook-id).

Needs NEWSMON_TEST_POSTGRES_URL (`source .ci/postgres.sh`). NEWSMON_REPLICAS_LONG=1 runs longer
(more feeds and rounds).
"""

from __future__ import annotations

import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from monitor.delivery.signing import verify
from tests.receiver import Receiver, Reply
from tests.replicas_harness import (
    SECRET,
    LoadFeedServer,
    baselined,
    fresh_database,
    guid,
    kill_holding_leases,
    outbox,
    replicas,
    rows,
    wait_until,
    write_config,
)
from tests.store_fixtures import skip_without_postgres

# Three daemons on two cores: the default 120 s per test is too tight on a busy machine.
pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(420)]

LONG = os.environ.get("NEWSMON_REPLICAS_LONG") == "1"
FEEDS = 1000 if LONG else 300
ROUNDS = 12 if LONG else 4
ROUND_GAP_S = 4.0
# Short leases so a takeover happens within the test; each must exceed its deadline. The
# deadlines leave room for a busy 2-core CI machine.
SETTINGS = {
    "fetch_deadline": "5s",
    "feed_lease": "7s",
    "delivery_deadline": "2s",
    "delivery_lease": "5s",
    "grace_period": "3s",
    "concurrency": "40",
}


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_database(skip_without_postgres()) as url:
        yield url


def all_delivered(url: str, expected: int) -> Callable[[], bool]:
    def check() -> bool:
        counts = outbox(url)
        return counts.get("delivered", 0) >= expected and not counts.get("pending")

    return check


def drain_s(expected: set[str]) -> float:
    """Time to deliver what is left: generous, a busy 2-core machine delivers ~10 a second."""
    return 60 + len(expected) / 10


def add_rounds(server: LoadFeedServer, rounds: range) -> None:
    for n in rounds:
        server.add_round(n)
        time.sleep(ROUND_GAP_S)


def test_three_replicas_alert_every_match_once_and_share_the_polls(
    database: str, tmp_path: Path
) -> None:
    with LoadFeedServer(FEEDS, keep=ROUNDS + 1) as server, Receiver() as rx:
        config = write_config(tmp_path, server, rx.url, interval="5s", settings=SETTINGS)
        with replicas(3, config, database, tmp_path) as running:
            wait_until("every feed's baseline poll", lambda: baselined(database) == FEEDS, 60)
            add_rounds(server, range(ROUNDS))
            expected = set(server.matching)
            wait_until("every alert", all_delivered(database, len(expected)), drain_s(expected))
            time.sleep(2.0)  # a late double delivery would arrive now
            polls = [r.polls() for r in running]

    by_item = Counter(guid(r) for r in rx.requests)
    by_id = Counter(r.headers["webhook-id"] for r in rx.requests)
    assert set(by_item) == expected
    assert [g for g, n in by_item.items() if n > 1] == []
    assert [i for i, n in by_id.items() if n > 1] == []
    assert len(rx.requests) == len(expected) == outbox(database)["delivered"]
    assert all(verify(SECRET, r.headers, r.body) for r in rx.requests[:20])
    # Fair shares: no replica does less than half of an even share.
    total = sum(polls)
    print(f"polls per replica {polls}, alerts {len(expected)}")
    assert total >= FEEDS * 2
    assert min(polls) >= total / 3 * 0.5, f"polls per replica: {polls}"


def test_a_killed_replica_loses_nothing_and_its_leases_are_taken_over(
    database: str, tmp_path: Path
) -> None:
    # Slow answers on both sides, so the victim holds feed and outbox leases when it is killed.
    with (
        LoadFeedServer(FEEDS, keep=ROUNDS + 1, delay=0.5) as server,
        Receiver([Reply(200, delay=0.05)]) as rx,
    ):
        config = write_config(tmp_path, server, rx.url, interval="5s", settings=SETTINGS)
        with replicas(3, config, database, tmp_path) as running:
            victim = running[0]
            wait_until("every feed's baseline poll", lambda: baselined(database) == FEEDS, 60)
            server.add_round(0)
            killed_at, feeds_held, alerts_held = kill_holding_leases(database, victim, 20)
            time.sleep(ROUND_GAP_S)
            add_rounds(server, range(1, ROUNDS))
            expected = set(server.matching)
            wait_until("every alert", all_delivered(database, len(expected)), drain_s(expected))
            time.sleep(2.0)
            survivors = [r.polls() for r in running[1:]]

    # Nothing lost; a duplicate only for the delivery in flight at the kill, same webhook-id.
    ids_by_item: dict[str, list[str]] = defaultdict(list)
    for request in rx.requests:
        ids_by_item[guid(request)].append(request.headers["webhook-id"])
    assert set(ids_by_item) == expected
    repeated = {g: ids for g, ids in ids_by_item.items() if len(ids) > 1}
    assert len(repeated) <= 1, repeated
    assert all(len(set(ids)) == 1 and len(ids) == 2 for ids in repeated.values()), repeated
    assert outbox(database) == {"delivered": len(expected)}
    print(
        f"held at the kill: {len(feeds_held)} feeds, {len(alerts_held)} alerts; "
        f"repeated {repeated}; survivors' polls {survivors}"
    )

    # Taken over only after the lease ran out, by a surviving replica.
    for feed in feeds_held:
        after = rows(
            database, "SELECT last_fetch_at, lease_owner FROM feeds WHERE id = %s", (feed["id"],)
        )[0]
        assert after["last_fetch_at"] >= feed["lease_until"] > killed_at
        assert after["lease_owner"] is None or f":{victim.pid}:" not in after["lease_owner"]
    for alert in alerts_held:
        after = rows(database, "SELECT delivered_at FROM alerts WHERE id = %s", (alert["id"],))[0]
        delivered_at: datetime = after["delivered_at"]
        assert delivered_at >= alert["lease_until"], alert["id"]
    assert min(survivors) > 0

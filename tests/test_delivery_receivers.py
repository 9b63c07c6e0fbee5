"""The deliverer against real receivers on 127.0.0.1: outages, rate limits, hostile replies."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.clock import FakeClock
from monitor.delivery.destinations import Destination
from monitor.delivery.retry import SCHEDULE_S
from monitor.delivery.signing import verify
from monitor.net.client import make_client
from monitor.net.guard import AddressGuard
from monitor.store.base import Store
from tests.delivery_support import SECRET, T0, alert_row, deliverer, enqueue
from tests.receiver import Received, Receiver, Reply
from tests.store_fixtures import StoreFactory


@pytest.fixture
def store(make_store: StoreFactory) -> Store:
    """SQLite, and PostgreSQL too when NEWSMON_TEST_POSTGRES_URL is set (tests/store_fixtures)."""
    s: Store = make_store()
    return s


def hook(name: str, url: str, **options: Any) -> Destination:
    """A webhook destination; `options` go to Destination.create as they are (rate, burst)."""
    return Destination.create(name, "webhook", url, [SECRET], **options)


def test_503_for_two_hours_then_recovery(store: Store) -> None:
    clock = FakeClock(T0)
    recovery = T0 + timedelta(hours=2)

    def answer(req: Received) -> Reply:
        return Reply(503) if clock.now() < recovery else Reply(200)

    with Receiver(answer) as rx:
        [aid] = enqueue(store, T0, "ops", ["s1"])
        d = deliverer(store, {"ops": hook("ops", rx.url)}, clock)
        for _ in range(len(SCHEDULE_S) + 1):
            asyncio.run(d.run_once())
            row = store.get_alert(aid)
            assert row is not None
            if row.status != "pending":
                break
            assert row.next_attempt_at is not None
            clock.set(row.next_attempt_at)
        row = store.get_alert(aid)
        assert row is not None
        assert row.status == "delivered"
        # A later run sends nothing more.
        clock.advance(hours=30)
        asyncio.run(d.run_once())

    stamps = [int(r.headers["webhook-timestamp"]) for r in rx.requests]
    offsets = [s - int(T0.timestamp()) for s in stamps]
    # Attempts at 0, then after 5 s, 5 min, 30 min, 2 h (each ±10 %): recovery at 2 h is passed
    # by the fifth attempt, which is delivered.
    assert len(offsets) == 5
    expected = [0.0]
    for delay in SCHEDULE_S[:4]:
        gap = offsets[len(expected)] - offsets[len(expected) - 1]
        assert 0.9 * delay - 1 <= gap <= 1.1 * delay + 1
        expected.append(offsets[len(expected)])
    assert offsets[-1] >= 7200
    assert {r.headers["webhook-id"] for r in rx.requests} == {aid}
    assert len(set(stamps)) == 5  # a fresh timestamp on every attempt
    for r in rx.requests:
        assert verify(SECRET, r.headers, r.body, now=int(r.headers["webhook-timestamp"]))
        assert r.headers["content-type"] == "application/json"
        assert r.headers["accept-encoding"] == "identity"  # its reply is read raw, bounded
        assert json.loads(r.body)["id"] == aid
    assert row.attempts == 5


def test_100_slack_alerts_are_paced_at_about_one_a_second_without_429(
    store: Store,
) -> None:
    """Driven by a fake clock shared with the receiver, so 100 s of pacing runs in about a second.

    The receiver enforces Slack's rate its own way (a sliding window: at most 1 + 3 messages in
    any 1 s, at most 10 + 3 in any 10 s) and answers 429 over it.
    """
    clock = FakeClock(T0)
    times: list[float] = []
    rejected: list[int] = []

    def answer(req: Received) -> Reply:
        now = clock.now().timestamp()
        for window, allowed in ((1.0, 4), (10.0, 13), (60.0, 63)):
            if sum(1 for t in times if t > now - window) + 1 > allowed:
                rejected.append(req.index)
                return Reply(429, b"rate_limited", {"Retry-After": "1"})
        times.append(now)
        return Reply(200, b"ok")

    with Receiver(answer) as rx:
        stories = [f"s{i:03}" for i in range(100)]
        ids = enqueue(store, T0, "slack", stories)
        dest = Destination.create("slack", "slack", rx.url)
        d = deliverer(store, {"slack": dest}, clock)

        async def drive() -> None:
            async with d:
                for _ in range(1_000):
                    stats = await d.run_once()
                    if store.outbox_stats(clock.now())[0] == 0:
                        return
                    clock.advance(max(stats.next_in or 0.0, 0.05))

        asyncio.run(drive())
    assert rejected == []
    assert len(rx.requests) == 100
    assert all(alert_row(store, i).status == "delivered" for i in ids)
    titles = {json.loads(r.body)["blocks"][0]["text"]["text"] for r in rx.requests}
    assert len(titles) == 100  # none sent twice, none dropped
    span = times[-1] - times[0]
    assert 95 <= span <= 105  # 3 at once, then one a second


def test_a_hanging_receiver_times_out_and_does_not_delay_another(store: Store) -> None:
    clock = FakeClock(T0)
    with Receiver([Reply(delay=60)]) as hang, Receiver() as ok:
        [slow] = enqueue(store, T0, "slow", ["s1"])
        [fast] = enqueue(store, T0, "fast", ["s1"])
        d = deliverer(store, {"slow": hook("slow", hang.url), "fast": hook("fast", ok.url)}, clock,
                      deadline=1.0)  # fmt: skip
        started = time.monotonic()
        stats = asyncio.run(d.run_once())
        elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 3.0
    # Not held up by the hanging one: posted about when it was, as the two receivers saw it; one
    # after the other, it would come the 1 s deadline later. (The time from the start includes
    # the store's claims, which a busy machine stretches past any fixed bound.)
    assert ok.requests[0].at - hang.requests[0].at < 0.5
    assert (stats.delivered, stats.retried) == (1, 1)
    row = store.get_alert(slow)
    assert row is not None
    assert row.status == "pending"
    assert row.last_error == "no reply within 1s"
    assert row.next_attempt_at is not None
    assert 4.4 <= (row.next_attempt_at - T0).total_seconds() <= 5.6
    assert alert_row(store, fast).status == "delivered"


def test_a_trickling_receiver_is_cut_off_by_the_total_deadline(store: Store) -> None:
    clock = FakeClock(T0)
    # One byte every 0.2 s: each read succeeds, so only a total deadline can stop it.
    with Receiver([Reply(200, trickle=0.2)]) as rx:
        [aid] = enqueue(store, T0, "ops", ["s1"])
        d = deliverer(store, {"ops": hook("ops", rx.url)}, clock, deadline=1.0)
        started = time.monotonic()
        asyncio.run(d.run_once())
        elapsed = time.monotonic() - started
    assert elapsed < 2.5
    row = store.get_alert(aid)
    assert row is not None
    assert row.status == "pending"
    assert row.attempts == 1


def test_a_2xx_with_a_trickling_body_is_delivered_at_once(store: Store) -> None:
    clock = FakeClock(T0)
    with Receiver([Reply(200, b"x" * 100, trickle=0.2, trickle_body_only=True)]) as rx:
        [aid] = enqueue(store, T0, "ops", ["s1"])
        d = deliverer(store, {"ops": hook("ops", rx.url)}, clock, deadline=5.0)
        started = time.monotonic()
        asyncio.run(d.run_once())
        elapsed = time.monotonic() - started
    assert elapsed < 1.5  # the 20 s body is not waited for: the 2xx status decides
    row = store.get_alert(aid)
    assert row is not None
    assert row.status == "delivered"


@pytest.mark.parametrize(("status", "outcome"), [(200, "delivered"), (500, "pending")])
def test_an_endless_body_is_not_read_to_its_end(store: Store, status: int, outcome: str) -> None:
    clock = FakeClock(T0)
    with Receiver([Reply(status, endless=True)]) as rx:
        [aid] = enqueue(store, T0, "ops", ["s1"])
        d = deliverer(store, {"ops": hook("ops", rx.url)}, clock, deadline=5.0)
        started = time.monotonic()
        asyncio.run(d.run_once())
        elapsed = time.monotonic() - started
    assert elapsed < 2.0
    row = store.get_alert(aid)
    assert row is not None
    assert row.status == outcome


def test_a_redirect_to_a_private_address_is_not_followed(store: Store) -> None:
    clock = FakeClock(T0)
    with Receiver() as inside:
        to_inside = Reply(302, headers={"Location": inside.url})
        with Receiver([to_inside]) as rx:
            [aid] = enqueue(store, T0, "ops", ["s1"])
            d = deliverer(store, {"ops": hook("ops", rx.url)}, clock)
            stats = asyncio.run(d.run_once())
    assert len(rx.requests) == 1
    assert inside.requests == []
    assert stats.dead == 1
    row = store.get_alert(aid)
    assert row is not None
    assert row.status == "dead"
    assert row.last_error is not None
    assert "302" in row.last_error
    assert inside.url not in row.last_error


def test_the_address_guard_refuses_a_private_destination(store: Store) -> None:
    clock = FakeClock(T0)
    with Receiver() as rx:
        [aid] = enqueue(store, T0, "ops", ["s1"])
        d = deliverer(store, {"ops": hook("ops", rx.url)}, clock,
                      client_factory=lambda: make_client(AddressGuard()))  # fmt: skip
        asyncio.run(d.run_once())
    assert rx.requests == []
    row = store.get_alert(aid)
    assert row is not None
    assert row.status == "dead"
    assert row.last_error is not None
    assert "blocked address" in row.last_error
    # What to do: a receiver on the desk's own machine was refused without a word of how.
    assert row.last_error.endswith("add it to allow_networks in the config")
    assert "127.0.0.1" not in row.last_error  # nor where it is (a URL is often a secret)


def test_the_guarded_client_delivers_to_an_allowed_address(store: Store) -> None:
    clock = FakeClock(T0)
    with Receiver() as rx:
        [aid] = enqueue(store, T0, "ops", ["s1"])
        guard = AddressGuard(allow=["127.0.0.1/32"])
        d = deliverer(store, {"ops": hook("ops", rx.url)}, clock,
                      client_factory=lambda: make_client(guard))  # fmt: skip
        asyncio.run(d.run_once())
    assert len(rx.requests) == 1
    assert alert_row(store, aid).status == "delivered"


def test_a_closed_port_is_retried(store: Store) -> None:
    clock = FakeClock(T0)
    rx = Receiver().start()
    url = rx.url
    rx.stop()  # nothing listens there now
    [aid] = enqueue(store, T0, "ops", ["s1"])
    asyncio.run(deliverer(store, {"ops": hook("ops", url)}, clock).run_once())
    row = store.get_alert(aid)
    assert row is not None
    assert row.status == "pending"
    assert row.last_error == "ConnectError: connection refused (nothing listens on that port?)"


def test_a_tls_or_dns_failure_says_which_without_the_host(store: Store) -> None:
    # Both were a bare "ConnectError", the same as each other and as any other failure.
    clock = FakeClock(T0)
    with Receiver() as rx:
        tls = rx.url.replace("http://", "https://")  # TLS against a plain-HTTP port
        [a_tls] = enqueue(store, T0, "tls", ["s1"])
        [a_dns] = enqueue(store, T0, "dns", ["s2"])
        hooks = {"tls": hook("tls", tls), "dns": hook("dns", "https://hook.invalid/SECRETpath")}
        asyncio.run(deliverer(store, hooks, clock).run_once())
    assert alert_row(store, a_tls).last_error == (
        "ConnectError: TLS handshake failed (WRONG_VERSION_NUMBER):"
        " is it https on a plain-HTTP port?"
    )
    assert alert_row(store, a_dns).last_error == (
        "ConnectError: the host name does not resolve (DNS)"
    )


def test_the_disabled_gauge_follows_the_store_not_this_process(store: Store) -> None:
    from monitor.metrics import Metrics
    from tests.test_metrics import value

    # Disabled by an earlier process (a cron `check --deliver`, the daemon before a restart):
    # the daemon's /metrics had no series for it, so the documented alert stayed silent.
    store.disable_destination("old", "HTTP 410", T0)
    metrics = Metrics()
    with Receiver() as rx:
        d = deliverer(
            store, {"old": hook("old", rx.url), "ops": hook("ops", rx.url)}, FakeClock(T0)
        )
        d.metrics = metrics
        asyncio.run(d.run_once())
        assert value(metrics, "newsmon_destination_disabled", destination="old") == 1
        assert value(metrics, "newsmon_destination_disabled", destination="ops") == 0
        # Enabled again by `deliveries enable` (another process): the gauge stayed at 1.
        store.enable_destination("old")
        asyncio.run(d.run_once())
    assert value(metrics, "newsmon_destination_disabled", destination="old") == 0


def test_from_config_signs_and_goes_through_the_guard(store: Store, tmp_path: Path) -> None:
    from monitor.config import load_config
    from monitor.delivery.deliverer import Deliverer

    config_file = tmp_path / "newsmon.yaml"
    config_file.write_text(
        "allow_networks: [127.0.0.1/32]\n"
        "delivery_deadline: 5s\n"
        "delivery_lease: 1m\n"
        "destinations:\n"
        "  - {name: ops, type: webhook, url_env: HOOK_URL, secret_env: HOOK_SECRET}\n",
        encoding="utf-8",
    )
    clock = FakeClock(T0)
    with Receiver() as rx:
        env = {"HOOK_URL": rx.url, "HOOK_SECRET": SECRET}
        config = load_config(config_file, env=env)
        d = Deliverer.from_config(config, store, clock=clock, owner="w1")
        assert d.deadline == 5.0
        assert d.lease == timedelta(minutes=1)
        [aid] = enqueue(store, T0, "ops", ["s1"])
        asyncio.run(d.run_once())
        # Without the allow-list entry the guard refuses the loopback receiver.
        closed_file = tmp_path / "closed.yaml"
        closed_file.write_text(config_file.read_text().split("\n", 1)[1], encoding="utf-8")
        closed = load_config(closed_file, env=env)
        [other] = enqueue(store, T0, "ops", ["s2"])
        asyncio.run(Deliverer.from_config(closed, store, clock=clock, owner="w2").run_once())
    assert len(rx.requests) == 1
    assert verify(SECRET, rx.requests[0].headers, rx.requests[0].body)
    assert alert_row(store, aid).status == "delivered"
    refused = store.get_alert(other)
    assert refused is not None
    assert refused.status == "dead"
    assert "blocked address" in (refused.last_error or "")


def test_a_document_that_cannot_be_rendered_is_dead_and_others_go(store: Store) -> None:
    from monitor.model import FeedSpec, FeedUpdate, NewAlert

    clock = FakeClock(T0)
    with Receiver() as rx:
        store.sync_feeds([FeedSpec(id="f1", url="https://example.com/feed.xml")], T0)
        store.claim_due_feeds(T0, 1, timedelta(minutes=1), "poller")
        broken = NewAlert("msg_broken", "team", "sx", "f1", "ix", {"id": "msg_broken"}, T0)
        update = FeedUpdate(status="ok", next_poll_at=T0, fetched_at=T0)
        store.commit_poll("f1", "poller", T0, update, [], [broken])
        [good] = enqueue(store, T0, "team", ["s1"])
        dest = Destination.create("team", "slack", rx.url)
        asyncio.run(deliverer(store, {"team": dest}, clock).run_once())
    row = store.get_alert("msg_broken")
    assert row is not None
    assert row.status == "dead"
    assert row.last_error == "cannot render the alert (KeyError)"
    assert alert_row(store, good).status == "delivered"
    assert len(rx.requests) == 1


def test_a_receiver_failing_now_and_then_pauses_its_destination_seconds_not_a_minute(
    store: Store,
) -> None:
    """A failure paused the destination for the failing alert's next delay up to 60 s: an alert
    failing its second try (5 min on) paused it a minute, so against a receiver failing a third
    of its posts the destination was paused most of the time and its queue grew. The pause now
    follows the destination's failures in a row, and a delivery ends the streak."""
    clock = FakeClock(T0)
    fails = {"s1": [503], "s3": [503, 503]}  # each story's replies before it is taken

    def answer(req: Received) -> Reply:
        story = json.loads(req.body)["item"]["url"].rsplit("/", 1)[1]
        return Reply(fails[story].pop(0) if fails.get(story) else 200)

    with Receiver(answer) as rx:
        d = deliverer(store, {"ops": hook("ops", rx.url)}, clock)
        bucket = d.bucket(d.destinations["ops"])
        pauses: list[float] = []
        for story in ("s1", "s2", "s3", "s4", "s5"):
            enqueue(store, clock.now(), "ops", [story])
            asyncio.run(d.run_once())
            pauses.append(bucket.time_until_available())
            clock.advance(seconds=61)  # past any pause, and the first retry (5 s) is due
    # s1 503: 5 s. s1 then s2 taken: none. s3 503: 5 s. s3 again 503, the second failure in a
    # row: 10 s (it was 60 s: s3's own next delay, 5 min, capped). s4 and s5 taken: none.
    assert [round(p) for p in pauses] == [5, 0, 5, 10, 0]
    assert len(rx.requests) == 7


@pytest.mark.parametrize("status", [200, 400])
def test_a_run_whose_lease_was_taken_over_sends_no_more_of_its_batch(
    store: Store, status: int
) -> None:
    """This process stalled (SIGSTOP, a long pause) past its lease while posting a batch, and
    another process took the batch over: the refused record ends the run. Sending on, a replica
    resumed after 15 s posted every alert left in its batch, which the other had sent already."""
    clock = FakeClock(T0)
    lease = timedelta(seconds=30)
    taken: list[str] = []

    def answer(req: Received) -> Reply:
        if not taken:  # while the first post is in flight, the others take the lot over
            later = T0 + lease + timedelta(seconds=1)
            taken.extend(r.id for r in store.claim_due_alerts(later, 10, lease, "replica-2"))
        return Reply(status)

    with Receiver(answer) as rx:
        ids = enqueue(store, T0, "ops", ["s1", "s2", "s3", "s4"])
        d = deliverer(store, {"ops": hook("ops", rx.url)}, clock, lease=lease)
        asyncio.run(d.run_once())
    assert sorted(taken) == sorted(ids)
    assert len(rx.requests) == 1  # the one in flight; before the fix, all four
    for aid in ids:  # nothing recorded, nothing given back: the other process's to send
        row = alert_row(store, aid)
        assert (row.status, row.attempts) == ("pending", 0)
    assert store.claim_due_alerts(T0 + timedelta(seconds=40), 10, lease, "replica-3") == []


def test_a_lease_just_longer_than_the_deadline_still_delivers(store: Store) -> None:
    """The config allows any lease longer than the deadline. A post was started only while the
    time spent plus one deadline fitted in 80 % of the lease: with `delivery_lease: 35s` beside
    the default 30 s deadline, every run released every alert it claimed, and none was sent."""
    clock = FakeClock(T0)
    with Receiver() as rx:
        ids = enqueue(store, T0, "ops", ["s1", "s2"])
        d = deliverer(
            store, {"ops": hook("ops", rx.url)}, clock, deadline=2.0, lease=timedelta(seconds=2.3)
        )
        for _ in ids:  # the first post of each run
            asyncio.run(d.run_once())
    assert sorted(r.headers["webhook-id"] for r in rx.requests) == sorted(ids)
    assert {alert_row(store, aid).status for aid in ids} == {"delivered"}


def test_a_run_sends_no_more_once_its_heartbeat_lapsed(store: Store) -> None:
    """This process stalled past its heartbeat's TTL between two posts (SIGSTOP): others may
    have taken its batch over and sent it. It gives back what it still holds and posts nothing
    more; before, it sent the next alert of its batch on waking, a second copy."""
    clock = FakeClock(T0)
    lives = [0]

    def answer(req: Received) -> Reply:
        lives[0] += 1  # a lapse while the first post is in flight
        return Reply(200)

    with Receiver(answer) as rx:
        ids = enqueue(store, T0, "ops", ["s1", "s2", "s3"])
        d = deliverer(store, {"ops": hook("ops", rx.url)}, clock)
        d.life = lambda: lives[0]
        asyncio.run(d.run_once())
    [sent] = [r.headers["webhook-id"] for r in rx.requests]
    assert alert_row(store, sent).status == "delivered"
    # Given back: another process (or the next run) takes them at once, not after the lease.
    taken = store.claim_due_alerts(T0, 10, timedelta(seconds=30), "replica-2")
    assert sorted(r.id for r in taken) == sorted(set(ids) - {sent})


def test_a_run_started_while_the_heartbeat_is_late_still_sends(store: Store) -> None:
    """A cron `check --deliver` whose polls held its loop past a beat starts delivering while
    its row may have expired: it sends (as a process without a heartbeat would) until a beat
    renews the row, rather than end with its alerts unsent."""
    with Receiver() as rx:
        ids = enqueue(store, T0, "ops", ["s1", "s2"])
        d = deliverer(store, {"ops": hook("ops", rx.url)}, FakeClock(T0))
        d.life = lambda: None
        asyncio.run(d.run_once())
    assert sorted(r.headers["webhook-id"] for r in rx.requests) == sorted(ids)

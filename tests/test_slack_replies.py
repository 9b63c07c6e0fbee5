"""The deliverer's handling of real-looking replies (respx: the HTTP exchange is the unit),
and secrets that must never reach logs, errors or reprs."""

from __future__ import annotations

import asyncio
import base64
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx
from structlog.testing import capture_logs

from monitor.clock import FakeClock
from monitor.delivery.deliverer import MAX_REPLY_BYTES, Deliverer
from monitor.delivery.destinations import Destination
from monitor.errors import ConfigError
from monitor.model import OutboxRow
from monitor.store.base import Store
from tests.delivery_support import T0, alert_row, deliverer, enqueue
from tests.store_fixtures import StoreFactory

URL_SENTINEL = "SENTINELURLPATH0123"
SLACK_URL = f"https://hooks.slack.com/services/T000/B000/{URL_SENTINEL}"
HOOK_URL = f"https://hooks.example.com/in/{URL_SENTINEL}"
KEY_SENTINEL = base64.b64encode(b"SENTINEL-SIGNING-KEY-0123456789ab").decode()
SECRET = "whsec_" + KEY_SENTINEL


@pytest.fixture
def store(make_store: StoreFactory) -> Store:
    """SQLite, and PostgreSQL too when NEWSMON_TEST_POSTGRES_URL is set (tests/store_fixtures)."""
    s: Store = make_store()
    return s


def slack() -> Destination:
    return Destination.create("team", "slack", SLACK_URL)


def run(d: Deliverer) -> Any:
    return asyncio.run(d.run_once())


@pytest.mark.parametrize(
    ("status", "body", "row_status", "disabled"),
    [
        (200, "ok", "delivered", False),
        (400, "invalid_payload", "dead", False),
        (404, "channel_not_found", "dead", False),
        (403, "action_prohibited", "dead", False),
        (403, "invalid_token", "dead", True),
        (404, "no_service", "dead", True),
        (410, "channel_is_archived", "dead", True),
        (500, "internal_error", "pending", False),
        (503, "", "pending", False),
    ],
)
def test_slack_replies(
    store: Store, status: int, body: str, row_status: str, disabled: bool
) -> None:
    clock = FakeClock(T0)
    first, second = enqueue(store, T0, "team", ["s1", "s2"])
    d = deliverer(store, {"team": slack()}, clock)
    with respx.mock(assert_all_called=True) as mock, capture_logs() as logs:
        route = mock.post(SLACK_URL).mock(return_value=httpx.Response(status, text=body))
        stats = run(d)
    row = store.get_alert(first)
    assert row is not None
    assert row.status == row_status
    assert route.calls[0].request.headers["content-type"] == "application/json"
    assert (store.disabled_destinations().keys() == {"team"}) is disabled
    events = [e for e in logs if e["event"] == "destination_disabled"]
    if disabled:
        assert stats.disabled == ["team"]
        assert events[0]["log_level"] == "error"
        assert events[0]["destination"] == "team"
        assert body in events[0]["reason"]
        # Its queue is dead-lettered, and it is not posted to again.
        assert alert_row(store, second).status == "dead"
        assert route.call_count == 1
    else:
        assert not events
    if row_status == "pending":
        assert row.next_attempt_at is not None
        assert 4.4 <= (row.next_attempt_at - T0).total_seconds() <= 5.6
        # A failing destination stops for this run: the second alert was released, not tried.
        assert route.call_count == 1
        assert alert_row(store, second).attempts == 0


def test_a_disabled_destination_does_not_hold_up_another(store: Store) -> None:
    clock = FakeClock(T0)
    enqueue(store, T0, "team", ["s1"])
    [other] = enqueue(store, T0, "ops", ["s1"])
    dests = {"team": slack(), "ops": Destination.create("ops", "webhook", HOOK_URL)}
    d = deliverer(store, dests, clock)
    with respx.mock() as mock:
        mock.post(SLACK_URL).mock(return_value=httpx.Response(404, text="no_service"))
        ops = mock.post(HOOK_URL).mock(return_value=httpx.Response(204))
        run(d)
        enqueue(store, T0, "team", ["s9"])  # enqueued later: the pipeline still may
        clock.advance(10)
        run(d)
    assert ops.call_count == 1
    assert alert_row(store, other).status == "delivered"


def test_429_retry_after_pauses_the_destination(store: Store) -> None:
    clock = FakeClock(T0)
    first, _second = enqueue(store, T0, "team", ["s1", "s2"])
    d = deliverer(store, {"team": slack()}, clock)
    with respx.mock() as mock:
        route = mock.post(SLACK_URL).mock(
            side_effect=[
                httpx.Response(429, text="rate_limited", headers={"Retry-After": "30"}),
                httpx.Response(200, text="ok"),
                httpx.Response(200, text="ok"),
            ]
        )
        stats = run(d)
        row = store.get_alert(first)
        assert row is not None
        assert row.next_attempt_at is not None
        assert (row.next_attempt_at - T0).total_seconds() >= 30  # Retry-After is a floor
        clock.advance(20)
        run(d)  # still paused: nothing is sent
        assert route.call_count == 1
        clock.advance(11)
        run(d)
        clock.advance(2)
        run(d)
    assert stats.next_in is not None
    assert route.call_count == 3


def test_retry_after_date_over_an_hour_is_capped(store: Store) -> None:
    clock = FakeClock(T0)
    [aid] = enqueue(store, T0, "ops", ["s1"])
    d = deliverer(store, {"ops": Destination.create("ops", "webhook", HOOK_URL)}, clock)
    later = "Sun, 01 Mar 2026 18:00:00 GMT"  # six hours after T0
    with respx.mock() as mock:
        mock.post(HOOK_URL).mock(return_value=httpx.Response(503, headers={"Retry-After": later}))
        run(d)
    row = store.get_alert(aid)
    assert row is not None
    assert row.next_attempt_at is not None
    assert (row.next_attempt_at - T0).total_seconds() == pytest.approx(3600, abs=1)


def test_after_the_last_slot_the_alert_is_dead(store: Store) -> None:
    clock = FakeClock(T0)
    [aid] = enqueue(store, T0, "ops", ["s1"])
    d = deliverer(store, {"ops": Destination.create("ops", "webhook", HOOK_URL)}, clock)
    with respx.mock() as mock:
        route = mock.post(HOOK_URL).mock(return_value=httpx.Response(500))
        for _ in range(20):
            run(d)
            row = store.get_alert(aid)
            assert row is not None
            if row.status == "dead":
                break
            assert row.next_attempt_at is not None
            clock.set(row.next_attempt_at)
    assert route.call_count == 8  # the first attempt and seven retries
    assert row is not None
    assert row.last_error == "HTTP 500; gave up after 8 attempts"
    assert 0.9 * 88_505 <= (clock.now() - T0).total_seconds() <= 1.1 * 88_505


def test_reply_bodies_are_read_to_64_kb_at_most() -> None:
    pulled = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal pulled
        while True:
            pulled += 4096
            yield b"e" * 4096

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, content=endless())

    clock = FakeClock(T0)
    d = Deliverer(
        store=None,  # type: ignore[arg-type]  # attempt() does not touch the store
        destinations={},
        client_factory=lambda: httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        clock=clock,
        rng=random.Random(1),
        owner="o",
    )

    row = OutboxRow(id="msg_1", destination="ops", story_key="s", feed_id="f", item_key="i",
                    document={"id": "msg_1"}, created_at=T0)  # fmt: skip
    dest = Destination.create("ops", "webhook", HOOK_URL)

    async def go() -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await d.attempt(client, dest, row)

    result = asyncio.run(go())
    assert result.status == 500
    assert MAX_REPLY_BYTES <= pulled <= MAX_REPLY_BYTES + 4096


def test_the_lease_must_outlast_the_deadline(store: Store) -> None:
    with pytest.raises(ValueError, match="lease"):
        deliverer(store, {}, FakeClock(T0), deadline=30.0, lease=timedelta(seconds=30))


def test_secrets_never_reach_logs_errors_or_reprs(store: Store) -> None:
    clock = FakeClock(T0)
    hook = Destination.create("ops", "webhook", HOOK_URL, [SECRET])
    dests = {"team": slack(), "ops": hook}
    for name in dests:
        enqueue(store, T0, name, ["s1", "s2", "s3"])
    d = deliverer(store, dests, clock)
    replies: dict[str, list[httpx.Response | Exception]] = {
        "team": [httpx.Response(500), httpx.Response(404, text="no_service")],
        "ops": [httpx.ConnectError(f"boom {HOOK_URL}"), httpx.Response(302,
                headers={"Location": HOOK_URL}), httpx.Response(200)],
    }  # fmt: skip
    with respx.mock() as mock, capture_logs() as logs:
        mock.post(SLACK_URL).mock(side_effect=replies["team"])
        mock.post(HOOK_URL).mock(side_effect=replies["ops"])
        texts = [repr(run(d))]
        for _ in range(3):
            clock.advance(10)
            texts.append(repr(run(d)))
    texts += [repr(e) for e in logs]
    texts += [repr(r) for r in store.list_alerts(limit=100)]
    texts += [repr(hook), str(hook), repr(dests), repr(store.disabled_destinations())]
    with pytest.raises(ConfigError) as bad:
        Destination.create("bad", "webhook", f"ftp://x/{URL_SENTINEL}")
    texts.append(str(bad.value))
    with pytest.raises(ConfigError) as bad_ipv6:
        Destination.create("bad", "webhook", f"http://[{URL_SENTINEL}/x")
    texts.append(str(bad_ipv6.value))
    with pytest.raises(ConfigError) as bad_secret:
        Destination.create("bad", "webhook", HOOK_URL, [f"whsec_{URL_SENTINEL}!"])
    texts.append(str(bad_secret.value))
    assert {e["event"] for e in logs} >= {"alert_retry", "destination_disabled", "alert_dead"}
    joined = "\n".join(texts)
    assert URL_SENTINEL not in joined
    assert KEY_SENTINEL not in joined
    assert "SENTINEL-SIGNING-KEY" not in joined

"""The bootstrap (monitor.process.bootstrap): every part gets what it needs when it is made, the
secrets are registered for redaction by the bootstrap itself, the rules are swapped whole, and
the deliverer's store (AlertLeases) knows which alert leases it holds. Real SQLite, no network
(and a PostgreSQL on 127.0.0.1 for the database server's clock)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from prometheus_client import generate_latest

from monitor import logs
from monitor.clock import FakeClock, StoreClock
from monitor.config import load_config
from monitor.errors import StoreError
from monitor.metrics import Metrics
from monitor.pipeline.rules import CurrentRules
from monitor.process.bootstrap import Runtime, make_context, open_runtime
from monitor.process.leases import AlertLeases
from monitor.query.rulefiles import load_rules
from monitor.store.sqlite import SQLiteStore
from tests.daemon_support import write_rules
from tests.replicas_harness import fresh_database
from tests.store_fixtures import T0, alert, ok_update, skip_without_postgres, spec

HOOK = "https://hooks.example.net/services/T000/B000/abcdefSECRETxyz"
SIGNING = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TOKEN = "feedback-token-abcdefgh"
LEASE = timedelta(minutes=5)
FEED_PASSWORD = "feedPassw0rd42"
FEED_KEY = "feedApiKey1234567"


@pytest.fixture(autouse=True)
def _no_secrets() -> None:
    logs.clear_secrets()


def config_file(tmp_path: Path) -> Path:
    rules = write_rules(tmp_path / "rules", {"quake": ("earthquake", ["ops"])})
    path = tmp_path / "newsmon.yaml"
    path.write_text(
        f"database_url: {tmp_path / 'state.db'}\n"
        f"rules: {rules}\n"
        "parse_workers: 0\n"
        f"feedback_token: {TOKEN}\n"
        "feeds:\n"
        "  - {id: f1, url: 'https://example.org/f1.xml'}\n"
        f"  - {{id: f2, url: 'https://reader:{FEED_PASSWORD}@example.org/f2.xml?apikey={FEED_KEY}'}}\n"
        "  - {id: f3, url: 'https://example.org/f3.xml?key=quake'}\n"
        "destinations:\n"
        "  - {name: ops, type: webhook, url_env: HOOK, secret_env: SIGNING}\n"
        "  - {name: team, type: webhook, url: 'https://team.example.org/hook'}\n"
    )
    return path


def opened(path: Path, metrics: Metrics | None, check: Callable[[Runtime], None]) -> None:
    """Open the runtime the daemon (with metrics) or cron (without) opens, and run `check`."""
    config = load_config(path, env={"HOOK": HOOK, "SIGNING": SIGNING})

    async def run() -> None:
        ctx = make_context(config, FakeClock(T0))
        async with open_runtime(ctx, inline=metrics is None, metrics=metrics) as rt:
            check(rt)

    asyncio.run(run())


def test_resolving_the_config_registers_nothing_the_bootstrap_registers_every_secret(
    tmp_path: Path,
) -> None:
    path = config_file(tmp_path)
    config = load_config(path, env={"HOOK": HOOK, "SIGNING": SIGNING})
    config.resolve_destinations()
    assert logs.redact(f"posting to {HOOK}") == f"posting to {HOOK}"  # no side effect
    metrics = Metrics()

    def check(rt: Runtime) -> None:
        assert logs.redact(f"posting to {HOOK}") == "posting to [redacted]"
        assert logs.redact(f"signed with {SIGNING}") == "signed with [redacted]"
        assert logs.redact(f"token {TOKEN}") == "token [redacted]"
        assert logs.redact(f"login {FEED_PASSWORD} refused") == "login [redacted] refused"
        assert logs.redact(f"key {FEED_KEY}") == "key [redacted]"
        # A short one is not registered: the rule `quake` keeps its name in logs and labels.
        assert logs.redact("quake") == "quake"
        metrics.rule_matched("quake")
        assert 'rule="quake"' in generate_latest(metrics.registry).decode()
        metrics.delivery_result(f"x{SIGNING}", "delivered")
        exposed = generate_latest(metrics.registry).decode()
        assert SIGNING not in exposed
        assert 'destination="invalid"' in exposed

    opened(path, metrics, check)


def test_each_part_is_given_its_collaborators_when_it_is_made(tmp_path: Path) -> None:
    metrics = Metrics()

    def daemon(rt: Runtime) -> None:
        assert rt.deliverer.store is rt.leases  # the deliverer's store, watched
        assert rt.poller.metrics is metrics
        assert rt.deliverer.metrics is metrics
        assert rt.metrics is metrics
        assert rt.poller.rules is rt.rules
        assert list(rt.rules.rules.rules) == ["quake"]
        assert rt.rules.get().routes == {"ops": {"quake"}, "team": set()}

    opened(config_file(tmp_path), metrics, daemon)

    def cron(rt: Runtime) -> None:
        assert rt.poller.metrics is None
        assert rt.deliverer.metrics is None
        assert rt.deliverer.store is rt.leases

    opened(config_file(tmp_path), None, cron)


def test_a_swap_replaces_rules_and_routes_together_and_a_poll_keeps_what_it_read(
    tmp_path: Path,
) -> None:
    first = load_rules(write_rules(tmp_path / "a", {"quake": ("earthquake", ["ops"])}))
    second = load_rules(write_rules(tmp_path / "b", {"flood": ("flood", [])}))
    current = CurrentRules(first, ["ops", "team"])
    in_flight = current.get()
    current.swap(second)
    assert current.rules is second
    assert current.get().routes == {"ops": {"flood"}, "team": {"flood"}}  # [] = everywhere
    assert in_flight.rules is first
    assert in_flight.routes == {"ops": {"quake"}, "team": set()}


def test_alert_leases_track_claims_until_settled_and_release_the_rest(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "state.db"))
    store.migrate()
    store.sync_feeds([spec("f1")], T0)
    store.claim_due_feeds(T0, 10, LEASE, "poller")
    alerts = [alert(f"a{i}", "ops", f"s{i}") for i in range(4)]
    assert store.commit_poll("f1", "poller", T0, ok_update(T0), [], alerts) == 4
    leases = AlertLeases(store, "d1")
    rows = leases.claim_due_alerts(T0, 10, LEASE, "d1")
    assert [r.id for r in rows] == ["a0", "a1", "a2", "a3"]
    assert leases.held == 4
    assert leases.mark_delivered("a0", "d1", T0)
    assert leases.dead_letter("a1", "d1", T0, "HTTP 400")
    assert leases.held == 2
    assert leases.release_all() == 2
    assert leases.held == 0
    assert leases.claim_due_alerts(T0, 10, LEASE, "d1") == []  # closed: claims nothing
    # The two released are due again for any process at once, not after the lease.
    assert sorted(r.id for r in store.claim_due_alerts(T0, 10, LEASE, "d2")) == ["a2", "a3"]
    store.close()


class _RecordFailsOnce(SQLiteStore):
    """The store stops answering for one record of each kind."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.failing = {"mark_delivered", "settle_grouped"}

    def _fail(self, name: str) -> None:
        if name in self.failing:
            self.failing.discard(name)
            raise StoreError("PostgreSQL at test did not answer within 65s")

    def mark_delivered(self, alert_id: str, owner: str, now: datetime) -> bool:
        self._fail("mark_delivered")
        return super().mark_delivered(alert_id, owner, now)

    def settle_grouped(self, alert_ids: Sequence[str], now: datetime, note: str) -> int:
        self._fail("settle_grouped")
        return super().settle_grouped(alert_ids, now, note)


def test_a_post_whose_record_failed_is_recorded_before_the_leases_are_given_back(
    tmp_path: Path,
) -> None:
    store = _RecordFailsOnce(str(tmp_path / "state.db"))
    store.migrate()
    store.sync_feeds([spec("f1")], T0)
    store.claim_due_feeds(T0, 10, LEASE, "poller")
    alerts = [alert(f"a{i}", "ops", f"s{i}") for i in range(4)]
    assert store.commit_poll("f1", "poller", T0, ok_update(T0), [], alerts) == 4
    leases = AlertLeases(store, "d1")
    assert len(leases.claim_due_alerts(T0, 10, LEASE, "d1")) == 4
    with pytest.raises(StoreError):
        leases.mark_delivered("a0", "d1", T0)  # posted; the store did not answer
    with pytest.raises(StoreError):
        leases.settle_grouped(["a1", "a2"], T0, "in digest d")  # the same for a digest's post
    # The next run after the failed one: the posts are recorded, the rest given back. Given
    # back unrecorded, a0, a1 and a2 were posted again.
    assert leases.release_held() == 1
    assert {a.id: a.status for a in store.list_alerts()} == {
        "a0": "delivered", "a1": "delivered", "a2": "delivered", "a3": "pending"
    }  # fmt: skip
    assert [r.id for r in store.claim_due_alerts(T0, 10, LEASE, "d2")] == ["a3"]
    store.close()


@pytest.mark.postgres
def test_new_feeds_are_due_by_the_database_servers_clock_not_a_skewed_machines(
    tmp_path: Path,
) -> None:
    """A replica on a machine whose clock runs an hour ahead of the database server's adds a
    new feed: it is due at once for every replica. It was written due at this machine's "now",
    before the heartbeat had read the server's clock, so no replica polled it for an hour and
    its items of that hour went silently into the baseline."""
    with fresh_database(skip_without_postgres(), prefix="skew") as url:
        path = tmp_path / "newsmon.yaml"
        path.write_text(
            f"database_url: {url}\nparse_workers: 0\nfeeds:\n"
            "  - {id: f1, url: 'https://example.org/f1.xml'}\n"
        )
        config = load_config(path, env={})
        ahead = StoreClock(FakeClock(datetime.now(UTC) + timedelta(hours=1)))

        async def run() -> None:
            async with open_runtime(make_context(config, ahead), inline=True):
                pass

        asyncio.run(run())
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("SELECT next_poll_at - now() FROM feeds WHERE id = 'f1'").fetchone()
        assert row is not None
        assert row[0] < timedelta(seconds=5)  # before the fix: an hour

"""The store's roles (monitor.store.roles): `Store` is exactly their union, each method is in one
role and says what it raises, and both stores keep that promise: a database failure in any
method comes out as StoreError, never as the driver's exception."""

from __future__ import annotations

import inspect
import sqlite3
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from monitor.errors import StoreError
from monitor.model import ArchivedItem, Label, StorySource
from monitor.store import roles
from monitor.store.base import Store
from monitor.store.postgres import PostgresStore
from monitor.store.sqlite import SQLiteStore
from tests.store_fixtures import T0, alert, ok_update, seen, spec

ROLES = [
    roles.FeedSchedule,
    roles.SeenItems,
    roles.Stories,
    roles.Outbox,
    roles.Destinations,
    roles.Deliveries,
    roles.Archive,
    roles.Labels,
    roles.Coordination,
    roles.Upkeep,
    roles.ConsoleReads,
]
# What may not raise: a readiness probe answers False, closing is best effort, hurrying
# only changes a setting.
QUIET = {"ping", "close", "hurry"}


def methods(protocol: type) -> set[str]:
    return {name for name, v in vars(protocol).items() if callable(v) and not name.startswith("_")}


def test_every_role_is_listed_here() -> None:
    declared = {
        v for v in vars(roles).values() if inspect.isclass(v) and v.__module__ == roles.__name__
    }
    assert declared == set(ROLES)


def test_store_is_the_union_of_disjoint_roles() -> None:
    owners: dict[str, list[str]] = {}
    for role in ROLES:
        for name in methods(role):
            owners.setdefault(name, []).append(role.__name__)
    assert {n: r for n, r in owners.items() if len(r) > 1} == {}
    assert methods(Store) == set()  # nothing of its own: only what the roles declare
    everything = set().union(*(methods(role) for role in ROLES))
    assert everything == set(owners)
    assert len(everything) >= 40


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.__name__)
def test_each_method_is_documented_with_what_it_raises(role: type) -> None:
    for name in methods(role):
        doc = inspect.getdoc(getattr(role, name)) or ""
        assert doc, f"{role.__name__}.{name} has no docstring"
        if name not in QUIET:
            assert "Raises StoreError" in doc, f"{role.__name__}.{name}"


@pytest.mark.parametrize("cls", [SQLiteStore, PostgresStore])
def test_both_stores_have_every_method_with_the_roles_signature(cls: type) -> None:
    for role in ROLES:
        for name in methods(role):
            ours = inspect.signature(getattr(cls, name))
            theirs = inspect.signature(getattr(role, name))
            assert list(ours.parameters) == list(theirs.parameters), f"{cls.__name__}.{name}"


# -- a failing database: every method raises StoreError ------------------------------------------
def drop_every_table(store: Any) -> None:
    """Take the schema away under the store's feet (another connection, as an operator might)."""
    if store.dialect == "sqlite":
        conn = sqlite3.connect(store.path, isolation_level=None)
        try:
            conn.execute("PRAGMA foreign_keys = OFF")
            tables = """SELECT name FROM sqlite_master
                WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"""
            names = [r[0] for r in conn.execute(tables)]
            for name in names:
                conn.execute(f'DROP TABLE "{name}"')
        finally:
            conn.close()
        return
    rows = store._read("SELECT current_schema() AS s")  # the test's own schema
    schema = rows[0]["s"]
    store._rowcount(f'DROP SCHEMA "{schema}" CASCADE', ())
    store._rowcount(f'CREATE SCHEMA "{schema}"', ())


MIN = timedelta(minutes=1)
ITEM = ArchivedItem(feed_id="f1", key="k1", story_key="s1", first_seen=T0, title="t")
LABEL = Label("f1", "k1", "r1", True, "ann", T0)
SOURCE = StorySource("s1", "f1", "k1", T0, "https://example.org/1", "t")
CALLS: dict[str, Callable[[Any], object]] = {
    "sync_feeds": lambda s: s.sync_feeds([spec("f1")], T0),
    "list_feeds": lambda s: s.list_feeds(),
    "count_feeds_in_error": lambda s: s.count_feeds_in_error(),
    "get_feed": lambda s: s.get_feed("f1"),
    "claim_due_feeds": lambda s: s.claim_due_feeds(T0, 10, MIN, "w"),
    "release_feed": lambda s: s.release_feed("f1", "w"),
    "seen_keys": lambda s: s.seen_keys("f1", ["k1"]),
    "seen_kept": lambda s: s.seen_kept("f1", ["k1"], T0),
    "seen_hashes": lambda s: s.seen_hashes("f1", ["k1"]),
    "known_stories": lambda s: s.known_stories(["s1"], T0),
    "story_candidates": lambda s: s.story_candidates(["0123456789ab"], T0),
    "commit_poll": lambda s: s.commit_poll(
        "f1", "w", T0, ok_update(T0), [seen("k1")], [alert("a1", "d", "s1")]
    ),
    "commit_unchanged": lambda s: s.commit_unchanged("w", [("f1", ok_update(T0))]),
    "add_story_sources": lambda s: s.add_story_sources([SOURCE]),
    "list_story_sources": lambda s: s.list_story_sources("s1"),
    "list_stories": lambda s: s.list_stories(),
    "claim_due_alerts": lambda s: s.claim_due_alerts(T0, 10, MIN, "w"),
    "mark_delivered": lambda s: s.mark_delivered("a1", "w", T0),
    "schedule_retry": lambda s: s.schedule_retry("a1", "w", T0, T0 + MIN, "boom"),
    "dead_letter": lambda s: s.dead_letter("a1", None, T0, "boom"),
    "release_alert": lambda s: s.release_alert("a1", "w"),
    "postpone_alert": lambda s: s.postpone_alert("a1", "w", T0 + MIN, "held"),
    "window_alerts": lambda s: s.window_alerts("d", T0, T0 + MIN),
    "settle_grouped": lambda s: s.settle_grouped(["a1"], T0, "grouped"),
    "group_alerts": lambda s: s.group_alerts(["a1"], "grouped"),
    "owe_recipients": lambda s: s.owe_recipients("a1", "w", ["x@example.org"], "refused"),
    "take_tokens": lambda s: s.take_tokens("d", T0, 1.0, 5.0, 1),
    "disable_destination": lambda s: s.disable_destination("d", "gone", T0),
    "disabled_destinations": lambda s: s.disabled_destinations(),
    "paused_destinations": lambda s: s.paused_destinations(T0),
    "enable_destination": lambda s: s.enable_destination("d"),
    "pause_destination": lambda s: s.pause_destination("d", T0 + MIN),
    "list_alerts": lambda s: s.list_alerts(),
    "get_alert": lambda s: s.get_alert("a1"),
    "replay": lambda s: s.replay(["a1"], T0),
    "outbox_stats": lambda s: s.outbox_stats(T0),
    "pending_destinations": lambda s: s.pending_destinations(),
    "archive_items": lambda s: s.archive_items([ITEM]),
    "read_archive": lambda s: s.read_archive(0, 10),
    "count_archive": lambda s: s.count_archive(),
    "archived_title": lambda s: s.archived_title("f1", "k1"),
    "archived_feeds": lambda s: s.archived_feeds(),
    "add_labels": lambda s: s.add_labels([LABEL]),
    "list_labels": lambda s: s.list_labels(),
    "beat_holder": lambda s: s.beat_holder("w", "host", 1, T0, T0 + MIN),
    "end_holder": lambda s: s.end_holder("w", T0),
    "live_holders": lambda s: s.live_holders("host", T0),
    "lead": lambda s: s.lead("job", "w", T0, T0 + MIN),
    "migrate": lambda s: None,  # would make the tables again: failing it is migrate's own test
    "prune": lambda s: s.prune(T0, timedelta(days=1)),
    "feed_health": lambda s: s.feed_health(T0),
    "story_sightings": lambda s: s.story_sightings(["s1"]),
    "rule_days": lambda s: s.rule_days(T0),
    "store_time": lambda s: s.store_time(),
    "clock_set_back": lambda s: s.clock_set_back(MIN, T0),
}
# Calls that on one of the stores read no table (PostgreSQL's clock; SQLite has none to read, and
# PostgreSQL has no stored times to move when this machine's clock is set back): with the
# tables gone they may still answer.
TABLELESS = {"store_time", "clock_set_back"}


def test_a_call_is_listed_for_every_method_that_raises() -> None:
    every = set().union(*(methods(role) for role in ROLES))
    assert set(CALLS) == every - QUIET


def test_a_failing_database_is_a_store_error_from_every_method(store: Any) -> None:
    drop_every_table(store)
    escaped = {}
    for name, call in sorted(CALLS.items()):
        if name == "migrate":
            continue
        try:
            call(store)
        except StoreError:
            continue
        except Exception as e:  # noqa: BLE001 - whatever a method raises is recorded, not thrown
            escaped[name] = f"{type(e).__module__}.{type(e).__name__}: {e}"
        else:
            if name not in TABLELESS:
                escaped[name] = "returned without an error"
    assert escaped == {}
    assert store.ping() is True  # the database itself still answers

"""Pure helpers of the stores: sync planning, poll values, migration files."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.errors import StoreError
from monitor.model import FeedSpec, FeedUpdate
from monitor.store.common import dump_document, plan_sync, poll_values
from monitor.store.migrate import latest_version, load_migrations, split_statements

T = datetime(2026, 1, 1, tzinfo=UTC)


def test_plan_sync_touches_only_what_changed() -> None:
    known = {
        "same": ("https://a/", "A", ["x"], 300.0, 0.0, True),
        "renamed": ("https://b/", "B", [], 300.0, 0.0, True),
        "inactive": ("https://c/", "", [], 300.0, 0.0, False),
        "dropped": ("https://d/", "", [], 300.0, 0.0, True),
        "already-off": ("https://e/", "", [], 300.0, 0.0, False),
    }
    specs = [
        FeedSpec("same", "https://a/", "A", ("x",), 300),
        FeedSpec("renamed", "https://b/", "Bee"),
        FeedSpec("inactive", "https://c/"),
        FeedSpec("new", "https://n/"),
        FeedSpec("new", "https://n2/"),  # repeated id: the last wins
    ]
    plan = plan_sync(specs, known)
    assert [s.url for s in plan.inserts] == ["https://n2/"]
    assert sorted(s.id for s in plan.updates) == ["inactive", "renamed"]
    assert plan.gone == ["dropped"]


def test_failed_poll_keeps_old_validators_and_baseline() -> None:
    err = FeedUpdate("error", T, T, etag=None, baseline_done=True)
    assert poll_values(err, "e0", "lm0", "h0", False) == ("e0", "lm0", "h0", False, False)
    ok = FeedUpdate("ok", T, T, etag="e1", baseline_done=True)
    assert poll_values(ok, "e0", "lm0", "h0", False) == ("e1", None, None, True, True)
    assert poll_values(FeedUpdate("ok", T, T, baseline_done=False), None, None, None, True)[3]


def test_dump_document_names_the_alert() -> None:
    assert dump_document("a1", {"t": "é"}) == '{"t":"é"}'
    with pytest.raises(StoreError, match="alert a2"):
        dump_document("a2", {"x": {1, 2}})
    with pytest.raises(StoreError, match="alert a3"):
        dump_document("a3", {"x": float("nan")})


def test_migrations_exist_for_both_dialects_with_the_same_versions() -> None:
    # Numbers are handed out ahead, so one may land before a lower one: a gap is allowed, and
    # the runner applies whatever is missing (test_store_sqlite: a missing middle version).
    versions = {d: [m.version for m in load_migrations(d)] for d in ("sqlite", "postgres")}
    assert versions["sqlite"] == versions["postgres"]
    assert versions["sqlite"] == sorted(set(versions["sqlite"]))
    assert versions["sqlite"][0] == 1
    assert latest_version("sqlite") == latest_version("postgres") >= 2


def test_split_statements_drops_comments_and_keeps_multiline_statements() -> None:
    sql = "-- head\nCREATE TABLE a (\n  x int -- why\n);\n\nCREATE INDEX i ON a (x);\n"
    assert split_statements(sql) == [
        "CREATE TABLE a (\n  x int -- why\n)",
        "CREATE INDEX i ON a (x)",
    ]

"""Fixtures for the store contract suite: every test runs on SQLite and on PostgreSQL.

PostgreSQL runs only when NEWSMON_TEST_POSTGRES_URL is set (`.ci/postgres.sh` starts a throwaway
cluster and sets it); each test then gets a fresh schema of its own, dropped afterwards.
Imported by tests/conftest.py as a plugin.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.clock import FakeClock
from monitor.model import FeedSpec, FeedUpdate, NewAlert, SeenItem
from monitor.store.base import Store

POSTGRES_ENV = "NEWSMON_TEST_POSTGRES_URL"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

StoreFactory = Callable[[], Store]


def postgres_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


def skip_without_postgres() -> str:
    url = postgres_url()
    if url is None:
        pytest.skip(
            f"{POSTGRES_ENV} is not set: `source .ci/postgres.sh` starts a throwaway server"
        )
    return url


def sqlite_factory(path: Path) -> StoreFactory:
    from monitor.store.sqlite import SQLiteStore

    def make() -> Store:
        store = SQLiteStore(path)
        store.migrate()
        return store

    return make


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """A factory of store objects that all share one database (for concurrency tests)."""
    opened: list[Store] = []
    schema = None
    if request.param == "sqlite":
        base = sqlite_factory(tmp_path / "newsmon.db")
    else:
        url = skip_without_postgres()
        import psycopg

        from monitor.store.postgres import PostgresStore

        schema = f"test_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'CREATE SCHEMA "{schema}"')

        def base() -> Store:
            store = PostgresStore(url, schema=schema)
            store.migrate()
            return store

    def make() -> Store:
        store = base()
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
    if schema is not None:
        import psycopg

        with psycopg.connect(postgres_url() or "", autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def store(make_store: StoreFactory) -> Store:
    result: Store = make_store()
    return result


@pytest.fixture
def store_clock() -> FakeClock:
    return FakeClock(T0)


# -- small builders ------------------------------------------------------------------------------
def spec(feed_id: str, interval_s: float = 300.0, **kw: Any) -> FeedSpec:
    return FeedSpec(id=feed_id, url=kw.pop("url", f"https://example.org/{feed_id}.xml"),
                    interval_s=interval_s, **kw)  # fmt: skip


def seen(key: str, story: str | None = None) -> SeenItem:
    return SeenItem(key=key, story_key=story or f"story-{key}")


def alert(
    alert_id: str,
    destination: str,
    story: str,
    feed_id: str = "f1",
    created_at: datetime = T0,
    **doc: Any,
) -> NewAlert:
    return NewAlert(
        id=alert_id,
        destination=destination,
        story_key=story,
        feed_id=feed_id,
        item_key=f"item-{story}",
        document={"id": alert_id, "title": f"Story {story}", **doc},
        created_at=created_at,
    )


def ok_update(now: datetime, next_in: float = 300.0, **kw: Any) -> FeedUpdate:
    return FeedUpdate(
        status=kw.pop("status", "ok"),
        next_poll_at=now + timedelta(seconds=next_in),
        fetched_at=now,
        **kw,
    )

"""Fixtures for the store contract suite: every test runs on SQLite and on PostgreSQL.

PostgreSQL runs only when NEWSMON_TEST_POSTGRES_URL is set (`.ci/postgres.sh` starts a throwaway
cluster and sets it); each test then gets a fresh schema of its own, dropped afterwards. The
modules that take `make_store_every_way` as their `make_store` also run behind a transaction-mode
PgBouncer when NEWSMON_TEST_PGBOUNCER_URL is set (`.ci/pgbouncer.sh`), in a database of their own.
Imported by tests/conftest.py as a plugin.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.clock import FakeClock
from monitor.model import FeedSpec, FeedUpdate, NewAlert, SeenItem
from monitor.store.base import Store

POSTGRES_ENV = "NEWSMON_TEST_POSTGRES_URL"
PGBOUNCER_ENV = "NEWSMON_TEST_PGBOUNCER_URL"
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


def skip_without_pgbouncer() -> str:
    url = os.environ.get(PGBOUNCER_ENV)
    if not url:
        pytest.skip(
            f"{PGBOUNCER_ENV} is not set: `source .ci/postgres.sh; source .ci/pgbouncer.sh`"
            " starts a throwaway PostgreSQL with a transaction-mode PgBouncer in front"
        )
    return url


def sqlite_factory(path: Path) -> StoreFactory:
    from monitor.store.sqlite import SQLiteStore

    def make() -> Store:
        store = SQLiteStore(path)
        store.migrate()
        return store

    return make


@contextmanager
def store_factory(kind: str, tmp_path: Path) -> Iterator[StoreFactory]:
    """A factory of store objects that all share one database, of `kind`: "sqlite", "postgres"
    (a schema of its own), or "pgbouncer" (a database of its own, reached through the
    transaction-mode PgBouncer of `.ci/pgbouncer.sh`, as a replica behind such a pooler is)."""
    opened: list[Store] = []
    drop: str | None = None
    if kind == "sqlite":
        base = sqlite_factory(tmp_path / "newsmon.db")
    else:
        url = skip_without_postgres()
        import psycopg

        from monitor.store import open_store
        from monitor.store.postgres import PostgresStore

        name = f"test_{uuid.uuid4().hex[:16]}"
        if kind == "postgres":
            drop = f'DROP SCHEMA "{name}" CASCADE'
            with psycopg.connect(url, autocommit=True) as admin:
                admin.execute(f'CREATE SCHEMA "{name}"')

            def base() -> Store:
                store = PostgresStore(url, schema=name)
                store.migrate()
                return store

        else:
            pooler = skip_without_pgbouncer()
            drop = f'DROP DATABASE "{name}" WITH (FORCE)'  # the pooler's server links with it
            with psycopg.connect(url, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{name}"')
            pooled = f"{pooler.rsplit('/', 1)[0]}/{name}?pool_mode=transaction"

            def base() -> Store:
                return open_store(pooled)

    def make() -> Store:
        store = base()
        opened.append(store)
        return store

    try:
        yield make
    finally:
        for store in opened:
            store.close()
        if drop is not None:
            import psycopg

            with psycopg.connect(postgres_url() or "", autocommit=True) as admin:
                admin.execute(drop)


def _stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    with store_factory(request.param, tmp_path) as make:
        yield make


_POSTGRES = pytest.mark.postgres
# A factory of store objects that all share one database (for concurrency tests).
make_store = pytest.fixture(_stores, params=["sqlite", pytest.param("postgres", marks=_POSTGRES)],
                            name="make_store")  # fmt: skip
# The same, behind a transaction-mode PgBouncer too (replicas may reach PostgreSQL through one):
# a module overrides `make_store` with `make_store = make_store_every_way`.
make_store_every_way = pytest.fixture(
    _stores,
    params=["sqlite", *(pytest.param(k, marks=_POSTGRES) for k in ("postgres", "pgbouncer"))],
    name="make_store",
)


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

"""Storage: the schedule, the seen keys and the alert outbox. See `base.Store`.

`open_store(url)` picks the store from `NEWSMON_DATABASE_URL`:
- `sqlite:///relative/path.db`, `sqlite:////absolute/path.db`, or a plain file path -> SQLite;
- `:memory:` or `sqlite://` (tests) -> SQLite in memory;
- `postgresql://...` or `postgres://...` -> PostgreSQL (psycopg 3).
"""

from __future__ import annotations

import re
from datetime import timedelta

from monitor.errors import ConfigError
from monitor.store.base import Store
from monitor.store.dburl import hide_database_password, shown_database_url

__all__ = ["Store", "hide_database_password", "open_store", "shown_database_url"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")

# libpq's other form, `host=db user=newsmon password=... dbname=news`: no scheme, so it read as
# a SQLite file name (a file of that name was made, and errors and notes quoted the password).
_CONNINFO = re.compile(
    r"^\s*(host|hostaddr|port|dbname|user|password|sslmode|service|passfile)\s*=", re.IGNORECASE
)


def sqlite_path(url: str) -> str | None:
    """The SQLite file path a URL names, `:memory:`, or None when it is not a SQLite URL.
    Raises ConfigError for a libpq `key=value` connection string."""
    if _CONNINFO.match(url):
        raise ConfigError(
            "the database URL is a libpq key=value string (host=... dbname=...), which newsmon"
            " does not take (value not shown): write it as"
            " postgresql://USER:PASSWORD@HOST:5432/DBNAME"
        )
    if url in (":memory:", "sqlite://", "sqlite:///:memory:"):
        return ":memory:"
    if url.startswith("sqlite:///"):
        return url[len("sqlite:///") :]
    if _SCHEME.match(url):
        return None
    return url


def open_store(
    url: str,
    *,
    migrate: bool = True,
    page_cache_kib: int | None = None,
    timeout: timedelta | None = None,
) -> Store:
    """Open the store a database URL names and (by default) bring its schema up to date.
    `page_cache_kib`: SQLite's page cache (see SQLiteStore); PostgreSQL ignores it. `timeout`:
    the `database_timeout` setting (PostgreSQL; SQLite ignores it)."""
    url = url.strip()
    if not url:
        raise ConfigError("NEWSMON_DATABASE_URL is empty: give a file path, sqlite:///PATH or "
                          "postgresql://USER@HOST/DB")  # fmt: skip
    store: Store
    if url.startswith(("postgresql://", "postgres://")):
        from monitor.store.postgres import PostgresStore

        if timeout is None:
            store = PostgresStore(url)
        else:
            store = PostgresStore(url, timeout_s=timeout.total_seconds())
    else:
        path = sqlite_path(url)
        if path is None:
            scheme = url.split("://", 1)[0]
            raise ConfigError(
                f"database URL {shown_database_url(url)!r}: unknown scheme {scheme!r}; use a file"
                " path, sqlite:///PATH, or postgresql://USER:PASSWORD@HOST:PORT/DB"
            )
        if not path:
            raise ConfigError(f"database URL {url!r} names no file: use sqlite:///newsmon.db")
        from monitor.store.sqlite import SQLiteStore

        store = SQLiteStore(path, page_cache_kib=page_cache_kib)
    if migrate:
        try:
            store.migrate()
        except BaseException:
            store.close()
            raise
    return store

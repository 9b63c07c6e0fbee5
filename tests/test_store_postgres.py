"""PostgreSQL specifics: URLs, replicas migrating at once, surviving a dropped connection."""

from __future__ import annotations

import multiprocessing as mp
import socket
import time
import uuid
from collections.abc import Iterator

import pytest

from monitor.errors import StoreError
from monitor.store import open_store
from monitor.store.migrate import SchemaTooNew, latest_version, load_migrations
from monitor.store.postgres import PostgresStore
from tests.daemon_support import refusing_port
from tests.store_fixtures import T0, postgres_url, skip_without_postgres, spec

pytestmark = pytest.mark.postgres


@pytest.fixture
def schema() -> Iterator[str]:
    import psycopg

    url = skip_without_postgres()
    name = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{name}"')
    yield name
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'DROP SCHEMA "{name}" CASCADE')


def test_open_store_picks_postgres_for_both_schemes(schema: str) -> None:
    url = postgres_url() or ""
    for scheme_url in (url, url.replace("postgresql://", "postgres://", 1)):
        store = open_store(scheme_url, migrate=False)
        try:
            assert isinstance(store, PostgresStore)
            assert store.ping()
        finally:
            store.close()


def test_unreachable_server_is_a_store_error_without_the_password() -> None:
    skip_without_postgres()
    with pytest.raises(StoreError, match="cannot connect") as exc:
        PostgresStore("postgresql://bob:s3cret@127.0.0.1:1/nothing", connect_timeout_s=2)
    assert "s3cret" not in str(exc.value)


def test_a_url_the_driver_cannot_parse_is_a_store_error_without_the_password() -> None:
    # No server needed: libpq refuses these before connecting, and its message quoted the
    # whole URI, password included ("... in URI: \"postgresql://bob:s3cret@[bad/news\"").
    pytest.importorskip("psycopg")
    with pytest.raises(StoreError, match="cannot connect") as exc:
        PostgresStore("postgresql://bob:s3cret@[bad/news", connect_timeout_s=2)
    assert "s3cret" not in str(exc.value)
    assert str(exc.value) == str(exc.value).strip()


@pytest.mark.parametrize(
    "url",
    [
        # libpq's own form for a password kept out of the userinfo
        "postgresql://bob@127.0.0.1:{port}/news?password=SENTINELpw42&sslmode=disable",
        # not percent-encoded: libpq names the host `SENTINELpw42@127.0.0.1`
        "postgresql://bob:p@SENTINELpw42@127.0.0.1:{port}/news",
    ],
)
def test_a_password_in_the_query_or_holding_an_at_sign_is_not_quoted(url: str) -> None:
    # No server needed: a closed port on 127.0.0.1 refuses at once.
    pytest.importorskip("psycopg")
    port = refusing_port()
    with pytest.raises(StoreError, match="cannot connect") as exc:
        PostgresStore(url.format(port=port), connect_timeout_s=2)
    assert "SENTINEL" not in str(exc.value)
    assert "127.0.0.1" in str(exc.value)


def _migrate(url: str, schema: str, out: mp.Queue[str | None]) -> None:
    try:
        PostgresStore(url, schema=schema).migrate()
        out.put(None)
    except BaseException as e:  # noqa: BLE001 - the process reports anything to the test
        out.put(repr(e))


def test_replicas_migrating_at_once(schema: str) -> None:
    url = postgres_url() or ""
    ctx = mp.get_context("spawn")
    out: mp.Queue[str | None] = ctx.Queue()
    procs = [ctx.Process(target=_migrate, args=(url, schema, out)) for _ in range(4)]
    for p in procs:
        p.start()
    assert [out.get(timeout=60) for _ in procs] == [None] * 4
    for p in procs:
        p.join(10)
    store = PostgresStore(url, schema=schema)
    assert store.schema_versions() == [m.version for m in load_migrations("postgres")]
    assert store.schema_versions()[-1] == latest_version("postgres")
    store.close()


def test_a_dropped_connection_is_replaced_on_the_next_call(schema: str) -> None:
    import psycopg

    url = postgres_url() or ""
    store = PostgresStore(url, schema=schema)
    store.migrate()
    store.sync_feeds([spec("f1")], T0)
    pid = store._read("SELECT pg_backend_pid() AS pid")[0]["pid"]
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(StoreError):
        store.list_feeds()  # the call that meets the dead connection fails cleanly...
    assert [f.id for f in store.list_feeds()] == ["f1"]  # ...and the next one reconnects
    assert store.ping()
    store.close()


def test_a_database_a_newer_newsmon_migrated_is_refused_before_any_write(schema: str) -> None:
    url = postgres_url() or ""
    store = PostgresStore(url, schema=schema)
    store.migrate()
    store._change("INSERT INTO schema_version VALUES (9999, 'from_the_future', '2030-01-01')", ())
    store._change("DELETE FROM schema_version WHERE version = 2", ())
    store.close()
    store = PostgresStore(url, schema=schema)
    try:
        with pytest.raises(SchemaTooNew) as refused:
            store.migrate()
        message = str(refused.value)
        assert message.startswith("the PostgreSQL database postgresql://")
        assert f"(schema {schema}) has schema version 9999 (from_the_future), which" in message
        latest = latest_version("postgres")
        assert f"knows versions up to {latest}, so a newer newsmon" in message
        assert "Upgrade newsmon, or point database_url" in message
        versions = store.schema_versions()
        assert 2 not in versions  # nothing written: the missing migration was not applied
        assert 9999 in versions
    finally:
        store.close()


def test_connections_bound_a_dead_path_with_libpq_options_unless_the_url_sets_them(
    schema: str,
) -> None:
    from psycopg.conninfo import conninfo_to_dict

    url = postgres_url() or ""
    own = f"{url}{'&' if '?' in url else '?'}tcp_user_timeout=60000"
    store = PostgresStore(own, schema=schema)
    try:
        assert store._conn is not None
        used = conninfo_to_dict(store._conn.info.dsn)
    finally:
        store.close()
    assert used["keepalives"] == "1"
    assert used["keepalives_idle"] == "10"
    assert used["keepalives_count"] == "3"
    assert used["tcp_user_timeout"] == "60000"  # the URL's own


def test_the_server_ends_a_statement_past_database_timeout_and_the_store_goes_on(
    schema: str,
) -> None:
    url = postgres_url() or ""
    store = PostgresStore(url, schema=schema, timeout_s=1.0)
    try:
        settings = store._read(
            "SELECT current_setting('statement_timeout') AS s,"
            " current_setting('idle_in_transaction_session_timeout') AS i,"
            " current_setting('TimeZone') AS z"
        )
        assert settings == [{"s": "1s", "i": "1s", "z": "UTC"}]
        with pytest.raises(StoreError, match=r"statement timeout.*raise database_timeout"):
            store._read("SELECT pg_sleep(3)")
        assert store.ping()  # the same connection: a cancelled statement does not break it
        store.migrate()  # a migration may take longer: not bounded (SET LOCAL, its own turn)
    finally:
        store.close()


def test_a_migration_statement_may_run_past_database_timeout_and_the_bound_comes_back(
    schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migrations are exempt (an index on a large table may take minutes): neither the server's
    statement_timeout nor the watcher's bound on a silent server ends one."""
    from monitor.store import postgres
    from monitor.store.migrate import Migration

    slow = Migration(latest_version("postgres") + 1, "slow_index", ("SELECT pg_sleep(1.2)",))
    monkeypatch.setattr(postgres, "load_migrations", lambda d: [*load_migrations(d), slow])
    store = PostgresStore(postgres_url() or "", schema=schema, timeout_s=0.3)
    try:
        store._turns.answer_within = 0.6  # the watcher's bound, shorter than the statement too
        store.migrate()
        assert store.schema_versions()[-1] == slow.version
        [row] = store._read("SELECT current_setting('statement_timeout') AS s")
        assert row["s"] == "300ms"  # SET LOCAL: the session's bound again after the migration
        with pytest.raises(StoreError, match="statement timeout"):
            store._read("SELECT pg_sleep(1.2)")
    finally:
        store.close()


def test_a_transaction_idle_past_database_timeout_names_the_setting_and_the_store_goes_on(
    schema: str,
) -> None:
    """The server ends a session idle in a transaction for database_timeout: the error said
    only `terminating connection due to idle-in-transaction timeout`, naming no setting."""
    store = PostgresStore(postgres_url() or "", schema=schema, timeout_s=0.3)

    def idle_between_statements() -> None:
        with store._tx() as cur:
            cur.execute("SELECT 1")
            time.sleep(0.8)  # work between statements, longer than the bound
            cur.execute("SELECT 2")

    try:
        with pytest.raises(StoreError, match=r"idle-in-transaction timeout \(database_timeout\)"):
            idle_between_statements()
        assert store.ping()  # a new session
    finally:
        store.close()


def test_the_urls_own_connect_timeout_bounds_a_connect_to_a_server_that_never_answers() -> None:
    # A socket that takes the connection and never says a word: libpq waits connect_timeout for
    # the server's first answer. newsmon passed its own 10 s over the URL's.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(StoreError, match="cannot connect to PostgreSQL"):
            PostgresStore(f"postgresql://newsmon@127.0.0.1:{port}/news?connect_timeout=3")
        took = time.monotonic() - started
    assert 2.5 < took < 8.0, took  # 3 s, not the 10 s default


def test_a_connect_timeout_that_is_no_bound_leaves_newsmons() -> None:
    from monitor.store.postgres import _positive_seconds

    assert _positive_seconds("30") == 30.0
    assert _positive_seconds(None) is None
    assert _positive_seconds("0") is None  # libpq: wait for ever; newsmon keeps its bound
    assert _positive_seconds("-1") is None
    assert _positive_seconds("soon") is None


def test_libpq_messages_of_several_lines_are_one_line() -> None:
    # A refused connection ("\n\tIs the server running on that host ...") and a full disk on
    # the server ("\nHINT:  Check free disk space.") printed two lines from a command.
    pytest.importorskip("psycopg")
    import psycopg

    from monitor.store.postgres import _said

    with pytest.raises(StoreError) as exc:
        PostgresStore(f"postgresql://newsmon@127.0.0.1:{refusing_port()}/news", connect_timeout_s=2)
    assert "\n" not in str(exc.value)
    assert "Connection refused; Is the server running on that host" in str(exc.value)
    full = psycopg.errors.DiskFull(
        'could not extend file "base/1/2": No space left on device\nHINT:  Check free disk space.'
    )
    assert _said(full) == (
        'PostgreSQL: could not extend file "base/1/2": No space left on device;'
        " HINT: Check free disk space."
    )

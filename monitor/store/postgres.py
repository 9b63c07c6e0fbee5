"""The PostgreSQL store, for several replicas sharing the work. Does I/O (psycopg 3, sync).

- Claims lease rows with `SELECT ... FOR UPDATE SKIP LOCKED` inside one UPDATE: concurrent
  replicas skip each other's rows instead of waiting, and never get the same row while its
  lease runs. An expired lease (`lease_until <= now`) is taken over.
- Seen keys, alerts and story sources are inserted with `ON CONFLICT DO NOTHING`: the unique keys
  (feed_id, item_key), alert id and (destination, story_key) make a double alert impossible even
  when two replicas poll the same feed. `commit_poll` locks the feed row (`FOR UPDATE`) to check
  the lease, so a poll whose lease was taken over writes nothing.
- Times are timestamptz (the session runs in UTC); alert documents are `json` (kept as written).
- One connection per store object, in autocommit mode with explicit transactions; a broken
  connection is replaced on the next call, so a database outage of seconds costs calls, not the
  process. Migrations take a transaction-scoped advisory lock, so replicas starting at once take
  turns.
- `?pool_mode=transaction` on the URL (monitor.store.dburl): reached through a pooler in
  transaction mode, the store prepares no statement on the server. Every transaction and lock
  is already transaction-scoped; the session's settings below then hold only where the pooler
  happens to keep them, so docs/deployment.md has them set on the role.
- A server that stops answering: libpq's keepalives and TCP user timeout end a call on a dead
  path (LINK_OPTIONS). The session's `statement_timeout` (the `database_timeout` setting) makes
  the server end a statement that runs longer; a statement with no answer for that long and
  ANSWER_MARGIN_S is given up on (a server that hangs, a proxy that lost its server), and the
  next call connects again (monitor.store.pgwait, which also makes the calls take turns on the
  connection and gives up on them when stopping). `idle_in_transaction_session_timeout` (the same)
  lets the server end the session of a client that vanished mid-transaction, with its row locks.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Self

import psycopg
from psycopg import sql as pgsql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row

from monitor.dedup.settle import band_lock_keys
from monitor.errors import StoreError
from monitor.model import (
    ArchivedItem,
    FeedSpec,
    FeedState,
    OutboxRow,
    SeenItem,
    StoryRecord,
    StorySource,
)
from monitor.store import archive_sql as aq
from monitor.store import commit, coord
from monitor.store import sql as q
from monitor.store import stories as st
from monitor.store.archive_rows import join_categories
from monitor.store.common import (
    SYNC_COLUMNS,
    KnownFeed,
    SyncPlan,
    plan_sync,
    utc,
)
from monitor.store.console_sql import PostgresConsoleReads
from monitor.store.dburl import hide_database_password, shown_database_url, split_pool_mode
from monitor.store.migrate import (
    SCHEMA_VERSION_TABLE,
    load_migrations,
    refuse_unknown_versions,
)
from monitor.store.pgwait import Turns
from monitor.store.sql import pg
from monitor.store.statements import Statement, Statements

Row = dict[str, Any]

# libpq's own bounds on a dead network path, unless the URL sets them: keepalive probes after
# 10 s idle, 5 s apart, 3 lost end the connection; data sent and not acknowledged for 20 s ends it.
# They cannot notice a server whose kernel still answers (its processes stopped): monitor.store.
# pgwait handles that.
LINK_OPTIONS = {
    "keepalives": "1",
    "keepalives_idle": "10",
    "keepalives_interval": "5",
    "keepalives_count": "3",
    "tcp_user_timeout": "20000",
}
CLOSE_WAIT_S = 1.0  # close: how long a call in flight may keep the connection
# A statement runs at most `database_timeout` (the server cancels it then), so no answer within
# that and this margin (the round trip, the cancel's own) means the server will not answer.
DATABASE_TIMEOUT_S = 60.0
ANSWER_MARGIN_S = 5.0
PING_S = 2.0  # /readyz: how long another call may hold the connection before "not answering"
_EPOCH = datetime.min.replace(tzinfo=UTC)  # "since the beginning" for archive reads
# Advisory lock keys (any constants): migrations, and sync_feeds of replicas starting at once.
MIGRATION_LOCK = 7_362_019_114
SYNC_LOCK = 7_362_019_115
# Taken shared by every commit that settles founded stories under band-key locks, exclusive by
# one whose band keys are too many to lock one by one (see PostgresStore._lock_bands).
STORY_LOCK = 7_362_019_130
MAX_BAND_LOCKS = 256  # eight founded stories' band keys

# The band locks are taken in array order (unnest keeps it), after STORY_LOCK shared.
LOCK_BANDS = """SELECT pg_advisory_xact_lock_shared(%s)::text AS story,
    (SELECT count(*) FROM (SELECT pg_advisory_xact_lock(k)::text AS band
                           FROM unnest(%s::bigint[]) AS k) AS locks) AS bands"""

_DEAD_HOLDER = pg(coord.DEAD_HOLDER)

CLAIM_FEEDS = f"""WITH due AS (
        SELECT id FROM feeds WHERE active AND next_poll_at <= %s
        AND (lease_until IS NULL OR lease_until <= %s OR {_DEAD_HOLDER})
        ORDER BY next_poll_at, id LIMIT %s FOR UPDATE SKIP LOCKED)
    UPDATE feeds f SET lease_owner = %s, lease_until = %s FROM due WHERE f.id = due.id
    RETURNING f.*"""  # noqa: S608 (constants)

CLAIM_ALERTS = f"""WITH due AS (
        SELECT id FROM alerts WHERE status = 'pending' AND next_attempt_at <= %s
        AND (lease_until IS NULL OR lease_until <= %s OR {_DEAD_HOLDER}) {{only}}
        AND destination NOT IN (SELECT name FROM destinations WHERE disabled)
        ORDER BY created_at, id LIMIT %s FOR UPDATE SKIP LOCKED)
    UPDATE alerts a SET lease_owner = %s, lease_until = %s FROM due WHERE a.id = due.id
    RETURNING a.*"""  # noqa: S608 (constants)


# A poll's rows go in one statement each: a round trip per row would cost more than the insert.
INSERT_SEEN = """INSERT INTO seen_items
    (feed_id, item_key, story_key, published, title_hash, seen_at)
    SELECT %s, k, s, p, h, %s
    FROM unnest(%s::text[], %s::text[], %s::timestamptz[], %s::text[]) AS t(k, s, p, h)
    ON CONFLICT (feed_id, item_key) DO UPDATE SET title_hash = excluded.title_hash
    WHERE seen_items.title_hash <> excluded.title_hash"""

# New stories and their bands in one statement (a story key already indexed is kept as it is).
INSERT_STORIES = """WITH new AS (
        INSERT INTO stories (story_key, feed_id, fingerprint, bands, first_seen, last_seen)
        SELECT k, %s, f, b, %s, %s FROM unnest(%s::text[], %s::bytea[], %s::bytea[])
            WITH ORDINALITY AS t(k, f, b, n)
        ORDER BY n
        ON CONFLICT (story_key, feed_id) DO NOTHING
        RETURNING id, story_key)
    INSERT INTO story_bands (band, story_id)
    SELECT x.band, new.id FROM new JOIN unnest(%s::text[], %s::text[]) AS x(k, band)
        ON x.k = new.story_key
    ON CONFLICT DO NOTHING"""

TOUCH_STORIES = """UPDATE stories SET last_seen = %s
    WHERE story_key = ANY(%s) AND last_seen < %s"""

STORY_CANDIDATES = """SELECT b.band, s.id, s.story_key, s.feed_id, s.fingerprint, s.first_seen,
    s.last_seen FROM story_bands b JOIN stories s ON s.id = b.story_id
    WHERE b.band = ANY(%s) AND s.last_seen >= %s"""

# Inside commit_poll, after the band locks: the wordings indexed since the poll's lookup.
SETTLE_CANDIDATES = """SELECT s.id, s.story_key, s.feed_id, s.fingerprint, s.first_seen,
    s.last_seen, array_agg(b.band) AS bands FROM story_bands b JOIN stories s ON s.id = b.story_id
    WHERE b.band = ANY(%s) AND s.first_seen >= %s GROUP BY s.id"""

DELETE_STORY_BANDS = """DELETE FROM story_bands b
    USING unnest(%s::text[], %s::bigint[]) AS x(band, id)
    WHERE b.band = x.band AND b.story_id = x.id"""

INSERT_SOURCES = """INSERT INTO story_sources (story_key, feed_id, item_key, url, title, seen_at)
    SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
                         %s::timestamptz[])
    ON CONFLICT DO NOTHING"""

INSERT_ALERTS = """INSERT INTO alerts (id, destination, story_key, feed_id, item_key, document,
    created_at, status, next_attempt_at, last_error, finished_at)
    SELECT i, d, s, f, k, doc::json, c, st, %s, e, fin
    FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
                %s::timestamptz[], %s::text[], %s::text[], %s::timestamptz[])
         WITH ORDINALITY AS t(i, d, s, f, k, doc, c, st, e, fin, n)
    ORDER BY n
    ON CONFLICT DO NOTHING
    RETURNING id"""


_SEEN_KEPT = pg(q.SEEN_KEPT.format(keys="= ANY(?)"))
_KEEP_SEEN = pg(q.KEEP_SEEN.format(keys="= ANY(?)"))
_PRUNE_SEEN = pg(q.PRUNE_SEEN)

_BEAT_HOLDER = coord.render(coord.BEAT_HOLDER, "postgres")
_END_HOLDER = coord.render(coord.END_HOLDER, "postgres")
_LIVE_ON_HOST = coord.render(coord.LIVE_ON_HOST, "postgres")
_PRUNE_HOLDERS = coord.render(coord.PRUNE_HOLDERS, "postgres")
_TAKE_TOKENS = coord.render(coord.TAKE_TOKENS, "postgres")
_PAUSE_BUCKET = coord.render(coord.PAUSE_BUCKET, "postgres")
_LEAD = coord.render(coord.LEAD, "postgres")


# A poll's archive rows in one statement (see INSERT_SEEN); an existing (feed, key) is kept.
INSERT_ARCHIVE = f"""INSERT INTO archive ({aq.COLUMNS})
    SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
                         %s::text[], %s::text[], %s::text[], %s::text[], %s::timestamptz[],
                         %s::timestamptz[])
    ON CONFLICT (feed_id, item_key) DO NOTHING"""  # noqa: S608 (constants)


# A batch of feed states in one statement: UPDATE_FEED_POLL's assignments, row by row from
# arrays of `commit.feed_poll_row`'s parameters (sql.py keeps the one-feed form; the two must
# set the same columns the same way).
UPDATE_FEED_POLLS = """UPDATE feeds SET status = v.status, next_poll_at = v.next_poll_at,
    last_fetch_at = v.fetched_at, last_success_at = COALESCE(v.succeeded_at, last_success_at),
    parsed_at = COALESCE(v.parsed_at, feeds.parsed_at), etag = v.etag,
    last_modified = v.last_modified, body_hash = v.body_hash,
    last_error = v.error, error_kind = v.error_kind, error_count = v.error_count,
    url = COALESCE(v.new_url, url), title = COALESCE(v.title, feeds.title),
    baseline_done = v.baseline_done, lease_owner = NULL, lease_until = NULL
    FROM unnest(%s::text[], %s::timestamptz[], %s::timestamptz[], %s::timestamptz[],
                %s::timestamptz[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
                %s::integer[], %s::text[], %s::text[], %s::boolean[], %s::text[])
        AS v(status, next_poll_at, fetched_at, succeeded_at, parsed_at, etag, last_modified,
             body_hash, error, error_kind, error_count, new_url, title, baseline_done, id)
    WHERE feeds.id = v.id"""


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def _positive_seconds(value: object) -> float | None:
    """A URL's `connect_timeout` as libpq reads it (whole seconds), when it is a bound: 0, a
    negative or an unreadable value (libpq: wait for ever, or an error) leaves newsmon's."""
    try:
        seconds = int(str(value))
    except ValueError:
        return None
    return float(seconds) if seconds > 0 else None


def _archive_filter(since: datetime | None, feeds: Sequence[str] | None) -> tuple[str, list[Any]]:
    """The `{feeds}` clause and the parameters of the archive's filter (aq.READ after its `after`,
    aq.COUNT): one place, so that `count_archive` counts what `read_archive` reads."""
    params: list[Any] = [utc(since) if since is not None else _EPOCH]
    if feeds is None:
        return "", params
    return "AND feed_id = ANY(?)", [*params, list(feeds)]


def _one_line(e: psycopg.Error) -> str:
    """libpq's message on one line: the server's HINT ("Check free disk space.") and libpq's
    "Is the server running on that host ..." come on lines of their own, which broke the one
    line a command prints and the daemon's console log."""
    return "; ".join(" ".join(line.split()) for line in str(e).splitlines() if line.strip())


def _said(e: psycopg.Error) -> str:
    said = _one_line(e)
    if isinstance(e, psycopg.errors.QueryCanceled):  # statement_timeout (or an operator)
        return f"PostgreSQL: {said}; raise database_timeout if this statement needs longer"
    if isinstance(e, psycopg.errors.IdleInTransactionSessionTimeout):  # the session's, ours
        return f"PostgreSQL: {said} (database_timeout); the next call connects again"
    return f"PostgreSQL: {said}"


class _PollWrites:
    """`commit.PollWrites` on PostgreSQL: one statement for all of a poll's rows of a table
    (arrays unnested; a round trip per row would cost more than the insert)."""

    def __init__(self, cur: psycopg.Cursor[Row]) -> None:
        self.cur = cur

    def feed_row(self, feed_id: str) -> Row | None:
        return self.cur.execute(pg(q.POLL_FEED_ROW) + " FOR UPDATE", (feed_id,)).fetchone()

    def feed_rows(self, feed_ids: Sequence[str]) -> dict[str, Row]:
        # FOR UPDATE locks the rows as ORDER BY returns them: in id order, like one at a time.
        sql = q.POLL_FEED_ROWS.format(marks="SELECT unnest(%s::text[])") + " FOR UPDATE"
        return {row["id"]: row for row in self.cur.execute(sql, (list(feed_ids),))}

    def fresh_stories(self, bands: Sequence[str], since: datetime) -> list[StoryRecord]:
        self._lock_bands(bands)
        # A statement of its own after the locks: READ COMMITTED gives it a snapshot taken now,
        # with every commit that released these locks before we took them.
        rows = self.cur.execute(SETTLE_CANDIDATES, (list(bands), utc(since))).fetchall()
        return st.grouped_records(rows, utc)

    def _lock_bands(self, bands: Sequence[str]) -> None:
        """Lock the band keys of the stories a commit founds until it ends, so that commits
        founding one story take turns (monitor.dedup.settle). Few keys: one exclusive lock each,
        in sorted order (no deadlock), under STORY_LOCK shared; many keys (a poll founding many
        stories at once): STORY_LOCK exclusive instead, which keeps PostgreSQL's lock table (64
        locks a connection by default) from filling up."""
        keys = band_lock_keys(bands)
        if len(keys) > MAX_BAND_LOCKS:
            self.cur.execute("SELECT pg_advisory_xact_lock(%s)", (STORY_LOCK,))
        else:
            self.cur.execute(LOCK_BANDS, (STORY_LOCK, keys))

    def insert_archive(self, items: Sequence[ArchivedItem]) -> int:
        if not items:
            return 0
        rows = list({(a.feed_id, a.key): a for a in items}.values())  # one row per key
        self.cur.execute(INSERT_ARCHIVE, (
            [a.feed_id for a in rows], [a.key for a in rows], [a.story_key for a in rows],
            [a.title for a in rows], [a.summary for a in rows], [a.content for a in rows],
            [a.link for a in rows], [a.author for a in rows],
            [join_categories(a.categories) for a in rows], [a.feed_title for a in rows],
            [_utc(a.published) for a in rows], [utc(a.first_seen) for a in rows],
        ))  # fmt: skip
        return self.cur.rowcount

    def insert_seen(self, feed_id: str, now: datetime, seen: Sequence[SeenItem]) -> None:
        self.cur.execute(INSERT_SEEN, (feed_id, utc(now), [s.key for s in seen],
                         [s.story_key for s in seen], [_utc(s.published) for s in seen],
                         [s.title_hash for s in seen]))  # fmt: skip

    def keep_seen(self, feed_id: str, now: datetime, keys: Sequence[str]) -> None:
        self.cur.execute(_KEEP_SEEN, (utc(now), feed_id, list(keys)))

    def index_stories(self, feed_id: str, now: datetime, stories: Sequence[SeenItem]) -> None:
        t = utc(now)
        packed = [st.pack_bands(s.story_key, s.bands) for s in stories]
        pairs = [(s.story_key, band) for s in stories for band in s.bands]
        self.cur.execute(INSERT_STORIES, (feed_id, t, t, [s.story_key for s in stories],
                         [s.fingerprint for s in stories], packed, [k for k, _ in pairs],
                         [b for _, b in pairs]))  # fmt: skip

    def touch_stories(self, story_keys: Sequence[str], now: datetime) -> None:
        self.cur.execute(TOUCH_STORIES, (utc(now), list(story_keys), utc(now)))

    def disabled_destinations(self) -> dict[str, str]:
        return {r["name"]: r["reason"] for r in self.cur.execute(pg(q.DISABLED))}

    def insert_alerts(self, now: datetime, rows: Sequence[commit.AlertRow]) -> list[str]:
        t = utc(now)
        alerts = [r.alert for r in rows]
        self.cur.execute(INSERT_ALERTS, (
            t, [a.id for a in alerts], [a.destination for a in alerts],
            [a.story_key for a in alerts], [a.feed_id for a in alerts],
            [a.item_key for a in alerts], [r.document for r in rows],
            [utc(a.created_at) for a in alerts], [r.status for r in rows],
            [r.error for r in rows], [t if r.dead else None for r in rows],
        ))  # fmt: skip
        return [r["id"] for r in self.cur.fetchall()]

    def insert_sources(self, sources: Sequence[StorySource]) -> int:
        # In key order, so two transactions recording the same sightings cannot deadlock.
        sources = sorted(sources, key=lambda s: (s.story_key, s.feed_id, s.item_key))
        self.cur.execute(INSERT_SOURCES, (
            [x.story_key for x in sources], [x.feed_id for x in sources],
            [x.item_key for x in sources], [x.url for x in sources],
            [x.title for x in sources], [utc(x.seen_at) for x in sources],
        ))  # fmt: skip
        return self.cur.rowcount

    def update_feed(self, feed_id: str, poll: commit.FeedPoll) -> None:
        self.cur.execute(pg(q.UPDATE_FEED_POLL), commit.feed_poll_row(feed_id, poll, utc))

    def update_feeds(self, polls: Sequence[tuple[str, commit.FeedPoll]]) -> None:
        rows = [commit.feed_poll_row(f, p, utc) for f, p in polls]
        self.cur.execute(UPDATE_FEED_POLLS, [list(column) for column in zip(*rows, strict=True)])


def _progress_cursor(turns: Turns) -> type[psycopg.Cursor[Row]]:
    """A cursor that tells `turns` when each statement starts and when its answer came: the
    bound on a silent server counts per statement, not per call (see monitor.store.pgwait)."""

    class ProgressCursor(psycopg.Cursor[Row]):
        def execute(self, *args: Any, **kwargs: Any) -> Self:
            turns.progress()
            try:
                return super().execute(*args, **kwargs)
            finally:
                turns.progress()

        def executemany(self, query: Any, params_seq: Iterable[Any], **kwargs: Any) -> None:
            turns.progress()
            try:
                super().executemany(query, params_seq, **kwargs)
            finally:
                turns.progress()

    return ProgressCursor


class PostgresStore(Statements, PostgresConsoleReads):
    """`Store` on PostgreSQL. `schema` (tests) puts the tables in that schema.
    `timeout_s`: the `database_timeout` setting (see the module's docstring)."""

    dialect = "postgres"

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        connect_timeout_s: int = 10,
        timeout_s: float = DATABASE_TIMEOUT_S,
    ):

        self._url, self._pooled = split_pool_mode(url)
        if self._pooled and schema:
            # A schema is the session's search_path, which a transaction pooler does not keep.
            raise ValueError("a schema needs a session of its own: not with pool_mode=transaction")
        self._schema = schema
        self._timeout = connect_timeout_s
        self._statement_ms = max(1, round(timeout_s * 1000))
        # One call at a time on the one connection; a server that stops answering is reported,
        # given up on after the statement timeout and a margin, and at once when the daemon
        # stops (monitor.store.pgwait).
        self._turns = Turns(
            f"PostgreSQL at {shown_database_url(url)}", answer_within=timeout_s + ANSWER_MARGIN_S
        )
        self._cursor = _progress_cursor(self._turns)
        self._conn: psycopg.Connection[Row] | None = None
        self._socket: int | None = None  # a duplicate of the connection's, for `hurry`
        try:
            with self._turns.turn():
                self._connect()
        except BaseException:
            self._turns.close()  # its watcher thread ends
            raise

    # -- plumbing ------------------------------------------------------------------------------
    def _connect(self) -> psycopg.Connection[Row]:

        # The URL's own connect_timeout, a positive number of seconds, stands for ours, as its
        # link options do; passed as an argument, ours would override it. Stopping: a connect
        # waits no longer than the call may (libpq counts whole seconds, at least 2).
        try:
            given = conninfo_to_dict(self._url)
            own = _positive_seconds(given.get("connect_timeout")) or self._timeout
            timeout = max(2, math.ceil(min(own, self._turns.remaining())))
            link = {k: v for k, v in LINK_OPTIONS.items() if k not in given}
            conn = psycopg.connect(
                make_conninfo(self._url, **link),
                autocommit=True,
                row_factory=dict_row,
                cursor_factory=self._cursor,
                connect_timeout=timeout,
                # Behind a transaction pooler a statement prepared on one server connection is
                # unknown on the next (or already there for another client): prepare none.
                **({"prepare_threshold": None} if self._pooled else {}),
            )
        except psycopg.Error as e:
            raise StoreError(
                f"cannot connect to PostgreSQL at {shown_database_url(self._url)}:"
                f" {hide_database_password(_one_line(e), self._url)}"
            ) from e
        self._conn = conn
        self._socket = os.dup(conn.fileno())
        self._turns.watch(self._socket)  # the session's settings wait no longer than a call
        try:
            # One round trip. The server ends a statement past the timeout, and a session idle
            # in a transaction for as long (a client gone mid-transaction holds its row locks).
            ms = self._statement_ms
            conn.execute(
                f"SET TIME ZONE 'UTC'; SET statement_timeout = {ms};"
                f" SET idle_in_transaction_session_timeout = {ms}"
            )
            if self._schema:
                conn.execute(
                    pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(self._schema))
                )
        except psycopg.Error as e:
            self._drop()
            raise self._turns.failure(
                f"cannot set up the session on PostgreSQL at {shown_database_url(self._url)}:"
                f" {hide_database_password(_one_line(e), self._url)}"
            ) from e
        return conn

    def _drop(self) -> None:
        """Close the connection (a broken one, or at the end) and our duplicate of its socket."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._socket is not None:
            os.close(self._socket)
            self._socket = None

    def _live(self) -> psycopg.Connection[Row]:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            self._drop()
            conn = self._connect()
        if self._socket is not None:
            self._turns.watch(self._socket)
        return conn

    @contextmanager
    def _tx(self, *, bounded: bool = True) -> Iterator[psycopg.Cursor[Row]]:
        """One transaction; a psycopg error becomes a StoreError after the rollback.
        `bounded=False`: its statements may run past `database_timeout` (migrations)."""
        with self._turns.turn(bounded=bounded):
            conn = self._live()
            try:
                with conn.transaction(), conn.cursor() as cur:
                    if not bounded:
                        cur.execute("SET LOCAL statement_timeout = 0")
                    yield cur
            except psycopg.Error as e:
                raise self._turns.failure(_said(e)) from e

    @contextmanager
    def _one(self, patience: float | None = None) -> Iterator[psycopg.Cursor[Row]]:
        """A cursor for one statement, which autocommit makes its own transaction (one round
        trip instead of three). `patience`: how long to wait for another call to finish."""
        with self._turns.turn(patience):
            conn = self._live()
            try:
                with conn.cursor() as cur:
                    yield cur
            except psycopg.Error as e:
                raise self._turns.failure(_said(e)) from e

    def _read(self, query: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._one() as cur:
            return cur.execute(pg(query), params).fetchall()

    def _rowcount(self, query: str, params: Sequence[Any]) -> int:
        with self._one() as cur:
            return cur.execute(pg(query), params).rowcount

    @contextmanager
    def _poll_writes(self) -> Iterator[_PollWrites]:
        with self._tx() as cur:
            yield _PollWrites(cur)

    def _change(self, sql: str, params: Sequence[Any]) -> int:
        return self._rowcount(sql, params)

    def _change_all(self, statements: Sequence[Statement]) -> list[int]:
        with self._tx() as cur:
            return [cur.execute(pg(sql), params).rowcount for sql, params in statements]

    def _change_every(self, statements: Sequence[Statement]) -> bool:
        with self._tx() as cur:
            for sql, params in statements:
                if cur.execute(pg(sql), params).rowcount == 0:
                    raise psycopg.Rollback  # the transaction ends rolled back, quietly
            return True
        return False

    def _param(self, when: datetime) -> datetime:
        return utc(when)

    def _time(self, value: Any) -> datetime | None:
        return _utc(value)

    # -- lifecycle -----------------------------------------------------------------------------
    def migrate(self) -> None:

        schema = f" (schema {self._schema})" if self._schema else ""
        where = shown_database_url(self._url) + schema
        with self._tx(bounded=False) as cur:  # an index on a large table may take long
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            cur.execute(pg(SCHEMA_VERSION_TABLE))
            rows = cur.execute("SELECT version, name FROM schema_version").fetchall()
            done = {r["version"]: r["name"] for r in rows}
            migrations = load_migrations("postgres")
            refuse_unknown_versions(done, migrations, f"the PostgreSQL database {where}")
            for m in migrations:
                if m.version in done:
                    continue
                for statement in m.statements:
                    cur.execute(pg(statement))
                cur.execute(
                    "INSERT INTO schema_version (version, name, applied_at) VALUES (%s, %s, %s)",
                    (m.version, m.name, datetime.now(UTC).isoformat()),
                )

    def schema_versions(self) -> list[int]:
        return [r["version"] for r in self._read("SELECT version FROM schema_version ORDER BY 1")]

    def close(self) -> None:
        try:
            with self._turns.turn(patience=CLOSE_WAIT_S):
                self._drop()
        except StoreError:
            # A call still waits on a server that does not answer: it gives up now, and its
            # connection is left to the collector.
            self._turns.hurry(0.0)
        self._turns.close()

    def hurry(self, wait_s: float) -> None:
        # Stopping: no call in flight or begun from now on waits more than `wait_s` for an
        # answer (a hung server: the call is ended, see monitor.store.pgwait).
        self._turns.hurry(wait_s)

    def ping(self) -> bool:
        # /readyz: a call that has held the connection for PING_S already means "not answering".
        try:
            with self._one(patience=PING_S) as cur:
                row = cur.execute("SELECT 1 AS one").fetchone()
        except StoreError:
            return False
        return row is not None and row["one"] == 1

    # -- feeds ---------------------------------------------------------------------------------
    def sync_feeds(self, specs: Sequence[FeedSpec], now: datetime) -> SyncPlan:
        with self._tx() as cur:
            # Replicas starting at once take turns; feeds being polled meanwhile are not blocked.
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (SYNC_LOCK,))
            known: dict[str, KnownFeed] = {
                r["id"]: (r["config_url"], r["name"], r["tags"], r["interval_s"],
                          r["backfill_s"], r["active"])
                for r in cur.execute(pg(SYNC_COLUMNS))
            }  # fmt: skip
            plan = plan_sync(specs, known)
            if plan.inserts:  # executemany pipelines: one round trip for the lot
                cur.executemany(pg(q.INSERT_FEED) + " ON CONFLICT DO NOTHING", [
                    (s.id, s.url, s.url, s.name, q.dumps_tags(s.tags), s.interval_s,
                     s.backfill_s, utc(now)) for s in plan.inserts])  # fmt: skip
            if plan.updates:
                cur.executemany(
                    pg(q.UPDATE_FEED_SPEC),
                    [q.update_feed_spec_args(s, utc(now)) for s in plan.updates],
                )
            if plan.gone:
                cur.execute("UPDATE feeds SET active = FALSE WHERE id = ANY(%s)", (plan.gone,))
        return plan

    def claim_due_feeds(
        self,
        now: datetime,
        limit: int,
        lease: timedelta,
        owner: str,
        *,
        due_by: datetime | None = None,
    ) -> list[FeedState]:
        t = utc(now)
        due = t if due_by is None else utc(due_by)
        rows = self._read(CLAIM_FEEDS, (due, t, coord.epoch(t), limit, owner, t + lease))
        return [self._feed(r) for r in sorted(rows, key=lambda r: (r["next_poll_at"], r["id"]))]

    # -- polling -------------------------------------------------------------------------------
    def seen_keys(self, feed_id: str, keys: Sequence[str]) -> set[str]:
        rows = self._read(
            "SELECT item_key FROM seen_items WHERE feed_id = %s AND item_key = ANY(%s)",
            (feed_id, list(keys)),
        )
        return {r["item_key"] for r in rows}

    def seen_kept(
        self, feed_id: str, keys: Sequence[str], stale_before: datetime
    ) -> dict[str, datetime | None]:
        rows = self._read(_SEEN_KEPT, (utc(stale_before), feed_id, list(keys)))
        return {r["item_key"]: _utc(r["stale"]) for r in rows}

    def known_stories(self, story_keys: Sequence[str], since: datetime) -> set[str]:
        rows = self._read(
            "SELECT DISTINCT story_key FROM seen_items WHERE seen_at >= %s AND story_key = ANY(%s)",
            (utc(since), list(story_keys)),
        )
        return {r["story_key"] for r in rows}

    def seen_hashes(self, feed_id: str, keys: Sequence[str]) -> dict[str, str]:
        rows = self._read(
            "SELECT item_key, title_hash FROM seen_items WHERE feed_id = %s AND item_key = ANY(%s)",
            (feed_id, list(keys)),
        )
        return {r["item_key"]: r["title_hash"] for r in rows}

    def story_candidates(self, bands: Sequence[str], since: datetime) -> list[StoryRecord]:
        rows = self._read(STORY_CANDIDATES, (sorted(set(bands)), utc(since)))
        return st.candidate_records(rows, utc)

    # -- archive -------------------------------------------------------------------------------
    def read_archive(
        self,
        after: int,
        limit: int,
        since: datetime | None = None,
        feeds: Sequence[str] | None = None,
    ) -> list[tuple[int, ArchivedItem]]:
        only, params = _archive_filter(since, feeds)
        rows = self._read(pg(aq.READ.format(feeds=only)), [after, *params, limit])
        return [(int(r["id"]), self._archived(r)) for r in rows]

    def count_archive(
        self, since: datetime | None = None, feeds: Sequence[str] | None = None
    ) -> int:
        only, params = _archive_filter(since, feeds)
        return int(self._read(pg(aq.COUNT.format(feeds=only)), params)[0]["n"])

    # -- outbox --------------------------------------------------------------------------------
    def claim_due_alerts(
        self,
        now: datetime,
        limit: int,
        lease: timedelta,
        owner: str,
        destinations: Sequence[str] | None = None,
    ) -> list[OutboxRow]:
        t = utc(now)
        params: list[Any] = [t, t, coord.epoch(t)]
        only = ""
        if destinations is not None:
            only = "AND destination = ANY(%s)"
            params.append(list(destinations))
        params += [limit, owner, t + lease]
        rows = self._read(CLAIM_ALERTS.format(only=only), params)
        return [self._alert(r) for r in sorted(rows, key=lambda r: (r["created_at"], r["id"]))]

    def replay(self, alert_ids: Sequence[str] | None, now: datetime) -> int:
        if alert_ids is None:
            return self._rowcount(pg(q.REPLAY.format(only="")), (utc(now),))
        query = pg(q.REPLAY.format(only="AND id = ANY(?)"))
        return self._rowcount(query, (utc(now), list(alert_ids)))

    # -- coordination --------------------------------------------------------------------------
    def _named(self, query: str, params: dict[str, Any]) -> list[Row]:
        with self._one() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else []

    def beat_holder(self, owner: str, host: str, pid: int, now: datetime, until: datetime) -> None:
        times = {"now": coord.epoch(now), "until": coord.epoch(until)}
        self._named(_BEAT_HOLDER, {"owner": owner, "host": host, "pid": pid, **times})

    def store_time(self) -> datetime | None:
        [row] = self._named("SELECT clock_timestamp() AS t", {})
        return utc(row["t"])

    def clock_set_back(self, step: timedelta, now: datetime) -> int:
        return 0  # every process reads the server's clock (StoreClock), which was not set back

    def end_holder(self, owner: str, now: datetime) -> bool:
        with self._one() as cur:
            cur.execute(_END_HOLDER, {"owner": owner, "now": coord.epoch(now)})
            return cur.rowcount == 1

    def live_holders(self, host: str, now: datetime) -> list[tuple[str, int]]:
        rows = self._named(_LIVE_ON_HOST, {"host": host, "now": coord.epoch(now)})
        return [(r["owner"], r["pid"]) for r in rows]

    def take_tokens(
        self, destination: str, now: datetime, rate: float, burst: float, want: int
    ) -> tuple[int, float]:
        t = coord.epoch(now)
        params = {"destination": destination, "now": t, "rate": float(rate),
                  "burst": float(burst), "want": want}  # fmt: skip
        row = self._named(_TAKE_TOKENS, params)[0]
        granted = int(row["granted"])
        return granted, coord.token_wait(granted, want, row["tokens"], row["updated_at"], t, rate)

    def pause_destination(self, destination: str, until: datetime) -> None:
        self._named(_PAUSE_BUCKET, {"destination": destination, "until": coord.epoch(until)})

    def lead(self, job: str, owner: str, now: datetime, until: datetime) -> bool:
        params = {"job": job, "owner": owner, "now": coord.epoch(now),
                  "until": coord.epoch(until)}  # fmt: skip
        return bool(self._named(_LEAD, params))

    # -- housekeeping --------------------------------------------------------------------------
    def prune(
        self,
        now: datetime,
        retention: timedelta,
        story_window: timedelta | None = None,
        archive_retention: timedelta | None = None,
    ) -> int:
        cutoff = utc(now - retention)
        kept = retention if archive_retention is None else archive_retention
        with self._tx() as cur:
            total = 0
            total += cur.execute(_PRUNE_SEEN, (cutoff, cutoff, retention)).rowcount
            for query in (q.PRUNE_SOURCES, q.PRUNE_ALERTS):
                total += cur.execute(pg(query), (cutoff,)).rowcount
            cur.execute(_PRUNE_HOLDERS, {"cutoff": coord.epoch(now) - coord.HOLDER_KEEP_S})
            total += cur.execute(pg(aq.PRUNE), (utc(now - kept),)).rowcount
        return total + self._prune_stories(utc(now - (story_window or retention)))

    def _prune_stories(self, cutoff: datetime, batch: int = 5000) -> int:
        total = 0
        while True:
            with self._tx() as cur:
                rows = cur.execute(pg(st.OLD_STORIES), (cutoff, batch)).fetchall()
                # The story rows first, their age checked again: a poll that sighted one since
                # the read (its commit moved last_seen) keeps it, and its bands with it. Deleted
                # by id alone, a story sighted as it left the window went, and a copy of it from
                # another outlet then founded it anew and alerted it a second time.
                gone = {
                    r["id"]
                    for r in cur.execute(
                        "DELETE FROM stories WHERE id = ANY(%s) AND last_seen < %s RETURNING id",
                        ([r["id"] for r in rows], cutoff),
                    ).fetchall()
                }
                pairs = [(band, r["id"]) for r in rows if r["id"] in gone
                         for band in st.unpack_bands(r["bands"])]  # fmt: skip
                cur.execute(DELETE_STORY_BANDS, ([b for b, _ in pairs], [i for _, i in pairs]))
            total += len(gone)
            if len(rows) < batch:
                return total

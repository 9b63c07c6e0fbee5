"""The SQLite store (the default): one file shared by a daemon and one-shot commands. Does I/O.

- WAL, so readers never block the writer; `busy_timeout` (10 s), so a writer waits its turn;
  every transaction that writes starts with `BEGIN IMMEDIATE` (the connection is in autocommit
  mode, `isolation_level=None`), so two processes queue for the write lock up front instead of
  one failing with "database is locked" when it upgrades a read to a write.
- Times are UTC epoch seconds (REAL: exact to the microsecond for these dates); tags and alert
  documents are JSON text.
- One connection per store object, opened with `check_same_thread=False`: the daemon calls the
  store through `asyncio.to_thread`, which runs each call on some worker thread, one call at a
  time; a lock makes that "one at a time" hold even if a caller forgets.
- Leases are kept as on PostgreSQL, so the same code runs against either store; a method whose
  owner lost the lease writes nothing.
"""

from __future__ import annotations

import math
import os
import shlex
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
    chunks,
    load_json,
    plan_sync,
    utc,
)
from monitor.store.console_sql import SQLiteConsoleReads
from monitor.store.migrate import (
    SCHEMA_VERSION_TABLE,
    load_migrations,
    refuse_unknown_versions,
)
from monitor.store.statements import Statement, Statements

BUSY_TIMEOUT_S = 10.0
_WAL_RETRY_S = 0.02  # between two tries at the switch to WAL (see _enter_wal)
# A checkpoint copies the newest version of each page in the WAL into the database file, inside
# the commit that takes the WAL past `wal_autocheckpoint` pages (SQLite's default: 1,000). A cold
# poll of 50 items writes ~175 pages, ~125 of them index pages at random places (story bands,
# story keys) that the next polls write again: at 1,000 a cold round checkpointed every 6 polls,
# copying those pages again each time; at 10,000 (≈40 MB of WAL) ~60 polls share one. A killed
# process still loses nothing committed (the WAL is on disk); a power cut may undo the commits
# not yet synced, as before (a checkpoint syncs), now more of them, replayed as re-polls.
# `journal_size_limit` cuts the file back after a checkpoint: it does not keep its high-water mark.
WAL_AUTOCHECKPOINT_PAGES = 10_000
WAL_SIZE_LIMIT_BYTES = 64 * 2**20
_EPOCH = datetime.min.replace(tzinfo=UTC)  # a missing time sorts first, beside aware ones

# Inside BEGIN IMMEDIATE no other writer runs, so a plain UPDATE ... RETURNING is a safe claim.
CLAIM_FEEDS = f"""UPDATE feeds SET lease_owner = ?, lease_until = ?
    WHERE id IN (SELECT id FROM feeds WHERE active AND next_poll_at <= ?
                 AND (lease_until IS NULL OR lease_until <= ? OR {coord.DEAD_HOLDER})
                 ORDER BY next_poll_at, id LIMIT ?)
    RETURNING *"""  # noqa: S608 (constants)

PRUNE_BATCH = 5000

CLAIM_ALERTS = f"""UPDATE alerts SET lease_owner = ?, lease_until = ?
    WHERE id IN (SELECT id FROM alerts WHERE status = 'pending' AND next_attempt_at <= ?
                 AND (lease_until IS NULL OR lease_until <= ? OR {coord.DEAD_HOLDER}) {{only}}
                 AND destination NOT IN (SELECT name FROM destinations WHERE disabled)
                 ORDER BY created_at, id LIMIT ?)
    RETURNING *"""  # noqa: S608 (constants)


_BEAT_HOLDER = coord.render(coord.BEAT_HOLDER, "sqlite")
_END_HOLDER = coord.render(coord.END_HOLDER, "sqlite")
_LIVE_ON_HOST = coord.render(coord.LIVE_ON_HOST, "sqlite")
_PRUNE_HOLDERS = coord.render(coord.PRUNE_HOLDERS, "sqlite")
# The prune's pages of seen keys, in the seen_at index's order (its entries end in the rowid):
# the last key of the page after the cursor (seen_at, rowid), PRUNE_BATCH keys on; then the
# prunable keys after the cursor up to that key, or up to the cutoff on the last page. The page
# is a rowid list so that the index range is bounded by the cursors only, never by the cutoff.
_SEEN_PAGE_END = """SELECT seen_at, rowid FROM seen_items
    WHERE seen_at < ? AND (seen_at, rowid) > (?, ?)
    ORDER BY seen_at, rowid LIMIT 1 OFFSET {skip}"""
_PRUNE_SEEN_PAGE = f"""DELETE FROM seen_items WHERE rowid IN (SELECT rowid FROM seen_items
        WHERE (seen_at, rowid) > (?, ?) AND (seen_at, rowid) <= (?, ?))
    AND {q.SEEN_PRUNABLE}"""  # noqa: S608 (constants)
_PRUNE_SEEN_LAST = f"""DELETE FROM seen_items WHERE (seen_at, rowid) > (?, ?)
    AND {q.SEEN_PRUNABLE}"""  # noqa: S608 (constants)
# Due times (epoch seconds) written before the clock was set back: `step` earlier, not past now.
_SET_BACK = (
    """UPDATE feeds SET next_poll_at = max(next_poll_at - :step, :now)
        WHERE next_poll_at > :now""",
    """UPDATE alerts SET next_attempt_at = max(next_attempt_at - :step, :now)
        WHERE status = 'pending' AND next_attempt_at > :now""",
    """UPDATE rate_buckets SET updated_at = max(updated_at - :step, :now)
        WHERE updated_at > :now""",
)
_TAKE_TOKENS = coord.render(coord.TAKE_TOKENS, "sqlite")
_PAUSE_BUCKET = coord.render(coord.PAUSE_BUCKET, "sqlite")
_LEAD = coord.render(coord.LEAD, "sqlite")


def _ts(when: datetime) -> float:
    return utc(when).timestamp()


def _ts_opt(when: datetime | None) -> float | None:
    return None if when is None else _ts(when)


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _archive_filter(since: datetime | None, feeds: Sequence[str] | None) -> tuple[str, list[Any]]:
    """The `{feeds}` clause and the parameters of the archive's filter (aq.READ after its `after`,
    aq.COUNT): one place, so that `count_archive` counts what `read_archive` reads."""
    params: list[Any] = [_ts(since) if since is not None else float("-inf")]
    if feeds is None:
        return "", params
    return f"AND feed_id IN ({','.join('?' * len(feeds))})", [*params, *feeds]


def _archive_row(a: ArchivedItem) -> tuple[Any, ...]:
    return (a.feed_id, a.key, a.story_key, a.title, a.summary, a.content, a.link, a.author,
            join_categories(a.categories), a.feed_title, _ts_opt(a.published),
            _ts(a.first_seen))  # fmt: skip


class _PollWrites:
    """`commit.PollWrites` on SQLite: a row at a time (executemany) inside BEGIN IMMEDIATE."""

    def __init__(self, c: sqlite3.Connection) -> None:
        self.c = c

    def feed_row(self, feed_id: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.c.execute(q.POLL_FEED_ROW, (feed_id,)).fetchone()
        return row

    def feed_rows(self, feed_ids: Sequence[str]) -> dict[str, sqlite3.Row]:
        rows: dict[str, sqlite3.Row] = {}
        for part in chunks(list(feed_ids)):
            sql = q.POLL_FEED_ROWS.format(marks=",".join("?" * len(part)))
            rows.update((row["id"], row) for row in self.c.execute(sql, part))
        return rows

    def fresh_stories(self, bands: Sequence[str], since: datetime) -> list[StoryRecord]:
        # BEGIN IMMEDIATE made this the only writer: every story committed since the poll's
        # lookup is visible now, and none can be committed before ours.
        rows: list[sqlite3.Row] = []
        for part in chunks(list(bands)):
            sql = st.SETTLE_CANDIDATES.format(marks=",".join("?" * len(part)))
            rows.extend(self.c.execute(sql, [*part, _ts(since)]).fetchall())
        return st.grouped_records(rows, lambda v: _dt(v) or _EPOCH)

    def insert_archive(self, items: Sequence[ArchivedItem]) -> int:
        if not items:
            return 0
        before = self.c.total_changes
        self.c.executemany(aq.INSERT, [_archive_row(a) for a in items])
        return self.c.total_changes - before

    def insert_seen(self, feed_id: str, now: datetime, seen: Sequence[SeenItem]) -> None:
        t = _ts(now)
        self.c.executemany(q.INSERT_SEEN, [
            (feed_id, s.key, s.story_key, _ts_opt(s.published), s.title_hash, t) for s in seen
        ])  # fmt: skip

    def keep_seen(self, feed_id: str, now: datetime, keys: Sequence[str]) -> None:
        t = _ts(now)
        for part in chunks(list(keys)):
            sql = q.KEEP_SEEN.format(keys=f"IN ({','.join('?' * len(part))})")
            self.c.execute(sql, [t, feed_id, *part])

    def index_stories(self, feed_id: str, now: datetime, stories: Sequence[SeenItem]) -> None:
        t = _ts(now)
        for s in stories:
            packed = st.pack_bands(s.story_key, s.bands)
            cur = self.c.execute(st.INSERT_STORY, (s.story_key, feed_id, s.fingerprint, packed,
                                                   t, t))  # fmt: skip
            if cur.rowcount == 1:
                story_id = cur.lastrowid
                self.c.executemany(st.INSERT_STORY_BAND, [(band, story_id) for band in s.bands])

    def touch_stories(self, story_keys: Sequence[str], now: datetime) -> None:
        t = _ts(now)
        for part in chunks(list(story_keys)):
            self.c.execute(st.TOUCH_STORIES.format(marks=",".join("?" * len(part))), [t, t, *part])

    def disabled_destinations(self) -> dict[str, str]:
        return dict(self.c.execute(q.DISABLED).fetchall())

    def insert_alerts(self, now: datetime, rows: Sequence[commit.AlertRow]) -> list[str]:
        t = _ts(now)
        inserted = []
        for r in rows:
            a = r.alert
            cur = self.c.execute(q.INSERT_ALERT, (a.id, a.destination, a.story_key, a.feed_id,
                                                  a.item_key, r.document, _ts(a.created_at),
                                                  r.status, t, r.error,
                                                  t if r.dead else None))  # fmt: skip
            if cur.rowcount:
                inserted.append(a.id)
        return inserted

    def insert_sources(self, sources: Sequence[StorySource]) -> int:
        before = self.c.total_changes
        rows = [(x.story_key, x.feed_id, x.item_key, x.url, x.title, _ts(x.seen_at))
                for x in sources]  # fmt: skip
        self.c.executemany(q.INSERT_SOURCE, rows)
        return self.c.total_changes - before

    def update_feed(self, feed_id: str, poll: commit.FeedPoll) -> None:
        self.c.execute(q.UPDATE_FEED_POLL, commit.feed_poll_row(feed_id, poll, _ts))

    def update_feeds(self, polls: Sequence[tuple[str, commit.FeedPoll]]) -> None:
        self.c.executemany(q.UPDATE_FEED_POLL, [commit.feed_poll_row(f, p, _ts) for f, p in polls])


def _enter_wal(conn: sqlite3.Connection, busy_timeout_s: float) -> None:
    """`PRAGMA journal_mode = WAL`, waiting up to `busy_timeout_s` for another connection's write.
    On a file still in rollback mode (a new one, opened by two processes at once) the switch
    fails at once with "database is locked" while another connection holds the write lock:
    SQLite skips the busy handler there, so the wait is ours."""
    for _ in range(max(1, int(busy_timeout_s / _WAL_RETRY_S))):
        try:
            conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as e:
            if e.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:  # its extended codes too
                raise
            time.sleep(_WAL_RETRY_S)
        else:
            return
    conn.execute("PRAGMA journal_mode = WAL")  # the last try: its error is the one raised


def _why_not(path: str, error: sqlite3.Error) -> str:
    """What is wrong with a database file SQLite could not open, and what to do: its "unable to
    open database file" says neither."""
    file = Path(path)
    folder = file.parent
    if file.is_dir():
        return "it is a folder; name a file in it (database_url: FOLDER/newsmon.db)"
    if not folder.is_dir():
        where = "" if folder.is_absolute() else f" (relative to {Path.cwd()})"
        return f"the folder {str(folder)!r} does not exist{where}; create it, or name another file"
    if "not a database" in str(error):
        return f"{error}; name a new file, or the newsmon database you meant"
    if advice := _advice(path, error):
        return f"{error}{advice}"
    return f"{error}{_read_only(path)}"


def _read_only(path: str) -> str:
    """What to add ("; ...") naming the read-only folder or file, or "". A read-only folder,
    file or file system (os.access sees one, and the immutable flag, even for root): SQLite says
    "unable to open database file" at open, "attempt to write a readonly database" at a write."""
    file = Path(path)
    folder = file.parent
    read_only = folder if not os.access(folder, os.W_OK) else file
    if read_only is folder or (file.exists() and not os.access(file, os.W_OK)):
        return _not_ours(read_only) or (
            f"; {str(read_only)!r} is read-only, and newsmon writes the database (and its"
            " journal beside it): make it writable, or name a file elsewhere"
        )
    return ""


def _not_ours(target: Path) -> str:
    """What to add ("; ...") naming whose `target` is, when its owner, group and mode keep this
    process's user out, else "" (the refusal is then a read-only mount's or the file's flag). A
    container run as another uid (`--user`, OpenShift) over a volume owned by the image's user
    was told the folder was read-only, and went looking for a `:ro` that was not there."""
    geteuid = getattr(os, "geteuid", None)
    if geteuid is None or geteuid() == 0:  # no uids here, or root: the mode does not stop it
        return ""
    try:
        info = target.stat()
    except OSError:
        return ""
    uid, gid = geteuid(), os.getegid()
    if info.st_uid == uid:
        writable = info.st_mode & stat.S_IWUSR
    elif info.st_gid == gid or info.st_gid in os.getgroups():
        writable = info.st_mode & stat.S_IWGRP
    else:
        writable = info.st_mode & stat.S_IWOTH
    if writable:
        return ""
    return (
        f"; {str(target)!r} is not writable by this process's user (uid {uid}, gid {gid}): it"
        f" belongs to uid {info.st_uid}, gid {info.st_gid}, mode {stat.S_IMODE(info.st_mode):04o}:"
        f" run newsmon as uid {info.st_uid}, make it writable by uid {uid} (chown), or name a"
        " file elsewhere"
    )


_LOW_SPACE_BYTES = 1 << 20  # below this, a disk I/O error on the folder is taken for a full disk


def _advice(path: str, error: sqlite3.Error) -> str:
    """What to do about an error that is the file's or the disk's, not newsmon's ("; ..."), or
    "": SQLite's "database or disk is full", "disk I/O error" and "database disk image is
    malformed" say what happened, not what to do."""
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF
    folder = Path(path).parent
    if code in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR):
        try:
            usage = os.statvfs(folder)
            free = usage.f_bavail * usage.f_frsize
        except OSError:
            free = None
        if code == sqlite3.SQLITE_FULL or (free is not None and free < _LOW_SPACE_BYTES):
            left = "" if free is None else f" ({free // 1024} KiB free)"
            return (
                f"; the disk holding {str(folder)!r} is full{left}: free space there, or move the"
                " database (a write it stopped is undone whole, never half-written)"
            )
    # After the full disk: an open that fails on one leaves an index (-shm) beside an empty
    # log, which looks like a log removed under a running process.
    if code == sqlite3.SQLITE_IOERR and _wal_removed(path):
        # The process that has the file open still writes the removed log, and writes it back
        # into the file as it closes; one that opens the file meanwhile fails, and must wait.
        return (
            f"; its write-ahead log {path + '-wal'!r} was removed while another process (a"
            " running newsmon?) has the database open: stop that process, which writes the log"
            " back into the file as it stops, then start again; never remove the -wal or -shm"
            " file of a database in use"
        )
    if code == sqlite3.SQLITE_BUSY:
        return (
            "; another process held its write lock past newsmon's wait (a backup, a sqlite3 shell"
            " left in a transaction, a newsmon migrating a large database): try again once it is"
            f" done; `fuser {shlex.quote(path)}` names the processes that have it open"
        )
    if code == sqlite3.SQLITE_READONLY:
        return _read_only(path)
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return (
            "; the file is damaged (a disk fault, or a copy taken while it was written): stop"
            " newsmon and keep the file, then restore a backup, or recover what it holds"
            f" (sqlite3 {shlex.quote(path)} .recover | sqlite3 NEW.db) and point database_url"
            " at that"
        )
    return ""


def _wal_removed(path: str) -> bool:
    """The WAL index (-shm) is there and the log (-wal) is not, or is empty (the failed open
    made it anew): another connection has the file open (it made both; a clean close removes
    both) and the log was removed under it, so the index points past the end of the new one."""
    try:
        return Path(path + "-shm").exists() and Path(path + "-wal").stat().st_size == 0
    except FileNotFoundError:
        return True


class SQLiteStore(Statements, SQLiteConsoleReads):
    """`Store` on one SQLite file (or `:memory:` for tests)."""

    dialect = "sqlite"

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout_s: float = BUSY_TIMEOUT_S,
        page_cache_kib: int | None = None,
    ) -> None:
        """`page_cache_kib`: the connection's page cache (SQLite's `cache_size`); None keeps
        SQLite's default, 2,000 KiB."""
        self.path = str(path)
        self._lock = threading.RLock()
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            _enter_wal(conn, busy_timeout_s)
            # NORMAL is durable across a crash of the process (the WAL is on disk); a power cut may
            # undo the last commits, which then replay as a re-poll with the same alert ids.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
            conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT_BYTES}")
            conn.execute("PRAGMA foreign_keys = ON")
            if page_cache_kib is not None:
                conn.execute(f"PRAGMA cache_size = {-int(page_cache_kib)}")  # negative: KiB
        except sqlite3.Error as e:
            why = _why_not(self.path, e)  # before the close: it reads the -shm the open left
            if conn is not None:
                conn.close()  # not left open until the error (and its traceback) is gone
            raise StoreError(f"cannot open the SQLite database {self.path!r}: {why}") from e
        self._conn = conn
        # The busy timeout wanted (`hurry` shortens it) and the one the connection has: applied
        # under the lock at the next write, so a call already waiting keeps its own.
        self._busy_ms = self._busy_applied_ms = int(busy_timeout_s * 1000)

    def hurry(self, wait_s: float) -> None:
        self._busy_ms = min(self._busy_ms, int(wait_s * 1000))

    # -- plumbing ------------------------------------------------------------------------------
    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken with BEGIN IMMEDIATE (waits up to busy_timeout)."""
        with self._lock:
            conn = self._conn
            try:
                wanted = self._busy_ms
                if wanted != self._busy_applied_ms:
                    conn.execute(f"PRAGMA busy_timeout = {wanted}")
                    self._busy_applied_ms = wanted
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as e:
                raise self._error("cannot start a transaction: ", e) from e
            try:
                yield conn
            except BaseException as e:
                self._rollback(conn, e)
                if isinstance(e, sqlite3.Error):
                    raise self._error("", e) from e
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as e:
                self._rollback(conn, e)
                raise self._error("commit failed: ", e) from e

    def _error(self, what: str, e: sqlite3.Error) -> StoreError:
        return StoreError(f"SQLite {self.path!r}: {what}{e}{_advice(self.path, e)}")

    def _rollback(self, conn: sqlite3.Connection, cause: BaseException) -> None:
        """Undo the open transaction after `cause`; a rollback that fails too (the disk went
        away) is a StoreError as well, not the driver's exception."""
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except sqlite3.Error as e:
            raise StoreError(f"SQLite {self.path!r}: rollback failed: {e} (after: {cause})") from e

    def _read(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as e:
                raise self._error("", e) from e

    @contextmanager
    def _poll_writes(self) -> Iterator[_PollWrites]:
        with self._write() as c:
            yield _PollWrites(c)

    def _change(self, sql: str, params: Sequence[Any]) -> int:
        with self._write() as c:
            return int(c.execute(sql, params).rowcount)

    def _change_all(self, statements: Sequence[Statement]) -> list[int]:
        with self._write() as c:
            return [int(c.execute(sql, params).rowcount) for sql, params in statements]

    def _change_every(self, statements: Sequence[Statement]) -> bool:
        with self._write() as c:
            c.execute("SAVEPOINT every")
            for sql, params in statements:
                if c.execute(sql, params).rowcount == 0:
                    c.execute("ROLLBACK TO every")  # the others undone; commits nothing
                    return False
            return True

    def _param(self, when: datetime) -> float:
        return _ts(when)

    def _time(self, value: Any) -> datetime | None:
        return _dt(value)

    # -- lifecycle -----------------------------------------------------------------------------
    def migrate(self) -> None:
        with self._write() as c:
            self._refuse_foreign(c)
            c.execute(SCHEMA_VERSION_TABLE)
            done = dict(c.execute("SELECT version, name FROM schema_version").fetchall())
            migrations = load_migrations("sqlite")
            refuse_unknown_versions(done, migrations, f"the SQLite database {self.path!r}")
            for m in migrations:
                if m.version in done:
                    continue
                for statement in m.statements:
                    c.execute(statement)
                c.execute(
                    "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                    (m.version, m.name, datetime.now(UTC).isoformat()),
                )

    def _refuse_foreign(self, c: sqlite3.Connection) -> None:
        """Every newsmon database has `schema_version` from its first migration on: a file with
        tables and without it is another program's database, named by mistake. Migrating it put
        newsmon's tables among that program's (or failed: "table feeds already exists")."""
        tables = [r[0] for r in c.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'"
            " ORDER BY name")]  # fmt: skip
        if tables and "schema_version" not in tables:
            shown = ", ".join(tables[:5]) + (
                f" and {len(tables) - 5} more" if len(tables) > 5 else ""
            )
            raise StoreError(
                f"the SQLite database {self.path!r} is not newsmon's: it holds tables newsmon did"
                f" not make ({shown}) and no schema_version; name a new file, or the newsmon"
                " database you meant; nothing was written"
            )

    def schema_versions(self) -> list[int]:
        return [r[0] for r in self._read("SELECT version FROM schema_version ORDER BY version")]

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def ping(self) -> bool:
        try:
            return bool(self._read("SELECT 1")[0][0] == 1)
        except (StoreError, sqlite3.ProgrammingError):
            return False

    # -- feeds ---------------------------------------------------------------------------------
    def sync_feeds(self, specs: Sequence[FeedSpec], now: datetime) -> SyncPlan:
        with self._write() as c:
            known: dict[str, KnownFeed] = {
                r[0]: (r[1], r[2], load_json(r[3], []), r[4], r[5], bool(r[6]))
                for r in c.execute(SYNC_COLUMNS)
            }
            plan = plan_sync(specs, known)
            c.executemany(q.INSERT_FEED, [
                (s.id, s.url, s.url, s.name, q.dumps_tags(s.tags), s.interval_s, s.backfill_s,
                 _ts(now)) for s in plan.inserts])  # fmt: skip
            c.executemany(
                q.UPDATE_FEED_SPEC, [q.update_feed_spec_args(s, _ts(now)) for s in plan.updates]
            )
            c.executemany(q.DEACTIVATE_FEED, [(i,) for i in plan.gone])
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
        t = _ts(now)
        due = _ts(now if due_by is None else due_by)
        with self._write() as c:
            rows = c.execute(CLAIM_FEEDS, (owner, _ts(now + lease), due, t, t, limit)).fetchall()
        feeds = sorted(rows, key=lambda r: (r["next_poll_at"], r["id"]))
        return [self._feed(r) for r in feeds]

    # -- polling -------------------------------------------------------------------------------
    def seen_keys(self, feed_id: str, keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for part in chunks(list(keys)):
            marks = ",".join("?" * len(part))
            sql = f"SELECT item_key FROM seen_items WHERE feed_id = ? AND item_key IN ({marks})"  # noqa: S608
            found.update(r[0] for r in self._read(sql, [feed_id, *part]))
        return found

    def seen_kept(
        self, feed_id: str, keys: Sequence[str], stale_before: datetime
    ) -> dict[str, datetime | None]:
        found: dict[str, datetime | None] = {}
        for part in chunks(list(keys)):
            sql = q.SEEN_KEPT.format(keys=f"IN ({','.join('?' * len(part))})")
            rows = self._read(sql, [_ts(stale_before), feed_id, *part])
            found.update((r[0], _dt(r[1])) for r in rows)
        return found

    def known_stories(self, story_keys: Sequence[str], since: datetime) -> set[str]:
        found: set[str] = set()
        for part in chunks(list(story_keys)):
            marks = ",".join("?" * len(part))
            sql = f"SELECT DISTINCT story_key FROM seen_items WHERE seen_at >= ? AND story_key IN ({marks})"  # noqa: E501, S608
            found.update(r[0] for r in self._read(sql, [_ts(since), *part]))
        return found

    def seen_hashes(self, feed_id: str, keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for part in chunks(list(keys)):
            sql = st.SEEN_HASHES.format(marks=",".join("?" * len(part)))
            found.update((r[0], r[1]) for r in self._read(sql, [feed_id, *part]))
        return found

    def story_candidates(self, bands: Sequence[str], since: datetime) -> list[StoryRecord]:
        with self._lock:
            try:
                rows: list[sqlite3.Row] = []
                for part in chunks(sorted(set(bands))):
                    sql = st.STORY_CANDIDATES.format(marks=",".join("?" * len(part)))
                    rows.extend(self._conn.execute(sql, [*part, _ts(since)]).fetchall())
            except sqlite3.Error as e:
                raise self._error("", e) from e
        return st.candidate_records(rows, lambda v: _dt(v) or _EPOCH)

    # -- archive -------------------------------------------------------------------------------
    def read_archive(
        self,
        after: int,
        limit: int,
        since: datetime | None = None,
        feeds: Sequence[str] | None = None,
    ) -> list[tuple[int, ArchivedItem]]:
        only, params = _archive_filter(since, feeds)
        rows = self._read(aq.READ.format(feeds=only), [after, *params, limit])
        return [(r[0], self._archived(r)) for r in rows]

    def count_archive(
        self, since: datetime | None = None, feeds: Sequence[str] | None = None
    ) -> int:
        only, params = _archive_filter(since, feeds)
        return int(self._read(aq.COUNT.format(feeds=only), params)[0][0])

    # -- outbox --------------------------------------------------------------------------------
    def claim_due_alerts(
        self,
        now: datetime,
        limit: int,
        lease: timedelta,
        owner: str,
        destinations: Sequence[str] | None = None,
    ) -> list[OutboxRow]:
        t = _ts(now)
        only = ""
        params: list[Any] = [owner, _ts(now + lease), t, t, t]
        if destinations is not None:
            only = f"AND destination IN ({','.join('?' * len(destinations))})"
            params.extend(destinations)
        params.append(limit)
        with self._write() as c:
            rows = c.execute(CLAIM_ALERTS.format(only=only), params).fetchall()
        rows = sorted(rows, key=lambda r: (r["created_at"], r["id"]))
        return [self._alert(r) for r in rows]

    def replay(self, alert_ids: Sequence[str] | None, now: datetime) -> int:
        with self._write() as c:
            if alert_ids is None:
                return c.execute(q.REPLAY.format(only=""), (_ts(now),)).rowcount
            total = 0
            for part in chunks(list(alert_ids)):
                only = f"AND id IN ({','.join('?' * len(part))})"
                total += c.execute(q.REPLAY.format(only=only), [_ts(now), *part]).rowcount
            return total

    # -- coordination --------------------------------------------------------------------------
    def beat_holder(self, owner: str, host: str, pid: int, now: datetime, until: datetime) -> None:
        with self._write() as c:
            c.execute(_BEAT_HOLDER, {"owner": owner, "host": host, "pid": pid, "now": _ts(now),
                                     "until": _ts(until)})  # fmt: skip

    def store_time(self) -> datetime | None:
        return None  # one file, one machine: its processes share its clock

    def end_holder(self, owner: str, now: datetime) -> bool:
        with self._write() as c:
            return c.execute(_END_HOLDER, {"owner": owner, "now": _ts(now)}).rowcount == 1

    def live_holders(self, host: str, now: datetime) -> list[tuple[str, int]]:
        rows = self._read(_LIVE_ON_HOST, {"host": host, "now": _ts(now)})
        return [(r["owner"], r["pid"]) for r in rows]

    def take_tokens(
        self, destination: str, now: datetime, rate: float, burst: float, want: int
    ) -> tuple[int, float]:
        t = _ts(now)
        with self._write() as c:
            row = c.execute(_TAKE_TOKENS, {"destination": destination, "now": t, "rate": rate,
                                           "burst": burst, "want": want}).fetchone()  # fmt: skip
        granted = int(row["granted"])
        return granted, coord.token_wait(granted, want, row["tokens"], row["updated_at"], t, rate)

    def pause_destination(self, destination: str, until: datetime) -> None:
        with self._write() as c:
            c.execute(_PAUSE_BUCKET, {"destination": destination, "until": _ts(until)})

    def lead(self, job: str, owner: str, now: datetime, until: datetime) -> bool:
        params = {"job": job, "owner": owner, "now": _ts(now), "until": _ts(until)}
        with self._write() as c:
            return c.execute(_LEAD, params).fetchone() is not None

    # -- housekeeping --------------------------------------------------------------------------
    def clock_set_back(self, step: timedelta, now: datetime) -> int:
        # One machine's clock: a due time written before it was set back lies `step` too far
        # ahead, and would hold that feed, retry or destination for as long.
        params = {"step": step.total_seconds(), "now": _ts(now)}
        with self._write() as c:
            return sum(c.execute(query, params).rowcount for query in _SET_BACK)

    def prune(
        self,
        now: datetime,
        retention: timedelta,
        story_window: timedelta | None = None,
        archive_retention: timedelta | None = None,
    ) -> int:
        # In batches, each its own short transaction: one long delete would hold the write lock
        # past another process's busy_timeout.
        cutoff = _ts(now - retention)
        archive_cutoff = _ts(now - (retention if archive_retention is None else archive_retention))
        total = self._prune_seen(cutoff, retention.total_seconds())
        # Every row these match goes, so no batch reads a row an earlier one kept.
        batches: tuple[tuple[str, str, tuple[float, ...]], ...] = (
            ("story_sources", "seen_at < ?", (cutoff,)),
            ("alerts", "status IN ('delivered', 'dead') AND finished_at < ?", (cutoff,)),
            ("archive", "first_seen < ?", (archive_cutoff,)),
        )
        for table, where, params in batches:
            while True:
                with self._write() as c:
                    deleted = c.execute(
                        f"DELETE FROM {table} WHERE rowid IN "  # noqa: S608 (constants)
                        f"(SELECT rowid FROM {table} WHERE {where} LIMIT {PRUNE_BATCH})",
                        params,
                    ).rowcount
                total += deleted
                if deleted < PRUNE_BATCH:
                    break
        with self._write() as c:  # a few rows: holders that ended more than a day ago
            c.execute(_PRUNE_HOLDERS, {"cutoff": _ts(now) - coord.HOLDER_KEEP_S})
        return total + self._prune_stories(_ts(now - (story_window or retention)))

    def _prune_seen(self, cutoff: float, retention_s: float) -> int:
        # Keys past the cutoff that must stay (their item is still in the feed) sit among those
        # to delete, so a batch of "the first PRUNE_BATCH prunable keys" would read all the kept
        # ones before them again each time. Instead each batch takes the next PRUNE_BATCH keys
        # past the cutoff in (seen_at, rowid) order, deletes the prunable ones among them and
        # moves the cursor past them all: each key is read once per prune, each batch reads at
        # most PRUNE_BATCH. A key behind the cursor that becomes prunable meanwhile waits for
        # the next prune.
        page_end = _SEEN_PAGE_END.format(skip=PRUNE_BATCH - 1)
        after: tuple[float, int] = (-math.inf, 0)
        prunable = (cutoff, cutoff, retention_s)
        total = 0
        while True:
            with self._write() as c:
                end = c.execute(page_end, (cutoff, *after)).fetchone()
                if end is None:
                    return total + c.execute(_PRUNE_SEEN_LAST, (*after, *prunable)).rowcount
                total += c.execute(_PRUNE_SEEN_PAGE, (*after, end[0], end[1], *prunable)).rowcount
            after = (end[0], end[1])

    def _prune_stories(self, cutoff: float) -> int:
        total = 0
        while True:
            with self._write() as c:
                rows = c.execute(st.OLD_STORIES, (cutoff, PRUNE_BATCH)).fetchall()
                pairs = [(band, r["id"]) for r in rows for band in st.unpack_bands(r["bands"])]
                c.executemany(st.DELETE_STORY_BAND, pairs)
                c.executemany("DELETE FROM stories WHERE id = ?", [(r["id"],) for r in rows])
            total += len(rows)
            if len(rows) < PRUNE_BATCH:
                return total

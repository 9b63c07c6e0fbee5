"""SQLite specifics: URL parsing, and a daemon plus a one-shot command sharing one file."""

from __future__ import annotations

import multiprocessing as mp
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.errors import ConfigError, StoreError
from monitor.store import migrate, open_store, shown_database_url, sqlite_path
from monitor.store.migrate import latest_version, load_migrations
from monitor.store.sqlite import WAL_AUTOCHECKPOINT_PAGES, WAL_SIZE_LIMIT_BYTES, SQLiteStore
from tests.store_fixtures import T0, alert, ok_update, seen, spec


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///newsmon.db", "newsmon.db"),
        ("sqlite:////var/lib/newsmon/n.db", "/var/lib/newsmon/n.db"),
        ("./data/newsmon.db", "./data/newsmon.db"),
        (":memory:", ":memory:"),
        ("sqlite://", ":memory:"),
        ("mysql://u:p@h/db", None),
    ],
)
def test_sqlite_path(url: str, path: str | None) -> None:
    assert sqlite_path(url) == path


def test_open_store_sqlite_file_is_migrated_and_in_wal(tmp_path: Path) -> None:
    db = tmp_path / "n.db"
    store = open_store(f"sqlite:///{db}")
    try:
        assert store.ping()
        store.sync_feeds([spec("f1")], T0)
    finally:
        store.close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT count(*) FROM feeds").fetchone()[0] == 1
    conn.close()
    assert open_store(":memory:").list_feeds() == []


def test_open_store_refuses_unknown_scheme_without_leaking_password() -> None:
    with pytest.raises(ConfigError, match="unknown scheme 'mysql'") as exc:
        open_store("mysql://bob:s3cret@db.example/news")
    assert "s3cret" not in str(exc.value)
    with pytest.raises(ConfigError, match="empty"):
        open_store("  ")
    assert shown_database_url("postgresql://bob:s3cret@h/db") == "postgresql://bob:***@h/db"
    assert shown_database_url("postgresql://bob:p@ss/w@h/db") == "postgresql://bob:***@h/db"
    assert shown_database_url("postgresql://bob@h/db?sslmode=require&password=s3cret&x=1") == (
        "postgresql://bob@h/db?sslmode=require&password=***&x=1"
    )


def test_a_libpq_key_value_string_is_refused_not_made_a_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    conninfo = "host=127.0.0.1 user=bob password=s3cretPw dbname=news"
    for read in (open_store, sqlite_path):
        with pytest.raises(ConfigError, match="libpq key=value") as exc:
            read(conninfo)
        assert "s3cretPw" not in str(exc.value)
    assert list(tmp_path.iterdir()) == []  # no file named after it


def test_unopenable_file_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open"):
        open_store(str(tmp_path / "missing-dir" / "n.db"))


def test_an_unopenable_file_says_what_is_wrong_and_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite says "unable to open database file" for a missing folder and for a folder.
    missing = tmp_path / "missing-dir" / "n.db"
    with pytest.raises(StoreError) as caught:
        open_store(str(missing))
    assert str(caught.value) == (
        f"cannot open the SQLite database {str(missing)!r}: the folder"
        f" {str(missing.parent)!r} does not exist; create it, or name another file"
    )
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreError, match=re.escape(f"(relative to {tmp_path}); create it")):
        open_store("sqlite:///state/n.db")  # three slashes: a relative path
    with pytest.raises(StoreError, match="it is a folder; name a file in it"):
        open_store(str(tmp_path))
    (tmp_path / "notes.txt").write_text("not a database, but long enough to have a header" * 9)
    with pytest.raises(StoreError, match="file is not a database; name a new file, or the"):
        open_store(str(tmp_path / "notes.txt"))


def test_closed_store_does_not_answer_ping(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "n.db")
    store.close()
    assert store.ping() is False


# -- two processes on one file -------------------------------------------------------------------
def _database_with_feeds(path: Path, feed_ids: list[str]) -> str:
    """A migrated database file holding these feeds, closed: the processes a test spawns open it."""
    setup = SQLiteStore(str(path))
    setup.migrate()
    setup.sync_feeds([spec(f, 0) for f in feed_ids], T0)
    setup.close()
    return str(path)


def _poller(db: str, name: str, rounds: int, out: mp.Queue[tuple[str, int, str | None]]) -> None:
    """Like the daemon: claim due feeds, commit polls with seen keys and alerts."""
    try:
        store = SQLiteStore(db, busy_timeout_s=30)
        store.migrate()
        enqueued = 0
        now = T0
        for r in range(rounds):
            now = now + timedelta(seconds=1)
            for f in store.claim_due_feeds(now, 5, timedelta(minutes=5), name):
                items = [seen(f"{name}-{r}-{f.id}-{i}") for i in range(20)]
                alerts = [alert(f"{name}-{r}-{f.id}", "hook", f"{name}-{r}-{f.id}", f.id)]
                enqueued += store.commit_poll(f.id, name, now, ok_update(now, 0), items, alerts)
            for a in store.claim_due_alerts(now, 5, timedelta(minutes=5), name):
                store.mark_delivered(a.id, name, now)
        store.close()
        out.put((name, enqueued, None))
    except BaseException as e:  # noqa: BLE001 - the process reports anything to the test
        out.put((name, -1, repr(e)))


@pytest.mark.fault
def test_daemon_and_one_shot_processes_never_see_database_locked(tmp_path: Path) -> None:
    db = _database_with_feeds(tmp_path / "shared.db", [f"f{i}" for i in range(10)])
    ctx = mp.get_context("spawn")
    out: mp.Queue[tuple[str, int, str | None]] = ctx.Queue()
    procs = [ctx.Process(target=_poller, args=(db, f"p{i}", 150, out)) for i in range(3)]
    for p in procs:
        p.start()
    results = [out.get(timeout=90) for _ in procs]
    for p in procs:
        p.join(10)
    assert [r for r in results if r[2] is not None] == []
    check = SQLiteStore(db)
    total = sum(r[1] for r in results)
    assert total > 0
    assert len(check.list_alerts(limit=100_000)) == total
    assert check.outbox_stats(T0 + timedelta(hours=1))[0] <= total
    check.close()


def _migrate(db: str, out: mp.Queue[str | None]) -> None:
    try:
        SQLiteStore(db).migrate()
        out.put(None)
    except BaseException as e:  # noqa: BLE001 - the process reports anything to the test
        out.put(repr(e))


def test_two_processes_migrating_at_once(tmp_path: Path) -> None:
    db = str(tmp_path / "fresh.db")
    ctx = mp.get_context("spawn")
    out: mp.Queue[str | None] = ctx.Queue()
    procs = [ctx.Process(target=_migrate, args=(db, out)) for _ in range(4)]
    for p in procs:
        p.start()
    assert [out.get(timeout=60) for _ in procs] == [None] * 4
    for p in procs:
        p.join(10)
    versions = SQLiteStore(db).schema_versions()
    assert versions == [m.version for m in load_migrations("sqlite")]
    assert versions[-1] == latest_version("sqlite")


def test_a_new_file_another_connection_is_writing_is_opened_once_that_write_ends(
    tmp_path: Path,
) -> None:
    # A new file is in rollback mode; while another connection holds its write lock, the switch
    # to WAL fails at once, without SQLite's busy wait (two processes starting on a new file).
    db = tmp_path / "new.db"
    writer = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    writer.execute(migrate.SCHEMA_VERSION_TABLE)  # another newsmon's first write
    writer.execute("BEGIN IMMEDIATE")
    with pytest.raises(StoreError, match="database is locked"):
        SQLiteStore(db, busy_timeout_s=0.2)  # the wait is bounded by the busy timeout
    ends = threading.Timer(0.3, lambda: writer.execute("ROLLBACK"))
    ends.start()
    try:
        store = SQLiteStore(db, busy_timeout_s=10)
    finally:
        ends.join()
        writer.close()
    store.migrate()
    store.close()
    check = sqlite3.connect(db)
    assert check.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    check.close()


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_the_migrations_are_the_same_read_through_the_resource_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dialect: str
) -> None:
    # Files on disk are read from the folder beside the module; a package that is not (a zip)
    # through importlib.resources, which must find the same migrations.
    from_folder = load_migrations(dialect)
    assert [m.version for m in from_folder][:3] == [1, 2, 3]
    monkeypatch.setattr(migrate, "__file__", str(tmp_path / "elsewhere" / "migrate.py"))
    assert load_migrations(dialect) == from_folder


def test_a_missing_middle_migration_is_applied_later(tmp_path: Path) -> None:
    # Migration numbers are handed out ahead: a database may get a higher one before a lower one
    # lands. The runner applies whatever is missing, not only what is above the highest version.
    store = SQLiteStore(tmp_path / "gap.db")
    store.migrate()
    with store._write() as c:
        c.execute("DELETE FROM schema_version WHERE version = 2")
        c.execute("DROP TABLE story_sources")
    assert 2 not in store.schema_versions()
    store.migrate()
    assert store.schema_versions() == [m.version for m in load_migrations("sqlite")]
    assert store._read("SELECT count(*) FROM story_sources")[0][0] == 0
    store.close()


def _from_a_newer_newsmon(db: Path) -> None:
    """A store at this build's schema, plus version 9999 as a newer newsmon would record it, and
    without version 2 (which this build would apply if it were allowed to write)."""
    store = SQLiteStore(db)
    store.migrate()
    with store._write() as c:
        c.execute("INSERT INTO schema_version VALUES (9999, 'from_the_future', '2030-01-01')")
        c.execute("DELETE FROM schema_version WHERE version = 2")
    store.close()


def test_a_database_a_newer_newsmon_migrated_is_refused_before_any_write(tmp_path: Path) -> None:
    # It was opened, migrated "up to date" and written to, and a newer newsmon's rows met code
    # that did not know them.
    db = tmp_path / "newer.db"
    _from_a_newer_newsmon(db)
    with pytest.raises(migrate.SchemaTooNew) as refused:
        open_store(str(db))
    message = str(refused.value)
    assert message.startswith(
        f"the SQLite database {str(db)!r} has schema version 9999 (from_the_future), which"
    )
    assert f"knows versions up to {latest_version('sqlite')}, so a newer newsmon" in message
    assert "Upgrade newsmon, or point database_url" in message
    assert isinstance(refused.value, StoreError)  # the CLI's one line and exit 2
    versions = SQLiteStore(db).schema_versions()
    assert 2 not in versions  # nothing written: the missing migration was not applied either
    assert 9999 in versions


@pytest.mark.parametrize(
    "command",
    [
        ["feeds", "list"],
        ["deliveries", "list"],
        ["deliveries", "replay", "--all-dead"],
        ["stories", "list"],
        ["feedback", "export"],
        ["check", "--deliver"],
    ],
)
def test_every_command_refuses_a_newer_database_in_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    # Reads are refused too: this build cannot know what a newer migration changed.
    for name in ("NEWSMON_DATABASE_URL", "NEWSMON_CONFIG", "NEWSMON_RULES"):
        monkeypatch.delenv(name, raising=False)
    db = tmp_path / "newer.db"
    _from_a_newer_newsmon(db)
    config = tmp_path / "newsmon.yaml"
    config.write_text(
        f"database_url: {db}\nrules: {Path(__file__).parent.parent / 'rules'}\n"
        "feeds: [{id: wire, url: 'http://127.0.0.1:9/feed.xml'}]\n",
        encoding="utf-8",
    )
    from monitor.cli.main import main

    assert main([*command, "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"newsmon: the SQLite database {str(db)!r} has schema version 9999 (from_the_future)"
    )
    assert err.count("\n") == 1, err
    assert 2 not in SQLiteStore(db).schema_versions()


# -- the WAL: checkpoints, and a writer killed before one ----------------------------------------
WAL_FRAME = 24 + 4096  # a frame's header and its page (the default page size)


def _write_then_die(db: str, feeds: int, items: int, out: mp.Queue[int]) -> None:
    """Commit a poll of `items` long keys for each feed, report how many, then be killed
    (SIGKILL: no close, no checkpoint at exit)."""
    store = SQLiteStore(db)
    claimed = store.claim_due_feeds(T0, feeds, timedelta(minutes=5), "w")
    for f in claimed:
        keys = [f"{f.id}-{i}-" + "k" * 500 for i in range(items)]
        store.commit_poll(f.id, "w", T0, ok_update(T0), [seen(k) for k in keys], [])
    out.put(len(claimed))
    out.close()
    out.join_thread()  # the report is in the pipe before the kill
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.fault
def test_commits_are_checkpointed_past_1000_pages_and_a_killed_writer_loses_none(
    tmp_path: Path,
) -> None:
    # A cold poll rewrites ~100 index pages; checkpointing at SQLite's default 1,000 pages of
    # WAL copied the same pages again every few polls. Here ~3,000 pages are committed: the
    # WAL keeps them all (it was reset at 1,000 before), and a process killed with them
    # uncheckpointed loses none of its commits.
    db = _database_with_feeds(tmp_path / "wal.db", [f"f{i:02d}" for i in range(30)])
    ctx = mp.get_context("spawn")
    out: mp.Queue[int] = ctx.Queue()
    proc = ctx.Process(target=_write_then_die, args=(db, 30, 100, out))
    proc.start()
    committed = out.get(timeout=60)
    proc.join(30)
    assert proc.exitcode == -signal.SIGKILL
    assert committed == 30
    wal_frames = os.path.getsize(db + "-wal") // WAL_FRAME
    assert 2_000 < wal_frames < WAL_AUTOCHECKPOINT_PAGES
    check = SQLiteStore(db)
    try:
        for i in range(30):
            keys = [f"f{i:02d}-{n}-" + "k" * 500 for n in range(100)]
            assert check.seen_keys(f"f{i:02d}", keys) == set(keys)
        pragmas = [check._read(f"PRAGMA {p}")[0][0] for p in ("wal_autocheckpoint",
                                                               "journal_size_limit")]  # fmt: skip
        assert pragmas == [WAL_AUTOCHECKPOINT_PAGES, WAL_SIZE_LIMIT_BYTES]
    finally:
        check.close()


@pytest.mark.parametrize("read_only", ["folder", "file"])
def test_a_read_only_folder_or_file_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read_only: str
) -> None:
    # SQLite says "unable to open database file" or "attempt to write a readonly database".
    # os.access stands in for a read-only mount: the tests may run as root, which chmod spares.
    from monitor.store import sqlite as module

    db = tmp_path / "n.db"
    db.write_bytes(b"")
    target = tmp_path if read_only == "folder" else db
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != target and real_access(p, mode))
    why = module._why_not(str(db), sqlite3.OperationalError("attempt to write a readonly database"))
    assert why == (
        f"attempt to write a readonly database; {str(target)!r} is read-only, and newsmon writes"
        " the database (and its journal beside it): make it writable, or name a file elsewhere"
    )


def test_a_folder_another_user_owns_is_named_with_its_owner_not_as_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `podman run --user 12345` over a volume the image's uid 10001 owns (mode 0755): SQLite
    # says "unable to open database file", and newsmon said the folder was read-only. This
    # process stands in for uid 12345 in group 54321 (the tests may run as root, whom modes do
    # not stop), and os.access for the kernel's refusal.
    from monitor.store import sqlite as module

    folder = tmp_path / "data"
    folder.mkdir()
    folder.chmod(0o755)
    owner = folder.stat()
    assert owner.st_uid != 12345
    assert owner.st_gid != 54321
    monkeypatch.setattr(os, "geteuid", lambda: 12345)
    monkeypatch.setattr(os, "getegid", lambda: 54321)
    monkeypatch.setattr(os, "getgroups", lambda: [54321])
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != folder and real_access(p, mode))
    refused = sqlite3.OperationalError("unable to open database file")
    assert module._why_not(str(folder / "n.db"), refused) == (
        f"unable to open database file; {str(folder)!r} is not writable by this process's user"
        f" (uid 12345, gid 54321): it belongs to uid {owner.st_uid}, gid {owner.st_gid}, mode"
        f" 0755: run newsmon as uid {owner.st_uid}, make it writable by uid 12345 (chown), or"
        " name a file elsewhere"
    )
    folder.chmod(0o757)  # its mode lets anyone write: the refusal is a mount's, as before
    assert module._why_not(str(folder / "n.db"), refused) == (
        f"unable to open database file; {str(folder)!r} is read-only, and newsmon writes the"
        " database (and its journal beside it): make it writable, or name a file elsewhere"
    )


# -- a damaged file, a full disk: what happened and what to do -------------------------------
def test_a_damaged_file_says_to_restore_or_recover_it_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A file cut short (a copy taken mid-write, a disk fault): SQLite says only "database disk
    # image is malformed", at open and at every command.
    db = tmp_path / "n.db"
    store = SQLiteStore(db)
    store.migrate()
    store.sync_feeds([spec("f1", 0)], T0)
    store.claim_due_feeds(T0, 1, timedelta(minutes=5), "w")
    keys = [f"k{i}-" + "k" * 500 for i in range(300)]
    store.commit_poll("f1", "w", T0, ok_update(T0), [seen(k) for k in keys], [])
    store.close()
    with db.open("r+b") as f:
        f.truncate(db.stat().st_size // 4)
    with pytest.raises(StoreError) as caught:
        open_store(str(db))
    assert "database disk image is malformed; the file is damaged" in str(caught.value)
    assert f"restore a backup, or recover what it holds (sqlite3 {db} .recover" in str(caught.value)
    for name in ("NEWSMON_DATABASE_URL", "NEWSMON_CONFIG", "NEWSMON_RULES"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "newsmon.yaml"
    config.write_text(
        f"database_url: {db}\nrules: {Path(__file__).parent.parent / 'rules'}\n"
        "feeds: [{id: wire, url: 'http://127.0.0.1:9/feed.xml'}]\n",
        encoding="utf-8",
    )
    from monitor.cli.main import main

    assert main(["deliveries", "list", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"newsmon: cannot open the SQLite database {str(db)!r}: database disk")
    assert "the file is damaged" in err
    assert err.count("\n") == 1, err


def test_a_full_disk_says_so_and_that_the_write_was_undone(tmp_path: Path) -> None:
    # max_page_count stands in for a full disk: SQLite answers SQLITE_FULL either way.
    db = tmp_path / "n.db"
    store = SQLiteStore(db)
    store.migrate()
    store.sync_feeds([spec("f1", 0)], T0)
    store.claim_due_feeds(T0, 1, timedelta(minutes=5), "w")
    pages = store._read("PRAGMA page_count")[0][0]
    store._read(f"PRAGMA max_page_count = {pages + 2}")
    keys = [f"k{i}-" + "k" * 500 for i in range(300)]
    with pytest.raises(StoreError) as caught:
        store.commit_poll("f1", "w", T0, ok_update(T0), [seen(k) for k in keys], [])
    message = str(caught.value)
    assert message.startswith(f"SQLite {str(db)!r}: database or disk is full; the disk holding")
    assert re.search(r"is full \(\d+ KiB free\): free space there, or move the database", message)
    assert store.seen_keys("f1", keys) == set()  # undone whole
    store.close()


def test_a_disk_io_error_on_a_nearly_full_disk_is_called_a_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Opening a file on a full disk fails creating the WAL's index: "disk I/O error". The disk's
    # free space tells it from a failing disk.
    from monitor.store import sqlite as module

    io_error = sqlite3.OperationalError("disk I/O error")
    io_error.sqlite_errorcode = sqlite3.SQLITE_IOERR_SHMSIZE
    db = str(tmp_path / "n.db")
    assert module._advice(db, io_error) == ""  # the test's folder has room
    real = os.statvfs(tmp_path)
    full = os.statvfs_result((real.f_bsize, 4096, 10, 0, 0, 10, 0, 0, 0, 255))
    monkeypatch.setattr(os, "statvfs", lambda path: full)
    assert module._why_not(db, io_error) == (
        f"disk I/O error; the disk holding {str(tmp_path)!r} is full (0 KiB free): free space"
        " there, or move the database (a write it stopped is undone whole, never half-written)"
    )


def test_an_open_that_fails_on_a_full_disk_is_not_called_a_removed_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Measured on a full tmpfs: the open that fails sizing the WAL's index leaves the index
    # (3 bytes) beside an empty log, as a log removed under a running process looks. It was
    # named so ("stop that process"), and no process was to be found: the disk was full.
    from monitor.store import sqlite as module

    io_error = sqlite3.OperationalError("disk I/O error")
    io_error.sqlite_errorcode = sqlite3.SQLITE_IOERR_SHMSIZE
    db = tmp_path / "n.db"
    db.write_bytes(b"")
    Path(f"{db}-shm").write_bytes(b"\0\0\0")
    Path(f"{db}-wal").write_bytes(b"")
    real = os.statvfs(tmp_path)
    full = os.statvfs_result((real.f_bsize, 4096, 10, 0, 0, 10, 0, 0, 0, 255))
    monkeypatch.setattr(os, "statvfs", lambda path: full)
    why = module._why_not(str(db), io_error)
    assert why.startswith(f"disk I/O error; the disk holding {str(tmp_path)!r} is full"), why
    assert "write-ahead log" not in why


def test_a_write_ahead_log_removed_under_a_running_store_is_named(tmp_path: Path) -> None:
    # Another process opening the file then fails with "disk I/O error" (a short read of the
    # log its index points into); the one that has it open goes on, and writes the log back
    # into the file as it closes.
    db = tmp_path / "n.db"
    running = SQLiteStore(db)
    running.migrate()
    running.sync_feeds([spec("f1", 0)], T0)
    (tmp_path / "n.db-wal").unlink()
    opener = (
        "import sys\nfrom monitor.errors import StoreError\nfrom monitor.store.sqlite import"
        " SQLiteStore\ntry:\n    SQLiteStore(sys.argv[1])\nexcept StoreError as e:\n"
        "    print(e)\n"
    )
    other = subprocess.run(
        [sys.executable, "-c", opener, str(db)], capture_output=True, text=True, timeout=60
    )
    assert other.stdout == (
        f"cannot open the SQLite database {str(db)!r}: disk I/O error; its write-ahead log"
        f" {str(db) + '-wal'!r} was removed while another process (a running newsmon?) has the"
        " database open: stop that process, which writes the log back into the file as it"
        " stops, then start again; never remove the -wal or -shm file of a database in use\n"
    ), other.stderr
    running.sync_feeds([spec("f1", 0), spec("f2", 0)], T0)
    running.close()
    after = SQLiteStore(db)
    assert {f.id for f in after.list_feeds()} == {"f1", "f2"}
    after.close()


def test_a_file_made_read_only_under_a_running_store_is_named_at_the_next_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Opened writable, then made read-only (chmod, chattr +i, a remount): the next write said
    # only "attempt to write a readonly database". query_only stands in for the file's refusal
    # and os.access for its mode, as the tests may run as root.
    db = tmp_path / "n.db"
    store = SQLiteStore(db)
    store.migrate()
    store._read("PRAGMA query_only = ON")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != db and real_access(p, mode))
    with pytest.raises(StoreError) as caught:
        store.sync_feeds([spec("f1", 0)], T0)
    assert str(caught.value).endswith(
        f"attempt to write a readonly database; {str(db)!r} is read-only, and newsmon writes the"
        " database (and its journal beside it): make it writable, or name a file elsewhere"
    )
    store.close()


def test_a_write_lock_held_past_the_wait_says_what_holds_such_locks(tmp_path: Path) -> None:
    # A backup or a sqlite3 shell in a transaction: SQLite says only "database is locked".
    db = tmp_path / "n.db"
    store = SQLiteStore(db, busy_timeout_s=0.2)
    store.migrate()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError) as caught:
            store.sync_feeds([spec("f1", 0)], T0)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert str(caught.value) == (
        f"SQLite {str(db)!r}: cannot start a transaction: database is locked; another process"
        " held its write lock past newsmon's wait (a backup, a sqlite3 shell left in a"
        " transaction, a newsmon migrating a large database): try again once it is done;"
        f" `fuser {db}` names the processes that have it open"
    )
    store.sync_feeds([spec("f1", 0)], T0)  # the lock released, the store writes again
    store.close()


def test_another_programs_database_is_refused_before_any_write(tmp_path: Path) -> None:
    # Named by mistake: newsmon's tables went in among that program's, or the migration failed
    # with "table feeds already exists".
    for name, tables in (("app.db", ["users", "orders"]), ("clash.db", ["feeds"])):
        db = tmp_path / name
        with sqlite3.connect(db) as other:
            for table in tables:
                other.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY)")
        other.close()
        with pytest.raises(StoreError) as caught:
            open_store(str(db))
        assert str(caught.value) == (
            f"the SQLite database {str(db)!r} is not newsmon's: it holds tables newsmon did not"
            f" make ({', '.join(sorted(tables))}) and no schema_version; name a new file, or the"
            " newsmon database you meant; nothing was written"
        )
        with sqlite3.connect(db) as other:
            found = [r[0] for r in other.execute("SELECT name FROM sqlite_master ORDER BY name")]
        other.close()
        assert found == sorted(tables)
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    open_store(str(empty)).close()  # an empty file is a new database


def test_an_open_that_fails_leaves_the_file_closed(tmp_path: Path) -> None:
    """A file SQLite connects to but cannot read stayed open as long as the error lived (its
    traceback holds the connection): a daemon retrying the open kept one more each time."""
    path = tmp_path / "notes.txt"
    path.write_text("not a database, but long enough to have a header" * 9)
    with pytest.raises(StoreError, match="file is not a database") as caught:
        SQLiteStore(path)
    held = [fd for fd in Path("/proc/self/fd").iterdir() if _names(fd, path)]
    assert caught.value is not None
    assert held == []


def _names(fd: Path, path: Path) -> bool:
    try:
        return Path(os.readlink(fd)) == path
    except OSError:  # closed meanwhile (the listing's own fd)
        return False

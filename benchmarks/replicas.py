"""Feeds polled per second by 1, 2 and 3 `newsmon run` replicas on one PostgreSQL database, and
the database load per poll and per alert. Does I/O (subprocesses, 127.0.0.1 only).

    source .ci/postgres.sh
    python benchmarks/replicas.py [--feeds 1500] [--replicas 1 2 3] [--window 20]

Each run gets a fresh database, one local feed server (ThreadingHTTPServer, ETags) with
`--feeds` feeds polled every second (more than the replicas can do, so they run saturated), and a
webhook receiver. Every second `--change` of the feeds gain an item, half of them matching the
rule, so polls mix 304s, unchanged bodies and new items that alert. After the baseline poll of
every feed and `--warmup` seconds, the window is measured from the store: polls committed
(`UPDATE feeds SET status ...` calls, one per poll) and alerts written and delivered.

Database load comes from `pg_stat_statements` when the server preloads it
(`ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'`, then restart); otherwise
from `pg_stat_database` (transactions and rows only). `track_utility` counts BEGIN and COMMIT, so
the statement calls are the client's round trips.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from psycopg.rows import dict_row

from tests.receiver import Receiver
from tests.replicas_harness import LoadFeedServer, fresh_database, replicas, write_config

MARK = "/* bench */"  # this script's own queries, left out of the counts
SETTINGS = {
    "fetch_deadline": "10s",
    "feed_lease": "30s",
    "delivery_deadline": "5s",
    "delivery_lease": "30s",
    "grace_period": "3s",
    "jitter": "0",
}

# What each statement is for, by a piece of its text (first match wins).
KINDS = [
    ("deliver: claim alerts", "UPDATE alerts a SET lease_owner"),
    ("poll: claim feeds", "UPDATE feeds f SET lease_owner"),
    ("poll: story lock", "pg_advisory_xact_lock_shared"),
    ("poll: settle read", "s.first_seen >= "),
    ("poll: story lookup", "FROM story_bands b JOIN stories s"),
    ("poll: index stories", "INSERT INTO stories"),
    ("poll: touch stories", "UPDATE stories SET last_seen"),
    ("poll: insert sightings", "INSERT INTO story_sources"),
    ("poll: seen keys", "SELECT item_key FROM seen_items"),
    ("poll: known stories", "SELECT DISTINCT story_key"),
    ("poll: lock feed row", "SELECT lease_owner, etag"),
    ("poll: insert seen", "INSERT INTO seen_items"),
    ("disabled destinations", "FROM destinations WHERE disabled"),
    ("poll: insert alerts", "INSERT INTO alerts"),
    ("poll: update feed", "UPDATE feeds SET status"),
    ("poll: release feed", "UPDATE feeds SET lease_owner = NULL"),
    ("deliver: mark delivered", "delivered_at = "),
    ("deliver: retry/release", "UPDATE alerts SET"),
    ("tx: begin", "BEGIN"),
    ("tx: commit", "COMMIT"),
    ("stats: list feeds", "FROM feeds ORDER BY"),
    ("stats: outbox", "count(*) AS n, min(created_at)"),
    ("readyz/ping", "SELECT 1 AS one"),
]


def kind_of(query: str) -> str:
    for kind, piece in KINDS:
        if piece in query:
            return kind
    return "other: " + " ".join(query.split())[:40]


@dataclass
class Result:
    replicas: int
    polls: int
    seconds: float
    alerts: int
    delivered: int
    per_replica: list[float]
    load: dict[str, tuple[int, float]]  # kind -> (calls, total ms)
    xacts: int
    statements: bool
    replica_cpu_s: float  # user + system CPU of the replica processes in the window
    db_cpu_s: float  # of the PostgreSQL backends serving them
    harness_cpu_s: float  # of this process: the feed server and the receiver
    row_bytes: dict[str, tuple[int, float]]  # table -> (rows, bytes per row with its indexes)

    def cpu_ms_per_poll(self, seconds: float) -> float:
        return 1000 * seconds / max(self.polls, 1)

    @property
    def rate(self) -> float:
        return self.polls / self.seconds


def snapshot(conn: psycopg.Connection[dict[str, Any]], statements: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    db = conn.execute(
        f"{MARK} SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
    ).fetchone()
    out["xacts"] = int(db["xact_commit"]) if db else 0
    stats: dict[str, tuple[int, float]] = {}
    if statements:
        rows = conn.execute(
            f"{MARK} SELECT query, calls, total_exec_time FROM pg_stat_statements "
            "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchall()
        for r in rows:
            if MARK in r["query"] or "pg_stat" in r["query"]:
                continue
            kind = kind_of(r["query"])
            calls, ms = stats.get(kind, (0, 0.0))
            stats[kind] = (calls + int(r["calls"]), ms + float(r["total_exec_time"]))
    out["stats"] = stats
    out["alerts"] = count(conn, "alerts")
    out["delivered"] = count(conn, "alerts WHERE status = 'delivered'")
    return out


def count(conn: psycopg.Connection[dict[str, Any]], where: str) -> int:
    row = conn.execute(f"{MARK} SELECT count(*) AS n FROM {where}").fetchone()
    return int(row["n"]) if row else 0


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (Linux /proc; 0 where unreadable)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / os.sysconf("SC_CLK_TCK")


def backend_pids(conn: psycopg.Connection[dict[str, Any]]) -> list[int]:
    rows = conn.execute(
        f"{MARK} SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid()"
    ).fetchall()
    return [int(r["pid"]) for r in rows]


def row_sizes(conn: psycopg.Connection[dict[str, Any]]) -> dict[str, tuple[int, float]]:
    """Rows and on-disk bytes per row (table + indexes + TOAST) of the growing tables."""
    out = {}
    for table in ("feeds", "seen_items", "alerts"):
        row = conn.execute(
            f"{MARK} SELECT count(*) AS n, pg_total_relation_size(%s) AS b FROM {table}", (table,)
        ).fetchone()
        if row and row["n"]:
            out[table] = (int(row["n"]), int(row["b"]) / int(row["n"]))
    return out


def has_statements(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            conn.execute(f"{MARK} SELECT count(*) FROM pg_stat_statements")
        except psycopg.Error:
            return False
    return True


@contextmanager
def changing(server: LoadFeedServer, per_second: int, same_story: int = 1) -> Iterator[None]:
    """Every second, `per_second` feeds (rotating) gain one item; with `same_story` > 1, runs of
    that many feeds gain the same (matching) story at once."""
    stop = threading.Event()

    def run() -> None:
        n, start = 0, 0
        while not stop.wait(1.0):
            server.add_to(range(start, start + per_second), n, same_story=same_story)
            start = (start + per_second) % server.count
            n += 1

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def run_one(args: argparse.Namespace, n: int) -> Result:
    with (
        fresh_database(args.url, "bench") as url,
        LoadFeedServer(args.feeds, distinct=args.distinct) as server,
        Receiver() as rx,
        tempfile.TemporaryDirectory() as tmp,
    ):
        statements = has_statements(url)
        settings = SETTINGS | {"concurrency": str(args.concurrency)}
        config = write_config(Path(tmp), server, rx.url, interval="1s", settings=settings)
        with (
            replicas(n, config, url, Path(tmp)) as running,
            psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn,
        ):
            deadline = time.monotonic() + 300
            while count(conn, "feeds WHERE baseline_done") < args.feeds:
                if time.monotonic() > deadline:
                    raise SystemExit("the baseline polls did not finish in 300 s")
                time.sleep(0.5)
            with changing(server, args.change, args.same_story):
                time.sleep(args.warmup)
                pids, backends = [r.pid for r in running], backend_pids(conn)
                cpu0, db0 = cpu_seconds(pids), cpu_seconds(backends)
                me0 = cpu_seconds([os.getpid()])
                before, polls0, t0 = snapshot(conn, statements), _polls(running), time.monotonic()
                time.sleep(args.window)
                after, polls1, t1 = snapshot(conn, statements), _polls(running), time.monotonic()
                cpu1, db1 = cpu_seconds(pids), cpu_seconds(backends)
                me1 = cpu_seconds([os.getpid()])
            conn.execute(f"{MARK} VACUUM ANALYZE")
            sizes = row_sizes(conn)
        load = {
            k: (c - before["stats"].get(k, (0, 0.0))[0], ms - before["stats"].get(k, (0, 0.0))[1])
            for k, (c, ms) in after["stats"].items()
        }
        committed = load.get("poll: update feed", (0, 0.0))[0]
        per_replica = [b - a for a, b in zip(polls0, polls1, strict=True)]
        return Result(
            replicas=n,
            polls=committed if statements else int(sum(per_replica)),
            seconds=t1 - t0,
            alerts=after["alerts"] - before["alerts"],
            delivered=after["delivered"] - before["delivered"],
            per_replica=per_replica,
            load=load,
            xacts=after["xacts"] - before["xacts"],
            statements=statements,
            replica_cpu_s=cpu1 - cpu0,
            db_cpu_s=db1 - db0,
            harness_cpu_s=me1 - me0,
            row_bytes=sizes,
        )


def _polls(running: list[Any]) -> list[float]:
    return [r.polls() for r in running]


def report(results: list[Result]) -> None:
    print(f"\n{'replicas':>8} {'polls/s':>8} {'per replica':>14} {'alerts/s':>9} "
          f"{'delivered/s':>12} {'xacts/poll':>11} {'CPU ms/poll: replica':>21} "
          f"{'db':>5} {'feed server':>12}")  # fmt: skip
    for r in results:
        shares = " ".join(f"{p / r.seconds:.0f}" for p in r.per_replica)
        print(f"{r.replicas:>8} {r.rate:>8.1f} {shares:>14} {r.alerts / r.seconds:>9.1f} "
              f"{r.delivered / r.seconds:>12.1f} {r.xacts / max(r.polls, 1):>11.2f} "
              f"{r.cpu_ms_per_poll(r.replica_cpu_s):>21.2f} "
              f"{r.cpu_ms_per_poll(r.db_cpu_s):>5.2f} "
              f"{r.cpu_ms_per_poll(r.harness_cpu_s):>12.2f}")  # fmt: skip
    for r in results:
        if not r.statements or not r.polls:
            continue
        print(f"\nstatements, {r.replicas} replica(s), {r.polls} polls, {r.alerts} alerts, "
              f"{r.delivered} delivered in {r.seconds:.0f} s:")  # fmt: skip
        print(f"  {'kind':<26} {'calls':>8} {'per poll':>9} {'ms/call':>8}")
        total_calls = 0
        total_ms = 0.0
        for kind, (calls, ms) in sorted(r.load.items(), key=lambda kv: -kv[1][0]):
            if calls <= 0:
                continue
            total_calls += calls
            total_ms += ms
            print(f"  {kind:<26} {calls:>8} {calls / r.polls:>9.2f} {ms / calls:>8.3f}")
        print(f"  {'all':<26} {total_calls:>8} {total_calls / r.polls:>9.2f} "
              f"{total_ms / total_calls:>8.3f}   (server time per poll "
              f"{total_ms / r.polls:.2f} ms)")  # fmt: skip
        deliver = sum(c for k, (c, _ms) in r.load.items() if k.startswith("deliver"))
        if r.delivered:
            print(f"  delivery statements per delivered alert: {deliver / r.delivered:.2f}")
        sizes = ", ".join(f"{t} {n} rows, {b:.0f} B/row" for t, (n, b) in r.row_bytes.items())
        print(f"  on disk with indexes: {sizes}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=1500)
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--window", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--change", type=int, default=20, help="feeds gaining an item per second")
    parser.add_argument("--concurrency", type=int, default=50, help="fetches in flight per replica")
    parser.add_argument(
        "--same-story", type=int, default=1, metavar="K",
        help="runs of K changed feeds carry one story at once (all matching)",
    )  # fmt: skip
    parser.add_argument(
        "--distinct", action="store_true",
        help="word each story with made-up words of its own (default: templates that differ "
        "in a number, so every story shares LSH band keys with every other: the worst case "
        "for the story lock)",
    )  # fmt: skip
    args = parser.parse_args()
    args.url = os.environ.get("NEWSMON_TEST_POSTGRES_URL")
    if not args.url:
        print("set NEWSMON_TEST_POSTGRES_URL (`source .ci/postgres.sh`)", file=sys.stderr)
        return 2
    print(f"{args.feeds} feeds every 1 s, {args.change}/s gaining an item, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at the start")  # fmt: skip
    results = []
    for n in args.replicas:
        result = run_one(args, n)
        print(f"  {n} replica(s): {result.rate:.1f} polls/s", flush=True)
        results.append(result)
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())

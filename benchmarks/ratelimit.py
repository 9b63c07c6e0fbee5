"""The cost of the shared rate limit per delivered alert with 1, 2 and 3 `newsmon run` replicas on
one PostgreSQL: statements and milliseconds of database time, from `pg_stat_statements`. Does
I/O (subprocesses, 127.0.0.1 only).

    source .ci/postgres.sh     # then preload pg_stat_statements (see docs/replicas.md)
    python benchmarks/ratelimit.py [--alerts 40] [--rate 2] [--burst 1] [--replicas 1 2 3]

Each run: a fresh database, `--alerts` local feeds polled every 2 s, one webhook destination
limited to `--rate` messages a second (`--burst`), a receiver that answers 200 at once. After
every feed's baseline poll the statistics are reset and every feed gains one matching item, so
`--alerts` alerts wait in the outbox and the destination's rate is what limits the replicas.
When all are delivered, the delivery statements are counted per delivered alert: the shared
bucket's take (one per claim that found rows), the claims, the releases of rows the bucket
refused, the marks; the heartbeat's renewals are shown per replica-second.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from psycopg.rows import dict_row

from tests.receiver import Receiver
from tests.replicas_harness import LoadFeedServer, fresh_database, replicas, write_config

MARK = "/* bench */"
KINDS = [
    ("limiter: take tokens", "INSERT INTO rate_buckets"),
    ("deliver: claim alerts", "UPDATE alerts a SET lease_owner"),
    ("deliver: release (refused)", "UPDATE alerts SET lease_owner"),
    ("deliver: mark delivered", "delivered_at = "),
    ("heartbeat", "INSERT INTO holders"),
]


def kind_of(query: str) -> str | None:
    for kind, piece in KINDS:
        if piece in query:
            return kind
    return None


def statements(conn: psycopg.Connection[dict[str, Any]]) -> dict[str, tuple[int, float]]:
    rows = conn.execute(
        f"{MARK} SELECT query, calls, total_exec_time FROM pg_stat_statements "
        "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
    ).fetchall()
    out: dict[str, tuple[int, float]] = {}
    for r in rows:
        kind = kind_of(r["query"])
        if kind is None or MARK in r["query"]:
            continue
        calls, ms = out.get(kind, (0, 0.0))
        out[kind] = (calls + int(r["calls"]), ms + float(r["total_exec_time"]))
    return out


def delivered(conn: psycopg.Connection[dict[str, Any]]) -> int:
    row = conn.execute(f"{MARK} SELECT count(*) AS n FROM alerts WHERE status = 'delivered'")
    found = row.fetchone()
    return int(found["n"]) if found else 0


def wait(what: str, check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


def run_one(url: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    with (
        fresh_database(url, prefix="ratelimit") as db,
        LoadFeedServer(args.alerts, keep=3) as server,
        Receiver() as rx,
        tempfile.TemporaryDirectory() as tmp,
    ):
        config = write_config(
            Path(tmp), server, rx.url, interval="2s",
            settings={"log_level": "warning"},
            destination={"rate": str(args.rate), "burst": str(args.burst)},
        )  # fmt: skip
        with (
            replicas(n, config, db, Path(tmp)),
            psycopg.connect(db, autocommit=True, row_factory=dict_row) as conn,
        ):
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")

            def baselined() -> bool:
                row = conn.execute(
                    f"{MARK} SELECT count(*) AS n FROM feeds WHERE baseline_done"
                ).fetchone()
                return bool(row and row["n"] == args.alerts)

            wait("the baseline polls", baselined, 60)
            conn.execute(f"{MARK} SELECT pg_stat_statements_reset()")
            started = time.monotonic()
            server.add_round(0, match_every=1)
            wait("every alert", lambda: delivered(conn) == args.alerts, 30 + 3 * args.alerts)
            seconds = time.monotonic() - started
            stats = statements(conn)
        times = sorted(r.at for r in rx.requests)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    return {
        "replicas": n,
        "stats": stats,
        "seconds": seconds,
        "rate": (len(times) - 1) / span if span else 0.0,
        "requests": len(rx.requests),
    }


def report(results: list[dict[str, Any]], alerts: int) -> None:
    print(f"\nper delivered alert ({alerts} alerts), calls / ms of database time:\n")
    head = "| statement | " + " | ".join(f"{r['replicas']} replica(s)" for r in results) + " |"
    print(head)
    print("|---" * (len(results) + 1) + "|")
    for kind, _ in KINDS[:-1]:
        cells = []
        for r in results:
            calls, ms = r["stats"].get(kind, (0, 0.0))
            cells.append(f"{calls / alerts:.2f} / {ms / alerts:.3f}")
        print(f"| {kind} | " + " | ".join(cells) + " |")
    cells = []
    for r in results:
        calls = sum(r["stats"].get(k, (0, 0.0))[0] for k, _ in KINDS[:-1])
        ms = sum(r["stats"].get(k, (0, 0.0))[1] for k, _ in KINDS[:-1])
        cells.append(f"**{calls / alerts:.2f} / {ms / alerts:.3f}**")
    print("| all delivery statements | " + " | ".join(cells) + " |")
    cells = []
    for r in results:
        calls, ms = r["stats"].get("heartbeat", (0, 0.0))
        per = r["replicas"] * r["seconds"]
        cells.append(f"{calls / per:.2f} / {ms / per:.3f}")
    print("| heartbeat, per replica-second | " + " | ".join(cells) + " |")
    print("| sending rate (requests/s) | " + " | ".join(f"{r['rate']:.2f}" for r in results) + " |")
    print("| requests (duplicates) | " + " | ".join(
        f"{r['requests']} ({r['requests'] - alerts})" for r in results) + " |")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=40)
    parser.add_argument("--rate", type=float, default=2.0)
    parser.add_argument("--burst", type=float, default=1.0)
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    url = os.environ.get("NEWSMON_TEST_POSTGRES_URL")
    if not url:
        print("NEWSMON_TEST_POSTGRES_URL is not set: `source .ci/postgres.sh` first")
        return 2
    results = [run_one(url, n, args) for n in args.replicas]
    report(results, args.alerts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

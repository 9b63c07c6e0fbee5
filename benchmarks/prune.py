"""Seen-key prune on SQLite: keys past the retention that must be kept beside keys to delete.

    python benchmarks/prune.py [--keep 200000] [--delete 200000] [--order kept-first]

A quiet feed (answering 304 since before its keys' time: its keys stay) holds `--keep` keys past
the retention; a changing feed holds `--delete` keys past it, all prunable. `--order kept-first`
gives the kept keys the older `seen_at` (the worst case for a prune that rescans from the oldest
key), `interleaved` alternates them, `kept-last` puts them after. Prints the time of `prune` and
of its longest write transaction (how long a poll's commit may wait behind it).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.model import FeedSpec
from monitor.store.sqlite import SQLiteStore

T0 = datetime(2026, 3, 1, tzinfo=UTC)
RETENTION = timedelta(days=90)


def populate(path: Path, keep: int, delete: int, order: str) -> None:
    t0 = T0.timestamp()
    span = 30 * 86400.0  # every key's time within the month after T0
    rows: list[tuple[str, str, str, float]] = []
    n = keep + delete
    for i in range(n):
        if order == "kept-first":
            kept = i < keep
        elif order == "kept-last":
            kept = i >= delete
        else:
            kept = i % 2 == 0 if i < 2 * min(keep, delete) else keep > delete
        rows.append(("quiet" if kept else "busy", f"k{i}", f"s{i}", t0 + span * i / n))
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO seen_items (feed_id, item_key, story_key, seen_at) VALUES (?, ?, ?, ?)",
            rows,
        )
        # quiet: its last changed document was parsed before its keys' time (304s since);
        # busy: parsed a document more than the retention after every key's time.
        db.execute("UPDATE feeds SET parsed_at = ? WHERE id = 'quiet'", (t0 - 86400.0,))
        db.execute("UPDATE feeds SET parsed_at = ? WHERE id = 'busy'", (t0 + 200 * 86400.0,))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", type=int, default=200_000)
    ap.add_argument("--delete", type=int, default=200_000)
    ap.add_argument("--order", choices=("kept-first", "interleaved", "kept-last"),
                    default="kept-first")  # fmt: skip
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "prune.db"
        store = SQLiteStore(path)
        store.migrate()
        specs = [FeedSpec(id=f, url=f"https://example.org/{f}.xml", interval_s=300.0)
                 for f in ("quiet", "busy")]  # fmt: skip
        store.sync_feeds(specs, T0)
        populate(path, args.keep, args.delete, args.order)
        longest = 0.0
        write = store._write

        @contextmanager
        def timed_write() -> Any:
            nonlocal longest
            start = time.perf_counter()
            with write() as c:
                yield c
            longest = max(longest, time.perf_counter() - start)

        store._write = timed_write  # type: ignore[method-assign]
        now = T0 + 200 * timedelta(days=1)
        start = time.perf_counter()
        deleted = store.prune(now, RETENTION)
        took = time.perf_counter() - start
        store.close()
        with sqlite3.connect(path) as db:
            left = db.execute("SELECT count(*) FROM seen_items").fetchone()[0]
    print(
        f"keep {args.keep:,} delete {args.delete:,} ({args.order}): deleted {deleted:,}, "
        f"kept {left:,}; prune {took * 1000:.0f} ms, longest write {longest * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()

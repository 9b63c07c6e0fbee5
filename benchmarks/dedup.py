"""Story dedup cost: keying (fingerprint) per item, story lookup per item against a SQLite story
index of N stories, indexing cost in commit_poll, and the disk and memory the index takes.

    python benchmarks/dedup.py [--sizes 10000 1000000] [--polls 40] [--workers 2]

Synthetic headlines and ledes: words drawn from a Zipf distribution over a 40,000-word
vocabulary (a fifth of it capitalised, as names; the 200 most frequent ranks left out, as the
function words that fingerprints drop), 8-word titles and 30-word ledes. The index is
bulk-loaded with the store's own tables (faster than one commit_poll per story), its MinHash
values computed from per-word vectors (exactly what fingerprint_text gives, far faster); lookups and
commits then go through the store's methods. Each poll has 50 new items, one in ten a reworded
copy of a stored story.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.dedup.fingerprint import StoryFingerprint, _bands, _crc, fingerprint_text
from monitor.dedup.lookup import candidates
from monitor.dedup.minhash import permuted, word_hash
from monitor.dedup.resolve import assign_stories, band_keys
from monitor.dedup.text import entity_root, is_stopword, stem, words
from monitor.model import FeedSpec, FeedUpdate, Item, SeenItem
from monitor.store import stories as st
from monitor.store.sqlite import SQLiteStore

T0 = datetime(2026, 3, 1, tzinfo=UTC)
VOCAB = 40_000
PER_POLL = 50


def _vocab(seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = []
    for i in range(VOCAB):
        w = "".join(rng.choice(letters) for _ in range(rng.randint(4, 9)))
        words.append(w.capitalize() if i % 5 == 0 else w)
    return words


_WORDS = _vocab()
# Zipf over content words: ranks below SKIP stand for the function words that fingerprints drop.
SKIP = 200
_CUM: list[float] = []
for _r in range(SKIP, VOCAB):
    _CUM.append((_CUM[-1] if _CUM else 0.0) + 1 / (_r + 1) ** 1.05)


def text(n: int) -> tuple[str, str]:
    rng = random.Random(n)
    picks = rng.choices(_WORDS[SKIP:], cum_weights=_CUM, k=38)
    return " ".join(picks[:8]), " ".join(picks[8:]) + "."


def reworded(n: int, rng: random.Random) -> tuple[str, str]:
    title, lede = text(n)
    words = lede.split()
    for _ in range(2):
        words[rng.randrange(len(words))] = rng.choice(_WORDS[1000:])
    return title, " ".join(words)


_VECTORS: dict[str, tuple[int, ...]] = {}


def _vectors() -> dict[str, tuple[int, ...]]:
    """Each vocabulary stem's MinHash values as a one-word set: the MinHash of a set is their
    element-wise minimum, so filler stories get exactly the values fingerprint_text would give,
    at a fraction of the cost."""
    if not _VECTORS:
        for w in _WORDS:
            s = stem(w)
            if s not in _VECTORS:
                _VECTORS[s] = permuted(word_hash(s.encode("utf-8")))
    return _VECTORS


def filler(n: int) -> StoryFingerprint:
    """The fingerprint of synthetic story n, its MinHash from the per-stem vectors."""
    vectors = _vectors()
    title, lede = text(n)
    tw, lw = words(title), words(lede)
    shingles = {stem(w) for w in (*tw, *lw) if not is_stopword(w)}
    values = tuple(map(min, zip(*(vectors[s] for s in shingles), strict=True)))
    names = frozenset(_crc(entity_root(w)) for w in tw if w[0].isupper())
    mentions = frozenset(_crc(entity_root(w)) for w in (*tw, *lw))
    return StoryFingerprint(tuple(v & 0xFFFF for v in values), len(shingles), names, (),
                            mentions, _bands(values))  # fmt: skip


def _fp_row(n: int) -> tuple[int, str, bytes, bytes, tuple[str, ...]]:
    fp = filler(n)
    return n + 1, f"s{n}", fp.to_bytes(), st.pack_bands(f"s{n}", fp.bands), fp.bands


def load(store: SQLiteStore, count: int, workers: int) -> float:
    """Bulk-load `count` stories (last seen within the window); returns seconds."""
    started = time.perf_counter()
    t = (T0 - timedelta(hours=1)).timestamp()
    conn = store._conn
    conn.execute("PRAGMA cache_size = -1000000")  # 1 GB while loading; the daemon keeps 2 MB
    _vectors()  # before the fork, so that the workers share them
    with mp.get_context("fork").Pool(workers) as pool:
        batch: list[Any] = []
        for row in pool.imap(_fp_row, range(count), chunksize=2000):
            batch.append(row)
            if len(batch) == 100_000:
                _insert(conn, batch, t)
                batch = []
        if batch:
            _insert(conn, batch, t)
    return time.perf_counter() - started


def _insert(conn: Any, rows: list[Any], t: float) -> None:
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO stories (id, story_key, feed_id, fingerprint, bands, first_seen, last_seen)"
        " VALUES (?, ?, 'bulk', ?, ?, ?, ?)",
        [(i, key, fp, packed, t, t) for i, key, fp, packed, _ in rows],
    )
    conn.executemany(  # in key order: a b-tree fills far faster than at random
        "INSERT INTO story_bands (band, story_id) VALUES (?, ?)",
        sorted((band, i) for i, _, _, _, bands in rows for band in bands),
    )
    conn.execute("COMMIT")


def index_bytes(store: SQLiteStore) -> dict[str, int]:
    rows = store._conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
    return dict(rows)


def bench(count: int, polls: int, workers: int) -> dict[str, Any]:
    rng = random.Random(count)
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "bench.db")
        store.migrate()
        load_s = load(store, count, workers)
        store._conn.execute("PRAGMA cache_size = -2000")
        store.sync_feeds([FeedSpec(id="f", url="https://example.org/f")], T0)
        key_s: list[float] = []
        look_s: list[float] = []
        commit_s: list[float] = []
        plain_s: list[float] = []
        cands: list[int] = []
        merged = 0
        peak = 0
        for p in range(polls):
            texts = [
                reworded(rng.randrange(count), rng) if i % 10 == 0 else text(10**9 + p * 100 + i)
                for i in range(PER_POLL)
            ]
            items = [Item(feed_id="f", key=f"k{p}-{i}", title=a, summary=b)
                     for i, (a, b) in enumerate(texts)]  # fmt: skip
            t0 = time.perf_counter()
            fps = [fingerprint_text(i.title, i.summary) for i in items]
            t1 = time.perf_counter()
            tracemalloc.start()
            records = store.story_candidates(band_keys(fps), T0 - timedelta(hours=72))
            out = assign_stories([(i, f"n:{i.key}") for i in items], candidates(records),
                                 fingerprints=fps)  # fmt: skip
            peak = max(peak, tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
            t2 = time.perf_counter()
            key_s.append((t1 - t0) / PER_POLL)
            look_s.append((t2 - t1) / PER_POLL)
            cands.append(len(records))
            merged += sum(1 for a in out if a.stored)
            now = T0 + timedelta(minutes=p)
            update = FeedUpdate(status="ok", next_poll_at=now, fetched_at=now)
            for with_index, sink in ((True, commit_s), (False, plain_s)):
                seen = [
                    SeenItem(f"{i.key}-{with_index}", a.story_key + str(with_index),
                             bands=a.fingerprint.bands if with_index else (),
                             fingerprint=a.fingerprint.to_bytes() if with_index else b"")
                    for i, a in zip(items, out, strict=True)
                ]  # fmt: skip
                store.claim_due_feeds(now + timedelta(days=1), 1, timedelta(minutes=5), "b")
                t3 = time.perf_counter()
                store.commit_poll("f", "b", now, update, seen, [])
                sink.append((time.perf_counter() - t3) / PER_POLL)
        sizes = index_bytes(store)
        prefixes = ("stories", "story_bands", "sqlite_autoindex_stories")
        index = sum(v for k, v in sizes.items() if k.startswith(prefixes))
        store.close()
    return {
        "stories": count,
        "load_s": load_s,
        "key_us": statistics.median(key_s) * 1e6,
        "lookup_us": statistics.median(look_s) * 1e6,
        "commit_index_us": (statistics.median(commit_s) - statistics.median(plain_s)) * 1e6,
        "candidates_per_poll": statistics.median(cands),
        "reworded_found": merged / (polls * PER_POLL // 10),
        "index_mb": index / 1e6,
        "bytes_per_story": index / count,
        "lookup_peak_kb": peak / 1e3,
        "tables": {k: v for k, v in sizes.items() if "stor" in k},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--polls", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    header = (f"{'stories':>10} {'key µs/item':>12} {'lookup µs/item':>15} "
              f"{'index µs/item':>14} {'cands/poll':>11} {'reworded found':>15} "
              f"{'index MB':>9} {'B/story':>8} {'lookup peak KB':>15} {'load s':>7}")  # fmt: skip
    print(header, flush=True)
    results = []
    for n in args.sizes:
        r = bench(n, args.polls, args.workers)
        results.append(r)
        print(f"{r['stories']:>10,} {r['key_us']:>12.0f} {r['lookup_us']:>15.0f} "
              f"{r['commit_index_us']:>14.0f} {r['candidates_per_poll']:>11.0f} "
              f"{r['reworded_found']:>15.0%} {r['index_mb']:>9.1f} {r['bytes_per_story']:>8.0f} "
              f"{r['lookup_peak_kb']:>15.0f} {r['load_s']:>7.0f}", flush=True)  # fmt: skip
    for r in results:
        print(f"  {r['stories']:,} stories, bytes per table/index: {r['tables']}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    print(f"process max RSS: {rss:.0f} MB (SQLite keeps the index on disk; its page cache is 2 MB)")


if __name__ == "__main__":
    main()

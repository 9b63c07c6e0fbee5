"""What the example rules cost per item on real news, and what they say of each item.

    python benchmarks/rules_cost.py [--passes 3] [--corpus FILE] [--rules DIR]
    python benchmarks/rules_cost.py --dump matches.jsonl   # every match, explained
    python benchmarks/rules_cost.py --snapshots [FOLDER]   # publishers' feed items instead

Reads the RUWA set of 2022 war reporting (15,393 titles with their subheadings; its licence
keeps the text out of this repository: by default ../shared/corpora/news/ruwa-2022/items.jsonl
next to the repository) and matches every item against the rules folder (`rules/`), reading
each match's explanation and snippet, as the pipeline does when it alerts. `--snapshots` reads
the items of publishers' 2021 feed snapshots instead (by default
../shared/corpora/feeds/news-archive-2021, every OUTLET/*.xml; local use only): longer items,
with HTML-stripped content, as a real-feed poll matches them. Prints the CPU µs an
item of each pass and their best.

`--dump` writes one line per match instead: the item's url, the rule, the explanation (clauses,
hits) and the snippet, and prints the file's SHA-256. Two builds that give the same file give
the same matches, clauses, hits and snippets. To run another checkout's code with this script,
set PYTHONPATH to that checkout (the script then does not put its own first).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

# This checkout's code first, unless PYTHONPATH names another's (to time that one).
sys.path.insert(
    0,
    os.environ.get("PYTHONPATH", "").split(os.pathsep)[0]
    or str(Path(__file__).resolve().parent.parent),
)

from monitor.errors import FeedError
from monitor.feeds.parse import parse_feed
from monitor.model import Item
from monitor.query.rulefiles import load_rules
from monitor.query.ruleset import RuleSet

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpora" / "news" / "ruwa-2022" / "items.jsonl"
SNAPSHOTS = ROOT.parent / "shared" / "corpora" / "feeds" / "news-archive-2021"


def read_items(path: Path) -> list[Item]:
    if not path.is_file():
        raise SystemExit(
            f"no RUWA corpus at {path}: this benchmark reads real news from the shared corpora "
            "(pass --corpus FILE)"
        )
    with path.open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [
        Item(feed_id="ruwa", key=r["url"], title=r["title"], summary=r["description"]) for r in rows
    ]


def read_snapshots(folder: Path) -> list[Item]:
    """Every item of every OUTLET/*.xml snapshot in `folder` (documents that fail to parse are
    skipped, as a poll would skip them)."""
    paths = sorted(folder.glob("*/*.xml"))
    if not paths:
        raise SystemExit(f"no feed snapshots (OUTLET/*.xml) in {folder}: pass --snapshots FOLDER")
    items: list[Item] = []
    for path in paths:
        try:
            items += parse_feed(path.read_bytes(), feed_id=path.parent.name).items
        except FeedError:
            continue
    return items


def one_pass(rules: RuleSet, items: list[Item]) -> float:
    """CPU seconds to match every item and read each match's explanation and snippet."""
    start = time.process_time()
    for item in items:
        for m in rules.match(item):
            _ = m.explanation, m.snippet
    return time.process_time() - start


def dump(rules: RuleSet, items: list[Item], out: Path) -> tuple[int, str]:
    lines = [
        json.dumps([item.key, m.rule.id, m.explanation.to_json(), m.snippet], sort_keys=True)
        for item in items
        for m in rules.match(item)
    ]
    text = "\n".join(lines)
    out.write_text(text, encoding="utf-8")
    return len(lines), hashlib.sha256(text.encode()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--rules", type=Path, default=ROOT / "rules")
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument(
        "--snapshots",
        type=Path,
        nargs="?",
        const=SNAPSHOTS,
        help="match the items of these feed snapshots (OUTLET/*.xml) instead of RUWA",
    )
    parser.add_argument("--limit", type=int, default=0, help="the first N items (0: all)")
    parser.add_argument("--dump", type=Path, help="write every match, explained, here")
    args = parser.parse_args(argv)
    items = read_snapshots(args.snapshots) if args.snapshots else read_items(args.corpus)
    if args.limit:
        items = items[: args.limit]
    rules = load_rules(args.rules)
    if args.dump:
        n, digest = dump(rules, items, args.dump)
        print(f"{len(items):,} items, {n:,} matches, sha256 {digest}")
        return 0
    source = f"items of {args.snapshots.name}" if args.snapshots else "RUWA items"
    print(f"{len(items):,} {source} against {args.rules} ({len(rules)} rules)\n")
    print("| pass | CPU µs an item |\n|---|---:|")
    times = []
    for i in range(args.passes):
        times.append(one_pass(rules, items) / len(items) * 1e6)
        print(f"| {i + 1} | {times[-1]:.1f} |")
    print(f"| best | {min(times):.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

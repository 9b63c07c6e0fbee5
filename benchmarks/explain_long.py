"""What explaining a match costs on long matching items: the seed article repeated to 2.5, 10, 50
and 200 KB (as `bodies.py --text matching` serves it), matched by the example rules (rules/).

    python benchmarks/explain_long.py [--kb 2.5,10,50,200] [--tree ../other-checkout]

For each size, the item is analysed afresh for every run (the analysis is not counted); matching
it without explaining (`RuleSet.match_document`, lazy matches) and with every match explained at
once (`explained=True`, what a poll without state does) are timed in CPU seconds of this process,
the median of the runs; explaining is the difference. `--tree` measures another checkout's code
(a before/after).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kb", default="2.5,10,50,200", help="item sizes, KB of text")
    ap.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose code is measured")
    ap.add_argument("--runs", type=int, default=0, help="runs per size (0: about 400 KB of each)")
    args = ap.parse_args()
    sys.path.insert(0, str(args.tree.resolve()))
    from monitor.model import Item
    from monitor.query.normalize import analyze
    from monitor.query.rulefiles import load_rules

    rules = load_rules(ROOT / "rules")
    words = " ".join((ROOT / "seeds" / "article.txt").read_text().split()) + " "
    print(f"{'KB':>6} {'matches':>7} {'match ms':>9} {'explain ms':>11} {'explain ns/char':>16}")
    for kb in (float(k) for k in args.kb.split(",")):
        text = words * max(round(kb * 1000 / len(words)), 1)
        item = Item(feed_id="f", key="k", title="Item", content=text)
        runs = args.runs or max(5, int(400 / kb))
        lazy: list[float] = []
        explained: list[float] = []
        found = 0
        for _ in range(runs):
            for explain, out in ((False, lazy), (True, explained)):
                doc = analyze(item)
                t0 = time.process_time()
                found = len(rules.match_document(item, doc, (), explained=explain))
                out.append(time.process_time() - t0)
        match, both = statistics.median(lazy), statistics.median(explained)
        print(
            f"{len(text) / 1000:6.1f} {found:7d} {match * 1e3:9.2f} {(both - match) * 1e3:11.2f}"
            f" {(both - match) / len(text) * 1e9:16.0f}"
        )


if __name__ == "__main__":
    main()

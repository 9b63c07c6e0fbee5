"""What one hostile document costs `parse_feed`: CPU seconds, peak memory, and how it ends.

    python benchmarks/hostile.py                          # every case at 1 MB and 10 MB
    python benchmarks/hostile.py --sizes 100000 --cases 'charset=punycode,<a in a description'
    python benchmarks/hostile.py --budget                 # through the daemon's parse worker

Each case runs in a child process of its own (its peak RSS is the case's alone), stopped by its
pid after `--timeout` seconds. The documents are `tests/hostile.py`'s, the tests' own. With
`--budget` the child parses through `monitor.feeds.budget.ParseWorker` with the default limits,
as `newsmon run` does; the worker's peak is reported too.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def child(case: str, size: int, budget: bool) -> None:
    from monitor.errors import FeedError
    from tests.hostile import BUDGET_CASES, CASES

    content_type, body = {**CASES, **BUDGET_CASES}[case](size)
    started = time.process_time()
    wall = time.monotonic()
    try:
        if budget:
            from monitor.feeds.budget import ParseBudget, ParseWorker

            with ParseWorker(ParseBudget()) as worker:
                parsed = worker.parse(body, feed_id="h", content_type=content_type)
        else:
            from monitor.feeds.parse import parse_feed

            parsed = parse_feed(body, feed_id="h", content_type=content_type)
        outcome = f"parsed, {len(parsed.items)} items"
    except FeedError as e:
        outcome = f"{e.kind}: {str(e)[:60]}"
    except Exception as e:  # noqa: BLE001 - what this measures: a crash is an outcome too
        outcome = f"crash: {type(e).__name__}: {str(e)[:60]}"
    mine = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        json.dumps(
            {
                "cpu_s": time.process_time() - started + kids.ru_utime + kids.ru_stime,
                "wall_s": time.monotonic() - wall,
                "rss_mb": mine.ru_maxrss / 1024,
                "child_rss_mb": kids.ru_maxrss / 1024,
                "outcome": outcome,
            }
        )
    )


def run(case: str, size: int, timeout: float, budget: bool) -> dict[str, object]:
    cmd = [sys.executable, __file__, "--child", case, str(size)] + (["--budget"] if budget else [])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return {"outcome": f"killed after {timeout:.0f} s", "cpu_s": timeout, "rss_mb": None}
    try:
        return dict(json.loads(out.strip().splitlines()[-1]))
    except (IndexError, ValueError):
        return {"outcome": f"child failed (exit {proc.returncode})", "cpu_s": None, "rss_mb": None}


def main() -> None:
    from tests.hostile import BUDGET_CASES, CASES

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--child", nargs=2, metavar=("CASE", "SIZE"), help=argparse.SUPPRESS)
    ap.add_argument("--sizes", default="1000000,10000000", help="bytes, comma-separated")
    names = ",".join([*CASES, *BUDGET_CASES])
    ap.add_argument("--cases", default=names, help="comma-separated case names")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per case")
    ap.add_argument("--budget", action="store_true", help="parse through the parse worker")
    args = ap.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.budget)
        return
    print("| Input | Size | CPU s | Peak RSS MB | Worker peak MB | Outcome |")
    print("|---|---|---|---|---|---|")
    for case in args.cases.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            r = run(case, size, args.timeout, args.budget)
            cpu = f"{r['cpu_s']:.2f}" if isinstance(r.get("cpu_s"), float) else "-"
            rss = f"{r['rss_mb']:.0f}" if isinstance(r.get("rss_mb"), float) else "-"
            kid = f"{r['child_rss_mb']:.0f}" if args.budget and r.get("child_rss_mb") else "-"
            print(f"| `{case}` | {size:,} | {cpu} | {rss} | {kid} | {r['outcome']} |", flush=True)


if __name__ == "__main__":
    main()

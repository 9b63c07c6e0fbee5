"""newsmon alone: `newsmon check --deliver` cold, all-304 and 10%-changed at N = 200 and 1,000.

Does I/O: for each N, the same machinery as ``peers.py`` (generated feeds, nginx on 127.0.0.1, the
webhook receiver), with only newsmon (plus the lean reference when ``--with-lean``). Prints one
markdown table per N: wall and CPU seconds, peak RSS, HTTP status counts, alerts delivered.

    python benchmarks/poll.py [--feeds 200,1000] [--with-lean] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers
import report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", default="200,1000", help="comma-separated feed counts")
    parser.add_argument("--with-lean", action="store_true", help="also run the lean reference")
    parser.add_argument("--round-timeout", type=float, default=600.0, help="seconds")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--repeat", type=int, default=1, help="runs; the table shows medians")
    args = parser.parse_args(argv)
    names = ["newsmon", "lean"] if args.with_lean else ["newsmon"]
    reports = []
    for n in (int(x) for x in args.feeds.split(",") if x.strip()):
        runs = [
            peers.bench(n, names, install=False, timeout=args.round_timeout, keep=False)
            for _ in range(args.repeat)
        ]
        merged = report.median_report(runs)
        reports.append(merged)
        print(report.render(merged), flush=True)
    if args.json:
        args.json.write_text(json.dumps(reports, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

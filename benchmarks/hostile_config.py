"""What a YAML alias bomb in the config costs `load_config`: seconds, peak memory, and how it ends.

    python benchmarks/hostile_config.py                  # 4 to 8 levels of ten aliases each
    python benchmarks/hostile_config.py --levels 6 --timeout 60

Level n is ten aliases of level n-1, so the last key stands for 10^n values. Each case runs
`load_config` in a child process of its own (its peak RSS is the case's alone), stopped by its
pid after `--timeout` seconds. Prints a table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def alias_bomb(levels: int) -> str:
    """The same document as `tests/fuzz/test_hostile_config.py` refuses."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    return "\n".join(lines) + f"\nfeeds: *a{levels - 1}\n"


CHILD = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[2])
from monitor.config.loader import load_config
from monitor.errors import ConfigError
started = time.monotonic()
try:
    load_config(sys.argv[1], env={})
    outcome = "loaded"
except ConfigError as e:
    outcome = "ConfigError: " + str(e).splitlines()[0].split(": ", 1)[1][:70]
print(json.dumps({"s": time.monotonic() - started,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "outcome": outcome}))
"""


def run(levels: int, timeout: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "newsmon.yaml")
        path.write_text(alias_bomb(levels))
        wall = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), str(ROOT)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()  # our own child, by its pid
            proc.wait()
            return {"s": time.monotonic() - wall, "rss_mb": None, "outcome": "killed at timeout"}
    try:
        result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"s": time.monotonic() - wall, "rss_mb": None, "outcome": out.strip()[-70:]}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, nargs="*", default=[4, 5, 6, 7, 8])
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    print("| levels | values | seconds | peak RSS MB | outcome |\n|---|---|---|---|---|")
    for levels in args.levels:
        r = run(levels, args.timeout)
        rss = f"{r['rss_mb']:.0f}" if isinstance(r["rss_mb"], float) else "-"
        print(f"| {levels} | 10^{levels} | {r['s']:.2f} | {rss} | {r['outcome']} |", flush=True)


if __name__ == "__main__":
    main()

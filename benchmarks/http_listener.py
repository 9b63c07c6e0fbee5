"""The HTTP listener's cost: import time and memory of `monitor.process.httpserver`, and /healthz
answers per second, each in a fresh interpreter on 127.0.0.1. Prints a table.

    python benchmarks/http_listener.py                 # this checkout
    python benchmarks/http_listener.py --tree OTHER    # another checkout too (a before/after)

Import: time and resident memory added by `import monitor.process.httpserver` after the modules it
shares with the rest of the daemon (structlog, prometheus-client, monitor.metrics) are loaded, best
of 5.
Serving: N sequential connections each with one GET /healthz, then 200 idle connections held
while the same N requests are made: requests per second and the process's RSS.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = r"""
import asyncio, json, sys, time

def rss_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0

import structlog, prometheus_client, httpx  # shared with the rest of the daemon
import monitor.metrics
before_kb, t0 = rss_kb(), time.perf_counter()
import monitor.process.httpserver as hs
import_ms, import_kb = (time.perf_counter() - t0) * 1000, rss_kb() - before_kb
if sys.argv[1] == "import":
    print(json.dumps({"import_ms": import_ms, "import_kb": import_kb}))
    sys.exit()

N = int(sys.argv[2])

async def one(port):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"GET /healthz HTTP/1.0\r\n\r\n")
    await w.drain()
    data = await r.read()
    w.close()
    assert data.split(b" ", 2)[1] == b"200", data[:80]

async def main():
    async def ready():
        return hs.ReadyState(True, "v", 1)
    srv = await hs.serve("127.0.0.1:0", metrics=monitor.metrics.Metrics(),
                         liveness=lambda: True, readiness=ready)
    out = {}
    async with srv:
        t = time.perf_counter()
        for _ in range(N):
            await one(srv.port)
        out["seq_rps"] = N / (time.perf_counter() - t)
        idle = [await asyncio.open_connection("127.0.0.1", srv.port) for _ in range(200)]
        await asyncio.sleep(0.2)
        t = time.perf_counter()
        for _ in range(N):
            await one(srv.port)
        out["idle_rps"] = N / (time.perf_counter() - t)
        out["rss_mb"] = rss_kb() / 1024
        for _, w in idle:
            w.close()
    print(json.dumps(out))

import logging; logging.disable(logging.CRITICAL)
structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
asyncio.run(main())
"""


def run(tree: Path, mode: str, n: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode, str(n)],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    result: dict[str, float] = json.loads(out.splitlines()[-1])
    return result


def measure(tree: Path, n: int) -> dict[str, float]:
    imports = [run(tree, "import", n) for _ in range(5)]
    best = min(imports, key=lambda r: r["import_ms"])
    return {**best, **run(tree, "serve", n)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", default=[], help="another checkout to measure")
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    trees = [ROOT, *(Path(t).resolve() for t in args.tree)]
    print(
        f"{'checkout':<28} {'import ms':>9} {'import KB':>9} {'req/s':>7} "
        f"{'req/s, 200 idle':>15} {'RSS MB':>7}"
    )
    for tree in trees:
        r = measure(tree, args.requests)
        print(
            f"{tree.name:<28} {r['import_ms']:>9.1f} {r['import_kb']:>9.0f} {r['seq_rps']:>7.0f} "
            f"{r['idle_rps']:>15.0f} {r['rss_mb']:>7.1f}"
        )


if __name__ == "__main__":
    main()

"""Profile one `newsmon check --deliver` per round (cold, 304, 10%) with pyinstrument.

Does I/O: the same feeds, nginx and receiver as ``peers.py``; writes one text profile per round
to ``--out`` (default ``/tmp/newsmon-profile``). pyinstrument is a developer tool, not a
dependency: ``pip install pyinstrument`` first.

    python benchmarks/profile_poll.py [--feeds 200] [--out DIR] [--feedset plain|publisher|real]

``--tracemalloc`` instead: what each round holds in memory when it exits (where its peak RSS
is, see docs/performance.md), by line, beside its traced peak and its peak RSS (VmHWM), and the
cold and changed rounds less the 304 round's; ``--frames N`` groups by N-frame tracebacks too.
tracemalloc slows the run about fivefold and adds its own memory to the RSS it reads.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bed
import tools

# Profilers sample one thread; this shim runs to_thread calls where they are awaited instead.
_INLINE = """
import asyncio, runpy, sys
async def _inline(func, /, *args, **kwargs):
    return func(*args, **kwargs)
asyncio.to_thread = _inline
sys.argv[0] = "monitor"
runpy.run_module("monitor", run_name="__main__", alter_sys=True)
"""


# Runs the module under tracemalloc; at exit dumps the snapshot and the traced and RSS peaks.
_TRACEMALLOC = """
import atexit, os, runpy, sys, tracemalloc
OUT = os.environ.pop("PROFILE_TRACEMALLOC_OUT")
tracemalloc.start(int(os.environ.pop("PROFILE_TRACEMALLOC_FRAMES")))
def _dump():
    current, peak = tracemalloc.get_traced_memory()
    keep = tracemalloc.Filter(False, tracemalloc.__file__)
    tracemalloc.take_snapshot().filter_traces([keep]).dump(OUT)
    hwm = 0
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
    with open(OUT + ".peaks", "w") as out:
        out.write(f"{current} {peak} {hwm}")
atexit.register(_dump)
sys.argv[0] = "monitor"
runpy.run_module("monitor", run_name="__main__", alter_sys=True)
"""


def _mib(n: float) -> str:
    return f"{n / 2**20:8.2f} MiB"


def tracemalloc_report(snap: Path, base: Path | None, frames: int, top: int = 40) -> str:
    """One round's memory at exit, by line (and by traceback with `frames` > 1); with `base`
    (the 304 round's dump), what this round holds beyond it."""
    import tracemalloc

    current, peak, hwm = (int(x) for x in Path(f"{snap}.peaks").read_text().split())
    lines = [f"traced at exit {_mib(current)}, traced peak {_mib(peak)}, peak RSS {_mib(hwm)}"]
    now = tracemalloc.Snapshot.load(str(snap))
    for key in ("lineno", *(("traceback",) if frames > 1 else ())):
        lines.append(f"\n## held at exit, by {key}")
        for stat in now.statistics(key)[:top]:
            lines.append(f"{_mib(stat.size)} {stat.count:8d} blocks  {stat.traceback[-1]}")
            if key == "traceback":
                lines += [f"      {frame}" for frame in stat.traceback.format()]
    if base is not None:
        before = tracemalloc.Snapshot.load(str(base))
        diff = now.compare_to(before, "lineno")
        total = sum(d.size_diff for d in diff)
        lines.append(f"\n## beyond the 304 round's, by line: {_mib(total)} in all")
        for d in diff[:top]:
            lines.append(f"{_mib(d.size_diff)} {d.count_diff:8d} blocks  {d.traceback[-1]}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("/tmp/newsmon-profile"))
    parser.add_argument("--feedset", choices=bed.FEEDSETS, default="plain")
    parser.add_argument("--cprofile", action="store_true", help="cProfile .prof files instead")
    parser.add_argument("--importtime", action="store_true", help="-X importtime logs instead")
    parser.add_argument(
        "--tracemalloc", action="store_true", help="memory held at exit by line, not a profile"
    )
    parser.add_argument("--frames", type=int, default=1, help="with --tracemalloc: frames kept")
    parser.add_argument(
        "--inline",
        action="store_true",
        help="run asyncio.to_thread work on the loop's thread, so the profile sees parse and match",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="newsmon-prof-"))
    try:
        feeds = bed.generated_feeds(work, args.feeds, args.feedset)
        with bed.webhook_receiver() as receiver, feeds as (_, urls):
            extra = ["retention: 3650d"] if args.feedset == "real" else []
            tool = bed.newsmon_tool(work / "state", urls, receiver + "hook", extra)
            for rnd in ("cold", "304", "10%"):
                if rnd == "10%":
                    bed.mutate(work, args.feedset)
                cmd, env = tool.command()
                out = args.out / f"{rnd.rstrip('%')}.{'prof' if args.cprofile else 'txt'}"
                prof = [sys.executable, "-m", "pyinstrument", "-r", "text", "-o", str(out)]
                if args.cprofile:  # CPU by function, all in one thread's view
                    prof = [sys.executable, "-m", "cProfile", "-o", str(out)]
                if args.importtime:
                    out = out.with_suffix(".imports")
                    prof = [sys.executable, "-X", "importtime"]
                if args.tracemalloc:
                    out = out.with_suffix(".txt")
                    snap = out.with_suffix(".tracemalloc")
                    shim = work / "tracemalloc_monitor.py"
                    shim.write_text(_TRACEMALLOC)
                    env = {**env, "PROFILE_TRACEMALLOC_OUT": str(snap)}
                    env["PROFILE_TRACEMALLOC_FRAMES"] = str(args.frames)
                    prof, cmd = [sys.executable], [cmd[0], str(shim), *cmd[3:]]
                if args.inline:
                    # cmd is [python, -m, monitor, ...]: run the same module behind the shim.
                    shim = work / "inline_monitor.py"
                    shim.write_text(_INLINE)
                    cmd = [cmd[0], str(shim), *cmd[3:]]
                with out.open("w") as err:
                    stderr = err if args.importtime else None
                    subprocess.run(
                        [*prof, *cmd[1:]], cwd=tools.REPO, env=env, check=False, stderr=stderr
                    )
                if args.tracemalloc:
                    base = args.out / "304.tracemalloc" if rnd != "304" else None
                    if base is not None and not Path(f"{base}.peaks").exists():
                        base = None  # the cold round runs first: compared once 304 has run
                    out.write_text(tracemalloc_report(snap, base, args.frames))
                print(f"{rnd}: {out}", flush=True)
            if args.tracemalloc:  # the cold round again, now against the 304 round's dump
                cold = args.out / "cold.tracemalloc"
                report = tracemalloc_report(cold, args.out / "304.tracemalloc", args.frames)
                (args.out / "cold.txt").write_text(report)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

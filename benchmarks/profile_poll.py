"""Profile one `newsmon check --deliver` per round (cold, 304, 10%) with pyinstrument.

Does I/O: the same feeds, nginx and receiver as ``peers.py``; writes one text profile per round
to ``--out`` (default ``/tmp/newsmon-profile``). pyinstrument is a developer tool, not a
dependency: ``pip install pyinstrument`` first.

    python benchmarks/profile_poll.py [--feeds 200] [--out DIR] [--feedset plain|publisher|real]
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("/tmp/newsmon-profile"))
    parser.add_argument("--feedset", choices=bed.FEEDSETS, default="plain")
    parser.add_argument("--cprofile", action="store_true", help="cProfile .prof files instead")
    parser.add_argument("--importtime", action="store_true", help="-X importtime logs instead")
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
                print(f"{rnd}: {out}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

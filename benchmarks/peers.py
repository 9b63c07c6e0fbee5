"""newsmon side by side with newsboat, rss2email, lemon24/reader and a lean reference.

Does I/O: generates N feeds (``feedgen``), serves them with nginx on 127.0.0.1 (``serve``), starts
the webhook receiver, and times one-shot refreshes of every tool in three rounds on the same feeds
from the same server: ``cold`` (empty state), ``304`` (nothing changed) and ``10%`` (10% of the
feeds gained five items; state is reset only before cold). Per tool and round: wall seconds, CPU
seconds (user+sys of the child and the children it waited for, from ``wait4``), peak RSS, and the
HTTP status counts from nginx's access log. A round that runs past ``--round-timeout`` is killed
(its process group, by pid) and reported as such. Prints markdown tables.

    python benchmarks/peers.py [--feeds 200] [--install] [--repeat 3] [--tools newsmon,lean,...]
        [--feedset plain|publisher|real]

``--feedset`` picks the feeds: ``plain`` RSS 2.0 and ``publisher``-shaped RSS and Atom from
``feedgen``, or ``real``: the 2021 publisher snapshots next to the repository (``realfeeds``;
the changed round moves 10% of the feeds to their outlet's next snapshot). Their items are
years old, so newsmon is given a retention that keeps them (it would otherwise skip them as
too old, doing less work than the peers).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bed
import serve
import tools
from report import ALL_TOOLS, ROUNDS, Measure, Report, median_report, render, statuses


def run_measured(
    argv: list[str], env: dict[str, str], cwd: Path, timeout: float, log: Path
) -> tuple[float, float, float, int | None]:
    """Run ``argv``; return wall s, CPU s, peak RSS MB and exit code (None when timed out)."""
    with log.open("ab") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=out, stderr=out, start_new_session=True
        )
        timed_out = False
        peak_kb = 0
        while True:
            peak_kb = max(peak_kb, _vm_hwm_kb(proc.pid))
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - start > timeout:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)  # the group we made for this child only
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.005)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    # wait4's ru_maxrss keeps the high-water mark from before exec, i.e. this harness's own
    # size after fork, so it is only a fallback: VmHWM is the exec'd program's own peak.
    rss_mb = (peak_kb or usage.ru_maxrss) / 1024
    return wall, cpu, rss_mb, None if timed_out else proc.returncode


def _vm_hwm_kb(pid: int) -> int:
    """The peak resident set of a running process, from /proc (0 once it has exited)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _receiver_count(url: str) -> int:
    if not url:
        return 0
    with urllib.request.urlopen(url + "count", timeout=5) as resp:
        return int(json.loads(resp.read())["count"])


def install_missing(chosen: list[tools.Tool], install: bool) -> dict[str, str]:
    """Install what is missing when asked; return the reasons a tool still cannot run."""
    skipped: dict[str, str] = {}
    for tool in chosen:
        reason = tool.missing()
        if reason and install and tool.name != "newsmon":
            try:
                tool.install()
            except (subprocess.SubprocessError, OSError) as exc:
                print(f"install of {tool.name} failed: {exc}", file=sys.stderr)
            reason = tool.missing()
        if reason:
            skipped[tool.name] = reason if tool.name == "newsmon" else reason + " (try --install)"
    return skipped


def bench(
    n: int, names: list[str], *, install: bool, timeout: float, keep: bool, feedset: str = "plain"
) -> Report:
    """Run the three rounds for ``names`` on ``n`` feeds; return everything measured."""
    work = Path(tempfile.mkdtemp(prefix="newsmon-bench-"))
    os.chmod(work, 0o755)
    results: list[Measure] = []
    meta: Report = {
        "feeds": n,
        "feedset": feedset,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    try:
        if install and not shutil.which("nginx"):
            tools._apt_install("nginx")
        with (
            bed.webhook_receiver() as receiver_url,
            bed.generated_feeds(work, n, feedset) as (
                server,
                urls,
            ),
        ):
            chosen = tools.make_tools(names, receiver_url + "hook")
            for tool in chosen:
                if isinstance(tool, tools.Newsmon) and feedset == "real":
                    tool.extra = ["retention: 3650d"]
            skipped = install_missing(chosen, install)
            meta.update(_describe(server, chosen, skipped))
            runnable = [t for t in chosen if t.name not in skipped]
            for tool in runnable:
                tool.state = work / "state" / tool.name
                tool.setup(urls, tools.clean_env())
            for rnd in ROUNDS:
                if rnd == "10%":
                    changed = bed.mutate(work, feedset)
                    meta["changed_feeds"] = len(changed)
                for tool in runnable:
                    results.append(_one(tool, rnd, server, receiver_url, work, timeout, feedset))
                    _print_progress(results[-1])
            results += [
                Measure(name, rnd, note=skipped[name]) for name in skipped for rnd in ROUNDS
            ]
    finally:
        if keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return {"meta": meta, "results": [asdict(r) for r in results]}


def _one(
    tool: tools.Tool,
    rnd: str,
    server: serve.Server,
    receiver: str,
    work: Path,
    timeout: float,
    feedset: str = "plain",
) -> Measure:
    argv, env = tool.command()
    mark = server.log_mark()
    alerts_before = _receiver_count(receiver) if tool.name == "newsmon" else 0
    log = work / "logs" / f"{tool.name}.log"
    log.parent.mkdir(exist_ok=True)
    with log.open("a") as fh:
        fh.write(f"\n=== round {rnd}: {' '.join(argv)}\n")
    wall, cpu, rss, rc = run_measured(argv, env, tools.REPO, timeout, log)
    m = Measure(tool.name, rnd, round(wall, 2), round(cpu, 2), round(rss, 1))
    m.http = server.stats_since(mark)
    if tool.name == "newsmon":
        m.alerts = _receiver_count(receiver) - alerts_before
    # newsmon's check exits 1 when nothing matched: that is a normal outcome here. On the real
    # feed set some snapshots are not feeds (an HTML page, ill-formed XML): newsmon then exits 2
    # and the lean reference 1, after polling everything else.
    ok_codes: tuple[int | None, ...] = (0, 1) if tool.name == "newsmon" else (0,)
    if feedset == "real" and (tool.name, rc) in (("newsmon", 2), ("lean", 1)):
        ok_codes = (rc,)
        m.remark = f"exit {rc}: some snapshots are not feeds"
    if rc is None:
        m.note = f"killed after {timeout:.0f} s"
    elif rc not in ok_codes:
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        m.note = f"exit {rc}: {' | '.join(tail)[:200]}"
    return m


def _describe(server: serve.Server, chosen: list[tools.Tool], skipped: dict[str, str]) -> Report:
    versions = {}
    for tool in chosen:
        if tool.name not in skipped:
            try:
                versions[tool.name] = tool.version()
            except (subprocess.SubprocessError, OSError):
                versions[tool.name] = "?"
    return {
        "server": server.kind,
        "machine": f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
        "versions": versions,
        "skipped": skipped,
    }


def _print_progress(m: Measure) -> None:
    print(
        f"  {m.tool:<10} {m.round:<5} wall {m.wall:7.2f} s  cpu {m.cpu:7.2f} s  "
        f"rss {m.rss_mb:6.1f} MB  {statuses(m.http)} {m.note}",
        file=sys.stderr,
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--tools", default=",".join(ALL_TOOLS), help="comma-separated")
    parser.add_argument("--install", action="store_true", help="install missing peers")
    parser.add_argument("--round-timeout", type=float, default=600.0, help="seconds")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, state)")
    parser.add_argument("--repeat", type=int, default=1, help="runs; the table shows medians")
    parser.add_argument("--feedset", choices=bed.FEEDSETS, default="plain")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.tools.split(",") if n.strip()]
    reports = []
    for run in range(args.repeat):
        print(f"run {run + 1} of {args.repeat}", file=sys.stderr, flush=True)
        install = args.install and run == 0
        reports.append(
            bench(
                args.feeds,
                names,
                install=install,
                timeout=args.round_timeout,
                keep=args.keep,
                feedset=args.feedset,
            )
        )
    merged = median_report(reports)
    if args.json:
        args.json.write_text(json.dumps(merged, indent=1))
    print(render(merged))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

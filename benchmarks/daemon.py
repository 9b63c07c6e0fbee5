"""The daemon at steady state: CPU seconds per 1,000 polls of `newsmon run`.

Does I/O: generated feeds on nginx (127.0.0.1), the webhook receiver, and one `newsmon run`
process started and stopped (SIGTERM, by its pid) by this script. After a warm-up (the first,
baseline poll of every feed and one more round), it reads the CPU time of the process and of its
parse workers and the `newsmon_polls_total` counter from `/metrics`, waits `--window` seconds, and
reads them again.
With `--changing F`, a fraction F of the feeds gains new items once per interval during the
window (so some polls parse, match and alert); otherwise nearly every poll is a 304.

    python benchmarks/daemon.py [--feeds 1000] [--interval 10] [--window 60] [--changing 0.1]

Prints a markdown table; the one-shot tools' comparable figure is their 304 or 10% round's CPU
seconds scaled to 1,000 feeds (each feed is polled once a round), start-up included.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bed
import feedgen
import serve
import tools

_POLLS = re.compile(r"^newsmon_polls_total\{[^}]*\} ([0-9.e+]+)$", re.MULTILINE)
_TICK = os.sysconf("SC_CLK_TCK")


def _polls(metrics_url: str) -> int:
    with urllib.request.urlopen(metrics_url, timeout=5) as r:
        text = r.read().decode()
    return int(sum(float(v) for v in _POLLS.findall(text)))


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def children(pid: int) -> list[int]:
    """Live children of `pid`: the parse workers of `newsmon run` (bodies.py reads them too)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def _cpu_seconds(pid: int) -> float:
    """utime + stime of the daemon and of its live parse workers (they parse for it)."""
    total = 0
    for p in (pid, *children(pid)):
        try:
            fields = _stat(p)
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / _TICK


def _rss_mb(pid: int) -> tuple[float, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    kib = dict(re.findall(r"(VmRSS|VmHWM):\s+(\d+)", status))
    return int(kib["VmRSS"]) / 1024, int(kib["VmHWM"]) / 1024


def _workers_rss_mb(pid: int) -> float:
    total = 0.0
    for child in children(pid):
        try:
            total += _rss_mb(child)[0]
        except (OSError, AttributeError):
            continue
    return total


def _wait_polls(
    metrics_url: str, at_least: int, timeout: float, proc: subprocess.Popen[bytes]
) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"newsmon run exited with {proc.returncode} during the warm-up")
        try:
            done = _polls(metrics_url)
        except OSError:
            done = 0
        if done >= at_least:
            return done
        time.sleep(0.5)
    raise SystemExit(f"fewer than {at_least} polls within {timeout:.0f} s of warm-up")


def run(
    n: int, interval: int, window: float, changing: float, profile: Path | None = None
) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="newsmon-daemon-bench-"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        with bed.webhook_receiver() as receiver, bed.generated_feeds(work, n) as (_, urls):
            tool = bed.newsmon_tool(work / "state", urls, receiver + "hook")
            port = serve.free_port()
            config = tool.state / "newsmon.yaml"
            text = config.read_text().replace("interval: 5m", f"interval: {interval}s")
            config.write_text(f"http_addr: 127.0.0.1:{port}\n{text}")
            metrics = f"http://127.0.0.1:{port}/metrics"
            cmd, env = tool.command()
            argv = [cmd[0], "-m", "monitor", "run", "--config", str(config)]
            proc = subprocess.Popen(
                argv,
                cwd=tools.REPO,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            # Warm-up: every feed's baseline, then one more round of every feed.
            _wait_polls(metrics, 2 * n, timeout=30 * interval + 300, proc=proc)
            polls0, cpu0, t0 = _polls(metrics), _cpu_seconds(proc.pid), time.monotonic()
            spy = None
            if profile is not None:  # py-spy --gil (pip install py-spy): where the CPU goes
                out = profile.with_suffix(f".{changing:g}.txt")
                spy = subprocess.Popen(
                    ["py-spy", "record", "--gil", "-f", "raw", "-r", "200", "-d", str(int(window)),
                     "-p", str(proc.pid), "-o", str(out)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )  # fmt: skip
            next_change = t0
            while time.monotonic() - t0 < window:
                if changing and time.monotonic() >= next_change:
                    feedgen.mutate(work, changing)
                    next_change += interval
                time.sleep(0.2)
            polls1, cpu1, t1 = _polls(metrics), _cpu_seconds(proc.pid), time.monotonic()
            if spy is not None:
                spy.wait(60)
            rss, hwm = _rss_mb(proc.pid)
            workers = _workers_rss_mb(proc.pid)
            polls = polls1 - polls0
            return {
                "feeds": n,
                "interval": interval,
                "changing": changing,
                "seconds": t1 - t0,
                "polls": polls,
                "cpu": cpu1 - cpu0,
                "per_1000": (cpu1 - cpu0) / polls * 1000 if polls else float("nan"),
                "cpu_share": (cpu1 - cpu0) / (t1 - t0),
                "rss": rss,
                "hwm": hwm,
                "workers": workers,
            }
    finally:
        bed.stop_child(proc)
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--interval", type=int, default=10, help="each feed's poll interval, s")
    parser.add_argument("--window", type=float, default=60.0, help="measured seconds")
    parser.add_argument(
        "--changing", default="0,0.1", help="fractions of the feeds changed each interval"
    )
    parser.add_argument("--profile", type=Path, help="py-spy the window into FILE.<changing>.txt")
    args = parser.parse_args(argv)
    rows = [
        run(args.feeds, args.interval, args.window, float(f), args.profile)
        for f in args.changing.split(",")
        if f.strip()
    ]
    print(f"#### newsmon run, {args.feeds} feeds every {args.interval} s — {tools._git_describe()}")
    print()
    head = ("changed per interval", "polls", "seconds", "CPU s", "CPU s per 1,000 polls",
            "CPU share", "RSS MB (peak)", "workers' RSS MB")  # fmt: skip
    print("| " + " | ".join(head) + " |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['changing']:.0%} | {r['polls']:.0f} | {r['seconds']:.0f} | {r['cpu']:.2f} "
            f"| {r['per_1000']:.2f} | {r['cpu_share']:.1%} | {r['rss']:.0f} ({r['hwm']:.0f}) "
            f"| {r['workers']:.0f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What many large feed bodies at once cost: peak RSS of `newsmon check` and of `newsmon run`.

    python benchmarks/bodies.py                        # 40 feeds of ~10 MB, check and run
    python benchmarks/bodies.py --feeds 40 --mb 10 --modes check --tree ../other-checkout
    python benchmarks/bodies.py --feeds 4 --modes check --text matching  # every item matches

A server on 127.0.0.1 (a process of its own) answers every feed's URL with a fresh, valid RSS 2.0
document of about `--mb` MB (200 items of text no example rule matches, or with `--text matching`
the seed article, seeds/article.txt, repeated: every item matches the three example rules; the
guids change at every request, so every poll parses), written in 64 KiB pieces as the socket
drains. `check` runs `newsmon check --json` over all the feeds at once in a child (its CPU, wall
and peak RSS from `wait4`, and how many matches it printed); `run` starts `newsmon run`, waits
until `newsmon_polls_total` counts every feed once, reads the daemon's peak RSS (`VmHWM`) and the
sum of its parse workers' peaks, and stops it (SIGTERM, by its pid). `--tree DIR` measures
another checkout the same way (a before/after). `per_host_concurrency` is raised so that
`concurrency` (50) is the bound on one host; every other setting is at its default unless
`--set key=value` says otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

import bed
from daemon import children

ROOT = Path(__file__).resolve().parent.parent
_POLLS = re.compile(r"^newsmon_polls_total\{status=\"([^\"]*)\"\} ([0-9.e+]+)$", re.MULTILINE)
_PIECE = 64 * 1024
TEXTS = {
    "plain": "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod. ",
    # The seed article, which every example rule matches (see README.md).
    "matching": " ".join((ROOT / "seeds" / "article.txt").read_text().split()) + " ",
}


def document(size: int, generation: int, text: str = "plain") -> bytes:
    """An RSS 2.0 document of about `size` bytes in 200 items; `generation` makes it fresh;
    `text`: the items' text, one of TEXTS."""
    words = TEXTS[text]
    para = html.escape(words * max(size // 200 // len(words), 1), quote=False)
    items = "".join(
        f"<item><guid>g{generation}-{i}</guid><title>Item {i} of round {generation}</title>"
        f"<link>https://news.example.com/{generation}/{i}</link>"
        f"<description>{para}</description></item>"
        for i in range(200)
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>Big</title>"
        f"<link>https://news.example.com/</link>{items}</channel></rss>"
    ).encode()


def serve(size: int, text: str) -> None:
    """The feed server on a free 127.0.0.1 port (printed on stdout), until killed."""
    base = document(size, 0, text)
    served = [0]

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            served[0] += 1
            # Fresh bytes at each request without building 10 MB anew: the guids' round changes.
            body = base.replace(b"<guid>g0-", b"<guid>g%d-" % served[0])
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
            )
            view = memoryview(body)
            for start in range(0, len(body), _PIECE):
                writer.write(view[start : start + _PIECE])
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def go() -> None:
        server = await asyncio.start_server(answer, "127.0.0.1", 0, backlog=512)
        print(server.sockets[0].getsockname()[1], flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(go())


def _config(folder: Path, port: int, feeds: int, extra: list[str], http_port: int = 0) -> Path:
    lines = [
        f"database_url: {folder / 'state.db'}",
        f"rules: {ROOT / 'rules'}",
        "allow_networks: ['127.0.0.1/32']",
        "log_level: error",
        "per_host_concurrency: 1000",  # one host serves every feed here; the limit is concurrency
        *(f"{k}: {v}" for k, v in (s.split("=", 1) for s in extra)),
    ]
    if http_port:
        lines.append(f"http_addr: 127.0.0.1:{http_port}")
    lines.append("feeds:")
    lines += [
        f"  - {{id: big{i}, url: 'http://127.0.0.1:{port}/feed/{i}', interval: 1h}}"
        for i in range(feeds)
    ]
    config = folder / "newsmon.yaml"
    config.write_text("\n".join(lines) + "\n")
    return config


def _env(tree: Path, folder: Path) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(tree), "HOME": str(folder)}


def run_check(tree: Path, port: int, feeds: int, extra: list[str]) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        config = _config(folder, port, feeds, extra)
        started = time.monotonic()
        with (folder / "out").open("wb") as out, (folder / "err").open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "monitor", "check", "--json", "--config", str(config)],
                stdout=out, stderr=err, env=_env(tree, folder), cwd=folder,
            )  # fmt: skip
            timer = threading.Timer(600, proc.kill)  # our own child, by its pid
            timer.start()
            _, status, usage = os.wait4(proc.pid, 0)
            timer.cancel()
        wall = time.monotonic() - started
        said = (folder / "err").read_text(errors="replace").splitlines()
        with (folder / "out").open("rb") as out:
            printed = sum(1 for _ in out)  # one JSON line a match
        failed = Counter(  # "newsmon: feed ID: KIND: message"
            [*line.split(": ", 3), ""][2] for line in said if line.startswith("newsmon: feed ")
        )
        return {
            "exit": os.waitstatus_to_exitcode(status),
            "wall_s": wall,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "rss_mb": usage.ru_maxrss / 1024,
            "workers_mb": 0.0,
            "outcome": ", ".join(
                [f"ok×{feeds - failed.total()}", *(f"{k}×{v}" for k, v in sorted(failed.items()))]
            )
            + f"; {printed} matches",
        }


def _status_kib(pid: int, key: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{key}:\s+(\d+)", text, re.MULTILINE)
    return int(match.group(1)) if match else 0


def _polls(url: str) -> Counter[str]:
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    return Counter({k: int(float(v)) for k, v in _POLLS.findall(text) if float(v)})


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_daemon(tree: Path, port: int, feeds: int, extra: list[str]) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        http_port = _free_port()
        config = _config(folder, port, feeds, extra, http_port)
        metrics = f"http://127.0.0.1:{http_port}/metrics"
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--config", str(config)],
            stdout=subprocess.DEVNULL, stderr=(folder / "err").open("wb"),
            env=_env(tree, folder), cwd=folder, start_new_session=True,
        )  # fmt: skip
        workers_peak: dict[int, int] = {}
        polls: Counter[str] = Counter()
        try:
            while time.monotonic() - started < 600 and proc.poll() is None:
                for child in children(proc.pid):  # a worker's peak, read while it lives
                    try:
                        workers_peak[child] = _status_kib(child, "VmHWM")
                    except OSError:
                        continue
                with contextlib.suppress(OSError):
                    polls = _polls(metrics)
                if sum(polls.values()) >= feeds:
                    break
                time.sleep(0.2)
            wall = time.monotonic() - started
            hwm = _status_kib(proc.pid, "VmHWM")
            cpu = sum(int(v) for v in Path(f"/proc/{proc.pid}/stat").read_text()
                      .rsplit(")", 1)[1].split()[11:13]) / os.sysconf("SC_CLK_TCK")  # fmt: skip
        finally:
            bed.stop_child(proc)  # our own child, by its pid
        return {
            "exit": proc.returncode,
            "wall_s": wall,
            "cpu_s": cpu,
            "rss_mb": hwm / 1024,
            "workers_mb": sum(workers_peak.values()) / 1024,
            "outcome": ", ".join(f"{k}×{v}" for k, v in sorted(polls.items())),
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--feeds", type=int, default=40)
    ap.add_argument("--mb", type=float, default=10.0, help="size of each document, MB")
    ap.add_argument("--modes", default="check,run", help="check, run or both")
    ap.add_argument("--text", choices=sorted(TEXTS), default="plain", help="the items' text")
    ap.add_argument("--tree", action="append", default=[], help="another checkout to measure")
    ap.add_argument("--set", action="append", default=[], help="a config setting, key=value")
    ap.add_argument("--json", type=Path, help="write the rows here too")
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.text)
        return
    size = int(args.mb * 1e6)
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(size), "--text", args.text],
        stdout=subprocess.PIPE,
        text=True,
    )
    rows = []
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        mb = len(document(size, 0, args.text)) / 1e6
        print(f"{args.feeds} feeds of {mb:.1f} MB on 127.0.0.1, text: {args.text}")
        print("| Tree | Mode | Exit | Wall s | CPU s | Peak RSS MB | Workers' peaks MB | Polls |")
        print("|---|---|---|---|---|---|---|---|")
        for tree in [ROOT, *(Path(t).resolve() for t in args.tree)]:
            for mode in args.modes.split(","):
                run = run_check if mode == "check" else run_daemon
                r = run(tree, port, args.feeds, args.set)
                rows.append({"tree": str(tree), "mode": mode, **r})
                print(
                    f"| {tree.name} | {mode} | {r['exit']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f}"
                    f" | {r['rss_mb']:.0f} | {r['workers_mb']:.0f} | {r['outcome']} |",
                    flush=True,
                )
    finally:
        server.kill()  # our own child, by its pid
        server.wait()
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

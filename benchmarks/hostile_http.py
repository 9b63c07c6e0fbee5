"""What a hostile feed server costs `newsmon check`: wall and CPU seconds, peak RSS, how it ends.

    python benchmarks/hostile_http.py                          # every case, 10 s fetch deadline
    python benchmarks/hostile_http.py --cases drip,gzip-bomb --deadline 5

A server on 127.0.0.1 answers each case's path as a hostile server would (a byte a second, an
endless chunked body, bombs in every Content-Encoding, lying lengths, a 1 MB header, redirect
loops and redirects to refused addresses or bad ports, hostile dates, items by the million); for
each case, `newsmon check --json` runs in a child over a config of that feed and a healthy one,
and the table says what the hostile feed ended as and whether the healthy feed still matched.
Parsing documents that pass every check is `benchmarks/hostile.py`'s.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import brotli

ROOT = Path(__file__).resolve().parent.parent
GOOD = (
    b"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>Good</title>"
    b"<item><guid>g1</guid><title>Troops dispatched to the border</title>"
    b"<link>https://news.example.com/1</link><description>Two brigades.</description></item>"
    b"</channel></rss>"
)
Writer = asyncio.StreamWriter
Case = Callable[[Writer, int], Awaitable[None]]
_MIB = 1 << 20


def _head(extra: bytes = b"", status: bytes = b"200 OK") -> bytes:
    return b"HTTP/1.1 " + status + b"\r\nContent-Type: application/rss+xml\r\n" + extra + b"\r\n"


def _sized(body: bytes, extra: bytes = b"") -> bytes:
    return _head(extra + b"Content-Length: %d\r\n" % len(body)) + body


def _bomb(wbits: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    zeros = b"\0" * _MIB
    return b"".join([*(packer.compress(zeros) for _ in range(1024)), packer.flush()])


def _brotli_bomb() -> bytes:
    """1 GiB of zeros in brotli, a MiB at a time: this process stays small, and so do the peaks
    of the children it starts (Linux carries a parent's peak RSS over fork and exec)."""
    packer = brotli.Compressor(quality=5)
    zeros = b"\0" * _MIB
    return b"".join([*(packer.process(zeros) for _ in range(1024)), packer.finish()])


_MADE: dict[str, bytes] = {}


def _once(name: str, make: Callable[[], bytes]) -> bytes:
    if name not in _MADE:
        _MADE[name] = make()
    return _MADE[name]


async def drip(w: Writer, port: int) -> None:
    w.write(_head(b"Content-Length: 1000000\r\n"))
    while True:
        w.write(b"<")
        await w.drain()
        await asyncio.sleep(1)


async def chunked_forever(w: Writer, port: int) -> None:
    w.write(_head(b"Transfer-Encoding: chunked\r\n"))
    while True:
        w.write(b"10000\r\n" + b"a" * 0x10000 + b"\r\n")
        await w.drain()


async def chunked_one_byte(w: Writer, port: int) -> None:
    w.write(_head(b"Transfer-Encoding: chunked\r\n"))
    while True:
        w.write(b"1\r\na\r\n" * 10_000)
        await w.drain()


async def length_5gb(w: Writer, port: int) -> None:
    w.write(_head(b"Content-Length: 5000000000\r\n"))
    while True:
        w.write(b"a" * 0x10000)
        await w.drain()


async def length_longer_held(w: Writer, port: int) -> None:
    w.write(_head(b"Content-Length: 1000000\r\n") + GOOD)
    await w.drain()
    await asyncio.sleep(3600)


async def http10_cut(w: Writer, port: int) -> None:
    w.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/rss+xml\r\n\r\n" + GOOD[:150])


async def no_answer(w: Writer, port: int) -> None:
    await asyncio.sleep(3600)


def _encoded(coding: bytes, body: bytes) -> bytes:
    return _sized(body, b"Content-Encoding: " + coding + b"\r\n")


async def gzip_bomb(w: Writer, port: int) -> None:
    w.write(_encoded(b"gzip", _once("gzip", lambda: _bomb(31))))


async def deflate_bomb(w: Writer, port: int) -> None:
    w.write(_encoded(b"deflate", _once("deflate", lambda: _bomb(-15))))


async def brotli_bomb(w: Writer, port: int) -> None:
    w.write(_encoded(b"br", _once("br", _brotli_bomb)))


async def gzip_three_times(w: Writer, port: int) -> None:
    w.write(_encoded(b"gzip, gzip, gzip", gzip.compress(gzip.compress(gzip.compress(GOOD)))))


async def gzip_members(w: Writer, port: int) -> None:
    empty = gzip.compress(b"")
    w.write(_encoded(b"gzip", _once("members", lambda: gzip.compress(GOOD) + empty * 450_000)))


async def headers_12000(w: Writer, port: int) -> None:
    w.write(_sized(GOOD, b"X-A: b\r\n" * 12_000))


async def header_1mb(w: Writer, port: int) -> None:
    w.write(_sized(GOOD, b"X-Big: " + b"a" * _MIB + b"\r\n"))


async def informational_forever(w: Writer, port: int) -> None:
    while True:
        w.write(b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n")
        await w.drain()


def _redirect(location: bytes) -> Case:
    async def case(w: Writer, port: int) -> None:
        target = location.replace(b"PORT", str(port).encode())
        w.write(b"HTTP/1.1 302 Found\r\nLocation: " + target + b"\r\nContent-Length: 0\r\n\r\n")

    return case


async def redirect_chain(w: Writer, port: int) -> None:
    w.write(b"HTTP/1.1 302 Found\r\nLocation: /chain?%f\r\nContent-Length: 0\r\n\r\n" % time.time())


async def retry_after_year(w: Writer, port: int) -> None:
    w.write(b"HTTP/1.1 503 Busy\r\nRetry-After: Mon, 01 Jan 99999999999 00:00:00 GMT\r\n"
            b"Content-Length: 0\r\n\r\n")  # fmt: skip


async def reason_50kb(w: Writer, port: int) -> None:
    w.write(b"HTTP/1.1 503 " + b"x" * 50_000 + b"\r\nContent-Length: 0\r\n\r\n")


def _document(name: str, make: Callable[[], bytes], ctype: bytes = b"") -> Case:
    async def case(w: Writer, port: int) -> None:
        body = _once(name, make)
        extra = b"Content-Type: " + ctype + b"\r\n" if ctype else b""
        w.write(b"HTTP/1.1 200 OK\r\n" + extra + b"Content-Length: %d\r\n\r\n" % len(body) + body)

    return case


def _rss(items: bytes) -> bytes:
    return (
        b"<?xml version='1.0'?><rss version='2.0'><channel><title>M</title>"
        + items
        + (b"</channel></rss>")
    )


_JSON_FEED = b'{"version":"https://jsonfeed.org/version/1.1","items":'

CASES: dict[str, Case] = {
    "drip": drip,
    "chunked-forever": chunked_forever,
    "chunked-one-byte": chunked_one_byte,
    "content-length-5gb": length_5gb,
    "content-length-longer-held": length_longer_held,
    "http10-cut-short": http10_cut,
    "no-answer": no_answer,
    "gzip-bomb": gzip_bomb,
    "deflate-bomb": deflate_bomb,
    "brotli-bomb": brotli_bomb,
    "gzip-gzip-gzip": gzip_three_times,
    "gzip-450k-members": gzip_members,
    "headers-12000": headers_12000,
    "header-1mb": header_1mb,
    "103-forever": informational_forever,
    "redirect-chain": redirect_chain,
    "redirect-loop": _redirect(b"/redirect-loop"),
    "redirect-file": _redirect(b"file:///etc/passwd"),
    "redirect-metadata": _redirect(b"http://169.254.169.254/latest/meta-data/"),
    "redirect-ipv6-loopback": _redirect(b"http://[::1]:PORT/good"),
    "redirect-port-99999": _redirect(b"http://127.0.0.1:99999/good"),
    "redirect-port-minus-1": _redirect(b"http://127.0.0.1:-1/good"),
    "retry-after-year-99999999999": retry_after_year,
    "reason-50kb": reason_50kb,
    "items-1000000-self-closed": _document(
        "selfclosed", lambda: _rss(b"<item/>" * ((10 * _MIB - 100) // 7))
    ),
    "title-9mb": _document(
        "title", lambda: _rss(b"<item><title>" + b"x" * 9 * _MIB + b"</title></item>")
    ),
    "json-deep-100000": _document(
        "deep",
        lambda: _JSON_FEED + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b"application/feed+json",
    ),
    "json-3300000-objects": _document(
        "objects",
        lambda: _JSON_FEED + b'[{"id":"1","tags":[' + b",".join([b"{}"] * 3_300_000) + b"]}]}",
        b"application/feed+json",
    ),
    "utf16-bom-koi8-header": _document(
        "bom",
        lambda: b"\xff\xfe" + GOOD.decode().encode("utf-16-le"),
        b"application/rss+xml; charset=koi8-r",
    ),
}


async def _serve(reader: asyncio.StreamReader, writer: Writer, port: int) -> None:
    try:
        request = await reader.readuntil(b"\r\n\r\n")
        path = request.split(b" ")[1].decode().split("?")[0].lstrip("/")
        if path == "good":
            writer.write(_sized(GOOD))
        elif path.startswith("chain"):
            await redirect_chain(writer, port)
        elif path in CASES:
            await CASES[path](writer, port)
        else:
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


def serve() -> None:
    """The hostile server on a free 127.0.0.1 port (printed on stdout), until killed. A process
    of its own: the bodies it builds stay out of the peak RSS of the children `main` starts
    (Linux hands a parent's peak RSS to a child started with vfork, as subprocess does)."""

    async def go() -> None:
        port: list[int] = []
        server = await asyncio.start_server(lambda r, w: _serve(r, w, port[0]), "127.0.0.1", 0)
        port.append(server.sockets[0].getsockname()[1])
        print(port[0], flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(go())


def run_case(case: str, port: int, deadline: float, folder: Path) -> dict[str, object]:
    """`newsmon check --json` over the case's feed and a healthy one, in a child of its own
    (its CPU and peak RSS are the case's alone), killed by its pid if it outlives the deadline
    by far."""
    config = folder / "newsmon.yaml"
    config.write_text(
        f"database_url: {folder / 'state.db'}\nrules: {ROOT / 'rules'}\n"
        f"allow_networks: ['127.0.0.1/32']\nfetch_deadline: {deadline:g}s\nconnect_timeout: 2s\n"
        "log_level: error\nfeeds:\n"
        f"  - {{id: hostile, url: 'http://127.0.0.1:{port}/{case}', interval: 1m}}\n"
        f"  - {{id: good, url: 'http://localhost:{port}/good', interval: 1m}}\n"
    )
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "HOME": str(folder)}
    started = time.monotonic()
    with (folder / "out").open("wb") as out, (folder / "err").open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "check", "--json", "--config", str(config)],
            stdout=out,
            stderr=err,
            env=env,
            cwd=folder,
        )
        timer = threading.Timer(deadline * 4 + 60, proc.kill)  # our own child, by its pid
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    lines = (folder / "err").read_text(errors="replace").splitlines()
    said = next((line for line in lines if line.startswith("newsmon: feed hostile: ")), "")
    crashed = any(line.startswith("Traceback") for line in lines)
    matched = any(
        json.loads(line)["item"]["feed"] == "good"
        for line in (folder / "out").read_text().splitlines()
    )
    return {
        "exit": proc.returncode,
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,
        "outcome": f"crash: {lines[-1][:100]}" if crashed else (said[23:140] or "parsed"),
        "good": matched,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated case names")
    ap.add_argument("--deadline", type=float, default=10.0, help="fetch_deadline, seconds")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve()
        return
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        _table(args.cases.split(","), port, args.deadline)
    finally:
        server.kill()  # our own child, by its pid
        server.wait()


def _table(cases: list[str], port: int, deadline: float) -> None:
    print("| Case | Exit | Wall s | CPU s | Peak RSS MB | Healthy feed matched | Outcome |")
    print("|---|---|---|---|---|---|---|")
    for case in cases:
        with tempfile.TemporaryDirectory() as folder:
            r = run_case(case, port, deadline, Path(folder))
        print(
            f"| `{case}` | {r['exit']} | {r['wall_s']:.1f} | {r['cpu_s']:.2f} | "
            f"{r['rss_mb']:.0f} | {'yes' if r['good'] else 'NO'} | {r['outcome']} |",
            flush=True,
        )


if __name__ == "__main__":
    main()

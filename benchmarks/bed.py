"""The test bed every poll benchmark stands on: generated feeds served on 127.0.0.1, the webhook
receiver in its own process, and newsmon configured for them. Does I/O (processes, temp files).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import feedgen
import realfeeds
import serve
import tools

FEEDSETS = ("plain", "publisher", "real")


def stop_child(proc: subprocess.Popen[bytes] | subprocess.Popen[str] | None) -> None:
    """Stop a daemon this script started, by its pid: SIGTERM (its graceful stop), SIGKILL if
    it is still there after 30 s."""
    if proc is None or proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)


@contextmanager
def webhook_receiver() -> Iterator[str]:
    """`receiver.py` as its own process (stopped by its pid at the end); yields its base URL,
    `http://127.0.0.1:PORT/`."""
    receiver = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("receiver.py"))],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert receiver.stdout is not None
        yield f"http://127.0.0.1:{int(receiver.stdout.readline())}/"
    finally:
        receiver.terminate()
        receiver.wait(5)


@contextmanager
def generated_feeds(
    work: Path, n: int, feedset: str = "plain"
) -> Iterator[tuple[serve.Server, list[str]]]:
    """N feeds written under `work` and served; yields the server and their URLs in feed
    order. `plain` and `publisher` are feedgen's styles (dated from now); `real` lays out the
    publishers' snapshots (`realfeeds`)."""
    if feedset == "real":
        realfeeds.generate(work, n)
    else:
        feedgen.generate(work, n, feedgen.recent_base(datetime.now(UTC)), feedset)
    with serve.Server(work / "feeds") as server:
        yield server, [server.url(p.name) for p in sorted((work / "feeds").glob("f*.xml"))]


def mutate(work: Path, feedset: str) -> list[int]:
    """The changed round's change: 10% of the feeds move on (a generation, or to their
    outlet's next snapshot)."""
    return realfeeds.mutate(work) if feedset == "real" else feedgen.mutate(work)


def newsmon_tool(
    state: Path, urls: list[str], hook: str, extra: list[str] | None = None
) -> tools.Tool:
    """newsmon set up (config, empty state in `state`) to poll `urls` and alert `hook`;
    `extra` lines go into its newsmon.yaml."""
    (tool,) = tools.make_tools(["newsmon"], hook)
    assert isinstance(tool, tools.Newsmon)
    tool.extra = list(extra or [])
    tool.state = state
    tool.setup(urls, tools.clean_env())
    return tool

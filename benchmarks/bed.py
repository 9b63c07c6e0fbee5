"""The test bed every poll benchmark stands on: generated feeds served on 127.0.0.1, the webhook
receiver in its own process, and newsmon configured for them. Does I/O (processes, temp files).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import feedgen
import serve
import tools


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
def generated_feeds(work: Path, n: int) -> Iterator[tuple[serve.Server, list[str]]]:
    """N feeds written under `work` (dated from now) and served; yields the server and their
    URLs in feed order."""
    feedgen.generate(work, n, feedgen.recent_base(datetime.now(UTC)))
    with serve.Server(work / "feeds") as server:
        yield server, [server.url(p.name) for p in sorted((work / "feeds").glob("f*.xml"))]


def newsmon_tool(state: Path, urls: list[str], hook: str) -> tools.Tool:
    """newsmon set up (config, empty state in `state`) to poll `urls` and alert `hook`."""
    (tool,) = tools.make_tools(["newsmon"], hook)
    tool.state = state
    tool.setup(urls, tools.clean_env())
    return tool

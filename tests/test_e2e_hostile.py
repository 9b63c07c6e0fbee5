"""Hostile servers in one `check --deliver` cycle next to a healthy feed: a gzip bomb, a server
that trickles a byte a second, a redirect loop and a 100,000-item feed each end in a classified
feed error (or a capped parse) within the deadline, while the healthy feed's alert is delivered."""

from __future__ import annotations

import contextlib
import io
import json
import time
import zlib
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from monitor.cli.main import main
from tests.feedserver import feed_server, rss
from tests.receiver import Receiver

ROOT = Path(__file__).resolve().parent.parent
DEADLINE_S = 2


def gzip_bomb(handler: BaseHTTPRequestHandler) -> None:
    """1 GiB of zeros, about 1 MB on the wire, compressed as it is sent."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/rss+xml")
    handler.send_header("Content-Encoding", "gzip")
    handler.end_headers()
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"\0" * (1 << 20)
    for _ in range(1024):
        handler.wfile.write(packer.compress(chunk))
    handler.wfile.write(packer.flush())


def trickle(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/rss+xml")
    handler.end_headers()
    for byte in b"<?xml version='1.0'?><rss><channel>" * 10:
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()
        time.sleep(1.0)


def loop(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(302)
    handler.send_header("Location", "/loop")
    handler.send_header("Content-Length", "0")
    handler.end_headers()


def huge_feed() -> bytes:
    entries = "".join(
        f"<item><guid>n{i}</guid><title>Item {i}</title><description>x</description></item>"
        for i in range(100_000)
    )
    return (
        f"<?xml version='1.0'?><rss version='2.0'><channel><title>Huge</title>{entries}"
        "</channel></rss>"
    ).encode()


@pytest.mark.slow
def test_hostile_feeds_end_in_classified_errors_and_the_healthy_feed_still_alerts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NEWSMON_CONFIG", "NEWSMON_RULES", "NEWSMON_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with feed_server() as server, Receiver() as rx:
        server.routes.update({"/bomb": gzip_bomb, "/trickle": trickle, "/loop": loop})
        server.put("/huge", huge_feed())
        server.put("/good", rss([("g0", "Weather", "Rain.")]))
        config = tmp_path / "newsmon.yaml"
        feeds = "".join(
            f"  - {{id: {name}, url: '{server.url('/' + name)}', interval: 1s}}\n"
            for name in ("bomb", "trickle", "loop", "huge", "good")
        )
        config.write_text(
            f"database_url: {tmp_path / 'state.db'}\n"
            f"rules: {ROOT / 'rules'}\n"
            "allow_networks: ['127.0.0.1/32']\n"
            f"fetch_deadline: {DEADLINE_S}s\n"
            "connect_timeout: 1s\n"
            "log_level: error\n"
            f"feeds:\n{feeds}"
            f"destinations:\n  - {{name: hook, type: webhook, url: '{rx.url}'}}\n"
        )
        main(["check", "--deliver", "--config", str(config)])  # the baseline
        server.put("/good", rss([("g1", "Troops dispatched to the border", "Two brigades.")]))
        started = time.monotonic()
        code = main(["check", "--deliver", "--config", str(config)])
        elapsed = time.monotonic() - started

    assert code == 2  # some feeds failed: reported, and the cycle still did its work
    assert elapsed < 4 * DEADLINE_S + 10
    assert len(rx.requests) == 1
    assert json.loads(rx.requests[0].body)["item"]["feed"]["id"] == "good"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        main(["feeds", "list", "--config", str(config), "--json"])
    status = {
        f["id"]: (f["status"], f["error_kind"])
        for f in map(json.loads, buf.getvalue().splitlines())
    }
    assert status["bomb"] == ("error", "too_large")
    assert status["trickle"] == ("error", "timeout")
    assert status["loop"] == ("error", "too_many_redirects")
    assert status["good"] == ("ok", None)
    assert status["huge"] == ("not_modified", None)  # first poll took the capped items; then 304

"""Terminal injection: feed text with ESC/OSC sequences, NUL and C1 controls reaches no terminal
and no receiver. Real `newsmon` processes against a local feed server and local receivers: every
byte of `check` (table and JSON), the console log of `newsmon run` and `check --deliver`,
`deliveries list`, `stories list`, `feeds list`, and every string of the webhook and Slack
bodies is free of them, while the
printable text around them is kept."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.controls import strip_controls, strip_controls_deep
from tests.faults.harness import DaemonProcess, wait_until
from tests.feedserver import feed_server
from tests.fuzz.budget import budget
from tests.receiver import Receiver

pytestmark = [pytest.mark.fault, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
# Retitle the terminal, clear it, colour, a NUL, a one-character CSI (C1), a hidden OSC 8 link,
# a carriage return that would overwrite the line, DEL, and a bell.
HOSTILE = (
    "Pwned \x1b]0;owned\x07 \x1b[2J\x1b[31mred \x00nul \x9b31m c1 "
    "\x1b]8;;http://evil.example/\x1b\\link\x1b]8;;\x1b\\ \rover\x7f \x07end"
)
CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]")


def is_control(ch: str) -> bool:
    return unicodedata.category(ch) == "Cc" and ch not in "\t\n"


@budget(300)
@given(st.text())
def test_strip_controls_removes_exactly_the_controls(text: str) -> None:
    out = strip_controls(text)
    assert out == "".join(ch for ch in text if not is_control(ch))
    assert strip_controls(out) == out


def test_strip_controls_keeps_text_tabs_and_newlines() -> None:
    assert strip_controls("a\tb\nc — naïve 東京 🙂") == "a\tb\nc — naïve 東京 🙂"
    assert strip_controls(HOSTILE) == (
        "Pwned ]0;owned [2J[31mred nul 31m c1 ]8;;http://evil.example/\\link]8;;\\ over end"
    )
    doc = {"a": [HOSTILE, 3, None], "b": {"c": ("\x1b", "x")}}
    assert strip_controls_deep(doc) == {"a": [strip_controls(HOSTILE), 3, None],
                                        "b": {"c": ("", "x")}}  # fmt: skip


def json_feed(title: str, item_id: str) -> bytes:
    item = {"id": item_id, "url": f"https://news.example/{item_id}\x1b[1m", "title": title,
            "content_text": f"{title} body", "date_published": "2026-12-01T00:00:00Z"}  # fmt: skip
    doc = {"version": "https://jsonfeed.org/version/1.1", "title": "Wire \x1b[5mblink",
           "items": [item]}  # fmt: skip
    return json.dumps(doc).encode()


def rss_feed(title: str, guid: str) -> bytes:
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>RSS \u009b7m"
        f"</title><item><guid>{guid}</guid><title>{title}</title><description>d</description>"
        "</item></channel></rss>"
    ).encode()


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def test_feed_controls_reach_no_terminal_and_no_receiver(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.yaml").write_text(
        "rules:\n  - id: pwned\n    name: Pwned\n    query: pwned\n    severity: high\n"
    )
    with feed_server() as server, Receiver() as hook, Receiver() as slack:
        server.put("/j", json_feed("Calm", "j0"), content_type="application/feed+json")
        server.put("/r", rss_feed("Calm", "r0"))
        config = tmp_path / "newsmon.yaml"
        config.write_text(
            f"database_url: {tmp_path / 'state.db'}\nrules: {tmp_path / 'rules'}\n"
            "allow_networks: ['127.0.0.1/32']\nlog_level: info\nlog_format: console\n"
            "http_addr: ''\ndefault_interval: 1s\ngrace_period: 2s\n"
            f"feeds:\n  - {{id: j, url: '{server.url('/j')}'}}\n"
            f"  - {{id: r, url: '{server.url('/r')}'}}\n"
            f"destinations:\n  - {{name: hook, type: webhook, url: '{hook.url}'}}\n"
            f"  - {{name: chat, type: slack, url: '{slack.url}'}}\n"
        )
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}
        outputs: dict[str, bytes] = {}

        def run(name: str, *args: str) -> int:
            result = subprocess.run(
                [sys.executable, "-m", "monitor", *args, "--config", str(config)],
                cwd=tmp_path, env=env, capture_output=True, timeout=60, check=False,
            )  # fmt: skip
            outputs[name] = result.stdout + result.stderr
            return result.returncode

        assert run("baseline", "check", "--deliver") == 1  # a new feed's items only baseline
        server.put("/j", json_feed(HOSTILE, "j1"), content_type="application/feed+json")
        # Another story (the same title would be one story, alerted once): XML allows only C1.
        server.put("/r", rss_feed("Harbour \u009b2J strike \u0085 pwned \u009d0;x\u009c too", "r1"))
        daemon = DaemonProcess(config, tmp_path / "daemon.log").start()  # logs item_matched
        try:
            wait_until(lambda: len(hook.requests) + len(slack.requests) >= 4, 60, "alerts")
            assert daemon.stop() == 0
        finally:
            daemon.kill()
        outputs["daemon"] = (tmp_path / "daemon.log").read_bytes()
        assert run("deliver", "check", "--deliver") == 1  # nothing new: delivered once
        assert run("check", "check") == 0
        assert run("check-json", "check", "--json") == 0
        for name, args in {"deliveries": ["deliveries", "list"],
                           "deliveries-json": ["deliveries", "list", "--json"],
                           "stories": ["stories", "list"],
                           "stories-json": ["stories", "list", "--json"],
                           "feeds": ["feeds", "list"]}.items():  # fmt: skip
            run(name, *args)
        bodies = [json.loads(r.body) for r in hook.requests + slack.requests]

    assert len(hook.requests) == 2
    assert len(slack.requests) == 2
    leaks = {name: CONTROL_BYTES.findall(text)[:5] for name, text in outputs.items()}
    assert {name: found for name, found in leaks.items() if found} == {}
    for name in ("daemon", "check", "check-json", "deliveries", "stories"):
        assert b"Pwned" in outputs[name], name  # the text around the controls is still shown
    assert b"item_matched" in outputs["daemon"]  # the console log did carry the title
    sent = [s for body in bodies for s in strings(body)]
    assert any("Pwned ]0;owned" in s for s in sent)
    assert [s for s in sent if any(is_control(ch) for ch in s)] == []

"""An error the CLI prints carries no terminal control from a server's words: an HTTP reason
phrase may hold C1 bytes (U+009B is a one-character CSI to some terminals, U+009D an OSC) and a
BEL. A real server on 127.0.0.1 that answers with such a status line."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.cli.main import main

REASON = b"Bad\x9b2J\x9d0;retitled\x07Red"


@pytest.fixture
def hostile_status() -> Iterator[int]:
    """A port whose server answers every request `401 <REASON>` (h11 accepts 0x80-0xFF there)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                conn.recv(65536)
                conn.sendall(
                    b"HTTP/1.1 401 "
                    + REASON
                    + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join(5)
    listener.close()


@pytest.mark.timeout(30)
def test_rules_test_feed_error_has_no_terminal_controls(
    tmp_path: Path, hostile_status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(
        "rules:\n  - id: any\n    name: Any\n    query: news\n", encoding="utf-8"
    )
    config = tmp_path / "newsmon.yaml"
    config.write_text(
        f"database_url: {tmp_path / 'n.db'}\nrules: {rules}\nallow_networks: ['127.0.0.1']\n",
        encoding="utf-8",
    )
    url = f"http://127.0.0.1:{hostile_status}/feed"
    code = main(["rules", "test", "--config", str(config), "--feed", url])
    err = capsys.readouterr().err
    assert code == 2
    assert "HTTP 401 Bad2J0;retitledRed" in err
    assert not any(0x80 <= ord(c) < 0xA0 or c == "\x07" for c in err), repr(err)


@pytest.mark.timeout(30)
def test_feeds_list_json_error_has_no_terminal_controls(
    tmp_path: Path, hostile_status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "newsmon.yaml"
    config.write_text(
        f"database_url: {tmp_path / 'n.db'}\nallow_networks: ['127.0.0.1']\n"
        f"feeds:\n  - id: h\n    url: http://127.0.0.1:{hostile_status}/feed\n",
        encoding="utf-8",
    )
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(
        "rules:\n  - id: any\n    name: Any\n    query: news\n", encoding="utf-8"
    )
    assert main(["check", "--deliver", "--config", str(config), "--rules", str(rules)]) == 2
    capsys.readouterr()
    assert main(["feeds", "list", "--json", "--config", str(config)]) == 0
    (listed,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert "HTTP 401 Bad2J0;retitledRed" in listed["error"]

"""Terminal niceties only on a terminal: the progress bar of a one-shot `newsmon check`, colour
(never with NO_COLOR), console logs. Real processes on a pseudo-terminal, and forced `isatty`."""

from __future__ import annotations

import io
import logging
import os
import pty
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from monitor.cli.check import ProgressBar
from monitor.logs import configure_logging

ROOT = Path(__file__).resolve().parent.parent
SEED = str(ROOT / "seeds" / "article.rss")
CHECK = ["check", "--rules", str(ROOT / "rules"), "--feed", SEED, "--feed", SEED]
SGR = re.compile(rb"\x1b\[([0-9;]*)m")


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_newsmon", False)]:
        root.removeHandler(handler)


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def colours(output: bytes) -> list[bytes]:
    """The SGR sequences that set a colour (30-38, 40-48, 90-97, 100-107), not bold or reset."""
    found = []
    for match in SGR.finditer(output):
        params = [int(p) for p in match.group(1).split(b";") if p]
        if any(30 <= p <= 48 or 90 <= p <= 107 for p in params):
            found.append(match.group(0))
    return found


def run_on_pty(
    args: list[str], *, stdout_tty: bool, stderr_tty: bool, **env: str
) -> dict[str, bytes]:
    """Run newsmon with stdout and/or stderr on a pseudo-terminal; what each received."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", *args],
        cwd=ROOT,
        stdout=slave if stdout_tty else subprocess.PIPE,
        stderr=slave if stderr_tty else subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "TERM": "xterm-256color", **env},
    )
    os.close(slave)
    on_tty = b""
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            on_tty += chunk
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, (on_tty, err)
    return {
        "stdout": on_tty if stdout_tty else out,
        "stderr": on_tty if stderr_tty else err,
    }


@pytest.mark.slow
def test_a_one_shot_check_shows_a_progress_bar_on_a_terminal_only() -> None:
    on_tty = run_on_pty(CHECK, stdout_tty=False, stderr_tty=True)
    assert b"checking feeds" in on_tty["stderr"]
    assert b"2/2" in on_tty["stderr"]
    assert b"troop-dispatch" in on_tty["stdout"]

    piped = run_on_pty(CHECK, stdout_tty=True, stderr_tty=False)
    # No bar and no escape codes: only the notes on what the daemon would do with the matches.
    assert b"\x1b" not in piped["stderr"]
    assert b"checking feeds" not in piped["stderr"]
    assert all(line.startswith(b"note: ") for line in piped["stderr"].splitlines())
    assert b"troop-dispatch" in piped["stdout"]


@pytest.mark.slow
def test_colour_only_on_a_terminal_and_never_with_no_color() -> None:
    coloured = run_on_pty(CHECK, stdout_tty=True, stderr_tty=True)
    assert colours(coloured["stdout"])
    plain = run_on_pty(CHECK, stdout_tty=True, stderr_tty=True, NO_COLOR="1")
    assert b"checking feeds" in plain["stdout"]  # the bar is still drawn, without colour
    assert colours(plain["stdout"]) == []
    piped = run_on_pty(CHECK, stdout_tty=False, stderr_tty=False)
    assert b"\x1b[" not in piped["stdout"] + piped["stderr"]


def test_the_bar_draws_on_a_terminal_for_two_feeds_or_more() -> None:
    terminal = FakeTerminal()
    bar = ProgressBar(terminal)
    bar.start(3)
    for feed in ("a", "b", "c"):
        bar.advance(feed)
    bar.stop()
    assert "checking feeds" in terminal.getvalue()
    assert "3/3" in terminal.getvalue()

    one = FakeTerminal()
    bar = ProgressBar(one)
    bar.start(1)
    bar.advance("a")
    bar.stop()
    assert one.getvalue() == ""

    pipe = io.StringIO()
    bar = ProgressBar(pipe)
    bar.start(3)
    bar.advance("a")
    bar.stop()
    assert pipe.getvalue() == ""


def test_console_logs_on_a_terminal_are_coloured_unless_no_color(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    terminal = FakeTerminal()
    configure_logging("info", "auto", terminal)
    structlog.get_logger().info("feed_polled", feed="wire")
    assert colours(terminal.getvalue().encode())
    assert "feed_polled" in terminal.getvalue()
    assert not terminal.getvalue().lstrip().startswith("{")  # console, not JSON

    monkeypatch.setenv("NO_COLOR", "1")
    plain = FakeTerminal()
    configure_logging("info", "auto", plain)
    structlog.get_logger().info("feed_polled", feed="wire")
    assert "feed_polled" in plain.getvalue()
    assert "\x1b[" not in plain.getvalue()

    pipe = io.StringIO()
    configure_logging("info", "auto", pipe)
    structlog.get_logger().info("feed_polled", feed="wire")
    assert pipe.getvalue().startswith("{")  # JSON lines when not on a terminal


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
@pytest.mark.parametrize("output", [[], ["--json"]])
def test_a_stream_that_cannot_encode_a_title_gets_escapes_not_a_traceback(
    tmp_path: Path, encoding: str, output: list[str]
) -> None:
    # A non-UTF-8 locale (or PYTHONIOENCODING): a title in Cyrillic or Chinese raised
    # UnicodeEncodeError at the first print, a traceback instead of the matches.
    article = tmp_path / "article.txt"
    article.write_text(
        "НАТО: a NATO delegation arrives in Kyiv, 東京\n"
        "A NATO delegation arrived at NATO headquarters for talks.\n",
        encoding="utf-8",
    )
    command = ["rules", "test", "--rules", str(ROOT / "rules"), "--text", str(article)]
    done = subprocess.run(
        [sys.executable, "-m", "monitor", *command, *output],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": encoding},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    assert b"Traceback" not in done.stderr
    assert b"nato-delegation" in done.stdout
    assert b"\\u041d\\u0410\\u0422\\u041e" in done.stdout  # НАТО, escaped, not dropped

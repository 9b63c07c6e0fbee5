"""`newsmon run` as a container runs it, as a real process: the environment a container gives it
(a TZ that names no zoneinfo file) and the signals it gets (a stop sent while it starts)."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon_support import CALM, DaemonProcess, calm_config, daemon_env, wait_for
from tests.feedserver import feed_server, rss

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("tz", ["CET-1CEST,M3.5.0,M10.5.0/3", "UTC+2", "Europe/Berln"])
def test_a_time_zone_that_names_no_zoneinfo_file_does_not_stop_the_daemon(
    tmp_path: Path, tz: str
) -> None:
    # libc takes a POSIX TZ string, and a misspelled zone reads as UTC; the scheduler asked
    # tzlocal for the local zone, which raised: a traceback and exit 1 once the listener was up.
    with feed_server() as server:
        config = calm_config(tmp_path, server)
        with DaemonProcess(config, tmp_path, env=daemon_env(TZ=tz)) as daemon:
            daemon.wait_healthy()

            def polled_twice() -> bool:
                assert daemon.proc.poll() is None, f"the daemon exited: {daemon.log_text()}"
                polls = [
                    v for (name, _), v in daemon.metrics().items() if name == "newsmon_polls_total"
                ]
                return sum(polls) >= 2

            wait_for("two polls", polled_twice)
            daemon.signal(signal.SIGTERM)
            assert daemon.wait() == 0, daemon.log_text()
            assert "Traceback" not in daemon.log_text()


def _catches_sigterm(pid: int) -> bool:
    """Whether process `pid` has a handler for SIGTERM (its SigCgt mask, Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
    return False


def _write_fifo(path: Path, text: str, timeout: float = 20.0) -> None:
    """Write `text` into the FIFO once its reader opens it (bounded: the reader may be gone)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
            continue
        os.set_blocking(fd, True)
        with os.fdopen(fd, "w") as fifo:
            fifo.write(text)
        return


@pytest.fixture
def starting(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """`newsmon run` held in its start: its config is a FIFO nobody has written yet. Killed at
    the end if the test left it running."""
    if not Path(f"/proc/{os.getpid()}/status").exists():
        pytest.skip("reads a process's signal mask from /proc (Linux)")
    fifo = tmp_path / "newsmon.yaml"
    os.mkfifo(fifo)
    log = (tmp_path / "daemon.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--config", str(fifo)],
        cwd=tmp_path,
        env=daemon_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    try:
        yield proc, fifo
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_a_sigterm_while_the_daemon_starts_stops_it_before_its_first_claim(
    tmp_path: Path, starting: tuple[subprocess.Popen[bytes], Path]
) -> None:
    # As PID 1 the kernel drops a SIGTERM that finds no handler: `podman stop` just after the
    # start was lost, the daemon came up and polled, and the stop ended in SIGKILL (exit 137).
    proc, fifo = starting
    wait_for("a SIGTERM handler while newsmon run starts", lambda: _catches_sigterm(proc.pid))
    proc.send_signal(signal.SIGTERM)
    with feed_server() as server:
        config = calm_config(tmp_path / "c", server)
        _write_fifo(fifo, config.read_text())
        assert proc.wait(timeout=30) == 0, (tmp_path / "daemon.log").read_text()
        assert not server.requests, "it claimed and polled a feed after the stop"
    log = (tmp_path / "daemon.log").read_text()
    assert '"shutdown_requested"' in log
    assert '"clean": true' in log


def test_a_second_sigterm_while_the_daemon_starts_stops_it_at_once(
    tmp_path: Path, starting: tuple[subprocess.Popen[bytes], Path]
) -> None:
    proc, _fifo = starting
    wait_for("a SIGTERM handler while newsmon run starts", lambda: _catches_sigterm(proc.pid))
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)  # two at once may reach it as one
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 130, (tmp_path / "daemon.log").read_text()


def test_a_sigterm_while_the_daemon_modules_load_is_not_lost(tmp_path: Path) -> None:
    # Before `run` is even parsed: the SIGTERM comes as monitor.cli.main starts to load.
    script = """if True:
        import os, signal, sys
        class SignalOnLoad:
            def find_spec(self, name, path=None, target=None):
                if name == "monitor.cli.main":
                    sys.meta_path.remove(self)
                    os.kill(os.getpid(), signal.SIGTERM)
                return None
        sys.meta_path.insert(0, SignalOnLoad())
        sys.argv = ["newsmon", "run", "--config", sys.argv[1]]
        from monitor.cli.entry import main
        raise SystemExit(main())
    """
    with feed_server() as server:
        config = calm_config(tmp_path, server)
        done = subprocess.run(
            [sys.executable, "-c", script, str(config)],
            cwd=tmp_path,
            env=daemon_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert '"shutdown_requested"' in done.stdout
        assert not server.requests, "it claimed and polled a feed after the stop"


def test_console_logs_on_a_stream_that_cannot_encode_a_title_keep_the_poll(
    tmp_path: Path,
) -> None:
    # `podman run -t` with a non-UTF-8 locale (here PYTHONIOENCODING): the console line naming
    # a Cyrillic title raised UnicodeEncodeError in the poll that logged it (`task_failed`).
    with feed_server() as server:
        config = calm_config(tmp_path, server, log_format="console")
        env = daemon_env(PYTHONIOENCODING="ascii")
        with DaemonProcess(config, tmp_path, env=env) as daemon:
            wait_for("the baseline poll", lambda: "feed_polled" in daemon.log_text())
            server.put("/wire.rss", rss([("n1", "Troops НАТО cross the river", "Troops."), CALM]))
            wait_for("the match", lambda: "item_matched" in daemon.log_text())
            time.sleep(0.5)  # the rest of the poll's lines
            daemon.signal(signal.SIGTERM)
            assert daemon.wait() == 0, daemon.log_text()
            log = daemon.log_text()
    assert "Troops \\u041d\\u0410\\u0422\\u041e cross the river" in log
    assert "task_failed" not in log
    assert "Traceback" not in log

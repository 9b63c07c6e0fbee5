"""`newsmon run` as a container runs it, as a real process: the environment a container gives it
(a TZ that names no zoneinfo file) and the signals it gets (a stop sent while it starts)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.daemon_support import DaemonProcess, calm_config, daemon_env, wait_for
from tests.feedserver import feed_server

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

"""The `newsmon` command as installed (and `python -m monitor`): pauses the garbage collector
for the start, then runs `monitor.cli.main.main`.

A start allocates hundreds of thousands of long-lived objects (modules, pydantic schemas, the
compiled rules) and frees almost none; the collector walked them over and over as they piled
up: ~7% of a one-shot start's CPU. `main` turns it back on before the command runs, or, for a
command that settles its heap (`check`: `monitor.process.bootstrap.settle_heap`), once the
start's objects are frozen out of its way.

`check`, cron's command, ends its process as soon as it is done, without the interpreter's
teardown (`monitor.cli.leave`): `main` does not return from it.
"""

from __future__ import annotations

import gc
import signal
import sys

_stops = 0  # SIGTERMs that came while `newsmon run` started, before its own handler


def _remember_stop(_signum: int, _frame: object) -> None:
    global _stops  # a signal handler has nowhere else to write
    _stops += 1
    if _stops > 1:
        raise KeyboardInterrupt  # a second one: stop at once, exit 130


def stops_while_starting() -> int:
    """SIGTERMs `newsmon run` got before `monitor.process.daemon.defer_stop` took them over."""
    return _stops


def main() -> int:
    gc.disable()
    if sys.argv[1:2] == ["run"]:
        # As PID 1 (a container) the kernel drops a SIGTERM that finds no handler: one sent
        # while the daemon's modules load was lost, and `docker stop` waited for SIGKILL.
        signal.signal(signal.SIGTERM, _remember_stop)
    try:
        from monitor.cli.main import main as run

        return run(gc_paused=True, may_leave=True)
    except KeyboardInterrupt:
        # Ctrl-C in the first tenths of a second, while modules load and the parser is built
        # (`main` answers it only once the command runs): the same 130, not a traceback.
        return 130
    finally:
        gc.enable()

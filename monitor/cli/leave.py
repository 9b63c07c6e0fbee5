"""End a one-shot command's process without the interpreter's teardown. Does I/O (flushes the
standard streams, runs the exit handlers, ends the process).

After `main` returns, the interpreter frees every module and object one by one before the process
ends: ≈11 ms of CPU after a `newsmon check --deliver` over 200 feeds (≈3 % of a round where every
feed answers 304), spent on memory the operating system takes back whole anyway. A command that
opts in (`check`, `leaves_at_once` in its parser's defaults) ends the process when it is done, as
the interpreter would have: the standard streams flushed, the `atexit` handlers run (logging's
among them), the same exit status.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading


def leave(code: int) -> None:
    """End the process now with exit status `code`. Returns instead, leaving the end to the
    interpreter as before, when skipping its teardown could change anything: another thread
    still runs (the interpreter waits for it), a profiler or tracer is on (it reports after
    `main`), `python -i` asked for a prompt, or a standard stream does not flush (the
    interpreter reports that as it always has)."""
    if threading.active_count() > 1 or sys.flags.inspect:
        return
    if sys.getprofile() is not None or sys.gettrace() is not None:
        return
    if not _flushed():
        return
    atexit._run_exitfuncs()  # and forgets them: a return below does not run them twice
    if _flushed():  # what the handlers wrote
        os._exit(code)


def _flushed() -> bool:
    for stream in (sys.stdout, sys.stderr):
        if stream is None:  # started with that descriptor closed (`>&-`): nothing to flush
            continue
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: the interpreter's exit reports it
            return False
    return True

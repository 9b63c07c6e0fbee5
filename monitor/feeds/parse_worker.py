"""The parse worker process: `python -m monitor.feeds.parse_worker CPU_S MEMORY`. Does I/O.

Reads jobs on stdin, each two frames (the pickled kwargs, then the body's bytes as they are), and
answers each with a framed, pickled ("ok", ParsedFeed) or ("error", (kind, message)) on stdout,
under RLIMIT_CPU (set per document) and RLIMIT_AS. Started and read by `monitor.feeds.budget`;
it imports only what a parse needs, since every daemon start (and every overrun) pays for its
start.
"""

from __future__ import annotations

import math
import os
import pickle
import resource
import signal
import struct
import sys
from typing import Any

from monitor.errors import FeedError

FRAME = struct.Struct("!Q")
_MIB = 1024 * 1024


def _frame(jobs: Any) -> bytes | None:
    """One frame's bytes, or None when stdin ends first. MemoryError when they do not fit the
    address-space limit: they are read past first, so the daemon's write of them ends and the
    next frame is read in its place."""
    header = jobs.read(FRAME.size)
    if len(header) < FRAME.size:
        return None
    size = FRAME.unpack(header)[0]
    try:
        data: bytes = jobs.read(size)
    except MemoryError:  # raised before anything is read (the result is allocated first)
        _skip(jobs, size)
        raise
    return data if len(data) == size else None


def _skip(jobs: Any, size: int) -> None:
    """Read past `size` bytes of stdin, a small piece at a time."""
    while size > 0:
        piece = jobs.read(min(size, 64 * 1024))
        if not piece:
            return
        size -= len(piece)


def serve(cpu_s: float, memory: int) -> None:
    """Answer framed (kwargs, body) jobs from stdin on stdout until stdin closes."""
    import feedparser  # noqa: F401 - imported before the address-space limit is taken

    # Here, not at the top: the daemon imports this module for FRAME alone, and a one-shot round
    # where every feed answers 304 never parses.
    from monitor.feeds.parse import parse_feed

    # The daemon shuts its workers down itself (they have a process group of their own, which a
    # Ctrl-C at the terminal does not reach; a kill -INT of the group still might), and a worker
    # whose daemon died sees its stdin close and exits.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed by a library goes to stderr, never into the replies
    jobs = sys.stdin.buffer
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a SIGXCPU leaves no core file
    _limit_address_space(memory)
    _, cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)
    while True:
        options = _frame(jobs)
        try:
            body = _frame(jobs) if options is not None else None
            fits = True
        except MemoryError:  # the document alone is past the budget: answered as a parse out of
            body, fits = b"", False  # memory is (the worker that ran out exits after answering)
        if options is None or body is None:
            return  # stdin closed, or the daemon died while sending: nobody waits for an answer
        # The daemon's own options: trusted, unlike the document beside them.
        kwargs = pickle.loads(options)  # noqa: S301
        usage = resource.getrusage(resource.RUSAGE_SELF)
        soft = math.ceil(usage.ru_utime + usage.ru_stime + cpu_s)
        if cpu_hard == resource.RLIM_INFINITY or soft < cpu_hard:
            resource.setrlimit(resource.RLIMIT_CPU, (soft, cpu_hard))
        out_of_memory = ("error", ("too_costly", f"parsing needed more than {memory // _MIB} MiB"))
        exit_after = not fits
        reply: tuple[str, Any] = out_of_memory
        try:
            if fits:
                reply = ("ok", parse_feed(body, **kwargs))
        except FeedError as e:
            reply = ("error", (e.kind, str(e)))
        except MemoryError:
            del body
            reply = out_of_memory
            exit_after = True
        # BLE001: a parser bug on odd input: classified, never a crash
        except Exception as e:  # noqa: BLE001
            reply = ("error", ("parse", f"parser failed: {type(e).__name__}: {str(e)[:200]}"))
        data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            out.write(FRAME.pack(len(data)) + data)
            out.flush()
        except BrokenPipeError:
            # The daemon died (or stopped this worker) while it parsed: end quietly, without
            # the exit's flush of the same buffer failing again on stderr.
            os._exit(0)
        if exit_after:
            return


def _limit_address_space(memory: int) -> None:
    """RLIMIT_AS at the worker's present size plus `memory` (Linux: /proc; elsewhere none)."""
    try:
        with open("/proc/self/statm") as statm:
            size = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = size + memory
    if hard == resource.RLIM_INFINITY or limit < hard:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


if __name__ == "__main__":
    serve(float(sys.argv[1]), int(sys.argv[2]))

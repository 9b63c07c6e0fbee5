"""`check` ends its process without the interpreter's teardown (`monitor.cli.leave`), as the
interpreter would have ended it otherwise: output, exit handlers and exit status kept. Each probe
runs in a fresh interpreter: a test that leaves would end pytest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.feedserver import feed_server, rss
from tests.receiver import Receiver

REPO = Path(__file__).resolve().parent.parent

# A module global whose finaliser writes when the interpreter tears the modules down, and an
# exit handler: the teardown is skipped, the handler is not. (Its class lives in a namespace of
# its own: one in __main__'s would hold the object in a cycle, which the heap `check` freezes
# keeps from ever being collected.)
WATCH = (
    "import atexit, os, sys\n"
    "space = {}\n"
    "exec('import os\\nclass Teardown:\\n    def __del__(self):\\n'\n"
    "     '        os.write(1, b\"torn down\\\\n\")\\n', space)\n"
    "watch = space['Teardown']()\n"
    "atexit.register(lambda: print('exit handler'))\n"
)


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _cron_round(state: Path, hook_url: str, feed_url: str, main: str) -> str:
    """A probe script: `check --deliver` of the example rules over one feed to one webhook, its
    state in `state`, run by `main` (statements)."""
    config = state / "newsmon.yaml"
    config.write_text(
        f"database_url: {state / 'newsmon.db'}\n"
        f"rules: {REPO / 'rules'}\n"
        'allow_networks: ["127.0.0.1/32"]\n'
        "destinations:\n"
        f"  - {{name: hook, type: webhook, url: '{hook_url}'}}\n"
        "feeds:\n"
        f"  - {{id: wire, url: '{feed_url}'}}\n"
    )
    argv = ["newsmon", "check", "--deliver", "--config", str(config)]
    return f"{WATCH}sys.argv = {argv!r}\n{main}"


COMMAND = "from monitor.cli.entry import main\nsys.exit(main())\n"  # as installed
IN_PROCESS = "from monitor.cli.main import main\nsys.exit(main())\n"  # as tests call it


def test_check_leaves_without_the_teardown_with_its_output_and_exit_status(
    tmp_path: Path,
) -> None:
    calm = ("a", "Local bakery wins prize", "Bread and cakes.")
    (tmp_path / "left").mkdir()
    (tmp_path / "stayed").mkdir()
    with feed_server() as server, Receiver() as hook:
        server.put("/wire.xml", rss([calm]))
        left = _cron_round(tmp_path / "left", hook.url, server.url("/wire.xml"), COMMAND)
        stayed = _cron_round(tmp_path / "stayed", hook.url, server.url("/wire.xml"), IN_PROCESS)
        # A feed's first poll is its silent baseline: nothing matched, exit status 1.
        baseline, baseline_stayed = run(left), run(stayed)
        assert (baseline.returncode, baseline.stdout) == (1, "exit handler\n")
        assert (baseline_stayed.returncode, baseline_stayed.stdout) == (
            1,
            "exit handler\ntorn down\n",
        )
        server.put("/wire.xml", rss([calm, ("b", "Troops dispatched to the border", "x")]))
        alerted, alerted_stayed = run(left), run(stayed)
    assert alerted.returncode == alerted_stayed.returncode == 0
    assert "troop-dispatch" in alerted.stdout
    assert alerted.stdout.endswith("exit handler\n")
    assert alerted_stayed.stdout == alerted.stdout + "torn down\n"
    assert "delivered 1" in alerted.stderr
    assert len(hook.requests) == 2


def test_leave_ends_the_process_with_the_code_after_the_exit_handlers() -> None:
    # What is still in stdout's buffer is written first.
    done = run(WATCH + "from monitor.cli.leave import leave\nprint('buffered', end='')\nleave(5)\n")
    assert (done.returncode, done.stdout) == (5, "bufferedexit handler\n")


def test_leave_returns_while_another_thread_runs_or_a_profiler_is_on() -> None:
    # The interpreter would wait for the thread, and a profiler writes its report after `main`.
    code = (
        WATCH + "import threading\n"
        "from monitor.cli.leave import leave\n"
        "stop = threading.Event()\n"
        "worker = threading.Thread(target=stop.wait)\n"
        "worker.start()\n"
        "leave(5)\n"
        "print('thread: stayed')\n"
        "stop.set()\n"
        "worker.join()\n"
        "sys.setprofile(lambda *args: None)\n"
        "leave(6)\n"
        "sys.setprofile(None)\n"
        "print('profiler: stayed')\n"
    )
    stayed = run(code)
    assert stayed.returncode == 0, stayed.stderr
    assert stayed.stdout == "thread: stayed\nprofiler: stayed\nexit handler\ntorn down\n"


def test_leave_keeps_the_exit_status_when_a_standard_stream_is_missing() -> None:
    # Started with fd 1 or 2 closed (`newsmon check --deliver >&-`), the interpreter sets
    # sys.stdout or sys.stderr to None and ends the process with the command's status; leaving
    # must too, not fail on flushing None (status 1 and a traceback, the exit handlers skipped).
    for name, other in (("stdout", 2), ("stderr", 1)):
        done = run(
            "import atexit, os, sys\n"
            f"atexit.register(lambda: os.write({other}, b'exit handler\\n'))\n"
            f"sys.{name} = None\n"
            "from monitor.cli.leave import leave\n"
            "leave(5)\n"
        )
        out = done.stderr if other == 2 else done.stdout
        assert (done.returncode, out) == (5, "exit handler\n"), (name, done.stderr)

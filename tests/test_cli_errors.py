"""Every user mistake is one clear line on stderr and exit code 2, never a traceback: a table of
mistakes, each run as a real `python -m monitor` process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # fifteen processes, ~1.5 s each

ROOT = Path(__file__).resolve().parent.parent
RULES = str(ROOT / "rules")
SEED = str(ROOT / "seeds" / "article.rss")


def newsmon(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(cwd), **env},
        check=False,
    )


# (what the user did, argv, extra environment, what the one line must say)
MISTAKES = [
    ("unknown command", ["frobnicate"], {}, "newsmon: unknown command 'frobnicate' (choose from"),
    ("unknown sub-command", ["deliveries", "frob"], {}, "newsmon deliveries: unknown command"),
    ("misspelt option", ["check", "--fed", SEED], {}, "did you mean --feed?"),
    ("stray argument", ["check", "extra"], {}, "newsmon check: unknown argument(s): extra"),
    ("bad choice", ["check", "--log-level", "loud"], {}, "invalid choice: 'loud'"),
    ("missing argument", ["deliveries", "replay"], {}, "one of the arguments ID --all-dead"),
    ("missing --config file", ["check", "--config", "nope.yaml"], {}, "config file not found"),
    (
        "missing --config file (run)",
        ["run", "--config", "nope.yaml"],
        {},
        "config file not found: nope.yaml",
    ),
    ("bad rules dir", ["check", "--rules", "/no/rules", "--feed", SEED], {}, "no such rules"),
    ("bad --feed path", ["check", "--rules", RULES, "--feed", "no/such.xml"], {}, "no such file"),
    ("bad --feed URL", ["check", "--feed", "http://[bad"], {}, "is not a usable URL"),
    (
        "bad --feed URL (rules test)",
        ["rules", "test", "--rules", RULES, "--feed", "http://[bad"],
        {},
        "http://[bad: is not a usable URL",
    ),
    (
        "a path too long to look up",
        ["check", "--rules", "r" * 300, "--feed", SEED],
        {},
        f"newsmon: {'r' * 300}: File name too long",
    ),
    (
        "a feed path too long to look up",
        ["rules", "test", "--rules", RULES, "--feed", "f" * 300],
        {},
        f"newsmon: {'f' * 300}: File name too long",
    ),
    (
        "bad config value in the environment",
        ["check", "--rules", RULES, "--feed", SEED],
        {"NEWSMON_CONCURRENCY": "many"},
        "NEWSMON_CONCURRENCY: Input should be a valid integer",
    ),
    (
        "--deliver with --feed",
        ["check", "--deliver", "--rules", RULES, "--feed", SEED],
        {},
        "--deliver polls the configured feeds",
    ),
]


@pytest.mark.parametrize(
    ("args", "env", "says"), [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES]
)
def test_a_mistake_is_one_line_and_exit_2(
    tmp_path: Path, args: list[str], env: dict[str, str], says: str
) -> None:
    result = newsmon(args, tmp_path, **env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("newsmon"), lines[0]
    assert says in lines[0]
    assert "Traceback" not in result.stderr


def test_a_bad_value_in_the_config_file_is_one_located_line_with_its_source(
    tmp_path: Path,
) -> None:
    """Located errors (config and rule files) add the offending line and a caret under it."""
    (tmp_path / "newsmon.yaml").write_text(f"rules: {RULES}\ngrace_period: soon\n")
    for command in (["check", "--feed", SEED], ["run"]):
        result = newsmon([*command, "--config", "newsmon.yaml"], tmp_path)
        assert result.returncode == 2
        first, source, caret = result.stderr.splitlines()
        assert first.startswith("newsmon: newsmon.yaml:2:15: grace_period: not a duration: 'soon'")
        assert source.strip() == "grace_period: soon"
        assert caret.strip() == "^"
        assert caret.index("^") == source.index("soon")
        assert result.stdout == ""


def test_an_address_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        (tmp_path / "newsmon.yaml").write_text(
            f"rules: {RULES}\ndatabase_url: {tmp_path / 'state.db'}\nhttp_addr: 127.0.0.1:{port}\n"
        )
        result = newsmon(["run", "--config", "newsmon.yaml"], tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        f"newsmon: cannot listen on 127.0.0.1:{port} (http_addr in newsmon.yaml): address already"
        " in use; choose another host:port (an empty value turns the listener off)\n"
    )


def test_a_closed_stdout_drops_the_output_and_keeps_the_exit_status(tmp_path: Path) -> None:
    """`newsmon ... >&-`: Python starts with sys.stdout None; a command that wrote to it ended in
    an AttributeError traceback. The output goes nowhere, as print() sends it, and the exit
    status is the command's."""
    opml = tmp_path / "subs.opml"
    opml.write_text('<opml><body><outline text="W" xmlUrl="https://news.test/rss"/></body></opml>')
    text = tmp_path / "article.txt"
    text.write_text("Troops sent to the border\n\nSoldiers were deployed north.\n")
    for args, code in (
        (["feeds", "import", str(opml)], 0),
        (["rules", "test", "--rules", RULES, "--text", str(text)], 0),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "monitor", *args],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)},
            preexec_fn=lambda: os.close(1),
            check=False,
        )
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode == code, result.stderr


def test_ctrl_c_while_newsmon_starts_is_exit_130_without_a_traceback(tmp_path: Path) -> None:
    """SIGINT while the modules load and the parser is built (before the command runs, where
    `main` answers it): the same 130 as later, not a KeyboardInterrupt traceback."""
    probe = (
        "import os, signal, sys\n"
        "import monitor.cli.main as cli\n"
        "build = cli.build_parser\n"
        "def interrupted(*args, **kwargs):\n"
        "    os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, delivered at the next instruction\n"
        "    return build(*args, **kwargs)\n"
        "cli.build_parser = interrupted\n"
        "sys.argv = ['newsmon', 'rules', 'check']\n"
        "from monitor.cli.entry import main\n"
        "sys.exit(main())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)},
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 130

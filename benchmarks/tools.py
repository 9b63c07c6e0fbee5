"""The pollers under test: how to install, set up and run each one for one refresh round.

Does I/O only when called (apt-get / venv installs with ``install``; files in a state dir with
``setup``). Each tool keeps all its state under its own ``state`` dir, so resetting it is deleting
that dir, and each peer lives in its own venv or Debian package, away from newsmon's environment.
``command`` returns the argv and environment of one timed refresh; the harness runs and measures it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("NEWSMON_BENCH_CACHE", Path.home() / ".cache" / "newsmon-bench"))
SETUP_TIMEOUT = 600


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a child: ours without proxies (traffic stays on 127.0.0.1)."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(extra)
    return env


def _run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, check=True, capture_output=True, text=True, timeout=SETUP_TIMEOUT, env=env
    )


@dataclass
class Tool:
    """One poller. Subclasses fill in the four steps."""

    name: str
    state: Path = field(default_factory=Path)

    def missing(self) -> str | None:
        """Why the tool cannot run here (None when it can)."""
        return None

    def install(self) -> None:
        """Install what ``missing`` reports; print what is installed."""

    def version(self) -> str:
        return ""

    def setup(self, urls: list[str], env: dict[str, str]) -> None:
        """Untimed: subscribe to ``urls`` with empty state under ``self.state``."""

    def command(self) -> tuple[list[str], dict[str, str]]:
        """The argv and environment of one refresh of every feed."""
        raise NotImplementedError


def _apt_install(package: str) -> None:
    print(f"installing Debian package {package}: apt-get install -y {package}", flush=True)
    env = clean_env(DEBIAN_FRONTEND="noninteractive")
    try:
        _run(["apt-get", "install", "-y", "-q", package], env=env)
    except subprocess.CalledProcessError:
        _run(["apt-get", "update", "-q"], env=env)
        _run(["apt-get", "install", "-y", "-q", package], env=env)


def _venv_install(venv: Path, *packages: str) -> None:
    print(f"installing PyPI package(s) {' '.join(packages)} into their own venv {venv}", flush=True)
    _run([sys.executable, "-m", "venv", "--clear", str(venv)])
    _run([str(venv / "bin" / "pip"), "install", "-q", *packages])


class Newsboat(Tool):
    def missing(self) -> str | None:
        return None if shutil.which("newsboat") else "newsboat not installed (Debian: newsboat)"

    def install(self) -> None:
        _apt_install("newsboat")

    def version(self) -> str:
        out = subprocess.run(["newsboat", "-v"], capture_output=True, text=True, check=False)
        return out.stdout.split("\n", 1)[0].split(" - ")[0]

    def setup(self, urls: list[str], env: dict[str, str]) -> None:
        (self.state / "home").mkdir(parents=True, exist_ok=True)
        (self.state / "urls").write_text("".join(f"{u}\n" for u in urls))
        (self.state / "config").write_text("")  # newsboat's defaults

    def command(self) -> tuple[list[str], dict[str, str]]:
        s = self.state
        argv = ["newsboat", "-u", str(s / "urls"), "-c", str(s / "cache.db")]
        argv += ["-C", str(s / "config"), "-x", "reload"]
        home = str(s / "home")
        return argv, clean_env(HOME=home, XDG_CONFIG_HOME=home, XDG_DATA_HOME=home)


class Rss2email(Tool):
    @property
    def venv(self) -> Path:
        return CACHE / "venvs" / "rss2email"

    def missing(self) -> str | None:
        return None if (self.venv / "bin" / "r2e").exists() else f"rss2email not in {self.venv}"

    def install(self) -> None:
        _venv_install(self.venv, "rss2email")

    def version(self) -> str:
        out = _run([str(self.venv / "bin" / "r2e"), "--version"])
        return "rss2email " + out.stdout.strip().split()[-1]

    def _base(self) -> list[str]:
        s = self.state
        return [str(self.venv / "bin" / "r2e"), "-c", str(s / "r2e.cfg"), "-d", str(s / "r2e.json")]

    def setup(self, urls: list[str], env: dict[str, str]) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        outlines = "".join(
            f"<outline type='rss' text='f{i:04d}' xmlUrl={quoteattr(u)}/>\n"
            for i, u in enumerate(urls)
        )
        opml = self.state / "feeds.opml"
        opml.write_text(
            f"<?xml version='1.0'?><opml version='2.0'><body>\n{outlines}</body></opml>\n"
        )
        _run([*self._base(), "new", "bench@example.invalid"], env=env)
        _run([*self._base(), "opmlimport", str(opml)], env=env)

    def command(self) -> tuple[list[str], dict[str, str]]:
        return [*self._base(), "run", "--no-send"], clean_env(HOME=str(self.state))


_READER_DRIVER = """\
import sys
from reader import make_reader
reader = make_reader(sys.argv[2])
if sys.argv[1] == "add":
    for line in open(sys.argv[3]):
        if line.strip():
            reader.add_feed(line.strip(), exist_ok=True)
else:
    # scheduled=False: refresh every feed now, not only those due (reader 3.x).
    reader.update_feeds(scheduled=False)
    print(reader.get_entry_counts().total)
reader.close()
"""


class Reader(Tool):
    @property
    def venv(self) -> Path:
        return CACHE / "venvs" / "reader"

    def missing(self) -> str | None:
        py = self.venv / "bin" / "python"
        if not py.exists():
            return f"reader not in {self.venv}"
        probe = subprocess.run(
            [str(py), "-c", "import reader, sgmllib"], capture_output=True, check=False
        )
        return None if probe.returncode == 0 else f"reader or sgmllib3k missing in {self.venv}"

    def install(self) -> None:
        # reader 3.26 vendors a feedparser that imports `sgmllib`; feedparser 6.0.14's own
        # dependency now installs it as `feedparser_sgmllib`, so reader needs sgmllib3k beside it.
        _venv_install(self.venv, "reader", "sgmllib3k")

    def version(self) -> str:
        code = "import reader; print(reader.__version__)"
        out = _run([str(self.venv / "bin" / "python"), "-c", code])
        return "reader " + out.stdout.strip()

    def setup(self, urls: list[str], env: dict[str, str]) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        (self.state / "driver.py").write_text(_READER_DRIVER)
        (self.state / "urls").write_text("".join(f"{u}\n" for u in urls))
        _run([*self._argv("add"), str(self.state / "urls")], env=env)

    def _argv(self, verb: str) -> list[str]:
        py = str(self.venv / "bin" / "python")
        return [py, str(self.state / "driver.py"), verb, str(self.state / "reader.sqlite")]

    def command(self) -> tuple[list[str], dict[str, str]]:
        return self._argv("update"), clean_env(HOME=str(self.state))


class Lean(Tool):
    def version(self) -> str:
        return "lean reference (stdlib asyncio + ElementTree)"

    def setup(self, urls: list[str], env: dict[str, str]) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        (self.state / "urls").write_text("".join(f"{u}\n" for u in urls))

    def command(self) -> tuple[list[str], dict[str, str]]:
        s = self.state
        argv = [sys.executable, str(REPO / "benchmarks" / "lean.py"), "--urls", str(s / "urls")]
        return [*argv, "--validators", str(s / "validators.json")], clean_env()


@dataclass
class Newsmon(Tool):
    """``newsmon check --deliver`` from this worktree, delivering to the local receiver."""

    receiver_url: str = ""
    extra: list[str] = field(default_factory=list)  # more lines for newsmon.yaml

    def missing(self) -> str | None:
        argv = [sys.executable, "-m", "monitor", "check", "--help"]
        out = subprocess.run(
            argv, cwd=REPO, env=self._env(), capture_output=True, text=True, check=False
        )
        if out.returncode != 0:
            tail = " ".join(out.stderr.split()[-30:])
            return f"`newsmon check --help` failed (exit {out.returncode}): {tail}"
        if "--deliver" not in out.stdout:
            return "pending: `newsmon check --deliver` is not on this branch yet"
        return None

    def _env(self) -> dict[str, str]:
        env = clean_env(PYTHONPATH=str(REPO))
        for key in [k for k in env if k.startswith("NEWSMON_")]:
            del env[key]  # the config file below is the whole configuration
        # As installed (pip compiles bytecode, as it did for the peers' venvs): with this set and
        # no .pyc beside the repository's modules, every run compiled them again, about 0.15 s.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        return env

    def version(self) -> str:
        return "newsmon " + _git_describe()

    def setup(self, urls: list[str], env: dict[str, str]) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        # Untimed, like the peers' installs: bytecode for the repository's modules.
        _run([sys.executable, "-m", "compileall", "-q", str(REPO / "monitor")], self._env())
        rules = REPO / "rules"
        lines = [
            f"database_url: {self.state / 'newsmon.db'}",
            f"rules: {rules}",
            'allow_networks: ["127.0.0.1/32"]',
            "log_level: warning",
            "destinations:",
            f"  - {{name: bench, type: webhook, url: '{self.receiver_url}'}}",
            *self.extra,
            "feeds:",
        ]
        lines += [f"  - {{id: f{i:04d}, url: '{u}', interval: 5m}}" for i, u in enumerate(urls)]
        (self.state / "newsmon.yaml").write_text("\n".join(lines) + "\n")

    def command(self) -> tuple[list[str], dict[str, str]]:
        argv = [sys.executable, "-m", "monitor", "check", "--deliver"]
        return [*argv, "--config", str(self.state / "newsmon.yaml")], self._env()


def _git_describe() -> str:
    out = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip()


def make_tools(names: list[str], receiver_url: str) -> list[Tool]:
    """The tools named, in the order given."""
    known: dict[str, Tool] = {
        "newsmon": Newsmon("newsmon", receiver_url=receiver_url),
        "newsboat": Newsboat("newsboat"),
        "rss2email": Rss2email("rss2email"),
        "reader": Reader("reader"),
        "lean": Lean("lean"),
    }
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown tool(s): {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[n] for n in names]

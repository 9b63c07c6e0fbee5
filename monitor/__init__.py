"""newsmon: polls news feeds, matches watch rules, delivers alerts exactly once."""

import contextlib
import sys
import types

# The one place the version is written: pyproject.toml reads it from here. A literal, not
# importlib.metadata, which costs about 50 ms at every start of a one-shot `newsmon check`.
__version__ = "0.1.0"

__all__ = ["__version__"]


def _httpx_cli_unavailable() -> None:
    raise SystemExit("httpx's command line is not part of newsmon")


# httpx imports its own command-line client (click, rich, pygments) whenever click is installed,
# and uvicorn, the daemon's listener, requires click: that was ~40 ms and ~10 MB at every start
# of a one-shot check. newsmon never runs httpx's CLI, so its module is a stub here, registered
# before anything imports httpx (tests/test_logs.py holds the start-up import set).
if "httpx" not in sys.modules:
    _stub = types.ModuleType("httpx._main")
    _stub.main = _httpx_cli_unavailable  # type: ignore[attr-defined]
    sys.modules.setdefault("httpx._main", _stub)


class _NoTrioForHttpcore:
    """httpcore imports trio whenever it is installed, to serve trio event loops; newsmon runs
    on asyncio only, and trio's import was ~0.13 s CPU and 4 MB of every start where it is
    installed (a browser-testing tool brings it). Refuses `import trio` while httpcore's package
    is being imported (it binds `TrioBackend` last, a stub without trio), then steps aside:
    trio stays importable for everyone else. tests/test_logs.py holds it."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        httpcore = sys.modules.get("httpcore")
        if httpcore is None:
            return
        if "TrioBackend" in vars(httpcore):  # httpcore is imported: nothing more to refuse
            with contextlib.suppress(ValueError):
                sys.meta_path.remove(self)
        elif name == "trio":
            raise ModuleNotFoundError("newsmon runs httpcore on asyncio only", name="trio")


if "httpcore" not in sys.modules and "trio" not in sys.modules:
    sys.meta_path.insert(0, _NoTrioForHttpcore())

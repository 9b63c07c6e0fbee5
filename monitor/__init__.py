"""newsmon: polls news feeds, matches watch rules, delivers alerts exactly once."""

import sys as _sys

# The one place the version is written: pyproject.toml reads it from here. A literal, not
# importlib.metadata, which costs about 50 ms at every start of a one-shot `newsmon check`.
__version__ = "0.1.0"

__all__ = ["__version__"]


def _import_structlog_without_rich() -> None:
    """structlog imports rich and pygments, when installed, for tracebacks newsmon never lets it
    draw (monitor.logs turns exceptions into text first): about 40 ms of every start. A None in
    sys.modules makes structlog's `import rich` fail, so it takes its plain path; rich itself
    stays importable for the tables that use it."""
    if "structlog" in _sys.modules or "rich" in _sys.modules:
        return
    _sys.modules["rich"] = None  # type: ignore[assignment]
    try:
        import structlog  # noqa: F401
    finally:
        del _sys.modules["rich"]


_import_structlog_without_rich()

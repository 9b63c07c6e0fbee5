"""newsmon: polls news feeds, matches watch rules, delivers alerts exactly once."""

# The one place the version is written: pyproject.toml reads it from here. A literal, not
# importlib.metadata, which costs about 50 ms at every start of a one-shot `newsmon check`.
__version__ = "0.1.0"

__all__ = ["__version__"]

"""Configuration of newsmon: one YAML file plus `NEWSMON_*` environment variables.

config = load_config("newsmon.yaml")        # ConfigError, located, on any problem
config.feed_specs()                         # list[FeedSpec] for the pipeline
config.resolve_destinations()               # URLs and secrets, read only when delivering
"""

import sys
import types

# First: the loader logs, and monitor.logs imports structlog its own way (without rich).
import monitor.logs  # noqa: F401


def _no_pydantic_plugins() -> None:
    """pydantic looks for plugins (entry points of installed packages) when it builds its first
    validator, and the module that looks imports importlib.metadata with zipfile, csv and
    email.message: ~28 ms CPU and 0.7 MB of every start. newsmon uses no pydantic plugins:
    in their place, the loader's one function answers none, as PYDANTIC_DISABLE_PLUGINS=1
    would, before any model is built. tests/test_startup.py holds it."""
    if "pydantic.plugin._loader" in sys.modules:
        return
    loader = types.ModuleType("pydantic.plugin._loader")
    loader.get_plugins = lambda: ()  # type: ignore[attr-defined]
    sys.modules["pydantic.plugin._loader"] = loader


_no_pydantic_plugins()

from monitor.config.destinations import ResolvedDestination  # noqa: E402
from monitor.config.loader import (  # noqa: E402
    CONFIG_ENV,
    DEFAULT_FILE,
    find_config_path,
    load_config,
    warn_config,
)
from monitor.config.models import DestinationConfig, FeedConfig, slug_for_url  # noqa: E402
from monitor.config.settings import ENV_PREFIX, Config  # noqa: E402
from monitor.config.values import parse_size  # noqa: E402

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_FILE",
    "ENV_PREFIX",
    "Config",
    "DestinationConfig",
    "FeedConfig",
    "ResolvedDestination",
    "find_config_path",
    "load_config",
    "parse_size",
    "slug_for_url",
    "warn_config",
]

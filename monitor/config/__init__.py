"""Configuration of newsmon: one YAML file plus `NEWSMON_*` environment variables.

config = load_config("newsmon.yaml")        # ConfigError, located, on any problem
config.feed_specs()                         # list[FeedSpec] for the pipeline
config.resolve_destinations()               # URLs and secrets, read only when delivering
"""

# First: the loader logs, and monitor.logs imports structlog its own way (without rich).
import monitor.logs  # noqa: F401
from monitor.config.destinations import ResolvedDestination
from monitor.config.loader import CONFIG_ENV, DEFAULT_FILE, find_config_path, load_config
from monitor.config.models import DestinationConfig, FeedConfig, slug_for_url
from monitor.config.settings import ENV_PREFIX, Config
from monitor.config.values import parse_size

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
]

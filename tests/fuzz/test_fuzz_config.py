"""Fuzzing the config loader: any YAML text as the config file gives a Config or a ConfigError,
never another exception. Found here: a YAML alias that contains itself, and nesting hundreds of
levels deep, raised RecursionError."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from monitor.config import Config
from monitor.config.loader import load_config
from monitor.errors import ConfigError
from tests.fuzz.budget import budget

pytestmark = pytest.mark.fault

KEYS = ["feeds", "destinations", "database_url", "retention", "feed_lease", "fetch_deadline",
        "allow_networks", "http_addr", "max_body", "concurrency", "log_level", "id", "url",
        "interval", "backfill", "name", "type", "secret_env", "url_env", "rate"]  # fmt: skip
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
    | st.sampled_from(["5m", "0", "-1s", "10MiB", "https://feeds.example.com/x",
                       "http://[::1", "127.0.0.1:0", "webhook", "slack"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner,
                                                                 max_size=4),
    max_leaves=10,
)  # fmt: skip


def load_text(text: str) -> Config | ConfigError:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "newsmon.yaml")
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            return load_config(path, env={})
        except ConfigError as exc:
            failed = exc
    assert str(failed)
    return failed


@budget(200)
@given(st.dictionaries(st.sampled_from(KEYS), values, max_size=6))
def test_generated_configs_load_or_raise_config_error(doc: dict[str, object]) -> None:
    load_text(yaml.safe_dump(doc, allow_unicode=True))


@budget(200)
@given(st.text(max_size=300))
@example("feeds: &f\n  - *f\n")
@example("feeds: " + "[" * 800 + "]" * 800)
def test_any_text_as_the_config_loads_or_raises_config_error(text: str) -> None:
    load_text(text)

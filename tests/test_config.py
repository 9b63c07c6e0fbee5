"""Configuration: file discovery, env over file, located errors, destinations resolved lazily."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from monitor.config import Config, load_config, parse_size
from monitor.config import loader as config_loader
from monitor.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str, name: str = "newsmon.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path | None, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env or {})
    return str(info.value)


def test_defaults_without_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(env={})
    assert config.path is None
    assert config.database_url == "newsmon.db"
    assert config.rules == "rules"
    assert config.http_addr == "127.0.0.1:9464"
    assert config.default_interval == timedelta(minutes=5)
    assert config.max_body == 10 * 1024 * 1024
    assert config.feed_lease > config.fetch_deadline
    assert config.feeds == []
    assert config.destinations == []


def test_file_discovery_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "rules: from-cwd\n")
    named = write(tmp_path, "rules: from-env-var\n", "other.yaml")
    explicit = write(tmp_path, "rules: explicit\n", "explicit.yaml")
    assert load_config(env={}).rules == "from-cwd"
    assert load_config(env={"NEWSMON_CONFIG": str(named)}).rules == "from-env-var"
    assert load_config(explicit, env={"NEWSMON_CONFIG": str(named)}).rules == "explicit"


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path, "database_url: file.db\nfetch_deadline: 20s\nmax_body: 1MiB\n")
    env = {
        "NEWSMON_DATABASE_URL": "postgresql://db/newsmon",
        "newsmon_fetch_deadline": "45",  # variable names are case-insensitive
        "NEWSMON_ALLOW_NETWORKS": "10.0.0.0/8, feeds.internal ,",
        "NEWSMON_LOG_LEVEL": "DEBUG",
    }
    config = load_config(path, env=env)
    assert config.database_url == "postgresql://db/newsmon"
    assert config.fetch_deadline == timedelta(seconds=45)
    assert config.max_body == 1024 * 1024  # from the file: the env did not set it
    assert config.allow_networks == ["10.0.0.0/8", "feeds.internal"]
    assert config.log_level == "debug"


def test_env_overrides_names_the_file_keys_a_variable_replaces(tmp_path: Path) -> None:
    """What the container image does to a mounted file: its three variables replace these keys,
    and `newsmon run` names them in `config_loaded` (keys and variables, never values)."""
    path = write(
        tmp_path,
        "database_url: postgresql://u:pw@db/newsmon\nrules: rules\nhttp_addr: 0.0.0.0:9500\n"
        "fetch_deadline: 20s\n",
    )
    image = {
        "NEWSMON_DATABASE_URL": "/data/newsmon.db",
        "NEWSMON_RULES": "/rules",
        "newsmon_http_addr": "0.0.0.0:9464",
        "NEWSMON_LOG_LEVEL": "debug",  # not in the file: nothing replaced
        "NEWSMON_FETCH_DEADLINE": "",  # empty counts as unset: the file's 20s holds
    }
    config = load_config(path, env=image)
    assert config.env_overrides() == {
        "database_url": "NEWSMON_DATABASE_URL",
        "http_addr": "NEWSMON_HTTP_ADDR",
        "rules": "NEWSMON_RULES",
    }
    assert load_config(path, env={}).env_overrides() == {}


def test_nested_env_json_for_feeds(tmp_path: Path) -> None:
    env = {"NEWSMON_FEEDS": '[{"url": "https://example.org/rss", "interval": "2m"}]'}
    config = load_config(write(tmp_path, "feeds: []\n"), env=env)
    assert [f.url for f in config.feeds] == ["https://example.org/rss"]
    assert "not valid JSON" in error_of(None, {"NEWSMON_FEEDS": "[not json"})
    # A key of a section, set on its own, is named as written, not as the section's variable.
    message = error_of(None, {"NEWSMON_UI__TRUSTED_PROXIES": "10.0.0.1,10.0.0.2"})
    assert message.startswith("NEWSMON_UI__TRUSTED_PROXIES: not valid JSON"), message


def test_config_is_frozen(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "jitter: 0.2\n"), env={})
    with pytest.raises(ValueError, match="frozen"):
        config.jitter = 0.5


def test_feed_specs_fill_interval_and_id(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "default_interval: 7m\n"
        "feeds:\n"
        "  - url: https://www.example.org/news/World.rss?x=1\n"
        "    tags: a, b\n"
        "  - id: two\n"
        "    url: http://127.0.0.1:8080/feed\n"
        "    interval: 2s\n"
        "    backfill: 1d\n",
    )
    specs = load_config(path, env={}).feed_specs()
    assert specs[0].id == "example-org-news-world-rss-x-1"
    assert specs[0].interval_s == 420
    assert specs[0].tags == ("a", "b")
    assert (specs[1].id, specs[1].interval_s, specs[1].backfill_s) == ("two", 2.0, 86400.0)


def test_error_names_file_line_column_and_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "feeds:\n"
        "  - url: https://a.example/rss\n"
        "  - url: https://b.example/rss\n"
        "    interval: 5 minutes\n",
    )
    message = error_of(path)
    first = message.splitlines()[0]
    assert first == (
        f"{path}:4:15: feeds[1].interval: not a duration: '5 minutes'"
        " (use 90s, 5m, 2h, 7d or seconds)"
    )
    assert "    interval: 5 minutes" in message


def test_all_errors_at_once_with_did_you_mean(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "fetch_deadlin: 3s\n"
        "max_body: lots\n"
        "log_format: xml\n"
        "feeds:\n"
        "  - url: file:///etc/passwd\n"
        "    nmae: x\n",
    )
    lines = [line for line in error_of(path).splitlines() if line.startswith(str(path))]
    assert len(lines) == 5
    assert lines[0].startswith(f"{path}:1:1: fetch_deadlin: unknown key 'fetch_deadlin';")
    assert "did you mean 'fetch_deadline'?" in lines[0]
    assert any(":2:11: max_body: not a size: 'lots'" in line for line in lines)
    assert any(":3:13: log_format:" in line and "'xml'" in line for line in lines)
    assert any(":5:10: feeds[0].url: not an http(s) URL" in line for line in lines)
    nmae = ":6:5: feeds[0].nmae: unknown key 'nmae'; did you mean 'name'?"
    assert any(nmae in line for line in lines)


def test_did_you_mean_in_every_section_offers_that_sections_keys(tmp_path: Path) -> None:
    # The hint came from the top level's keys (or a feed's, a destination's) wherever the key
    # was: nothing under `ui:`, `storm:` or `digest:`, and a destination's `from` never offered.
    path = write(
        tmp_path,
        "ui:\n"
        "  sesion_ttl: 1h\n"
        "destinations:\n"
        "  - name: mail\n"
        "    type: email\n"
        "    url_env: SMTP_URL\n"
        "    frm: a@example.org\n"
        "    to: [b@example.org]\n"
        "    digest: {evry: 1h}\n",
    )
    message = error_of(path)
    for key, meant in [("sesion_ttl", "session_ttl"), ("frm", "from"), ("evry", "every")]:
        assert f"unknown key {key!r}; did you mean {meant!r}?" in message, key


def test_yaml_syntax_error_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds:\n  - url: [unclosed\nrules: x\n")
    message = error_of(path)
    assert message.startswith(f"{path}:3:")
    assert "invalid YAML" in message


def test_repeated_key_and_non_mapping(tmp_path: Path) -> None:
    assert "rules: key given twice" in error_of(write(tmp_path, "rules: a\nrules: b\n"))
    assert "must be a mapping" in error_of(write(tmp_path, "- a\n- b\n", "list.yaml"))


def test_missing_config_file_is_one_line(tmp_path: Path) -> None:
    message = error_of(tmp_path / "nope.yaml")
    assert message == f"config file not found: {tmp_path / 'nope.yaml'}"


def test_bad_env_value_names_the_variable(tmp_path: Path) -> None:
    message = error_of(None, {"NEWSMON_FETCH_DEADLINE": "soon", "NEWSMON_CONCURRENCY": "many"})
    assert "NEWSMON_FETCH_DEADLINE: not a duration: 'soon'" in message
    assert "NEWSMON_CONCURRENCY: " in message


def test_entry_checks(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "feeds:\n"
        "  - url: https://c.example/rss\n"
        "    interval: 0.5\n"
        "destinations:\n"
        "  - {name: d, type: pagerduty, url_env: Y}\n"
        "  - {name: e, type: slack, url_env: Z, secret_env: S}\n"
        "  - {name: f, type: webhook}\n",
    )
    message = error_of(path)
    assert "feeds[0].interval: a feed interval must be at least 1s" in message
    assert "destinations[0].type: Input should be 'webhook', 'slack', 'email'" in message
    assert "or 'matrix', got 'pagerduty'" in message
    assert "destinations[1].secret_env: Slack incoming webhooks are not signed" in message
    assert "destinations[2]: give exactly one of url, url_env, url_file" in message


def test_cross_checks(tmp_path: Path) -> None:
    # Checks across entries run once every entry is valid on its own.
    path = write(
        tmp_path,
        "fetch_deadline: 3m\n"
        "feeds:\n"
        "  - url: https://a.example/rss\n"
        "    id: same\n"
        "  - url: https://b.example/rss\n"
        "    id: same\n"
        "destinations:\n"
        "  - {name: d, type: webhook, url_env: X}\n"
        "  - {name: d, type: slack, url_env: Y}\n",
    )
    lines = error_of(path).splitlines()
    assert lines[0] == f"{path}:1:17: fetch_deadline: must be shorter than feed_lease (2m)"
    assert f"{path}:6:9: feeds[1].id: duplicate feed id 'same' (also feeds[0]);" in "\n".join(lines)
    assert f"{path}:9:12: destinations[1].name: duplicate destination name 'd'" in "\n".join(lines)


def test_duplicate_derived_ids_are_refused(tmp_path: Path) -> None:
    text = "feeds:\n  - url: https://a.example/rss\n  - url: https://a.example/rss\n"
    assert "duplicate feed id 'a-example-rss'" in error_of(write(tmp_path, text))


def test_a_derived_id_leaves_out_a_credential_in_the_query(tmp_path: Path) -> None:
    text = (
        "feeds:\n"
        "  - url: 'https://u:SENTINELpw@a.example/rss?format=rss&apikey=SENTINELkey&x=1'\n"
        "  - url: 'https://a.example/rss?access_token=SENTINELtok'\n"
    )
    ids = [f.id for f in load_config(write(tmp_path, text), env={}).feeds]
    assert ids == ["a-example-rss-format-rss-x-1", "a-example-rss"]


def test_short_interval_warns_once_for_remote_hosts(tmp_path: Path) -> None:
    config_loader._warned.clear()
    path = write(
        tmp_path,
        "feeds:\n"
        "  - {id: remote, url: 'https://news.example/rss', interval: 10s}\n"
        "  - {id: local, url: 'http://127.0.0.1:9/rss', interval: 1s}\n",
    )
    with capture_logs() as logs:
        load_config(path, env={})
        load_config(path, env={})
    warnings = [e for e in logs if e["event"] == "feed_interval_short"]
    assert [(w["feed"], w["log_level"]) for w in warnings] == [("remote", "warning")]


def test_an_inline_secret_warning_names_the_keys_that_replace_it(tmp_path: Path) -> None:
    # A Slack URL is the secret, and a Slack destination takes no secret key: the hint must
    # say url_env/url_file, not secret_env/secret_file.
    config_loader._warned.clear()
    path = write(
        tmp_path,
        "destinations:\n"
        "  - {name: chat, type: slack, url: 'https://hooks.slack.com/services/T/B/x'}\n"
        "  - {name: hook, type: webhook, url_env: HOOK, secret: whsec_aGVsbG8=}\n"
        "  - {name: talk, type: discord, url: 'https://discord.com/api/webhooks/1/x'}\n",
    )
    with capture_logs() as logs:
        load_config(path, env={})
    hints = {e["destination"]: e["hint"] for e in logs if e["event"] == "destination_inline_secret"}
    assert hints == {
        "chat": "use url_env or url_file so the config file holds no secret",
        "hook": "use secret_env or secret_file so the config file holds no secret",
        "talk": "use url_env or url_file so the config file holds no secret",
    }


def test_sizes() -> None:
    assert parse_size("10MiB") == 10 * 1024 * 1024
    assert parse_size("512KB") == 512_000
    assert parse_size(2048) == 2048
    with pytest.raises(ValueError, match="not a size"):
        parse_size("10 parsecs")


def test_config_model_has_one_env_var_per_setting() -> None:
    # The convention: NEWSMON_ + the file key in upper case, nothing else.
    assert Config.model_config["env_prefix"] == "NEWSMON_"
    assert Config.model_config["env_nested_delimiter"] == "__"


def test_lease_error_from_env_names_the_variable() -> None:
    message = error_of(None, {"NEWSMON_FEED_LEASE": "10s"})
    assert message == "NEWSMON_FEED_LEASE: must be longer than fetch_deadline (30s)"


def test_empty_env_var_counts_as_unset(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "rules: my-rules\n"), env={"NEWSMON_RULES": ""})
    assert config.rules == "my-rules"


def test_allow_networks_and_http_addr_are_checked(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, "allow_networks: [10.0.0.0/8, '::1', feeds.internal]\nhttp_addr: ''\n"),
        env={"NEWSMON_HTTP_ADDR": "[::]:9464"},
    )
    assert config.allow_networks == ["10.0.0.0/8", "::1", "feeds.internal"]
    assert config.http_addr == "[::]:9464"
    message = error_of(None, {"NEWSMON_ALLOW_NETWORKS": "10.0.0.0/33", "NEWSMON_HTTP_ADDR": "9464"})
    assert "NEWSMON_ALLOW_NETWORKS: allow_networks[0]: '10.0.0.0/33' is not a valid CIDR" in message
    assert "NEWSMON_HTTP_ADDR: not host:port: '9464'" in message


def test_http_allowed_hosts_from_file_or_env_and_checked_at_their_place(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "http_allowed_hosts: [newsmon.example.org]\n"), env={})
    assert config.http_allowed_hosts == ["newsmon.example.org"]
    env = {"NEWSMON_HTTP_ALLOWED_HOSTS": "a.example, b.example"}
    assert load_config(None, env=env).http_allowed_hosts == ["a.example", "b.example"]
    message = error_of(
        write(tmp_path, "http_allowed_hosts: [ok.example, 'https://x.example']\n"), {}
    )
    assert message.startswith(f"{tmp_path / 'newsmon.yaml'}:1:34: http_allowed_hosts[1]:")
    assert "is a URL; write only its host name" in message
    message = error_of(None, {"NEWSMON_HTTP_ALLOWED_HOSTS": "proxy.example:443"})
    assert message == (
        "NEWSMON_HTTP_ALLOWED_HOSTS: http_allowed_hosts[0]: 'proxy.example:443': write the name"
        " without a port (every port is accepted)"
    )


@pytest.mark.parametrize(
    ("addr", "says"),
    [
        ("http://127.0.0.1:9464", "give the address without http:// (for example 127.0.0.1:9464)"),
        ("::1:9464", "put an IPv6 address in brackets"),
    ],
)
def test_http_addr_that_the_listener_would_refuse_is_a_located_error(
    tmp_path: Path, addr: str, says: str
) -> None:
    # Both passed the config and stopped `run` at the bind, worded for NEWSMON_HTTP_ADDR (and
    # a URL was told to bracket its "IPv6 address").
    message = error_of(write(tmp_path, f"http_addr: '{addr}'\n"), {})
    assert message.startswith(f"{tmp_path / 'newsmon.yaml'}:1:12: http_addr:")
    assert says in message


def test_empty_sections_mean_none(tmp_path: Path) -> None:
    text = "feeds:\n  # - url: https://a.example/rss\ndestinations:\nallow_networks:\n"
    config = load_config(write(tmp_path, text), env={})
    assert config.feeds == []
    assert config.destinations == []
    assert config.allow_networks == []


def test_missing_file_named_by_env_says_so(tmp_path: Path) -> None:
    message = error_of(None, {"NEWSMON_CONFIG": str(tmp_path / "gone.yaml")})
    assert message == f"config file not found: {tmp_path / 'gone.yaml'} (named by NEWSMON_CONFIG)"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("?\n", ":1:"),
        ("1: x\n", ":1:1:"),
        ("null: x\n", ":1:1:"),
        ("feeds:\n  - url: https://x.example/rss\n    true: 1\n", ":3:5: feeds[0].true"),
    ],
)
def test_a_key_that_is_not_a_name_is_a_located_error(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "newsmon.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="a key must be a name") as caught:
        load_config(path, env={})
    assert where in str(caught.value)


def test_a_url_with_any_space_or_control_character_is_refused_and_no_other() -> None:
    import sys

    from monitor.net.urls import _SPACE_OR_CONTROL, url_problem

    # The search is the check; every code point against the per-character rule it replaced.
    for code in range(sys.maxunicode + 1):
        ch = chr(code)
        refused = ch.isspace() or code < 32 or code == 127
        assert bool(_SPACE_OR_CONTROL.search(ch)) is refused, hex(code)
    problem = "the URL contains a space or control character"
    for ch in ("\u00a0", "\u2028", "\x85", "\x1f", "\x7f", "\t", "\u3000"):
        assert url_problem(f"http://example.com/a{ch}b") == problem, repr(ch)
    for ch in ("\x80", "\u200b", "\ufeff", "é", "%20"):
        assert url_problem(f"http://example.com/a{ch}b") is None, repr(ch)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            "feeds:\n  - https://news.example/rss\n",
            ":2:5: feeds[0]: should be a mapping of keys to values (at least url), not a text",
        ),
        (
            "destinations:\n  - slack\n",
            ":2:5: destinations[0]: should be a mapping of keys to values (at least name and type),"
            " not a text",
        ),
        ("ui: true\n", ":1:5: ui: should be a mapping of keys to values, not true or false"),
    ],
)
def test_a_scalar_where_a_mapping_goes_says_so_without_pydantic_class_names(
    tmp_path: Path, text: str, says: str
) -> None:
    # It said "Input should be a valid dictionary or instance of FeedConfig".
    message = error_of(write(tmp_path, text), {})
    assert message.splitlines()[0] == f"{tmp_path / 'newsmon.yaml'}{says}"


def test_a_config_that_is_a_folder_says_to_name_the_file_in_it(tmp_path: Path) -> None:
    # It said "cannot read config file DIR: [Errno 21] Is a directory: 'DIR'".
    assert error_of(tmp_path, {}) == (
        f"config file {tmp_path} is a folder: name the file in it ({tmp_path}/newsmon.yaml)"
    )


@pytest.mark.parametrize(
    "key",
    ["retention", "story_window", "feed_lease", "default_interval", "archive_retention"],
)
def test_a_duration_past_a_thousand_years_is_a_located_error(tmp_path: Path, key: str) -> None:
    """`retention: 999999999d` was read, then every poll raised OverflowError (now minus it
    is before the year 1); `default_interval: 3000000d` did so past the year 9999."""
    path = write(tmp_path, f"log_level: info\n{key}: 999999999d\n")
    assert f"{path}:2:{len(key) + 3}: {key}: duration too long: '999999999d'" in error_of(path)
    message = error_of(None, {f"NEWSMON_{key.upper()}": "3000000d"})
    assert f"NEWSMON_{key.upper()}: duration too long: '3000000d' (at most 365000d" in message
    assert load_config(write(tmp_path, f"{key}: 365000d\n"), env={}).model_dump()[key] == (
        timedelta(days=365000)
    )


def test_a_zero_interval_or_deadline_is_a_located_error(tmp_path: Path) -> None:
    """`default_interval: 0s` was a ValueError traceback at the first poll; a 0s deadline or
    connect timeout failed every fetch or post."""
    path = write(
        tmp_path,
        "default_interval: 0s\nfetch_deadline: 0s\nconnect_timeout: 0\ndelivery_deadline: 0s\n",
    )
    lines = error_of(path).splitlines()
    assert f"{path}:1:19: default_interval: must be at least 1s, as a feed's interval" in lines
    assert f"{path}:2:17: fetch_deadline: must be longer than 0s (for example 30s)" in lines
    assert f"{path}:3:18: connect_timeout: must be longer than 0s (for example 10s)" in lines
    assert f"{path}:4:20: delivery_deadline: must be longer than 0s (for example 30s)" in lines


def test_a_database_timeout_past_what_postgresql_takes_is_a_located_error(
    tmp_path: Path,
) -> None:
    """`database_timeout: 30d` was read, then every connection to PostgreSQL failed with
    `invalid value for parameter "statement_timeout": "2592000000"` (it takes milliseconds up
    to 2**31 - 1: 24.8 days), which did not name the setting."""
    path = write(tmp_path, "log_level: info\ndatabase_timeout: 30d\n")
    assert f"{path}:2:19: database_timeout: must be at most 24d" in error_of(path)
    message = error_of(None, {"NEWSMON_DATABASE_TIMEOUT": "600h"})
    assert "NEWSMON_DATABASE_TIMEOUT: must be at most 24d" in message
    assert load_config(write(tmp_path, "database_timeout: 24d\n"), env={}).database_timeout == (
        timedelta(days=24)
    )
    assert "must be longer than 0s" in error_of(write(tmp_path, "database_timeout: 0s\n"))

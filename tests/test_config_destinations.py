"""Destinations: URLs and secrets from env or files, resolved only when delivering, never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor import logs
from monitor.config import load_config
from monitor.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "newsmon.yaml"
HOOK = "https://hooks.example.net/services/T000/B000/abcdefSECRETxyz"


@pytest.fixture(autouse=True)
def _no_secrets() -> None:
    logs.clear_secrets()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "newsmon.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_loads_without_delivery_env() -> None:
    config = load_config(EXAMPLE, env={})
    assert config.database_url == "newsmon.db"
    assert config.rules == "rules"
    assert [d.name for d in config.destinations] == ["ops-webhook"]
    assert all(spec.url.startswith("https://") for spec in config.feed_specs())
    with pytest.raises(ConfigError) as info:
        config.resolve_destinations()
    assert str(info.value) == (
        "destination 'ops-webhook': url: environment variable NEWSMON_WEBHOOK_URL"
        " is not set or empty"
    )


def test_example_config_resolves_from_env_with_rotation() -> None:
    env = {"NEWSMON_WEBHOOK_URL": HOOK, "NEWSMON_WEBHOOK_SECRET": "whsec_new whsec_old"}
    (dest,) = load_config(EXAMPLE, env=env).resolve_destinations()
    assert dest.type == "webhook"
    assert dest.url.get_secret_value() == HOOK
    assert [s.get_secret_value() for s in dest.secrets] == ["whsec_new", "whsec_old"]
    assert (dest.rate, dest.burst) == (None, 1)
    for shown in (repr(dest), str(dest)):
        assert HOOK not in shown
        assert "whsec_new" not in shown
    # Resolving registers nothing: the bootstrap registers what it resolved (test_bootstrap.py)
    assert logs.redact(f"posting to {HOOK}") == f"posting to {HOOK}"


def test_secret_missing_names_variable_not_value(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "destinations:\n"
        "  - {name: a, type: webhook, url_env: A_URL, secret_env: A_SECRET}\n"
        "  - {name: b, type: slack, url_file: missing-url.txt}\n",
    )
    config = load_config(path, env={"A_URL": HOOK})
    with pytest.raises(ConfigError) as info:
        config.resolve_destinations()
    message = str(info.value)
    assert "destination 'a': secret: environment variable A_SECRET is not set or empty" in message
    assert f"destination 'b': url: cannot read {tmp_path / 'missing-url.txt'}" in message
    assert HOOK not in message


def test_a_secret_file_is_read_to_a_limit(tmp_path: Path) -> None:
    # `url_file: /dev/zero` (or a log file) was read until memory ran out: a MemoryError.
    (tmp_path / "big.log").write_bytes(b"x" * (64 * 1024 + 1))
    path = write(tmp_path, "destinations:\n  - {name: b, type: slack, url_file: big.log}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={}).resolve_destinations()
    assert str(info.value) == (
        f"destination 'b': url: cannot read {tmp_path / 'big.log'}: larger than 64 KiB;"
        " is this the right file?"
    )


def test_files_relative_to_config_and_stripped(tmp_path: Path) -> None:
    (tmp_path / "url.txt").write_text(f"  {HOOK}\n", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("whsec_one\n", encoding="utf-8")
    path = write(
        tmp_path,
        "destinations:\n"
        "  - {name: hook, type: webhook, url_file: url.txt, secret_file: secret.txt}\n"
        "  - {name: chat, type: slack, url_file: url.txt, rate: 2, burst: 5}\n",
    )
    hook, chat = load_config(path, env={}).resolve_destinations()
    assert hook.url.get_secret_value() == HOOK
    assert [s.get_secret_value() for s in hook.secrets] == ["whsec_one"]
    assert (chat.type, chat.rate, chat.burst, chat.secrets) == ("slack", 2.0, 5, ())


def test_slack_gets_its_rate_limit_by_default(tmp_path: Path) -> None:
    path = write(tmp_path, "destinations:\n  - {name: chat, type: slack, url_env: SLACK}\n")
    (chat,) = load_config(path, env={"SLACK": HOOK}).resolve_destinations()
    assert (chat.rate, chat.burst) == (1.0, 3)


def test_inline_secrets_work_but_never_print(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "destinations:\n"
        f"  - {{name: hook, type: webhook, url: '{HOOK}',\n"
        "      secrets: [whsec_a1b2c3d4, whsec_e5f6]}\n",
    )
    config = load_config(path, env={})
    assert HOOK not in repr(config)
    assert "whsec_a1b2c3d4" not in repr(config)
    assert HOOK not in str(config.model_dump())
    (hook,) = config.resolve_destinations()
    assert [s.get_secret_value() for s in hook.secrets] == ["whsec_a1b2c3d4", "whsec_e5f6"]


def test_bad_inline_secret_error_does_not_echo_it(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "destinations:\n  - {name: hook, type: webhook, url: 'ftp://user:hunter2pw@x/'}\n",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert "hunter2pw" not in str(info.value).split("\n")[0]
    assert "destinations[0].url: the URL must start with http:// or https://" in str(info.value)


def test_error_in_a_destination_does_not_quote_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "destinations:\n  - name: hook\n    type: webhook\n    url_env: X\n"
        "    secert: whsec_s3cr3tvalue\n",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert message == (
        f"{path}:5:5: destinations[0].secert: unknown key 'secert'; did you mean 'secret'?"
    )
    assert "s3cr3t" not in message

"""Hostile or careless config files: secrets in the line a syntax error quotes, an alias bomb, a
huge file, and allow-list entries the address guard would refuse. Each ends in one located
ConfigError (exit 2 from the CLI), never a traceback, a leaked secret or a long walk."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.config.loader import load_config
from monitor.config.masking import HIDDEN, mask_secrets
from monitor.config.yamlfile import MAX_ALIAS_NODES, MAX_CONFIG_BYTES
from monitor.errors import ConfigError
from monitor.net.guard import AddressGuard
from tests.fuzz.budget import budget

pytestmark = pytest.mark.fault

ROOT = Path(__file__).resolve().parents[2]
HOOK = "https://hooks.slack.com/services/T0SENTINEL/B0SENTINEL/SENTINELslackKey0123456789"
WHSEC = "whsec_U0VOVElORUxzaWduLTAxMjM0NTY3ODlhYmNkZWY="  # base64 of "SENTINELsign-0123..."


def error_of(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> str:
    path = tmp_path / "newsmon.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env or {})
    return str(info.value)


DEST = "destinations:\n  - name: team\n    type: webhook\n"
# (what is wrong, the config text, the line the error must point at: an unclosed quote or bracket
# is placed where it opens, not where YAML gave up)
SYNTAX_ERRORS = [
    ("a tab", DEST + f"    url: {HOOK}\n\tsecret: {WHSEC}\n", 5),
    ("a tab before the url", DEST + f"\turl: {HOOK}\n", 4),
    ("bad indentation", DEST + f"    url: {HOOK}\n   secret: {WHSEC}\n", 5),
    ("a key given twice", DEST + f"    secret: {WHSEC}\n    secret: {WHSEC}\n", 5),
    ("the url given twice", DEST + f"    url: {HOOK}\n    url: {HOOK}\n", 5),
    ("an unclosed quote", DEST + f'    url: "{HOOK}\n', 4),
    ("a flow mapping", f"destinations: [{{name: t, url: {HOOK}, secret: {WHSEC}}}\n", 1),
    ("an alias to a secret", DEST + f"    secret: &s {WHSEC}\n    url: *s\n    x: [\n", 6),
    ("a database password", "database_url: postgresql://u:SENTINELpw@db/x\n\tlog_level: x\n", 2),
    ("a continuation line", f"rules: x\n  {HOOK}\n: y\n", 3),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "line"), [c[1:] for c in SYNTAX_ERRORS], ids=[c[0] for c in SYNTAX_ERRORS]
)
def test_a_config_syntax_error_points_at_the_line_without_quoting_its_secret(
    tmp_path: Path, text: str, line: int
) -> None:
    message = error_of(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'newsmon.yaml'}:{line}:")
    assert "SENTINEL" not in message
    assert WHSEC.removeprefix("whsec_")[:12] not in message


def test_masking_keeps_what_helps_and_hides_what_does_not() -> None:
    assert mask_secrets(f"    url: {HOOK}") == f"    url: https://hooks.slack.com/{HIDDEN}"
    assert mask_secrets(f"\tsecret: {WHSEC}") == f"\tsecret: {HIDDEN}"
    assert mask_secrets("  password: hunter2") == f"  password: {HIDDEN}"
    assert mask_secrets("database_url: postgresql://u:pw@db:5432/x") == (
        f"database_url: postgresql://db:5432/{HIDDEN}"
    )
    assert mask_secrets("  - {name: t, secret: abc}") == f"  - {{name: t, secret: {HIDDEN}}}"
    assert mask_secrets("  token: xoxb-123-456") == f"  token: {HIDDEN}"
    assert mask_secrets("x: aB3dE5gH7jK9mN1pQ3sT5vX7zA") == f"x: {HIDDEN}"
    # Not secrets: where a secret is, ids, durations, words, a URL that is only a host.
    for line in ("    url_env: TEAM_URL", "    secret_file: /run/secrets/team", "  - id: reuters",
                 "interval: 5m", "log_level: debug", "url: https://feeds.example.com",
                 "  - id: reuters-world-news-2024-europe", "url: >"):  # fmt: skip
        assert mask_secrets(line) == line
    once = mask_secrets(f"  - {{url: {HOOK}, secret: {WHSEC}}}")
    assert mask_secrets(once) == once


@budget(300)
@given(
    prefix=st.sampled_from(["", "  ", "\t", "  - ", "- {a: b, ", "key: [", "   ", "# "]),
    key=st.sampled_from(["url", "secret", "secrets", "token", "x", "webhook", "database_url"]),
    sep=st.sampled_from([": ", ":  ", ": '", ': "', ": &a ", ": !!str "]),
    secret=st.sampled_from([HOOK, WHSEC, "xoxb-1-SENTINEL", "http://u:SENTINEL@h/",
                            "postgresql://SENTINEL:SENTINEL@db/x", "https://h/?k=SENTINEL"]),
    tail=st.sampled_from(["", "'", '"', "}", "]", " # note", ", b: c}"]),
)  # fmt: skip
def test_no_sentinel_survives_masking(
    prefix: str, key: str, sep: str, secret: str, tail: str
) -> None:
    masked = mask_secrets(f"{prefix}{key}{sep}{secret}{tail}")
    assert "SENTINEL" not in masked
    assert WHSEC[8:] not in masked


def alias_bomb(levels: int) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    return "\n".join(lines) + f"\nfeeds: *a{levels - 1}\n"


@pytest.mark.timeout(30)  # without the bound: 10^8 values walked, minutes and gigabytes
def test_an_alias_bomb_is_refused_at_the_line_that_uses_the_alias(tmp_path: Path) -> None:
    message = error_of(tmp_path, alias_bomb(8))
    assert f"YAML aliases repeat more than {MAX_ALIAS_NODES:,} values" in message
    head = message.splitlines()[0]
    assert head.startswith(f"{tmp_path / 'newsmon.yaml'}:5:1: a4[0]:")  # the line of `a4: [*a3`
    assert "*a3" in message.splitlines()[1]


def test_ordinary_aliases_still_work(tmp_path: Path) -> None:
    feeds = "".join(
        f"  - url: https://f{i}.example/rss\n    tags: *tags\n" if i else
        f"  - url: https://f{i}.example/rss\n    tags: &tags [world, europe, politics]\n"
        for i in range(2_000)
    )  # fmt: skip
    path = tmp_path / "newsmon.yaml"
    path.write_text("feeds:\n" + feeds)
    config = load_config(path, env={})
    assert len(config.feeds) == 2_000
    assert list(config.feeds[-1].tags) == ["world", "europe", "politics"]


def test_a_config_file_over_the_cap_is_refused_before_parsing(tmp_path: Path) -> None:
    comment = "# " + "x" * 1022 + "\n"
    message = error_of(tmp_path, "rules: x\n" + comment * (MAX_CONFIG_BYTES // 1024 + 1))
    assert message == f"{tmp_path / 'newsmon.yaml'}: the config file is larger than 4 MiB;" \
        " is this the right file?"  # fmt: skip


BAD_NETWORKS = [
    ("10.0.0.1/8", "is not a valid CIDR: 10.0.0.1/8 has host bits set"),
    ("127.1", "looks like an address; write it as a.b.c.d or a CIDR"),
    ("0x7f.1", "looks like an address"),
    ("http://feeds.internal", "is a URL; write only its host name"),
]


@pytest.mark.parametrize(("entry", "says"), BAD_NETWORKS)
def test_an_allow_list_entry_the_guard_refuses_is_a_config_error(
    tmp_path: Path, entry: str, says: str
) -> None:
    from_env = error_of(tmp_path, "rules: x\n", {"NEWSMON_ALLOW_NETWORKS": f"::1,{entry}"})
    assert from_env.startswith(f"NEWSMON_ALLOW_NETWORKS: allow_networks[1]: '{entry}' {says}")
    in_file = error_of(tmp_path, f"allow_networks: ['::1', '{entry}']\n")
    assert in_file.startswith(f"{tmp_path / 'newsmon.yaml'}:1:25: allow_networks[1]: '{entry}'")


@budget(300)
@given(st.lists(st.text(alphabet="0123456789abcdefx.:/-_ ", min_size=1, max_size=20), max_size=3))
def test_whatever_the_config_accepts_the_guard_accepts(entries: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "newsmon.yaml")
        path.write_text("rules: x\n")
        try:
            config = load_config(path, env={"NEWSMON_ALLOW_NETWORKS": ",".join(entries)})
        except ConfigError:
            return
    AddressGuard(config.allow_networks)  # raised ValueError (a traceback) before


@pytest.mark.slow
def test_the_cli_says_one_line_and_exits_2_for_a_bad_allow_list(tmp_path: Path) -> None:
    (tmp_path / "newsmon.yaml").write_text("rules: rules\n")
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "check", "--config", str(tmp_path / "newsmon.yaml")],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path),
             "NEWSMON_ALLOW_NETWORKS": "10.0.0.1/8"},
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "newsmon: NEWSMON_ALLOW_NETWORKS: allow_networks[0]: '10.0.0.1/8' is not a valid CIDR:"
        " 10.0.0.1/8 has host bits set"
    ]

"""Config keys of the channels (email, discord, teams, telegram, ntfy, matrix): accepted as
documented, every mistake located at its key, secrets resolved into the deliverer's destination."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.delivery.destinations import Destination
from monitor.errors import ConfigError

GOOD = """\
destinations:
  - name: desk-mail
    type: email
    url: smtp://alerts@mail.example.org:587
    secret_env: SMTP_PASSWORD
    from: newsmon@example.org
    to: desk@example.org, editor@example.org
  - {name: disc, type: discord, url_env: DISCORD_URL}
  - {name: ops-teams, type: teams, url_env: TEAMS_URL}
  - {name: tg, type: telegram, secret_env: TG_TOKEN, chat_id: -1001234567890}
  - {name: push, type: ntfy, url: https://ntfy.sh/newsmon-desk}
  - {name: mx, type: matrix, url: https://matrix.example.org, secret_file: mx.token,
     room: "!abcdef:example.org"}
"""
ENV = {
    "SMTP_PASSWORD": "pass word",
    "DISCORD_URL": "https://discord.com/api/webhooks/1/abc",
    "TEAMS_URL": "https://prod-1.westeurope.logic.azure.com/workflows/x",
    "TG_TOKEN": "123456:ABC-DEF",
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "newsmon.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env={})
    return str(info.value)


def test_documented_channel_config_resolves(tmp_path: Path) -> None:
    (tmp_path / "mx.token").write_text("syt_secret\n", encoding="utf-8")
    config = load_config(write(tmp_path, GOOD), env=ENV)
    dests = {r.name: Destination.from_resolved(r) for r in config.resolve_destinations()}
    mail = dests["desk-mail"]
    assert mail.type == "email"
    assert mail.sender == "newsmon@example.org"
    assert mail.recipients == ("desk@example.org", "editor@example.org")
    assert mail.token is not None
    assert mail.token.get_secret_value() == "pass word"  # one password, not split
    assert mail.secrets == ()
    tg = dests["tg"]
    assert tg.url.get_secret_value() == "https://api.telegram.org"  # the default server
    assert tg.chat_id == "-1001234567890"
    assert tg.token is not None
    assert tg.token.get_secret_value() == "123456:ABC-DEF"
    assert dests["mx"].room == "!abcdef:example.org"
    assert dests["push"].token is None
    # Per-channel rate defaults (a service's own limits) unless the config sets one.
    assert dests["tg"].bucket_defaults() == (1 / 3, 3.0)
    assert dests["disc"].bucket_defaults() == (0.5, 5.0)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("{name: m, type: email, url: https://x.example, from: a@b.org, to: c@d.org}",
         "destinations[0].url: an email destination's URL is smtp://HOST:587"),
        ("{name: m, type: email, url: 'smtp://u:pw@x.example', from: a@b.org, to: c@d.org}",
         "destinations[0].url: put the SMTP password in secret_env"),
        ("{name: m, type: email, url: 'smtp://x.example', to: c@d.org}",
         "destinations[0]: an email destination needs 'from'"),
        ("{name: m, type: email, url: 'smtp://x.example', from: a@b.org}",
         "destinations[0]: an email destination needs 'to'"),
        ("{name: m, type: email, url: 'smtp://x.example', from: a@b.org, to: [ok@d.org, 'x y']}",
         "destinations[0].to[1]: not an email address: 'x y'"),
        ("{name: m, type: email, url: 'smtp://x.example', from: 'Me <a@b.org>', to: c@d.org}",
         "destinations[0].from: not an email address"),
        ("{name: t, type: telegram, chat_id: 5}",
         "destinations[0]: a telegram destination needs the bot token"),
        ("{name: t, type: telegram, secret_env: T}",
         "destinations[0]: a telegram destination needs chat_id"),
        ("{name: t, type: telegram, secret_env: T, chat_id: 'not a chat'}",
         "destinations[0].chat_id: not a chat id"),
        ("{name: x, type: matrix, url: 'https://m.example', secret_env: T, room: '#alias'}",
         "destinations[0].room: not a room id"),
        ("{name: x, type: matrix, url: 'https://m.example', room: '!a:m.example'}",
         "destinations[0]: a matrix destination needs the access token"),
        ("{name: n, type: ntfy, url: 'https://ntfy.sh/'}",
         "destinations[0].url: an ntfy URL names its topic"),
        ("{name: d, type: discord, url_env: D, secret_env: S}",
         "destinations[0].secret_env: a discord webhook URL is its own credential"),
        ("{name: d, type: discord, url_env: D, room: '!a:b.c'}",
         "destinations[0].room: 'room' is for matrix destinations only"),
        ("{name: d, type: webhook, url_env: D, from: a@b.org}",
         "destinations[0].from: 'from' is for email destinations only"),
        ("{name: d, type: teams, url: 'ftp://x.example/'}",
         "destinations[0].url: the URL must start with http:// or https://"),
    ],
)  # fmt: skip
def test_channel_mistakes_are_located(tmp_path: Path, entry: str, expected: str) -> None:
    message = error_of(tmp_path, f"destinations:\n  - {entry}\n")
    assert expected in message
    assert "newsmon.yaml:2:" in message  # file and line
    assert "pw@" not in message  # a URL is never quoted


def test_missing_token_file_named_at_resolve(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path, "destinations:\n  - {name: t, type: telegram, secret_env: TG, chat_id: 1}\n"
        ),
        env={},
    )
    with pytest.raises(ConfigError, match="environment variable TG is not set"):
        config.resolve_destinations()

"""Hostile feed text in every channel: markup escaped for that channel, mentions neutralised,
links only http(s), lengths within each service's documented limits. Pure."""

from __future__ import annotations

import email
import email.policy
import json
from typing import Any

import pytest

from monitor.delivery.channels import discord, mail, matrix, ntfy, teams, telegram
from monitor.delivery.channels.markup import DISCORD, HTML, cut, cut_bytes, fit, units
from monitor.delivery.channels.message import Message, from_document
from monitor.delivery.destinations import Destination
from tests.delivery_support import T0, document
from tests.hostile_titles import HOSTILE

MENTIONS = ("@everyone", "@here", "@room", "@admin")


def message(title: str, **changes: Any) -> Message:
    doc = document("x", "s1", title)
    doc["item"].update(changes)
    return from_document(doc)


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_discord(kind: str) -> None:
    body: dict[str, Any] = discord.payload(message(HOSTILE[kind]))
    assert body["allowed_mentions"] == {"parse": []}
    [embed] = body["embeds"]
    assert len(embed["title"]) <= 256
    assert len(embed["description"]) <= 4_096
    assert len(embed["footer"]["text"]) <= 2_048
    assert len(embed["title"]) + len(embed["description"]) + len(embed["footer"]["text"]) <= 6_000
    text = embed["title"] + embed["description"]
    assert not any(m in text for m in MENTIONS)
    assert "<@123>" not in text
    assert "[link](https" not in text  # a masked link from feed text would be live
    assert "\r" not in embed["title"]
    assert "\n" not in embed["title"]


def test_discord_escape_is_reversible_markdown() -> None:
    escaped = fit("**b** [x](y) <@1>", DISCORD, 100)
    assert escaped == "\\*\\*b\\*\\* \\[x\\]\\(y\\) \\<@\u2060" + "1\\>"


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_telegram(kind: str) -> None:
    text = telegram.text(message(HOSTILE[kind]))
    assert units(text) <= telegram.TEXT_MAX
    assert "<script>" not in text
    assert "<b>bold</b>" not in text
    assert not any(m in text for m in MENTIONS)
    tags = {t.split(">")[0].split(" ")[0] for t in text.split("<")[1:]}
    assert tags <= {"a", "/a", "b", "/b", "i", "/i", "code", "/code"}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_matrix(kind: str) -> None:
    body = matrix.payload(message(HOSTILE[kind]))
    assert body["m.mentions"] == {}
    html = str(body["formatted_body"])
    plain = str(body["body"])
    assert "<script>" not in html
    assert not any(m in html or m in plain for m in MENTIONS)
    assert len(json.dumps(body).encode()) < 65_536  # a Matrix event's limit


def test_matrix_link_in_the_plain_body_mentions_nobody() -> None:
    # A feed chooses its item links: `/@room` in one would notify the room through `body`.
    url = "https://news.example/live/@room?by=@everyone"
    body = matrix.payload(message("t", url=url))
    plain = str(body["body"])
    assert not any(m in plain for m in MENTIONS)
    assert "https://news.example/live/%40room?by=%40everyone" in plain
    assert f'href="{url}"' in str(body["formatted_body"])  # the link itself is unchanged


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_teams(kind: str) -> None:
    card = teams.payload(message(HOSTILE[kind]))
    encoded = json.dumps(card).encode()
    assert len(encoded) < 28_000
    title = card["attachments"][0]["content"]["body"][0]["text"]
    assert "**b**" not in title
    assert "[link](" not in title


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_ntfy(kind: str) -> None:
    body = ntfy.payload("t", message(HOSTILE[kind]))
    assert len(str(body["message"]).encode()) <= 4_096
    assert len(str(body["title"])) <= 250


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_email(kind: str) -> None:
    msg = mail.build(
        message(HOSTILE[kind]), sender="a@example.org", recipients=("b@example.org",), date=T0
    )
    assert "\n" not in str(msg["Subject"])
    assert len(str(msg["Subject"])) <= mail.SUBJECT_MAX
    assert msg["Bcc"] is None
    # As smtplib writes it, and as the receiving server reads it back.
    sent = email.message_from_bytes(
        msg.as_bytes(policy=email.policy.SMTP), policy=email.policy.default
    )
    assert sent.keys() == msg.keys()
    assert "\n" not in str(sent["Subject"])
    html = mail.html_body(message(HOSTILE[kind]))
    assert "<script>" not in html


def test_links_only_http() -> None:
    for url in ("javascript:alert(1)", "data:text/html,x", "https://a.example/ b", "ftp://x"):
        m = message("t", url=url)
        assert m.url is None
        assert "javascript" not in telegram.text(m)
        body: dict[str, Any] = discord.payload(m)
        assert "url" not in body["embeds"][0]
        assert "click" not in ntfy.payload("t", m)
    quoted = message("t", url='https://a.example/?q="><script>')
    assert quoted.url is not None
    assert '"><script>' not in telegram.text(quoted)
    assert '"><script>' not in mail.html_body(quoted)
    assert '"><script>' not in str(matrix.payload(quoted)["formatted_body"])


def test_fit_never_splits_an_escape() -> None:
    for limit in range(2, 40):
        out = fit("&&&&&&&&&&<<<<<<<<<", HTML, limit)
        assert units(out) <= limit
        assert out.rstrip("…").replace("&amp;", "").replace("&lt;", "") == ""


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("a\u0301" * 10, 6, "a\u0301a\u0301…"),  # not a bare letter that lost its accent
        ("\U0001f1fa\U0001f1e6" * 3, 6, "\U0001f1fa\U0001f1e6…"),  # a flag, not half of one
        ("x" + "\U0001f1fa\U0001f1e6" * 2, 5, "x…"),
        ("\U0001f468\u200d\U0001f469\u200d\U0001f467 ok", 6, "…"),  # a family, whole or not
        ("\U0001f44d\U0001f3fd" * 2, 4, "…"),  # a thumb without its skin tone is another emoji
        ("ab\ufe0fc", 3, "a…"),  # b with its variation selector is one character
    ],
)
def test_a_cut_keeps_what_reads_as_one_character_whole(
    text: str, limit: int, expected: str
) -> None:
    assert cut(text, limit) == expected
    assert units(cut(text, limit)) <= limit
    assert cut_bytes(text, len(text.encode()) - 1).endswith("…")


def test_control_characters_removed() -> None:
    m = message("a\x1b]0;pwned\x07b\x00c")
    assert m.title == "a]0;pwnedbc"


def test_telegram_request_puts_the_token_in_the_path_only() -> None:
    dest = Destination.create(
        "t", "telegram", "https://api.telegram.org", token="1:SECRET", chat_id="@news_desk"
    )
    req = telegram.request(dest, message("t"))
    assert req.url == "https://api.telegram.org/bot1:SECRET/sendMessage"
    assert b"SECRET" not in req.body
    assert "SECRET" not in repr(req)
    assert json.loads(req.body)["chat_id"] == "@news_desk"

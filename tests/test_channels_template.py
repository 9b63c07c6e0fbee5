"""Message templates: string.Template placeholders only, unknown names found when loading, and
the result escaped for each channel like any feed text."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from monitor.clock import FakeClock
from monitor.config import load_config
from monitor.config.channels import TEMPLATE_FIELDS
from monitor.config.channels import template_problem as problem
from monitor.delivery.channels import mail, telegram
from monitor.delivery.channels.message import from_document
from monitor.delivery.channels.template import apply
from monitor.delivery.destinations import Destination
from monitor.errors import ConfigError
from tests.delivery_support import T0, deliverer, document, enqueue, open_sqlite
from tests.hostile_titles import HOSTILE
from tests.receiver import Receiver, Reply


def test_placeholders_checked() -> None:
    assert problem("[$severity] $title — ${source}") is None
    assert problem("$$5 and $title") is None
    bad = problem("$title ${item.__class__}")
    assert bad is not None
    assert "not a valid template" in bad
    unknown = problem("$title $password")
    assert unknown is not None
    assert "unknown placeholder $password" in unknown


def test_every_allowed_placeholder_is_filled_in() -> None:
    # The config allows what the channels fill in: a field allowed but not filled would reach
    # a message as its bare `$name`.
    every = " ".join(f"<${{{name}}}>" for name in TEMPLATE_FIELDS)
    assert problem(every) is None
    out = apply(from_document(document("x", "s1", "Quake")), every, every)
    assert "$" not in out.title
    assert "$" not in out.snippet


def test_applied_then_escaped_per_channel() -> None:
    message = from_document(document("x", "s1", HOSTILE["mentions"] + " <b>x</b>"))
    out = apply(message, "[$severity] $title\r\nBcc: a@b.c", "$snippet\n$url\n$$1")
    assert out.title.startswith("[high] @everyone")
    assert "\n" not in out.title
    assert out.snippet.endswith("https://example.com/s1\n$1")
    text = telegram.text(out)
    assert "@everyone" not in text
    assert "<b>x</b>" not in text
    email = mail.build(out, sender="a@example.org", recipients=("b@example.org",), date=T0)
    assert email["Bcc"] is None
    assert str(email["Subject"]).startswith("[high] @everyone")


def test_a_template_in_a_delivery(tmp_path: Path) -> None:
    store = open_sqlite(tmp_path / "n.db")
    ok = Reply(200, b'{"id": "1"}', {"Content-Type": "application/json"})
    with Receiver([ok]) as rx:
        enqueue(store, T0, "x", ["s1"], {"s1": "Quake **hits** coast"})
        url = f"http://127.0.0.1:{rx.port}/api/webhooks/1/a"
        dest = Destination.create("x", "discord", url, template=("$rules: $title", ""))
        asyncio.run(deliverer(store, {"x": dest}, FakeClock(T0)).run_once())
    [embed] = json.loads(rx.requests[0].body)["embeds"]
    # The whole result is plain text, escaped: the template cannot add markup either.
    assert embed["title"] == r"Troops \(high\), SF \(medium\)\: Quake \*\*hits\*\* coast"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("type: discord, url_env: U, template: {subject: '$nope'}",
         "destinations[0].template.subject: unknown placeholder $nope"),
        ("type: webhook, url_env: U, template: {subject: '$title'}",
         "destinations[0].template: template is for email and the chat channels"),
        ("type: discord, url_env: U, template: {body: '${title'}",
         "destinations[0].template.body: not a valid template"),
    ],
)  # fmt: skip
def test_template_config_errors(tmp_path: Path, entry: str, expected: str) -> None:
    path = tmp_path / "newsmon.yaml"
    path.write_text(f"destinations:\n  - {{name: d, {entry}}}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert expected in str(info.value)
    assert "newsmon.yaml:2:" in str(info.value)

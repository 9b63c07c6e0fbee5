"""Slack Block Kit rendering: escaping of feed text, bold snippets, Slack's size limits."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitor.delivery.document import alert_id, build_alert_document
from monitor.delivery.slack import (
    BLOCKS_MAX,
    SECTION_MAX,
    TEXT_MAX,
    escape,
    fit,
    mark_bold,
    render,
    units,
)
from monitor.model import Explanation, Item, Match, Rule

URL = "https://example.com/a?x=1&y=2"
CREATED = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)


def doc_for(
    title: str, summary: str = "", snippet: str = "has **dispatched** troops", feed: str = "Wire"
) -> dict[str, Any]:
    item = Item(
        feed_id="f",
        key="k",
        title=title,
        summary=summary,
        url=URL,
        feed_title=feed,
        published=datetime(2026, 3, 1, 8, 0, tzinfo=UTC),
    )
    rules = [Rule(id="r1", name="Troops <deployed>", severity="high"), Rule(id="r2", name="SF")]
    matches = [Match(r, Explanation((), ()), snippet) for r in rules]
    return build_alert_document(
        item, matches, alert_id=alert_id("s", "k"), destination="s", created_at=CREATED
    )


def texts(message: dict[str, Any]) -> list[str]:
    out = [message["text"]]
    for block in message["blocks"]:
        if "text" in block:
            out.append(block["text"]["text"])
        out.extend(e["text"] for e in block.get("elements", []))
    return out


OUR_MARKUP = re.compile(r"<https://example\.com/a\?x=1&amp;y=2\||>\*|<!date\^\d+\^[^<>|]*\|[^<>]*>")


def assert_safe(message: dict[str, Any]) -> None:
    """No `<` or `>` is left except our own link and date; every `&` starts an escape."""
    for text in texts(message):
        rest = OUR_MARKUP.sub("", text)
        assert "<" not in rest, text[:200]
        assert ">" not in rest, text[:200]
        assert not re.search(r"&(?!amp;|lt;|gt;)", text), text[:200]


def assert_within_limits(message: dict[str, Any]) -> None:
    assert len(message["blocks"]) <= BLOCKS_MAX
    assert units(message["text"]) <= TEXT_MAX
    for block in message["blocks"]:
        if block["type"] == "section":
            assert units(block["text"]["text"]) <= SECTION_MAX
        if block["type"] == "header":
            assert units(block["text"]["text"]) <= 150
        for element in block.get("elements", []):
            assert units(element["text"]) <= 3_000
    assert message["unfurl_links"] is False
    assert message["unfurl_media"] is False


def test_message_shape() -> None:
    msg = render(doc_for("Troops & tanks", feed="Reuters"))
    assert (
        msg["blocks"][0]["text"]["text"]
        == "*<https://example.com/a?x=1&amp;y=2|Troops &amp; tanks>*"
    )
    context = msg["blocks"][1]["elements"][0]["text"]
    assert context.startswith("Reuters · <!date^")
    assert context.endswith("|2026-03-01 08:00 UTC>")
    assert msg["blocks"][2]["text"]["text"] == "has *dispatched* troops"
    assert (
        msg["blocks"][3]["text"]["text"] == "*Rules:* Troops &lt;deployed&gt; (high), SF (medium)"
    )
    assert msg["text"] == "Troops &amp; tanks (Reuters)"
    assert_within_limits(msg)
    json.dumps(msg)


@pytest.mark.parametrize(
    "hostile",
    [
        "<!channel>",
        "<!here|here>",
        "<@U1>",
        "<https://evil.example|click>",
        "<#C1>",
        "&lt;!channel&gt;",
    ],
)
def test_feed_text_cannot_mention_or_link(hostile: str) -> None:
    msg = render(doc_for(f"a {hostile} b", snippet=f"x **{hostile}** y", feed=hostile))
    assert_safe(msg)
    joined = "\n".join(texts(msg))
    assert "<!channel>" not in joined
    assert "<@U1>" not in joined
    assert "<https://evil" not in joined


def test_non_http_url_is_not_linked_and_pipes_cannot_split_the_link() -> None:
    doc = doc_for("t")
    doc["item"]["url"] = "javascript:alert(1)"
    assert render(doc)["blocks"][0]["text"]["text"] == "*t*"
    doc["item"]["url"] = "https://example.com/a|<!channel> b"
    heading = render(doc)["blocks"][0]["text"]["text"]
    assert heading == "*<https://example.com/a%7C%3C!channel%3E%20b|t>*"


def test_mark_bold_escapes_inside_and_outside_marks() -> None:
    assert mark_bold("a<b **c&d** e") == "a&lt;b *c&amp;d* e"
    assert mark_bold("**x** and **y**") == "*x* and *y*"
    assert mark_bold("no marks") == "no marks"


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("abc", 3, "abc"),
        ("abcd", 3, "ab…"),
        ("a&amp;bc", 7, "a&amp;…"),
        ("a&amp;b", 6, "a…"),
        ("ab&amp;c", 6, "ab…"),  # `&amp;` would be cut: drop it whole
        ("abc&lt;", 6, "abc…"),
        ("😀😀😀", 4, "😀…"),  # two UTF-16 units each
        ("ae\u0301e\u0301", 4, "ae\u0301…"),  # never a letter without its accent
        ("a\U0001f1fa\U0001f1e6", 4, "a…"),  # never half a flag
    ],
)
def test_fit_never_breaks_an_escape(text: str, limit: int, expected: str) -> None:
    assert fit(text, limit) == expected
    assert units(fit(text, limit)) <= limit


def test_escape_only_touches_three_characters() -> None:
    assert escape("*_~`@#!|& <>") == "*_~`@#!|&amp; &lt;&gt;"


big_text = st.tuples(st.text(max_size=60), st.integers(min_value=1, max_value=20_000)).map(
    lambda pair: (pair[0] * pair[1])[:1_000_000]
)
hostile_text = st.one_of(
    st.text(max_size=400),
    st.text(alphabet="<>&*_~|!@#$ aé😀\n", max_size=5_000),
    big_text,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=hostile_text, summary=hostile_text, snippet=hostile_text, feed=hostile_text)
@example(
    title="<!channel>&" * 90_000,
    summary="é" * 1_000_000,
    snippet="**<" * 300_000,
    feed="😀" * 500_000,
)
def test_any_unicode_up_to_a_megabyte_stays_within_limits_and_escaped(
    title: str, summary: str, snippet: str, feed: str
) -> None:
    msg = render(doc_for(title, summary, snippet, feed))
    assert_within_limits(msg)
    assert_safe(msg)
    assert json.loads(json.dumps(msg, ensure_ascii=False).encode("utf-8")) == msg


def test_the_message_ends_with_the_alert_id_for_feedback() -> None:
    doc = doc_for("Troops", feed="Reuters")
    footer = render(doc)["blocks"][-1]
    assert footer["type"] == "context"
    text = footer["elements"][0]["text"]
    assert text == (f"alert `{doc['id']}` · feedback: `newsmon feedback {doc['id']} --relevant`")
    forged = render({**doc, "id": "<!channel>"})  # only an id of our own shape is shown
    assert "channel" not in json.dumps(forged["blocks"][-1])

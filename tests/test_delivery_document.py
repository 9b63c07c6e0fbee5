"""The alert document: shape, bounds, idempotency key, and the JSON Schema that documents it.

jsonschema is not installed, so `validate` below is a small checker for exactly the keywords the
schema uses; it refuses any other keyword, so the schema cannot silently outgrow it.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.delivery.document import (
    ALERT_MAX,
    SHORT_HITS,
    SUMMARY_MAX,
    TITLE_MAX,
    alert_id,
    build_alert_document,
)
from monitor.model import Explanation, Hit, Item, Match, Rule

SCHEMA = json.loads(
    (Path(__file__).parent.parent / "monitor" / "schemas" / "alert-v1.json").read_text("utf-8")
)
CREATED = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
_IGNORED = {"$schema", "$id", "title", "description"}
_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "null": type(None),
    "boolean": bool,
}


def validate(value: Any, schema: dict[str, Any], path: str = "$") -> None:
    for key, rule in schema.items():
        if key in _IGNORED or key in ("properties",):
            continue
        if key == "type":
            names = rule if isinstance(rule, list) else [rule]
            ok = any(
                (isinstance(value, int) and not isinstance(value, bool))
                if n == "integer"
                else isinstance(value, _TYPES[n])
                for n in names
            )
            assert ok, f"{path}: {value!r} is not {names}"
        elif key == "required":
            missing = [k for k in rule if k not in value]
            assert not missing, f"{path}: missing {missing}"
        elif key == "const":
            assert value == rule, f"{path}: {value!r} != {rule!r}"
        elif key == "enum":
            assert value in rule, f"{path}: {value!r} not in {rule}"
        elif key == "pattern":
            assert re.search(rule, value), f"{path}: {value!r} !~ {rule}"
        elif key in ("minLength", "maxLength") and isinstance(value, str):
            ok = len(value) >= rule if key == "minLength" else len(value) <= rule
            assert ok, f"{path}: length {len(value)} breaks {key} {rule}"
        elif key in ("minLength", "maxLength"):
            pass
        elif key in ("minItems", "maxItems"):
            ok = len(value) >= rule if key == "minItems" else len(value) <= rule
            assert ok, f"{path}: {len(value)} items breaks {key} {rule}"
        elif key == "minimum":
            assert value >= rule, f"{path}: {value} < {rule}"
        elif key == "format":
            assert rule == "date-time"
            if isinstance(value, str):
                assert value.endswith("Z"), f"{path}: {value!r} not UTC"
                datetime.fromisoformat(value.replace("Z", "+00:00"))
        elif key == "items":
            for index, element in enumerate(value):
                validate(element, rule, f"{path}[{index}]")
        else:
            raise AssertionError(f"the test's checker does not know schema keyword {key!r}")
    for name, sub in schema.get("properties", {}).items():
        if isinstance(value, dict) and name in value:
            validate(value[name], sub, f"{path}.{name}")


def rule(rule_id: str, severity: Any = "high", tags: tuple[str, ...] = ("defence",)) -> Rule:
    return Rule(id=rule_id, name=f"Rule {rule_id}", severity=severity, tags=tags)


def match(r: Rule, snippet: str = "North Korea has **dispatched** troops") -> Match:
    hit = Hit(field="title", word="dispatched", term="dispatch", position=3, start=16, end=26)
    return Match(
        rule=r, explanation=Explanation(clauses=("dispatch",), hits=(hit,)), snippet=snippet
    )


ITEM = Item(
    feed_id="reuters-world",
    key="guid:abc",
    title="North Korea dispatches troops",
    summary="Pyongyang has sent special forces.",
    url="https://example.com/a",
    published=datetime(2026, 3, 1, 8, 0, tzinfo=UTC),
    feed_title="Reuters World",
    feed_url="https://example.com/feed.xml",
)


def build(item: Item = ITEM, matches: list[Match] | None = None) -> dict[str, Any]:
    ms = matches if matches is not None else [match(rule("r1")), match(rule("r2", "medium"))]
    return build_alert_document(
        item, ms, alert_id=alert_id("ops", "story:1"), destination="ops", created_at=CREATED
    )


def test_document_carries_every_rule_and_validates() -> None:
    doc = build(matches=[match(rule("a")), match(rule("b", "low")), match(rule("c", "critical"))])
    validate(doc, SCHEMA)
    assert doc["version"] == 1
    assert doc["type"] == "newsmon.alert"
    assert doc["id"] == alert_id("ops", "story:1")
    assert doc["created_at"] == "2026-03-01T08:30:00Z"
    assert [r["id"] for r in doc["rules"]] == ["a", "b", "c"]
    assert doc["rules"][1] == {"id": "b", "name": "Rule b", "severity": "low", "tags": ["defence"]}
    assert doc["item"]["published"] == "2026-03-01T08:00:00Z"
    assert doc["item"]["feed"] == {
        "id": "reuters-world",
        "title": "Reuters World",
        "url": "https://example.com/feed.xml",
    }
    assert doc["matches"][0]["explanation"]["hits"][0]["word"] == "dispatched"
    assert doc["snippet"] == "North Korea has **dispatched** troops"
    json.dumps(doc, ensure_ascii=False).encode("utf-8")


def test_duplicate_rules_are_listed_once_and_no_match_is_an_error() -> None:
    doc = build(matches=[match(rule("a")), match(rule("a"))])
    assert len(doc["rules"]) == 1
    assert len(doc["matches"]) == 1
    with pytest.raises(ValueError, match="at least one match"):
        build(matches=[])


def test_hostile_item_is_bounded_and_still_valid() -> None:
    huge = Item(
        feed_id="f",
        key="k",
        title="T" * 1_000_000,
        summary="S\ud800" * 500_000,  # a lone surrogate cannot be encoded as UTF-8 as it stands
        url=None,
        link=None,
        published=None,
        feed_title="F" * 10_000,
    )
    many_hits = tuple(Hit("summary", "w", "w", i, i, i + 1) for i in range(5_000))
    m = Match(rule("a"), Explanation(("w",) * 5_000, many_hits), "x" * 10_000)
    doc = build(huge, [m])
    validate(doc, SCHEMA)
    assert len(doc["item"]["title"]) == TITLE_MAX
    assert doc["item"]["title"].endswith("…")
    assert len(doc["item"]["summary"]) == SUMMARY_MAX
    assert doc["item"]["url"] is None
    assert doc["item"]["published"] is None
    assert len(json.dumps(doc).encode()) < 100_000
    json.dumps(doc, ensure_ascii=False).encode("utf-8")  # no surrogate left


def test_the_link_stands_in_for_a_missing_canonical_url() -> None:
    item = Item(feed_id="f", key="k", title="t", link="https://example.com/raw")
    assert build(item)["item"]["url"] == "https://example.com/raw"


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        build_alert_document(
            ITEM,
            [match(rule("a"))],
            alert_id="msg_x",
            destination="d",
            created_at=datetime(2026, 1, 1),  # noqa: DTZ001 - the naive datetime under test
        )


def test_alert_id_is_deterministic_and_distinct_per_destination_and_story() -> None:
    first = alert_id("ops", "story:1")
    assert first == alert_id("ops", "story:1")
    assert re.fullmatch(r"msg_[0-9a-f]{32}", first)
    assert len({first, alert_id("slack", "story:1"), alert_id("ops", "story:2")}) == 3
    # The separator keeps ("a", "bc") and ("ab", "c") apart.
    assert alert_id("a", "bc") != alert_id("ab", "c")


def test_the_checker_can_fail() -> None:
    doc = build()
    doc["rules"][0]["severity"] = "urgent"
    with pytest.raises(AssertionError, match="urgent"):
        validate(doc, SCHEMA)
    del doc["snippet"]
    with pytest.raises(AssertionError, match="missing"):
        validate(doc, SCHEMA)


def test_a_receiver_has_what_it_needs_to_post_feedback() -> None:
    doc = build()
    validate(doc, SCHEMA)
    assert doc["id"] == alert_id("ops", "story:1")  # POST /feedback {"alert": id, ...}
    assert (doc["item"]["feed"]["id"], doc["item"]["key"]) == ("reuters-world", "guid:abc")
    older = json.loads(json.dumps(doc))
    del older["item"]["key"]  # documents sent before the key was added stay valid
    validate(older, SCHEMA)


def long_match(rule_id: str, hits: int = 100, word: str = "w" * 300) -> Match:
    """A match explained by `hits` hits of a 300-character word: about 98 KB of JSON."""
    spans = tuple(Hit("summary", word, word, i, i, i + 1) for i in range(hits))
    return Match(rule(rule_id), Explanation((word,) * hits, spans), f"**{word}**")


def size(doc: dict[str, Any]) -> int:
    return len(json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode())


def test_an_alert_that_fits_is_not_cut() -> None:
    doc = build(matches=[long_match(f"r{i}") for i in range(2)])  # about 197 KB
    assert "cut" not in doc
    assert [len(m["explanation"]["hits"]) for m in doc["matches"]] == [100] * 2


def test_many_long_explanations_are_shortened_to_fit_and_say_so() -> None:
    doc = build(matches=[long_match(f"r{i}") for i in range(20)])  # about 2 MB whole
    validate(doc, SCHEMA)
    assert size(doc) <= ALERT_MAX
    assert [r["id"] for r in doc["rules"]] == [f"r{i}" for i in range(20)]
    assert [m["rule"] for m in doc["matches"]] == [f"r{i}" for i in range(20)]
    assert {len(m["explanation"]["hits"]) for m in doc["matches"]} == {SHORT_HITS}
    assert {len(m["explanation"]["clauses"]) for m in doc["matches"]} == {SHORT_HITS}
    assert doc["cut"] == {"hits": 20 * (100 - SHORT_HITS), "explanations": 0, "rules": 0}


def test_then_the_last_explanations_are_left_out_and_every_rule_stays_listed() -> None:
    doc = build(matches=[long_match(f"r{i}") for i in range(200)])  # 10 hits each: 2 MB
    validate(doc, SCHEMA)
    assert size(doc) <= ALERT_MAX
    assert len(doc["rules"]) == len(doc["matches"]) == 200
    explained = [m for m in doc["matches"] if m["explanation"]["hits"]]
    bare = doc["matches"][len(explained) :]
    assert explained == doc["matches"][: len(explained)]  # the first ones keep theirs
    assert 0 < len(explained) < 200
    assert all(m["snippet"] == "" and m["explanation"]["clauses"] == [] for m in bare)
    assert doc["cut"] == {
        "hits": len(explained) * (100 - SHORT_HITS),
        "explanations": len(bare),
        "rules": 0,
    }
    # As many as fit: one more explanation would not have.
    assert size(doc) + 300 * (SHORT_HITS * 2) > ALERT_MAX - 128
    assert doc["snippet"] == doc["matches"][0]["snippet"]


def test_at_last_the_last_rules_are_left_out_but_never_the_first() -> None:
    many = [
        Match(rule(f"r{i}", tags=("t" * 300,) * 3), Explanation((), ()), "s") for i in range(500)
    ]
    doc = build(matches=many)
    validate(doc, SCHEMA)
    assert size(doc) <= ALERT_MAX
    kept = len(doc["rules"])
    assert 0 < kept < 500
    assert [r["id"] for r in doc["rules"]] == [m["rule"] for m in doc["matches"]]
    assert [r["id"] for r in doc["rules"]] == [f"r{i}" for i in range(kept)]
    assert doc["cut"] == {"hits": 0, "explanations": kept, "rules": 500 - kept}
    one = build(matches=[Match(rule("only", tags=("t" * 300,) * 2000), Explanation((), ()), "s")])
    assert [r["id"] for r in one["rules"]] == ["only"]  # over the limit, but an alert still

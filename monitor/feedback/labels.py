"""What a label names, which label is in force, and labels as JSON lines. Pure.

A label names an item either through an alert it caused (`msg_` + 32 hex digits, the `id` of the
webhook document and of `newsmon deliveries list`) or directly as `FEED/ITEM_KEY` (what
`newsmon stories list --story` shows). Item keys have no `/`, so the last `/` splits the two.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from monitor.controls import unstorable
from monitor.errors import NewsmonError
from monitor.model import Label

__all__ = ["LabelFileError", "Target", "from_json_lines", "in_force", "parse_target", "to_json"]

ALERT_ID = re.compile(r"msg_[0-9a-f]{32}")
NOTE_MAX = 2_000
TITLE_MAX = 1_000
WHO_MAX = 200
RULE_MAX = 200


class LabelFileError(NewsmonError):
    """A line of a labels file that cannot be read; names the file and line."""


@dataclass(frozen=True, slots=True)
class Target:
    """What the user named: an alert id, or a feed and item key."""

    alert_id: str | None = None
    feed_id: str = ""
    item_key: str = ""


def parse_target(text: str) -> Target | None:
    """`msg_...` -> an alert; `FEED/ITEM_KEY` -> an item; anything else None."""
    text = text.strip()
    if ALERT_ID.fullmatch(text):
        return Target(alert_id=text)
    feed, sep, key = text.rpartition("/")
    if sep and feed and key:
        return Target(feed_id=feed, item_key=key)
    return None


def in_force(history: Iterable[Label]) -> dict[tuple[str, str, str], Label]:
    """The label in force per (feed, item key, rule): the newest; of two at the same instant, the
    later in `history` (the store lists oldest first, then in the order recorded)."""
    current: dict[tuple[str, str, str], Label] = {}
    for label in history:
        key = (label.feed_id, label.item_key, label.rule)
        held = current.get(key)
        if held is None or label.at >= held.at:
            current[key] = label
    return current


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def to_json(label: Label) -> dict[str, Any]:
    """One line of `newsmon feedback export`."""
    return {
        "feed": label.feed_id,
        "item_key": label.item_key,
        "rule": label.rule or None,
        "relevant": label.relevant,
        "who": label.who,
        "at": _iso(label.at),
        "note": label.note,
        "alert": label.alert_id,
        "title": label.title,
    }


def _text(data: Mapping[str, Any], key: str, limit: int, *, required: bool = False) -> str:
    value = data.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValueError(f'"{key}" must be a {"non-empty " if required else ""}string')
    if len(value) > limit:
        raise ValueError(f'"{key}" is longer than {limit} characters')
    if (what := unstorable(value)) is not None:  # the whole import failed on it, unlocated
        raise ValueError(f'"{key}" holds {what}, which the store cannot keep')
    return value


def from_json(data: Any) -> Label:
    """A label from one decoded line; ValueError saying which field is wrong."""
    if not isinstance(data, dict):
        # TRY004: a line of the user's file; reported located
        raise ValueError("expected a JSON object")  # noqa: TRY004
    relevant = data.get("relevant")
    if not isinstance(relevant, bool):
        # TRY004: a line of the user's file; reported located
        raise ValueError('"relevant" must be true or false')  # noqa: TRY004
    at_text = _text(data, "at", 64, required=True)
    try:
        at = datetime.fromisoformat(at_text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f'"at" is not an ISO 8601 time: {at_text!r}') from None
    if at.tzinfo is None:
        raise ValueError(f'"at" needs a time zone (Z or +00:00): {at_text!r}')
    alert = data.get("alert")
    if alert is not None and (not isinstance(alert, str) or not ALERT_ID.fullmatch(alert)):
        raise ValueError('"alert" must be null or an alert id (msg_ and 32 hex digits)')
    item_key = _text(data, "item_key", 200, required=True)
    if "/" in item_key:
        raise ValueError('"item_key" cannot contain "/"')
    return Label(
        feed_id=_text(data, "feed", 500, required=True),
        item_key=item_key,
        rule=_text(data, "rule", RULE_MAX),
        relevant=relevant,
        who=_text(data, "who", WHO_MAX, required=True),
        at=at.astimezone(UTC),
        note=_text(data, "note", NOTE_MAX),
        alert_id=alert,
        title=_text(data, "title", TITLE_MAX),
    )


def from_json_lines(lines: Iterable[str], source: str) -> list[Label]:
    """Every label of a JSON lines file (blank lines skipped). LabelFileError at the first bad
    line, naming `source` and the line: nothing is imported from a file with a mistake in it."""
    labels: list[Label] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            labels.append(from_json(json.loads(line)))
        except json.JSONDecodeError as e:
            raise LabelFileError(
                f"{source}:{number}: not JSON ({e.msg}); expected one label "
                "per line as `newsmon feedback export` writes"
            ) from None
        except ValueError as e:
            raise LabelFileError(f"{source}:{number}: {e}; nothing was imported") from None
    return labels

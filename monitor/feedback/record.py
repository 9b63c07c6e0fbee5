"""Record a label for an alert or an item: find what it names in the store, then add it. I/O
(the store); shared by `newsmon feedback` and `POST /feedback`."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Protocol

from monitor.controls import unstorable
from monitor.errors import NewsmonError
from monitor.feedback.labels import NOTE_MAX, RULE_MAX, WHO_MAX, parse_target
from monitor.model import Label
from monitor.store.roles import Archive, Deliveries, Labels, SeenItems

__all__ = ["BadLabel", "LabelStore", "UnknownRule", "UnknownTarget", "record_label"]


class LabelStore(Labels, Deliveries, Archive, SeenItems, Protocol):
    """What labelling uses of the store: the labels, and the alert (`get_alert`) or the item
    (`archived_title`, `seen_keys`) a label names."""


class UnknownTarget(NewsmonError):
    """The alert or item is not in the store."""


class BadLabel(NewsmonError):
    """The target or a field is malformed."""


class UnknownRule(NewsmonError):
    """`rule` is neither a rule of the folder nor one the alert carried: a label for it would
    never be counted. `known`: the ids it could have been."""

    def __init__(self, rule: str, known: Collection[str]) -> None:
        self.rule = rule
        self.known = sorted(known)
        super().__init__(f"no rule {rule!r}")


def _check(value: str, name: str, limit: int) -> str:
    if len(value) > limit:
        raise BadLabel(f"{name} is longer than {limit} characters")
    if (what := unstorable(value)) is not None:  # a NUL, a lone surrogate
        raise BadLabel(f"{name} holds {what}, which the store cannot keep")
    return value


def record_label(
    store: LabelStore,
    target: str,
    *,
    relevant: bool,
    rule: str | None,
    note: str,
    who: str,
    now: datetime,
    known_rules: Collection[str] | None = None,
) -> list[Label]:
    """Label what `target` names and return the labels recorded.

    An alert labels its item for the rule given, else for each rule the alert carried; an item
    (`FEED/ITEM_KEY`) for the rule given, else for whichever rule matched it. `known_rules`,
    when given (the rules folder's ids), refuses a rule given that is none of them nor one the
    alert carried (a typo would label for a rule no score ever reads)."""
    parsed = parse_target(target)
    if parsed is None:
        # An item key alone (the `item_key` of a --json line) is the likely slip: say the rest.
        alone = ""
        if not target.strip().startswith("msg_"):
            alone = (
                ": an item is named with its feed, FEED/ITEM_KEY (`item.feed` and"
                " `item.item_key` of the --json lines; the ITEM of `newsmon stories list"
                " --story KEY`)"
            )
        raise BadLabel(
            f"{target.strip()[:100]!r} is neither an alert id (msg_ and 32 hex "
            f"digits) nor FEED/ITEM_KEY{alone}"
        )
    rule = _check((rule or "").strip(), "the rule id", RULE_MAX)
    note = _check(note, "the note", NOTE_MAX)
    who = _check(who.strip() or "unknown", "who", WHO_MAX)
    if parsed.alert_id is not None:
        alert = store.get_alert(parsed.alert_id)
        if alert is None:
            raise UnknownTarget(
                f"no alert {parsed.alert_id} in the store (`newsmon deliveries "
                "list` shows the alerts it keeps; old ones are pruned)"
            )
        feed_id, item_key = alert.feed_id, alert.item_key
        carried = [r.get("id") for r in alert.document.get("rules", []) if isinstance(r, dict)]
        ids = [r for r in carried if isinstance(r, str)]
        if rule and known_rules is not None and rule not in known_rules and rule not in ids:
            raise UnknownRule(rule, {*known_rules, *ids})
        rules = [rule] if rule else ids or [""]
        item = alert.document.get("item")
        title = item.get("title", "") if isinstance(item, dict) else ""
        alert_id: str | None = alert.id
    else:
        feed_id, item_key = parsed.feed_id, parsed.item_key
        archived = store.archived_title(feed_id, item_key)
        if archived is None and not store.seen_keys(feed_id, [item_key]):
            raise UnknownTarget(
                f"no item {item_key!r} of feed {feed_id!r} in the store: only an item newsmon"
                " polled or `archive import` loaded can be labelled (`rules backtest --json`"
                " names those as item.feed and item.item_key; a file tried with `rules test"
                " --feed` is in the store once imported, under the feed id the import gives)"
            )
        if rule and known_rules is not None and rule not in known_rules:
            raise UnknownRule(rule, known_rules)
        rules, title, alert_id = [rule], archived or "", None
    labels = [
        Label(
            feed_id,
            item_key,
            r,
            relevant,
            who,
            now,
            note,
            alert_id,
            title if isinstance(title, str) else "",
        )
        for r in dict.fromkeys(rules)
    ]
    store.add_labels(labels)
    return labels

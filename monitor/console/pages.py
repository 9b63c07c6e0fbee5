"""What each console page shows, read from the store and the live rules. Does I/O (store reads);
the pages' templates turn these values into HTML.

Each function returns the template's context. Feed text stays as it came (the templates escape,
cut and link it: monitor.console.text); numbers and times are worked out here.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from markupsafe import Markup

from monitor.console.charts import day_bars, last_days
from monitor.model import Hit, OutboxRow, Rule
from monitor.query.ruleset import RuleSet
from monitor.store.console_sql import RuleDay
from monitor.store.roles import (
    Archive,
    ConsoleReads,
    Deliveries,
    Destinations,
    FeedSchedule,
    Labels,
    SeenItems,
    Stories,
)

__all__ = ["ConsoleStore", "alerts_page", "dead_page", "feeds_page", "rule_page", "rules_page"]

ITEMS_WINDOW = timedelta(days=7)
RULE_DAYS = 30
RECENT_ALERTS = 100  # alert rows read for the alerts page (one per destination)
DEAD_SHOWN = 200
MAX_SHOWN = 2000  # `?n=` asks for more rows, up to this
# An explanation lists a rule's clauses; a page stays bounded whatever a document holds.
MAX_CLAUSES = 200


def shown(params: Mapping[str, str], default: int) -> int:
    """How many rows a list page shows: `?n=` within 1 and MAX_SHOWN, else `default`."""
    value = params.get("n", "")
    return (
        min(int(value), MAX_SHOWN)
        if value.isdigit() and 0 < len(value) < 6 and int(value)
        else default
    )


class ConsoleStore(
    FeedSchedule,
    SeenItems,
    Stories,
    Destinations,
    Deliveries,
    Archive,
    Labels,
    ConsoleReads,
    Protocol,
):
    """The store roles the console uses."""


# -- feeds -------------------------------------------------------------------------------------
def feeds_page(store: ConsoleReads, now: datetime) -> dict[str, Any]:
    feeds = store.feed_health(now - ITEMS_WINDOW)
    days = ITEMS_WINDOW.total_seconds() / 86400
    rows = [{"feed": f, "per_day": f.items / days} for f in feeds]
    failing = sum(1 for f in feeds if f.status == "error")
    return {"rows": rows, "failing": failing, "total": len(feeds), "window_days": int(days)}


# -- rules -------------------------------------------------------------------------------------
class RuleDays:
    """Alerts per rule per day, read from the store at most once per `ttl` for one window: the
    query reads every alert document of the window (a second or more with tens of thousands of
    alerts), and charts of 30 days need not be fresher than a minute."""

    def __init__(self, store: ConsoleReads, ttl: timedelta = timedelta(seconds=60)) -> None:
        self.store = store
        self.ttl = ttl
        self._lock = threading.Lock()
        self._kept: tuple[datetime, datetime, list[RuleDay]] | None = None  # (since, read at, days)

    def __call__(self, since: datetime, now: datetime) -> list[RuleDay]:
        with self._lock:
            kept = self._kept
        if kept is not None and kept[0] == since and timedelta(0) <= now - kept[1] < self.ttl:
            return kept[2]
        days = self.store.rule_days(since)
        with self._lock:
            self._kept = (since, now, days)
        return days


@dataclass
class RuleRow:
    id: str
    rule: Rule | None  # None: alerts of a rule no longer in the live rules
    alerts: int = 0
    last: datetime | None = None
    per_day: Counter[date] = field(default_factory=Counter)
    chart: Markup = field(default_factory=Markup)


def rule_rows(
    rule_days: RuleDays, rules: RuleSet, now: datetime, days: int = RULE_DAYS
) -> list[RuleRow]:
    """One row per live rule (and per rule that alerted in the window but is gone now)."""
    span = last_days(now.date(), days)
    since = datetime.combine(span[0], datetime.min.time(), tzinfo=now.tzinfo)
    rows: dict[str, RuleRow] = {rid: RuleRow(rid, r) for rid, r in rules.rules.items()}
    for d in rule_days(since, now):
        row = rows.setdefault(d.rule, RuleRow(d.rule, None))
        row.per_day[d.day] += d.alerts
        row.alerts += d.alerts
        row.last = d.last if row.last is None or d.last > row.last else row.last
    for row in rows.values():
        row.chart = day_bars(
            row.per_day, span, label=f"alerts per day of rule {row.id}, last {days} days"
        )
    return sorted(rows.values(), key=lambda r: (r.rule is None, r.id))


def rules_page(rule_days: RuleDays, rules: RuleSet, now: datetime) -> dict[str, Any]:
    return {"rows": rule_rows(rule_days, rules, now), "days": RULE_DAYS}


def rule_page(rule_days: RuleDays, rules: RuleSet, rule_id: str, now: datetime) -> dict[str, Any]:
    """One rule with a wider chart; {"row": None} when neither live nor seen in the window."""
    span = last_days(now.date(), RULE_DAYS)
    found = next((r for r in rule_rows(rule_days, rules, now) if r.id == rule_id), None)
    if found is not None:
        found.chart = day_bars(
            found.per_day,
            span,
            label=f"alerts per day of rule {rule_id}, last {RULE_DAYS} days",
            width=720,
            height=160,
        )
    return {"row": found, "days": RULE_DAYS}


# -- alerts ------------------------------------------------------------------------------------
@dataclass
class AlertView:
    """One story's alert as sent: its document (from the first row) and a row per destination."""

    story_key: str
    feed_id: str
    item_key: str
    created_at: datetime
    document: Mapping[str, Any]
    deliveries: list[OutboxRow] = field(default_factory=list)

    @property
    def item(self) -> Mapping[str, Any]:
        value = self.document.get("item")
        return value if isinstance(value, dict) else {}

    @property
    def rules(self) -> list[Mapping[str, Any]]:
        value = self.document.get("rules")
        return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []

    @property
    def matches(self) -> list[dict[str, Any]]:
        """Each match with its clauses (what matched, and the exclusions that held), hits (as
        `Hit`) and snippet, from the document."""
        out = []
        value = self.document.get("matches")
        for m in value if isinstance(value, list) else []:
            if not isinstance(m, dict):
                continue
            why = m.get("explanation") if isinstance(m.get("explanation"), dict) else {}
            assert isinstance(why, dict)
            listed = why.get("clauses")  # a document from elsewhere may hold anything here
            clauses = [c for c in listed if isinstance(c, str)] if isinstance(listed, list) else []
            clauses = clauses[:MAX_CLAUSES]
            out.append(
                {
                    "rule": str(m.get("rule", "")),
                    # what matched, then the exclusions that were checked and held (`NOT ...`)
                    "matched": [c for c in clauses if not c.startswith("NOT ")],
                    "exclusions": [c for c in clauses if c.startswith("NOT ")],
                    "hits": _hits(why.get("hits")),
                    "snippet": str(m.get("snippet", "")),
                }
            )
        return out


def _hits(value: object) -> list[Hit]:
    hits = []
    for h in value if isinstance(value, list) else []:
        try:
            hits.append(
                Hit(
                    str(h["field"]),
                    str(h["word"]),
                    str(h["term"]),
                    int(h["position"]),
                    int(h["start"]),
                    int(h["end"]),
                )
            )
        except (KeyError, TypeError, ValueError):
            continue
    return hits


def group_alerts(rows: Sequence[OutboxRow]) -> list[AlertView]:
    """Alert rows (one per destination) grouped by story, newest first."""
    views: dict[str, AlertView] = {}
    for r in rows:
        view = views.get(r.story_key)
        if view is None:
            view = views[r.story_key] = AlertView(
                r.story_key, r.feed_id, r.item_key, r.created_at, r.document
            )
        view.deliveries.append(r)
        view.created_at = max(view.created_at, r.created_at)
    for view in views.values():
        view.deliveries.sort(key=lambda r: r.destination)
    return sorted(views.values(), key=lambda v: v.created_at, reverse=True)


def alerts_page(store: ConsoleStore, limit: int = RECENT_ALERTS) -> dict[str, Any]:
    alerts = group_alerts(store.list_alerts(None, limit))
    sightings = store.story_sightings([a.story_key for a in alerts])
    return {"alerts": alerts, "sightings": sightings}


# -- dead letters ------------------------------------------------------------------------------
def dead_page(store: ConsoleStore, limit: int = DEAD_SHOWN) -> dict[str, Any]:
    dead = store.list_alerts("dead", limit)
    by_destination: defaultdict[str, int] = defaultdict(int)
    for r in dead:
        by_destination[r.destination] += 1
    return {
        "dead": dead,
        "disabled": sorted(store.disabled_destinations().items()),
        "by_destination": sorted(by_destination.items()),
        "more": len(dead) >= limit,
    }

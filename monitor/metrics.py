"""Prometheus metrics of the daemon. Pure bookkeeping: no I/O.

`Metrics` owns its own `CollectorRegistry` (never prometheus_client's global one), so tests and
several daemons in one process never clash. The daemon calls one method per event; `render()`
gives the exposition text that `/metrics` serves.

Labels carry only feed ids, rule ids, destination names and statuses, never URLs or secrets
(DESIGN.md: secrets never appear in metrics). Every label value passes `sanitize_label`, which
turns anything URL-like, too long, empty, or containing a registered secret into "invalid".
Polls are counted per status only, not per feed: a label per feed would make one time series per
feed and status, and with 10k-100k feeds that swamps Prometheus (see docs/metrics.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any, Final, Literal, Protocol, get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from monitor.model import SKIP_REASONS

try:  # the classic text format every Prometheus version reads; generate_latest writes it
    from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4 as CONTENT_TYPE
except ImportError:  # pragma: no cover - prometheus-client < 0.22 had only this one
    from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE

__all__ = ["CONTENT_TYPE", "INVALID_LABEL", "MAX_LABEL_LEN", "Metrics", "Outcome", "sanitize_label"]

INVALID_LABEL: Final = "invalid"
MAX_LABEL_LEN: Final = 100
Outcome = Literal["delivered", "retried", "dead"]
OUTCOMES: Final[tuple[str, ...]] = get_args(Outcome)

# Fetch latency: conditional GETs answer in tens of ms, slow feeds take seconds, and the fetch
# deadline caps the tail, so the buckets span 25 ms to 60 s.
FETCH_BUCKETS: Final = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)


class BodyTurnCounts(Protocol):
    """What /metrics reads of the fetches' body turns (monitor.net.bodies.BodyTurns)."""

    @property
    def count(self) -> int: ...
    @property
    def in_use(self) -> int: ...
    @property
    def waiting(self) -> int: ...
    @property
    def waits(self) -> int: ...
    @property
    def waited_s(self) -> float: ...


class _BodyTurnsCollector(Collector):
    """The turns' counts as they are when /metrics is read: a gauge set on a tick would miss
    the waits between two ticks."""

    def __init__(self, turns: BodyTurnCounts) -> None:
        self._turns = turns

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        t = self._turns
        yield GaugeMetricFamily(
            "newsmon_body_turns", "Turns to hold a feed body over 1 MiB (body_memory / max_body).",
            value=t.count,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "newsmon_body_turns_in_use", "Turns held now by a large body being read or parsed.",
            value=t.in_use,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "newsmon_body_turns_waiting", "Fetches waiting now for a turn to hold a large body.",
            value=t.waiting,
        )  # fmt: skip
        yield CounterMetricFamily(
            "newsmon_body_turn_waits", "Fetches that had to wait for a turn to hold a large body.",
            value=t.waits,
        )  # fmt: skip
        yield CounterMetricFamily(
            "newsmon_body_turn_wait_seconds",
            "Seconds fetches waited for a turn to hold a large body, all together (those that got"
            " a turn; a fetch that gave up at its deadline is not counted).",
            value=t.waited_s,
        )


def sanitize_label(value: str, secrets: Iterable[str] = ()) -> str:
    """`value` if it is safe as a label value, else "invalid".

    Refused: empty, longer than MAX_LABEL_LEN, containing "://" (a URL, which may embed a token),
    or containing any of `secrets`.
    """
    if not value or len(value) > MAX_LABEL_LEN or "://" in value:
        return INVALID_LABEL
    if any(s and s in value for s in secrets):
        return INVALID_LABEL
    return value


class Metrics:
    """Every metric newsmon exposes, in a registry of its own. Thread-safe."""

    def __init__(self, *, secrets: Iterable[str] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._secrets: set[str] = {s for s in secrets if s}
        self._seen_destinations: set[str] = set()
        self._polls_by_status: dict[str, Any] = {}  # status -> its labelled counter
        r = self.registry
        self._polls = Counter(
            "newsmon_polls", "Feed polls finished, by status.", ["status"], registry=r
        )
        self._fetch_seconds = Histogram(
            "newsmon_fetch_seconds", "Time to fetch one feed.", buckets=FETCH_BUCKETS, registry=r
        )
        self._items = Counter("newsmon_items_parsed", "Feed items parsed.", registry=r)
        self._skipped = Counter(
            "newsmon_items_skipped",
            "Parsed items that could not alert, by reason (too_old, seen, baseline,"
            " repeated_story).",
            ["reason"],
            registry=r,
        )
        self._matches = Counter(
            "newsmon_matches", "Items matched, by rule id.", ["rule"], registry=r
        )
        self._enqueued = Counter(
            "newsmon_alerts_enqueued",
            "Alerts written to the outbox, by destination name.",
            ["destination"],
            registry=r,
        )
        self._deliveries = Counter(
            "newsmon_deliveries",
            "Delivery attempts by destination name and outcome (delivered, retried, dead).",
            ["destination", "outcome"],
            registry=r,
        )
        self._outbox_depth = Gauge(
            "newsmon_outbox_depth", "Alerts in the outbox not yet delivered or dead.", registry=r
        )
        self._outbox_age = Gauge(
            "newsmon_outbox_oldest_age_seconds",
            "Age of the oldest undelivered alert waiting to be sent, not one held for a digest's"
            " period or a storm's window (0 when none waits).",
            registry=r,
        )
        self._feeds_in_error = Gauge(
            "newsmon_feeds_in_error", "Active feeds whose last poll failed.", registry=r
        )
        self._rules_info = Gauge(
            "newsmon_rules_info", "The live rules version (always 1).", ["version"], registry=r
        )
        self._rules_loaded = Gauge(
            "newsmon_rules_loaded", "Rules in the live rules version.", registry=r
        )
        self._reloads = Counter(
            "newsmon_rules_reloads", "Rule reloads, by result (ok, failed).", ["result"], registry=r
        )
        self._disabled = Gauge(
            "newsmon_destination_disabled",
            "1 while a destination is disabled (410 or revoked hook), else 0.",
            ["destination"],
            registry=r,
        )
        self._refused = Counter(
            "newsmon_label_values_refused",
            "Label values replaced by 'invalid' (URL-like, too long or secret).",
            registry=r,
        )
        # Pre-create the series that alerts and rate() expect to exist from the start.
        for result in ("ok", "failed"):
            self._reloads.labels(result)
        for reason in SKIP_REASONS:
            self._skipped.labels(reason)

    # -- secrets and labels ------------------------------------------------------------------
    def register_secret(self, secret: str) -> None:
        """Never let `secret` (a webhook URL, a signing key) appear in a label value."""
        if secret:
            self._secrets.add(secret)
            self._polls_by_status.clear()  # a status may be refused from now on

    def _label(self, value: str) -> str:
        safe = sanitize_label(value, self._secrets)
        if safe != value:
            self._refused.inc()
        return safe

    def _destination(self, name: str) -> str:
        dest = self._label(name)
        if dest not in self._seen_destinations:
            # Zero series for every outcome, so `rate(...{outcome="dead"})` exists before the first.
            self._seen_destinations.add(dest)
            for outcome in OUTCOMES:
                self._deliveries.labels(dest, outcome)
        return dest

    # -- events ------------------------------------------------------------------------------
    def poll_finished(self, feed_id: str, status: str, seconds: float) -> None:
        """One poll ended: status is "ok", "not_modified" or a FeedError kind ("timeout", ...);
        `seconds` its fetch took (not its parsing and matching).

        `feed_id` is deliberately not a label (cardinality); it is taken so call sites read the same
        as the log line they sit beside.
        """
        del feed_id
        polls = self._polls_by_status.get(status)
        if polls is None:  # a few statuses and error kinds: each labelled once, then reused
            label = self._label(status)
            polls = self._polls.labels(label)
            if label == status:  # a refused value is counted as refused at every poll
                self._polls_by_status[status] = polls
        polls.inc()
        if math.isfinite(seconds):
            self._fetch_seconds.observe(max(0.0, seconds))

    def items_parsed(self, n: int) -> None:
        """`n` items came out of a parsed feed (negative counts are ignored)."""
        if n > 0:
            self._items.inc(n)

    def items_skipped(self, reason: str, n: int) -> None:
        """`n` parsed items did not alert for `reason` (one of `monitor.model.SKIP_REASONS`)."""
        if n > 0:
            self._skipped.labels(self._label(reason)).inc(n)

    def rule_matched(self, rule_id: str) -> None:
        self._matches.labels(self._label(rule_id)).inc()

    def alerts_enqueued(self, destination: str, n: int) -> None:
        """`n` alerts for the destination named `destination` were committed to the outbox."""
        dest = self._destination(destination)
        if n > 0:
            self._enqueued.labels(dest).inc(n)

    def delivery_result(self, destination: str, outcome: Outcome) -> None:
        """One delivery attempt ended: delivered, retried (will be tried again) or dead."""
        if outcome not in OUTCOMES:
            raise ValueError(f"delivery outcome must be one of {OUTCOMES}, not {outcome!r}")
        self._deliveries.labels(self._destination(destination), outcome).inc()

    def set_outbox(self, depth: int, oldest_age_s: float | None) -> None:
        """The outbox now holds `depth` undelivered alerts, the oldest `oldest_age_s` old."""
        self._outbox_depth.set(max(0, depth))
        age = oldest_age_s if oldest_age_s is not None and math.isfinite(oldest_age_s) else 0.0
        self._outbox_age.set(max(0.0, age))

    def set_feeds_in_error(self, n: int) -> None:
        self._feeds_in_error.set(max(0, n))

    def set_rules_version(self, version: str, count: int) -> None:
        """Make `version` the live rules version: the previous version's series disappears."""
        self._rules_info.clear()
        self._rules_info.labels(self._label(version)).set(1)
        self._rules_loaded.set(max(0, count))

    def rules_reload(self, ok: bool) -> None:
        """A reload was attempted: ok (now live) or failed (refused, old rules kept)."""
        self._reloads.labels("ok" if ok else "failed").inc()

    def watch_body_turns(self, turns: BodyTurnCounts) -> None:
        """Expose the fetches' body turns, read at each /metrics (once per registry)."""
        self.registry.register(_BodyTurnsCollector(turns))

    def destination_disabled(self, name: str, disabled: bool = True) -> None:
        """The destination named `name` was disabled (or, with disabled=False, enabled again)."""
        self._disabled.labels(self._destination(name)).set(1 if disabled else 0)

    # -- exposition --------------------------------------------------------------------------
    def render(self) -> bytes:
        """The Prometheus text exposition of this registry (serve with CONTENT_TYPE)."""
        return generate_latest(self.registry)

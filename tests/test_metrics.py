"""Metrics: counters and gauges move with the daemon's calls, labels never leak URLs or secrets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from monitor.metrics import INVALID_LABEL, Metrics, sanitize_label
from monitor.net.bodies import BodyTurns


def samples(m: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the rendered exposition, parsed back: what a scraper really sees."""
    out = {}
    for family in text_string_to_metric_families(m.render().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(m: Metrics, name: str, **labels: str) -> float | None:
    return samples(m).get((name, tuple(sorted(labels.items()))))


def test_polls_counted_by_status_with_latency_histogram() -> None:
    m = Metrics()
    m.poll_finished("feed-a", "ok", 0.2)
    m.poll_finished("feed-b", "ok", 3.0)
    m.poll_finished("feed-a", "timeout", 30.0)
    assert value(m, "newsmon_polls_total", status="ok") == 2
    assert value(m, "newsmon_polls_total", status="timeout") == 1
    assert value(m, "newsmon_fetch_seconds_count") == 3
    assert value(m, "newsmon_fetch_seconds_sum") == pytest.approx(33.2)
    assert value(m, "newsmon_fetch_seconds_bucket", le="0.25") == 1
    assert value(m, "newsmon_fetch_seconds_bucket", le="5.0") == 2
    # No per-feed label: feed ids never become series.
    assert b"feed-a" not in m.render()


def test_items_matches_alerts_and_deliveries() -> None:
    m = Metrics()
    m.items_parsed(40)
    m.items_parsed(2)
    m.items_parsed(-5)  # ignored, a counter never goes down
    m.rule_matched("ukraine-grain")
    m.rule_matched("ukraine-grain")
    m.rule_matched("fed-rates")
    m.alerts_enqueued("slack-newsroom", 3)
    m.delivery_result("slack-newsroom", "delivered")
    m.delivery_result("slack-newsroom", "retried")
    m.delivery_result("slack-newsroom", "delivered")
    assert value(m, "newsmon_items_parsed_total") == 42
    assert value(m, "newsmon_matches_total", rule="ukraine-grain") == 2
    assert value(m, "newsmon_matches_total", rule="fed-rates") == 1
    assert value(m, "newsmon_alerts_enqueued_total", destination="slack-newsroom") == 3
    dest = "slack-newsroom"
    assert value(m, "newsmon_deliveries_total", destination=dest, outcome="delivered") == 2
    assert value(m, "newsmon_deliveries_total", destination=dest, outcome="retried") == 1
    # The dead series exists at 0 as soon as the destination is known, so rate() alerts work.
    assert value(m, "newsmon_deliveries_total", destination=dest, outcome="dead") == 0


def test_skipped_items_counted_by_reason_every_reason_from_zero() -> None:
    m = Metrics()
    for reason in ("too_old", "seen", "baseline", "repeated_story"):
        assert value(m, "newsmon_items_skipped_total", reason=reason) == 0
    m.items_skipped("too_old", 3)
    m.items_skipped("too_old", 2)
    m.items_skipped("seen", 0)
    assert value(m, "newsmon_items_skipped_total", reason="too_old") == 5
    assert value(m, "newsmon_items_skipped_total", reason="seen") == 0


def test_delivery_outcome_must_be_known() -> None:
    m = Metrics()
    with pytest.raises(ValueError, match="outcome"):
        m.delivery_result("hook", "lost")  # type: ignore[arg-type]  # an unknown outcome: the test


def test_outbox_feeds_in_error_and_disabled_gauges() -> None:
    m = Metrics()
    m.set_outbox(12, 340.5)
    m.set_feeds_in_error(4)
    m.destination_disabled("slack-old")
    assert value(m, "newsmon_outbox_depth") == 12
    assert value(m, "newsmon_outbox_oldest_age_seconds") == 340.5
    assert value(m, "newsmon_feeds_in_error") == 4
    assert value(m, "newsmon_destination_disabled", destination="slack-old") == 1
    m.set_outbox(0, None)  # empty outbox: age 0, not the stale 340.5
    m.destination_disabled("slack-old", disabled=False)
    assert value(m, "newsmon_outbox_depth") == 0
    assert value(m, "newsmon_outbox_oldest_age_seconds") == 0
    assert value(m, "newsmon_destination_disabled", destination="slack-old") == 0


def test_rules_version_gauge_keeps_only_the_live_version() -> None:
    m = Metrics()
    m.set_rules_version("3f2a9c", 12)
    m.rules_reload(True)
    m.rules_reload(False)  # a broken edit: refused, the old version stays live
    m.set_rules_version("b71e04", 13)
    m.rules_reload(True)
    infos = {k: v for k, v in samples(m).items() if k[0] == "newsmon_rules_info"}
    assert infos == {("newsmon_rules_info", (("version", "b71e04"),)): 1}
    assert value(m, "newsmon_rules_loaded") == 13
    assert value(m, "newsmon_rules_reloads_total", result="ok") == 2
    assert value(m, "newsmon_rules_reloads_total", result="failed") == 1


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("slack-newsroom", "slack-newsroom"),
        ("https://hooks.slack.com/services/T0/B0/XYZ", INVALID_LABEL),
        ("x" * 100, "x" * 100),
        ("x" * 101, INVALID_LABEL),
        ("", INVALID_LABEL),
        ("team-whsec_abc123", INVALID_LABEL),  # contains the registered secret
    ],
)
def test_sanitize_label(raw: str, expected: str) -> None:
    assert sanitize_label(raw, ["whsec_abc123"]) == expected


def test_no_url_or_secret_reaches_the_exposition() -> None:
    url = "https://hooks.slack.com/services/T000/B000/tok3nSECRET"
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    m = Metrics(secrets=[url])
    m.register_secret(secret)
    m.alerts_enqueued(url, 1)
    m.delivery_result(url, "dead")
    m.destination_disabled(url)
    m.delivery_result(f"hook-{secret}", "delivered")
    m.rule_matched(secret)
    m.poll_finished("f", "http://internal:8080/", 0.1)
    text = m.render()
    for leaked in (url.encode(), secret.encode(), b"tok3nSECRET", b"://"):
        assert leaked not in text
    assert value(m, "newsmon_deliveries_total", destination="invalid", outcome="dead") == 1
    assert value(m, "newsmon_label_values_refused_total") == 6


def test_each_instance_has_its_own_registry() -> None:
    a, b = Metrics(), Metrics()  # would raise "Duplicated timeseries" on a shared registry
    a.rule_matched("r1")
    assert value(a, "newsmon_matches_total", rule="r1") == 1
    assert value(b, "newsmon_matches_total", rule="r1") is None
    assert REGISTRY.get_sample_value("newsmon_matches_total", {"rule": "r1"}) is None


def test_docs_list_every_metric(repo_root: Path) -> None:
    """docs/metrics.md documents exactly the metrics that exist, with their types and labels."""
    doc = (repo_root / "docs" / "metrics.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(newsmon_\w+)` \| (\w+) \| ([^|]*) \|", doc, re.MULTILINE)
    documented = {name: (kind, set(re.findall(r"`(\w+)`", labels))) for name, kind, labels in rows}
    m = Metrics()  # one call of each method, so every labelled metric has a series
    m.poll_finished("f", "ok", 1.0)
    m.rule_matched("r")
    m.alerts_enqueued("d", 1)
    m.set_rules_version("v", 1)
    m.destination_disabled("d")
    m.watch_body_turns(BodyTurns(1))  # the daemon's fetches' turns (one-shot commands have none)
    actual = {}
    for family in m.registry.collect():
        name = family.name + ("_total" if family.type == "counter" else "")
        labels = {k for sample in family.samples for k in sample.labels} - {"le"}
        actual[name] = (family.type, labels)
    assert documented == actual

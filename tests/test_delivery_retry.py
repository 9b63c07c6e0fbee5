"""The retry schedule and reply classification, as tables (Retry-After: test_retry_after)."""

from __future__ import annotations

import random

import pytest

from monitor.delivery.retry import (
    SCHEDULE_S,
    Outcome,
    classify,
    retry_delay,
)


def test_schedule_is_about_a_day_then_dead() -> None:
    assert SCHEDULE_S == (5, 300, 1800, 7200, 18000, 36000, 36000)
    assert 20 * 3600 < sum(SCHEDULE_S) < 30 * 3600
    rng = random.Random(1)
    assert retry_delay(len(SCHEDULE_S) + 1, rng) is None
    with pytest.raises(ValueError):
        retry_delay(0, rng)


@pytest.mark.parametrize("failures", range(1, 8))
def test_jitter_stays_within_ten_percent_and_varies(failures: int) -> None:
    rng = random.Random(failures)
    base = SCHEDULE_S[failures - 1]
    delays = [retry_delay(failures, rng) for _ in range(200)]
    assert all(d is not None and 0.9 * base <= d <= 1.1 * base for d in delays)
    assert len(set(delays)) > 100


class _Edge(random.Random):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def uniform(self, a: float, b: float) -> float:
        return a if self.value < 0 else b


def test_jitter_uses_the_injected_rng_at_both_edges() -> None:
    assert retry_delay(1, _Edge(-1)) == pytest.approx(4.5)
    assert retry_delay(1, _Edge(1)) == pytest.approx(5.5)


@pytest.mark.parametrize(
    ("status", "body", "kind", "outcome"),
    [
        (200, "", "webhook", Outcome.DELIVERED),
        (204, "", "webhook", Outcome.DELIVERED),
        (200, "ok", "slack", Outcome.DELIVERED),
        (301, "", "webhook", Outcome.DEAD),
        (302, "", "slack", Outcome.DEAD),
        (307, "", "webhook", Outcome.DEAD),
        (400, "", "webhook", Outcome.DEAD),
        (401, "", "webhook", Outcome.DEAD),
        (403, "", "webhook", Outcome.DEAD),
        (404, "", "webhook", Outcome.DEAD),
        (422, "", "webhook", Outcome.DEAD),
        (418, "", "webhook", Outcome.DEAD),
        (410, "", "webhook", Outcome.DISABLE),
        (410, "", "slack", Outcome.DISABLE),
        (408, "", "webhook", Outcome.RETRY),
        (425, "", "webhook", Outcome.RETRY),
        (429, "", "webhook", Outcome.RETRY),
        (429, "rate_limited", "slack", Outcome.RETRY),
        (500, "", "webhook", Outcome.RETRY),
        (502, "", "slack", Outcome.RETRY),
        (503, "", "webhook", Outcome.RETRY),
        (599, "", "webhook", Outcome.RETRY),
        (400, "invalid_payload", "slack", Outcome.DEAD),
        (404, "channel_not_found", "slack", Outcome.DEAD),
        (403, "action_prohibited", "slack", Outcome.DEAD),
        (403, "invalid_token", "slack", Outcome.DISABLE),
        (400, "invalid_token", "slack", Outcome.DISABLE),
        (404, "no_service", "slack", Outcome.DISABLE),
        (410, "channel_is_archived", "slack", Outcome.DISABLE),
        (500, "no_service\n", "slack", Outcome.DISABLE),
        # Slack's codes mean nothing from a generic webhook: status decides.
        (404, "no_service", "webhook", Outcome.DEAD),
        (500, "invalid_token", "webhook", Outcome.RETRY),
        (100, "", "webhook", Outcome.RETRY),
    ],
)
def test_classify(status: int, body: str, kind: str, outcome: Outcome) -> None:
    verdict = classify(status, body, kind)
    assert verdict.outcome is outcome
    assert str(status) in verdict.reason

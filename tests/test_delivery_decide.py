"""The delivery decider (monitor.delivery.decide) as tables: an attempt, the attempts before it and
the clock in; what the deliverer is to do out. No store, no HTTP."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from monitor.delivery.decide import Attempt, Members, Pause, Record, Rest, Retry, decide
from monitor.delivery.retry import SCHEDULE_S, Outcome, Verdict

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
RATE = 2.0  # tokens a second: a 429 without Retry-After pauses for 0.5 s


class NoJitter(random.Random):
    """The retry schedule's slots exactly (the jitter draw is 0)."""

    def uniform(self, a: float, b: float) -> float:
        return 0.0


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


OK = Attempt(Verdict(Outcome.DELIVERED, "HTTP 204"), 204)
GONE = Attempt(Verdict(Outcome.DISABLE, "HTTP 410 gone"), 410)
BAD = Attempt(Verdict(Outcome.DEAD, "HTTP 400"), 400)
DOWN = Attempt(Verdict(Outcome.RETRY, "HTTP 503"), 503)
DOWN_AFTER = Attempt(Verdict(Outcome.RETRY, "HTTP 503"), 503, retry_after=900.0)
DOWN_SOON = Attempt(Verdict(Outcome.RETRY, "HTTP 503"), 503, retry_after=2.0)
LIMITED = Attempt(Verdict(Outcome.RETRY, "HTTP 429"), 429)
LIMITED_AFTER = Attempt(Verdict(Outcome.RETRY, "HTTP 429"), 429, retry_after=30.0)
SILENT = Attempt(Verdict(Outcome.RETRY, "no reply within 30s"))
# An email the server took for some recipients and refused for now for one.
GREYLISTED = "SMTP 250 for 1 of 2 recipients; 1 refused for now (retried): b@x (450)"
SOME_TOOK = Attempt(Verdict(Outcome.RETRY, GREYLISTED, owed=("b@x",), taken=True))
LAST = len(SCHEDULE_S)  # attempts before the one that spends the schedule

TABLE = [
    # attempt, attempts before, record, reason, retry in s, pause (s, failing, shared), members,
    # rest
    (OK, 0, Record.DELIVERED, "HTTP 204", None, None, Members.SETTLE, Rest.NEXT),
    (OK, 6, Record.DELIVERED, "HTTP 204", None, None, Members.SETTLE, Rest.NEXT),
    (BAD, 0, Record.DEAD, "HTTP 400", None, None, Members.DEAD, Rest.NEXT),
    (GONE, 3, Record.DEAD, "HTTP 410 gone", None, None, Members.DEAD, Rest.STOP),
    # a failure: the next slot of the schedule; the destination paused 5 s (the first failure in
    # a row: see the streak test), however many times this alert failed before
    (DOWN, 0, Record.RETRY, "HTTP 503", 5.0, (5.0, True, None), Members.KEEP, Rest.RELEASE),
    (DOWN, 1, Record.RETRY, "HTTP 503", 300.0, (5.0, True, None), Members.KEEP, Rest.RELEASE),
    (SILENT, 2, Record.RETRY, "no reply within 30s", 1800.0, (5.0, True, None), Members.KEEP,
     Rest.RELEASE),
    # some took it: retried for the others, the destination neither paused nor left
    (SOME_TOOK, 1, Record.RETRY, GREYLISTED, 300.0, None, Members.KEEP, Rest.NEXT),
    # Retry-After: the pause, and a floor under the schedule's slot
    (DOWN_AFTER, 0, Record.RETRY, "HTTP 503", 900.0, (900.0, True, None), Members.KEEP,
     Rest.RELEASE),
    (DOWN_SOON, 1, Record.RETRY, "HTTP 503", 300.0, (2.0, True, None), Members.KEEP,
     Rest.RELEASE),
    # a 429: a rate limit for every process, one token's time without Retry-After
    (LIMITED, 0, Record.RETRY, "HTTP 429", 5.0, (0.5, False, at(0.5)), Members.KEEP,
     Rest.RELEASE),
    (LIMITED_AFTER, 0, Record.RETRY, "HTTP 429", 30.0, (30.0, False, at(30.0)), Members.KEEP,
     Rest.RELEASE),
    # the schedule spent: the dead letters, the destination still paused
    # (a fold's or digest's alerts with it)
    (DOWN, LAST, Record.DEAD, f"HTTP 503; gave up after {LAST + 1} attempts", None,
     (5.0, True, None), Members.DEAD, Rest.RELEASE),
    (LIMITED, LAST, Record.DEAD, f"HTTP 429; gave up after {LAST + 1} attempts", None,
     (0.5, False, at(0.5)), Members.DEAD, Rest.RELEASE),
    (SOME_TOOK, LAST, Record.DEAD, f"{GREYLISTED}; gave up after {LAST + 1} attempts", None,
     None, Members.DEAD, Rest.NEXT),
]  # fmt: skip


@pytest.mark.parametrize(
    ("attempt", "attempts", "record", "reason", "retry_in", "pause", "members", "rest"), TABLE
)
def test_decision_table(
    attempt: Attempt,
    attempts: int,
    record: Record,
    reason: str,
    retry_in: float | None,
    pause: tuple[float, bool, datetime | None] | None,
    members: Members,
    rest: Rest,
) -> None:
    decision = decide(attempt, attempts, NOW, RATE, NoJitter())
    assert decision.outcome is attempt.verdict.outcome
    assert decision.record is record
    assert decision.reason == reason
    assert decision.retry == (Retry(at(retry_in), retry_in) if retry_in is not None else None)
    assert decision.pause == (Pause(*pause) if pause is not None else None)
    assert decision.disable is (attempt.verdict.outcome is Outcome.DISABLE)
    assert decision.members is members
    assert decision.rest is rest


def test_only_a_retry_draws_from_the_random_source() -> None:
    """The schedule's jitter is drawn for a retry alone, so the draws follow the failures."""

    class Counting(random.Random):
        draws = 0

        def uniform(self, a: float, b: float) -> float:
            self.draws += 1
            return 0.0

    rng = Counting()
    for attempt in (OK, BAD, GONE):
        decide(attempt, 0, NOW, RATE, rng)
    assert rng.draws == 0
    decide(DOWN, 0, NOW, RATE, rng)
    assert rng.draws == 1


def test_the_retry_carries_the_schedules_jitter() -> None:
    decision = decide(DOWN, 3, NOW, RATE, random.Random(7))
    assert decision.retry is not None
    assert decision.retry.in_s != SCHEDULE_S[3]
    assert abs(decision.retry.in_s - SCHEDULE_S[3]) <= SCHEDULE_S[3] * 0.1
    assert decision.retry.at == at(decision.retry.in_s)


@pytest.mark.parametrize(
    ("streak", "attempts", "pause_s"),
    [(0, 3, 5.0), (1, 3, 10.0), (2, 3, 20.0), (3, 3, 40.0), (4, 3, 60.0), (40, 3, 60.0),
     (2, 0, 5.0)],  # a first failure's pause never outlasts its own retry (5 s)
)  # fmt: skip
def test_a_failures_pause_follows_the_destinations_streak_not_the_alerts_attempts(
    streak: int, attempts: int, pause_s: float
) -> None:
    """A destination that fails again and again is paused longer each time, up to a minute; one
    failure among successes pauses it 5 s. The pause followed the alert's own attempts: after
    its second failure, a minute, so against a receiver failing a third of its posts the
    destination was paused most of the time and fewer alerts went out than matched."""
    decision = decide(DOWN, attempts, NOW, RATE, NoJitter(), streak=streak)
    assert decision.pause == Pause(pause_s, failing=True, shared_until=None)

"""What to do after one delivery attempt. Pure: the attempt, the alert's attempt count, the clock's
now, the destination's rate and the retry schedule's random source in; a `Decision` out, which the
deliverer performs (store calls, bucket pauses, counters, log lines) and nothing more.

    delivered -> mark it delivered; go on with the run's next alert
    retry     -> pause the destination as a whole (a circuit breaker): for Retry-After if given,
                 else a 429 for one token's time, another failure for 5 s doubled for each
                 failure of the destination in a row before it (`streak`), 60 s at most and
                 no longer than the alert's own retry; a 429
                 pauses it for every process (the shared bucket)
                 then the next slot of the retry schedule (Retry-After a floor), or the dead
                 letters once the schedule is spent; release the rest of the run's alerts
    dead      -> the dead letters; go on
    disable   -> the dead letters, and the destination disabled (which dead-letters its queue);
                 the run for this destination ends

An email the server took for some recipients and refused for now for others is retried for
those, on the same schedule, without pausing the destination or releasing the rest: the server
works, and the run's other alerts are owed to the recipients who take them.

An alert sent as a fold or digest message carries others: when it is delivered they are settled
with it, when it is refused (dead, disable) or given up on (the schedule spent) they are
dead-lettered with it, and a retry leaves them as they are.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.delivery.retry import Outcome, Verdict, retry_delay

PAUSE_CAP_S = 60.0  # a failing destination is tried again within a minute at the latest
PAUSE_FIRST_S = 5.0  # after one failure; doubled for each failure in a row before it


@dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt's result: the verdict on the reply, its status and Retry-After (seconds)."""

    verdict: Verdict
    status: int | None = None
    retry_after: float | None = None


class Record(enum.Enum):
    """What the outbox row becomes."""

    DELIVERED = "delivered"
    RETRY = "retried"
    DEAD = "dead"


class Rest(enum.Enum):
    """What happens to the alerts this run claimed for the destination after this one."""

    NEXT = "next"  # go on with them
    RELEASE = "release"  # give them back: the destination is paused
    STOP = "stop"  # nothing: the destination is disabled and its queue dead-lettered


class Members(enum.Enum):
    """What happens to the alerts a fold or digest message carries."""

    KEEP = "keep"
    SETTLE = "settle"  # delivered with it
    DEAD = "dead"  # refused with it (a replay brings them back)


@dataclass(frozen=True, slots=True)
class Pause:
    """How long a destination rests before its next send, and why."""

    seconds: float
    failing: bool  # the destination failed (a circuit breaker), not a rate limit to wait out
    shared_until: datetime | None  # a 429: every process pauses the destination until then


@dataclass(frozen=True, slots=True)
class Retry:
    """When a failed alert is tried again: at `at`, `in_s` seconds from now."""

    at: datetime
    in_s: float


@dataclass(frozen=True, slots=True)
class Decision:
    """What to record for an alert after an attempt, and what follows for its destination."""

    outcome: Outcome  # the verdict's
    record: Record
    reason: str  # the row's last_error and the log's reason
    retry: Retry | None = None  # when record is RETRY
    pause: Pause | None = None
    disable: bool = False
    members: Members = Members.KEEP
    rest: Rest = Rest.NEXT


def decide(
    attempt: Attempt,
    attempts: int,
    now: datetime,
    rate: float,
    rng: random.Random,
    *,
    streak: int = 0,
) -> Decision:
    """The decision after `attempt`, the alert's attempt number `attempts + 1`; `rate` is the
    destination's tokens a second; `rng` draws the retry schedule's jitter (only on a retry);
    `streak`: the destination's failed attempts in a row before this one (any alert's).

    The pause follows the destination's streak, not the alert's attempts: after an alert's
    second failure it paused the destination 60 s, so against a receiver failing a third of
    its posts (each alert on its later tries failing in turn) it was paused most of the time,
    and fewer alerts went out than matched."""
    verdict = attempt.verdict
    if verdict.outcome is Outcome.DELIVERED:
        return Decision(verdict.outcome, Record.DELIVERED, verdict.reason, members=Members.SETTLE)
    if verdict.outcome is Outcome.DEAD:
        return Decision(verdict.outcome, Record.DEAD, verdict.reason, members=Members.DEAD)
    if verdict.outcome is Outcome.DISABLE:
        return Decision(
            verdict.outcome,
            Record.DEAD,
            verdict.reason,
            disable=True,
            members=Members.DEAD,
            rest=Rest.STOP,
        )
    failures = attempts + 1
    delay = retry_delay(failures, rng)
    limited = attempt.status == 429
    seconds = attempt.retry_after
    if seconds is None:
        # A failure: the destination's streak sets it, this alert's own retry bounds it.
        streaked = min(PAUSE_FIRST_S * 2.0 ** min(streak, 16), PAUSE_CAP_S)
        seconds = 1.0 / rate if limited else min(streaked, delay or PAUSE_CAP_S)
    shared = now + timedelta(seconds=seconds) if limited else None
    pause: Pause | None = Pause(seconds, failing=not limited, shared_until=shared)
    rest = Rest.RELEASE
    if verdict.taken:  # some recipients took it: the destination is not failing
        pause, rest = None, Rest.NEXT
    if delay is None:
        # Given up on: a fold's or digest's alerts go to the dead letters with it. Kept, each
        # went on to a schedule of its own in turn, the same message sent 8 times more each.
        reason = f"{verdict.reason}; gave up after {failures} attempts"
        return Decision(
            verdict.outcome,
            Record.DEAD,
            reason,
            pause=pause,
            members=Members.DEAD,
            rest=rest,
        )
    delay = max(delay, attempt.retry_after or 0.0)
    return Decision(
        verdict.outcome,
        Record.RETRY,
        verdict.reason,
        retry=Retry(now + timedelta(seconds=delay), delay),
        pause=pause,
        rest=rest,
    )

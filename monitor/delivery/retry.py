"""When to try again and what a reply means. Pure.

- `retry_delay(failures, rng)`: the schedule 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (about a
  day in all), each ±10 % jitter so that many alerts failing together do not return together;
  None after the last slot, which means dead-letter.
- `RETRY_AFTER_CAP_S`: a receiver's Retry-After is honoured up to 1 h
  (`monitor.net.retry_after.parse_retry_after(value, now, cap=RETRY_AFTER_CAP_S)`).
- `classify(status, body_text, destination_type)`: delivered / retry / dead / disable.

Redirects are never followed (a webhook URL that redirects would otherwise be a way to reach an
address the guard never saw). A 3xx is classified `dead`: the destination URL is wrong, and
retrying the same URL for a day would not make it right; the dead letter names the status so the
user fixes the URL and replays.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Sequence
from dataclasses import dataclass

# A destination on a refused address, in the outbox, the logs and the console: what to do, and
# neither its address nor its URL (often a secret).
BLOCKED_DESTINATION = (
    "blocked address: the destination resolves to a refused address (loopback, private or"
    " reserved); if it is meant to be on your network, add it to allow_networks in the config"
)

SCHEDULE_S: tuple[float, ...] = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
JITTER = 0.10
RETRY_AFTER_CAP_S = 3600.0

# Slack answers errors as plain-text bodies (https://api.slack.com/messaging/webhooks#handling_errors).
SLACK_DEAD = frozenset({"invalid_payload", "channel_not_found", "action_prohibited"})
SLACK_DISABLE = frozenset({"invalid_token", "no_service", "channel_is_archived"})
DEAD_STATUSES = frozenset({400, 401, 403, 404, 422})
DISABLE_STATUSES = frozenset({410})
RETRY_STATUSES = frozenset({408, 425, 429})


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD = "dead"
    DISABLE = "disable"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one attempt's response means for the alert: its outcome and why."""

    outcome: Outcome
    reason: str  # short, for the outbox's last_error and the log: never a URL or a secret
    # Email: the recipients still owed the alert after this attempt (None: those owed before
    # it), and whether the server took the message for some of them (it works: no pause).
    owed: tuple[str, ...] | None = None
    taken: bool = False


def retry_delay(
    failures: int, rng: random.Random, schedule: Sequence[float] = SCHEDULE_S
) -> float | None:
    """Seconds to wait after the `failures`-th failed attempt (1-based); None = dead-letter."""
    if failures < 1:
        raise ValueError("failures counts failed attempts and starts at 1")
    if failures > len(schedule):
        return None
    base = schedule[failures - 1]
    return base * (1.0 + rng.uniform(-JITTER, JITTER))


def _slack_code(body_text: str) -> str:
    words = body_text.strip().split(None, 1)
    return words[0].lower()[:64] if words else ""


def classify(status: int, body_text: str, destination_type: str) -> Verdict:
    """What a reply with this status and (first part of the) body means."""
    if 200 <= status < 300:
        return Verdict(Outcome.DELIVERED, f"HTTP {status}")
    if destination_type == "slack":
        code = _slack_code(body_text)
        if code in SLACK_DISABLE:
            return Verdict(Outcome.DISABLE, f"HTTP {status} {code}")
        if code in SLACK_DEAD:
            return Verdict(Outcome.DEAD, f"HTTP {status} {code}")
    if 300 <= status < 400:
        return Verdict(Outcome.DEAD, f"HTTP {status} redirect not followed; fix the URL")
    if status in DISABLE_STATUSES:
        return Verdict(Outcome.DISABLE, f"HTTP {status} gone")
    if status in RETRY_STATUSES or 500 <= status < 600:
        return Verdict(Outcome.RETRY, f"HTTP {status}")
    if status in DEAD_STATUSES or 400 <= status < 500:
        return Verdict(Outcome.DEAD, f"HTTP {status}")
    return Verdict(Outcome.RETRY, f"HTTP {status} unexpected")

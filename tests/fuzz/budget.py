"""How much fuzzing a run does: bounded for CI, 25x more with NEWSMON_SOAK=1. Pure.

Every example must finish within `PER_INPUT` (hypothesis' deadline): a parser that is slow on some
input fails the test with that input, shrunk."""

from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, settings

SOAK = os.environ.get("NEWSMON_SOAK", "") not in ("", "0")
PER_INPUT = timedelta(seconds=float(os.environ.get("NEWSMON_FUZZ_DEADLINE_S", "2")))


def budget(examples: int) -> settings:
    return settings(
        max_examples=examples * (25 if SOAK else 1),
        deadline=PER_INPUT,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        print_blob=True,
    )

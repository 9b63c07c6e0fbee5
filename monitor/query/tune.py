"""Choosing a rule's similarity threshold from labelled items (`newsmon rules tune`). Pure.

Each labelled item is a `Point`: whether it is relevant, whether the rule's query holds for it
(and the rule watches its feed), and its similarity to the rule's best `like` and `unlike`. A
threshold decides which points fire, by the rule's mode (monitor.query.semantic). A point
labelled relevant for any rule, not for this one, is counted as `monitor.feedback.score` counts
it (what `rules backtest --labels` reports): a true positive when the rule fires, and no miss
when it does not (it may be another rule's). Thresholds are
proposed in hundredths, from 0.01 to 1: the F1 and precision of every threshold that changes
which points fire are computed, and

- `best_f1` is the threshold of the highest F1 (of equal ones, the highest threshold: the
  fewest alerts for the same F1);
- `for_precision` is the threshold of the highest recall whose precision reaches the target (of
  equal recalls, the highest threshold), or None when no threshold reaches it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.model import Mode
from monitor.query.semantic import EPSILON, Scores

STEP = 100  # thresholds in hundredths


@dataclass(frozen=True, slots=True)
class Point:
    key: tuple[str, str]  # (feed, item key)
    relevant: bool
    query: bool  # the rule watches the feed and its query holds
    like: float
    unlike: float | None
    for_rule: bool = True  # labelled for this rule, not for any rule: a miss when it does not fire

    def fires(self, mode: Mode, threshold: float) -> bool:
        similar = Scores(self.like, 0, self.unlike).similar(threshold)
        if mode == "widen":
            return self.query or similar
        if mode == "narrow":
            return self.query and similar
        if mode == "similar":
            return similar and self.query  # `query` is then only "watches the feed"
        return self.query


@dataclass(frozen=True, slots=True)
class Outcome:
    threshold: float
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float:
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp else 0.0


def outcome(points: Sequence[Point], mode: Mode, threshold: float) -> Outcome:
    tp = fp = fn = 0
    for p in points:
        hit = p.fires(mode, threshold)
        tp += hit and p.relevant
        fp += hit and not p.relevant
        fn += p.relevant and not hit and p.for_rule
    return Outcome(threshold, tp, fp, fn)


def _grid(score: float) -> float | None:
    """The highest threshold in hundredths that `score` reaches, or None below 0.01."""
    steps = min(STEP, math.floor((score + EPSILON) * STEP))
    return steps / STEP if steps >= 1 else None


def candidates(points: Sequence[Point]) -> list[float]:
    """The thresholds where what fires can change: each point's highest reachable threshold,
    and 0.01 and 1 (the ends), highest first."""
    found = {t for p in points if (t := _grid(p.like)) is not None}
    found.update((1 / STEP, 1.0))
    return sorted(found, reverse=True)


def outcomes(points: Sequence[Point], mode: Mode) -> list[Outcome]:
    return [outcome(points, mode, t) for t in candidates(points)]


def best_f1(points: Sequence[Point], mode: Mode) -> Outcome:
    # candidates come highest first, and max keeps the first of equals
    return max(outcomes(points, mode), key=lambda o: o.f1)


def for_precision(points: Sequence[Point], mode: Mode, target: float) -> Outcome | None:
    good = [o for o in outcomes(points, mode) if (o.precision or 0.0) >= target]
    return max(good, key=lambda o: o.recall or 0.0) if good else None


def flips(points: Sequence[Point], mode: Mode, old: float, new: float) -> list[tuple[Point, bool]]:
    """The points that fire under one threshold and not the other: (point, fires under new)."""
    out = []
    for p in points:
        before, after = p.fires(mode, old), p.fires(mode, new)
        if before != after:
            out.append((p, after))
    return out

"""`same_story`: near-duplicate similarity plus the false-merge guard, with tunable thresholds.
Pure.

Defaults (chosen on the labelled pairs in tests/data/dedup/pairs.yaml; see docs/dedup.md):
- `threshold` 0.5: the MinHash-estimated Jaccard similarity of the two shingle sets must reach it.
  Same-story pairs across outlets with different wording measure 0.5-0.8; different stories of
  the same kind ("troops sent to ...") 0.3-0.6, which the guard then has to stop.
- `min_shingles` 4: a text with fewer content words ("Live updates") matches only an identical
  text (the estimate says nothing for tiny sets).
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.dedup.fingerprint import StoryFingerprint, similarity
from monitor.dedup.guard import conflict


@dataclass(frozen=True, slots=True)
class MatchPolicy:
    """How alike two fingerprints must be, and how long, to be one story."""

    threshold: float = 0.5
    min_shingles: int = 4


DEFAULT_POLICY = MatchPolicy()


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether two fingerprints are one story, how alike they are, and why not."""

    same: bool
    similarity: float
    reason: str  # "" when same; else "dissimilar", "too-short" or the guard's reason


def judge(
    a: StoryFingerprint, b: StoryFingerprint, policy: MatchPolicy = DEFAULT_POLICY
) -> Verdict:
    """Whether `a` and `b` are one story, with the similarity and the reason when not."""
    sim = similarity(a, b)
    if a.size == 0 or b.size == 0:
        return Verdict(False, sim, "empty")
    if min(a.size, b.size) < policy.min_shingles:
        same = a.signature == b.signature and a.size == b.size
        return Verdict(same, sim, "" if same else "too-short")
    if sim < policy.threshold:
        return Verdict(False, sim, "dissimilar")
    reason = conflict(a, b)
    return Verdict(not reason, sim, reason)


def same_story(
    a: StoryFingerprint, b: StoryFingerprint, policy: MatchPolicy = DEFAULT_POLICY
) -> bool:
    """True when `a` and `b` are near-duplicates and the guard finds no conflict."""
    return judge(a, b, policy).same

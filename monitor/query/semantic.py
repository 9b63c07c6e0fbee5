"""The semantic second stage: how similar an item is to each rule's `like` and `unlike` examples.

Every example of every rule is embedded once, when the rules are loaded, into one matrix (the
`like` rows of all rules, then their `unlike` rows). An item is embedded once (title and lede),
however many rules ask, and one matrix-vector product gives its similarity to every example; the
best per rule is a segmented maximum. An item is *similar* for a rule when its best `like`
similarity reaches the rule's threshold and beats its best `unlike` similarity.

Pure but for the model, which the caller passes in (monitor.query.embed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from monitor.model import Item, Rule, Similarity
from monitor.query.embed import Embedder, item_text

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

# Similarities are float32 cosines: a threshold is reached to within this much, so an item equal
# to an example reaches a threshold of 1.
EPSILON = 1e-6
EXAMPLE_WORDS = 8  # an example is named by its first words in explanations


def first_words(text: str, n: int = EXAMPLE_WORDS) -> str:
    words = text.split()
    return " ".join(words[:n]) + ("…" if len(words) > n else "")


@dataclass(frozen=True, slots=True)
class Scores:
    """One item against one rule's examples."""

    like: float  # best similarity to a `like` example
    closest: int  # which `like` example (its index in the rule's `like`)
    unlike: float | None  # best similarity to an `unlike` example; None: the rule has none

    def similar(self, threshold: float) -> bool:
        return self.like + EPSILON >= threshold and (self.unlike is None or self.like > self.unlike)


def clause(rule: Rule, s: Scores) -> str:
    """How an explanation says it, e.g. `similar 0.71 ≥ 0.60 to "Russia moves troops…"`."""
    verdict = "≥" if s.like + EPSILON >= rule.threshold else "<"
    text = (
        f"similar {s.like:.2f} {verdict} {rule.threshold:.2f}"
        f' to "{first_words(rule.like[s.closest])}"'
    )
    if s.unlike is not None:
        text += f" (closest unlike {s.unlike:.2f})"
    return text


def similarity(rule: Rule, s: Scores) -> Similarity:
    return Similarity(s.like, first_words(rule.like[s.closest]), rule.threshold, s.unlike)


class SemanticStage:
    """The example matrix of a set of rules, and the scores of items against it."""

    def __init__(self, rules: Sequence[Rule], embedder: Embedder) -> None:
        import numpy as np

        if not rules or any(not r.like for r in rules):
            raise ValueError("the semantic stage needs rules, each with `like` examples")
        self._np = np
        self.embedder = embedder
        self.rules = {r.id: n for n, r in enumerate(rules)}
        likes = [t for r in rules for t in r.like]
        self._likes = len(likes)
        unlikes = [t for r in rules for t in r.unlike]
        self._like_starts = np.cumsum([0] + [len(r.like) for r in rules[:-1]], dtype=np.intp)
        self._like_ends = self._like_starts + np.array([len(r.like) for r in rules], dtype=np.intp)
        with_unlike = [n for n, r in enumerate(rules) if r.unlike]
        self._unlike_rules = np.array(with_unlike, dtype=np.intp)
        self._unlike_starts = len(likes) + np.cumsum(
            [0] + [len(rules[n].unlike) for n in with_unlike[:-1]], dtype=np.intp
        )
        self.matrix: NDArray[np.float32] = embedder.embed(likes + unlikes)

    def vector(self, item: Item) -> NDArray[np.float32]:
        row: NDArray[np.float32] = self.embedder.embed([item_text(item)])[0]
        return row

    def scores(self, vector: NDArray[np.float32]) -> ItemScores:
        """The item's scores against every rule's examples: one product, then maxima."""
        np = self._np
        sims = self.matrix @ vector
        # reduceat's last segment runs to the end: cut the `unlike` rows off first
        like = np.maximum.reduceat(sims[: self._likes], self._like_starts)
        unlike = np.full(len(self.rules), np.nan, dtype=np.float32)
        if len(self._unlike_rules):
            unlike[self._unlike_rules] = np.maximum.reduceat(sims, self._unlike_starts)
        return ItemScores(self, sims, like, unlike)


class ItemScores:
    """One item's similarities to every example; per rule on demand."""

    def __init__(self, stage: SemanticStage, sims: Any, like: Any, unlike: Any) -> None:
        self._stage, self._sims, self._like, self._unlike = stage, sims, like, unlike

    def of(self, rule_id: str) -> Scores:
        stage = self._stage
        n = stage.rules[rule_id]
        start, end = int(stage._like_starts[n]), int(stage._like_ends[n])
        closest = int(self._sims[start:end].argmax())
        unlike = float(self._unlike[n])
        return Scores(float(self._like[n]), closest, None if unlike != unlike else unlike)


class Probe:
    """One item's scores, computed on first use and then kept: the item is embedded once per
    match, however many semantic rules ask (and never when none does)."""

    __slots__ = ("_item", "_scores", "_stage")

    def __init__(self, stage: SemanticStage, item: Item) -> None:
        self._stage, self._item = stage, item
        self._scores: ItemScores | None = None

    def of(self, rule_id: str) -> Scores:
        if self._scores is None:
            self._scores = self._stage.scores(self._stage.vector(self._item))
        return self._scores.of(rule_id)

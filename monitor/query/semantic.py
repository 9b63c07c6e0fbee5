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
        self.embedder = embedder
        self.rules = {r.id: n for n, r in enumerate(rules)}
        self._thresholds = [r.threshold for r in rules]
        # Rows: every rule's `like` examples, then the `unlike` ones of the rules that have them.
        # One segmented maximum over the rows gives each rule's best like, then best unlike.
        starts, at = [], 0
        for r in rules:
            starts.append(at)
            at += len(r.like)
        self._like_ends = [*starts[1:], at]
        self._unlike_at: list[int | None] = []
        for r in rules:
            self._unlike_at.append(len(starts) if r.unlike else None)
            if r.unlike:
                starts.append(at)
                at += len(r.unlike)
        self._starts = np.array(starts, dtype=np.intp)
        likes = [t for r in rules for t in r.like]
        unlikes = [t for r in rules for t in r.unlike]
        self.matrix: NDArray[np.float32] = embedder.embed(likes + unlikes)
        # the last batch of items scored ahead (`prepare`): their similarities, best per
        # segment, and id(item) -> (item, its row); one tuple, replaced whole
        self._batch: tuple[list[Any], list[list[float]], dict[int, tuple[Item, int]]] = (
            [],
            [],
            {},
        )

    def prepare(self, items: Sequence[Item]) -> None:
        """Score these items in one batch (a poll's new items), replacing the last batch: one
        gather, one matrix product and one segmented maximum for all of them."""
        import numpy as np

        if not items:
            return
        vectors = self.embedder.embed([item_text(i) for i in items])
        # one product per item, as `scores` does, so that a batch scores to the last bit alike
        sims = [self.matrix @ v for v in vectors]
        best: list[list[float]] = np.maximum.reduceat(sims, self._starts, axis=1).tolist()
        self._batch = (sims, best, {id(item): (item, n) for n, item in enumerate(items)})

    def prepared(self, item: Item) -> ItemScores | None:
        """The item's scores from the last batch, when it was in it."""
        sims, best, rows = self._batch
        hit = rows.get(id(item))
        if hit is None or hit[0] is not item:
            return None
        return self._scored(sims[hit[1]], best[hit[1]])

    def vector(self, item: Item) -> NDArray[np.float32]:
        row: NDArray[np.float32] = self.embedder.embed([item_text(item)])[0]
        return row

    def scores(self, vector: NDArray[np.float32]) -> ItemScores:
        """The item's scores against every rule's examples: one product, one segmented maximum,
        then per rule in Python (a few rules: cheaper than more numpy calls)."""
        import numpy as np

        sims = self.matrix @ vector
        return self._scored(sims, np.maximum.reduceat(sims, self._starts).tolist())

    def _scored(self, sims: Any, best: list[float]) -> ItemScores:
        like = best[: len(self.rules)]
        unlike = [None if u is None else best[u] for u in self._unlike_at]
        similar = [
            lk + EPSILON >= t and (u is None or lk > u)
            for lk, u, t in zip(like, unlike, self._thresholds, strict=True)
        ]
        return ItemScores(self, sims, like, unlike, similar)


class ItemScores:
    """One item's similarities to every example; per rule on demand."""

    def __init__(
        self,
        stage: SemanticStage,
        sims: Any,
        like: list[float],
        unlike: list[float | None],
        similar: list[bool],
    ) -> None:
        self._stage, self._sims, self._like, self._unlike = stage, sims, like, unlike
        # per rule in the stage's order: is the item similar, at the rule's own threshold (what
        # `Scores.similar` says, for every rule at once)
        self.similar_flags = similar

    def similar(self, rule_id: str) -> bool:
        return self.similar_flags[self._stage.rules[rule_id]]

    def of(self, rule_id: str) -> Scores:
        stage = self._stage
        n = stage.rules[rule_id]
        start = stage._like_ends[n - 1] if n else 0
        closest = int(self._sims[start : stage._like_ends[n]].argmax())
        return Scores(self._like[n], closest, self._unlike[n])


class Probe:
    """One item's scores, computed on first use and then kept: the item is embedded once per
    match, however many semantic rules ask (and never when none does)."""

    __slots__ = ("_item", "_scores", "_stage")

    def __init__(self, stage: SemanticStage, item: Item) -> None:
        self._stage, self._item = stage, item
        self._scores: ItemScores | None = None

    def scores(self) -> ItemScores:
        if self._scores is None:
            stage = self._stage
            self._scores = stage.prepared(self._item) or stage.scores(stage.vector(self._item))
        return self._scores

    def of(self, rule_id: str) -> Scores:
        return self.scores().of(rule_id)

    def similar(self, rule_id: str) -> bool:
        return self.scores().similar(rule_id)

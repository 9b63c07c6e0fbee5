"""Precision and recall of each rule against the labels in force. Pure.

For a rule R and an item I, the verdict is I's label for R, else I's label for any rule (`rule`
''), else none. Then:
- a match of R labelled relevant is a true positive, labelled irrelevant a false positive; an
  unlabelled match counts in neither (it is listed as `unlabelled`);
- an item labelled relevant *for R* that R did not match is a miss (a false negative). An item
  labelled relevant for any rule is not a miss of every rule that skipped it: only the rule it
  was labelled for can miss it;
- precision = TP / (TP + FP), recall = TP / (TP + misses); None when the denominator is 0.
Only items in `scope` (the items the rules were run over) can be misses: a rule cannot be blamed
for an item outside the backtest's window; labelled items outside it are counted as `outside`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from monitor.model import Label

ItemRef = tuple[str, str]  # (feed id, item key)

__all__ = ["ItemRef", "RuleScore", "score_rules"]


@dataclass(frozen=True, slots=True)
class RuleScore:
    rule: str
    true_positives: tuple[ItemRef, ...]
    false_positives: tuple[ItemRef, ...]
    misses: tuple[ItemRef, ...]
    unlabelled: int
    outside: int

    @property
    def precision(self) -> float | None:
        judged = len(self.true_positives) + len(self.false_positives)
        return len(self.true_positives) / judged if judged else None

    @property
    def recall(self) -> float | None:
        wanted = len(self.true_positives) + len(self.misses)
        return len(self.true_positives) / wanted if wanted else None


def score_rules(
    rules: Sequence[str],
    matched: Mapping[str, Collection[ItemRef]],
    labels: Mapping[tuple[str, str, str], Label],
    scope: Collection[ItemRef] | None = None,
) -> list[RuleScore]:
    """One score per rule, in `rules` order. `matched[rule]`: the items the rule matched;
    `labels`: the labels in force (`labels.in_force`); `scope`: the items the rules were run over
    (None: every labelled item counts as run over)."""
    any_rule = {(f, k): lab for (f, k, r), lab in labels.items() if r == ""}
    scores: list[RuleScore] = []
    for rule in rules:
        hits = set(matched.get(rule, ()))
        tp: list[ItemRef] = []
        fp: list[ItemRef] = []
        unlabelled = 0
        for ref in sorted(hits):
            label = labels.get((*ref, rule)) or any_rule.get(ref)
            if label is None:
                unlabelled += 1
            elif label.relevant:
                tp.append(ref)
            else:
                fp.append(ref)
        misses: list[ItemRef] = []
        outside = 0
        for (feed, key, labelled_rule), label in sorted(labels.items()):
            ref = (feed, key)
            if labelled_rule != rule or not label.relevant or ref in hits:
                continue
            if scope is not None and ref not in scope:
                outside += 1
            else:
                misses.append(ref)
        scores.append(RuleScore(rule, tuple(tp), tuple(fp), tuple(misses), unlabelled, outside))
    return scores

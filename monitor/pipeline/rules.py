"""The rules in force and the destinations their alerts go to, as one value. Pure.

A poll reads `CurrentRules.get()` once, at its start, and decides with that: a reload
(`monitor.process.reload`) swaps the whole value, so a poll never matches with one rule set and
routes with another, and polls already running finish with the rules they started with.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from monitor.pipeline.decide import route
from monitor.query.ruleset import RuleSet


@dataclass(frozen=True, slots=True)
class LiveRules:
    """The rules in force and where each enabled rule's alerts go."""

    rules: RuleSet
    routes: Mapping[str, Collection[str]]  # destination -> ids of the enabled rules sent there


def routes(rules: RuleSet, destinations: Sequence[str]) -> dict[str, set[str]]:
    """Destination name -> ids of the enabled rules whose alerts go there."""
    enabled = {r.id: list(r.notify) for r in rules.rules.values() if r.enabled}
    return route(enabled, destinations)


class CurrentRules:
    """The rules a process polls with now; `swap` replaces them in one assignment."""

    def __init__(self, rules: RuleSet, destinations: Sequence[str]) -> None:
        self._destinations = tuple(destinations)
        self._live = LiveRules(rules, routes(rules, self._destinations))

    def get(self) -> LiveRules:
        return self._live

    @property
    def rules(self) -> RuleSet:
        return self._live.rules

    def swap(self, rules: RuleSet) -> None:
        self._live = LiveRules(rules, routes(rules, self._destinations))

"""How selective a word a query needs is: a rough cost of relying on it to rule documents out.
Pure.

The presearcher (monitor.query.index) files a rule under the terms it needs, and an OR clause
(monitor.query.evaluate) asks only the children whose terms a document holds; both choose, among
terms that would do, those few documents hold.
"""

from __future__ import annotations

from monitor.query.normalize import forms

# Words that nearly every English item holds: a poor choice of key when a better one exists.
_COMMON_WORDS = (
    "the a an of to in and or for on at by with from as is are was were be been has have had it its"
    " that this which who not but after over into than more new says said will would can could also"
    " about up out two one year"
)
COMMON = frozenset(forms(w).stem for w in _COMMON_WORDS.split())


def key_cost(kind: str, value: str) -> float:
    """The cost of needing a stem (`kind` "stem") or a prefix: common words cost most, short ones
    more than long ones, and a prefix (many words start with it) four times a stem."""
    base = 50.0 if value in COMMON else 1.0 + 8.0 / (1 + len(value))
    return base * (4.0 if kind == "prefix" else 1.0)

"""Explanations of a match: the clauses that were true, the words that made them true, and a
snippet of at most 300 characters around the first hit with those words marked `**like this**`.
Pure; run only for rules that matched.
"""

from __future__ import annotations

from monitor.model import Explanation, Hit
from monitor.query import evaluate as ev
from monitor.query.normalize import FIELDS, Document

SNIPPET_MAX = 300
MAX_HITS = 100  # a word repeated all over a long text need not be listed a thousand times
# The field a snippet comes from: the body reads best; the title is shown beside it anyway.
_SNIPPET_ORDER = ("content", "summary", "title", "author", "category", "url", "feed")


def _collect(m: ev.Matcher, doc: Document, out: dict[tuple[str, int], Hit]) -> None:
    if isinstance(m, ev.Positional):
        fields = doc.fields
        for name in m.fields:
            ft = fields[name]
            hits = m.hit_spans(ft)
            if not hits:
                continue
            spans, text = ft.spans, ft.text
            for first, last, label in hits:
                if len(out) >= MAX_HITS:
                    return
                if first == last:  # one word (most hits): below MAX_HITS, tested just above
                    key = (name, first)
                    if key not in out:
                        start, end = spans[first]
                        out[key] = Hit(name, text[start:end], label, first, start, end)
                    continue
                for pos in range(first, last + 1):
                    key = (name, pos)
                    if key not in out and len(out) < MAX_HITS:
                        start, end = spans[pos]
                        out[key] = Hit(name, text[start:end], label, pos, start, end)
    elif isinstance(m, ev.AllOf):
        for c in m.children:
            _collect(c, doc, out)
    elif isinstance(m, ev.EitherOf):
        for c in m.children:
            if c.matches(doc):
                _collect(c, doc, out)


_FIELD_ORDER = {f: i for i, f in enumerate(FIELDS)}


def _hit_order(h: Hit) -> tuple[int, int]:
    return _FIELD_ORDER[h.field], h.position


def explain(m: ev.Matcher, doc: Document) -> Explanation:
    """The clauses of `m` that are true for `doc` and the hits, in field then position order."""
    clauses: list[str] = []
    m.clauses(doc, clauses)
    found: dict[tuple[str, int], Hit] = {}
    _collect(m, doc, found)
    hits = sorted(found.values(), key=_hit_order)
    return Explanation(tuple(dict.fromkeys(clauses)), tuple(hits))


def _render(text: str, lo: int, hi: int, hits: list[Hit]) -> str:
    out, at = [], lo
    for h in hits:
        if h.start < at or h.end > hi:
            continue
        out += [text[at : h.start], "**", text[h.start : h.end], "**"]
        at = h.end
    out.append(text[at:hi])
    body = " ".join("".join(out).split()).replace("** **", " ")  # one mark around a phrase
    return ("…" if lo > 0 else "") + body + ("…" if hi < len(text) else "")


def snippet(doc: Document, hits: tuple[Hit, ...]) -> str:
    """At most 300 characters around the first hit of the best field, matched words marked."""
    for name in _SNIPPET_ORDER:
        mine = [h for h in hits if h.field == name]
        if mine:
            break
    else:  # a match-all or pure-exclusion rule: the start of the body
        for name in _SNIPPET_ORDER[:3]:
            if doc.fields[name].text.strip():
                mine = []
                break
        else:
            return ""
    text = doc.fields[name].text
    first = mine[0].start if mine else 0
    budget = SNIPPET_MAX
    while True:
        lo = max(0, first - budget // 4)
        if lo > 0:  # start on a word boundary
            space = text.find(" ", lo, first)
            lo = space + 1 if space >= 0 else lo
        hi = min(len(text), lo + budget)
        if hi < len(text):
            space = text.rfind(" ", first, hi)
            hi = space if space > first else hi
        out = _render(text, lo, hi, mine)
        if len(out) <= SNIPPET_MAX:
            return out
        if budget < 10:  # pathological: plain text, cut
            return " ".join(text[lo:hi].split())[:SNIPPET_MAX]
        budget = budget * SNIPPET_MAX // len(out) - 1  # shrink in proportion to the overshoot

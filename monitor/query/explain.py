"""Explanations of a match: the clauses that were true, the words that made them true, and a
snippet of at most 300 characters around the first hit with those words marked `**like this**`.
Pure; run only for rules that matched. `held_back` explains a miss that an exclusion caused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from monitor.model import Explanation, Hit, Similarity
from monitor.query import evaluate as ev
from monitor.query.near import Near
from monitor.query.normalize import FIELDS, TEXT_FIELDS, Document

SNIPPET_MAX = 300
MAX_HITS = 100  # a word repeated all over a long text need not be listed a thousand times
# The field a snippet comes from: the body reads best; the title is shown beside it anyway.
_SNIPPET_ORDER = ("content", "summary", "title", "author", "category", "url", "feed")


def _collect(m: ev.Matcher, doc: Document, out: dict[int, Hit]) -> None:
    """The plain walk of the query: each positional clause's labelled spans, field by field,
    each position of each span a hit (the first label of a position kept), the first 100;
    keyed by `_key` (field order, position)."""
    if isinstance(m, ev.AnyOf) and _scoped(m):
        for member in m.children:
            _collect(member, doc, out)
    elif isinstance(m, ev.Positional):
        fields = doc.fields
        for name in m.fields:
            ft = fields[name]
            if not ft.words:  # an empty field (an item without a summary, say) holds no hit
                continue
            hits = m.hit_spans(ft)
            spans, text, base = _NO_SPANS, ft.text, _FIELD_ORDER[name] << _SHIFT
            for first, last, label in hits:
                if len(out) >= MAX_HITS:
                    return
                for pos in range(first, last + 1):
                    key = base | pos
                    if key not in out and len(out) < MAX_HITS:
                        if pos >= len(spans):  # the spans of the words up to here, and more
                            spans = ft.spans_to(pos)
                        start, end = spans[pos]
                        out[key] = hit(name, text[start:end], label, pos, start, end)
    elif isinstance(m, ev.AllOf):
        for c in m.children:
            _collect(c, doc, out)
    elif isinstance(m, ev.EitherOf):
        for c in m.children:
            if c.matches(doc):
                _collect(c, doc, out)


_FIELD_ORDER = {f: i for i, f in enumerate(FIELDS)}
# The spans a hit's field has given so far: none until its first hit (`FieldText.spans_to`,
# asked each time a hit lies beyond them: a field's spans are found only as far as its hits).
_NO_SPANS: list[tuple[int, int]] = []
# A hit's key, its field's order and its position in one int (`order << _SHIFT | position`):
# ordered as the pair is (no field holds 2**32 tokens), hashed and compared at C speed.
_SHIFT = 32


def _scoped(m: ev.AnyOf) -> bool:
    """Whether a member of the OR watches other fields than the OR (`title:a OR b`): its hits
    are then read in its own fields, member by member (read in the OR's, a word of the member
    in a field it does not watch would be named though it matched nothing)."""
    return any(c.fields != m.fields or (isinstance(c, ev.AnyOf) and _scoped(c)) for c in m.children)


# A Hit made by setting its slots (half the time of the frozen dataclass's __init__, which sets
# each through object.__setattr__): explanations make a few per match. Same fields, same order;
# tests/test_query_explain_walk.py holds it equal to Hit(...).
_new = object.__new__
_SET = tuple(getattr(Hit, f).__set__ for f in Hit.__dataclass_fields__)


def hit(field: str, word: str, term: str, position: int, start: int, end: int) -> Hit:
    h = _new(Hit)
    a, b, c, d, e, f = _SET
    a(h, field)
    b(h, word)
    c(h, term)
    d(h, position)
    e(h, start)
    f(h, end)
    return h


# An Explanation made the same way (one per match).
_SET_WHY = tuple(getattr(Explanation, f).__set__ for f in Explanation.__dataclass_fields__)


def explanation(
    clauses: tuple[str, ...], hits: tuple[Hit, ...], similarity: Similarity | None = None
) -> Explanation:
    why = _new(Explanation)
    a, b, c = _SET_WHY
    a(why, clauses)
    b(why, hits)
    c(why, similarity)
    return why


# An explanation plan: the walk of `_collect` and `Matcher.clauses` flattened once per query
# into the steps it takes, so that explaining a match is a loop over a tuple, not a walk of
# the query's tree with a type test and a call per node. A step runs when each of its guards
# (the OR branches it lies under) matches the document.
Guards = tuple[ev.Matcher, ...]
# One word (not a prefix): the form compared, its value, its stem, the label of its hits.
Leaf = tuple[str, str, str, str]
# Hits: guards, the step's key, then field by field either each of `leaves` (OR-groups of words
# are read a field at a time, each word in turn, as the walk does) or, for the rest (phrases,
# prefixes, NEAR), the clause's own `hit_spans`.
HitStep = tuple[Guards, str, tuple[str, ...], tuple[Leaf, ...], ev.Positional | None]
# A step's hits in one document by their key (field order and position, see _SHIFT), in the
# order the walk finds them, each position once (its first label), the first MAX_HITS. Shared by
# the rules that take the step: read, never changed.
Found = dict[int, Hit]
ClauseStep = tuple[Guards, str]
# A clause as explained: the stems the text must hold (its guards that are words of the text:
# `(a OR b)` lists the members the item holds, a stem's set test each), its other guards, and
# the clause as written.
Clause = tuple[frozenset[str], Guards, str]


class Plan:
    """One query's explanation, flattened (see above)."""

    __slots__ = ("clauses", "guarded", "hits", "static")

    def __init__(self, m: ev.Matcher) -> None:
        hits: list[HitStep] = []
        _hit_steps(m, (), hits)
        clauses: list[ClauseStep] = []
        _clause_steps(m, (), clauses)
        self.hits = tuple(hits)
        self.clauses = tuple(_text_words(g, c) for g, c in clauses)
        self.guarded = any(g for g, _ in clauses)
        # Without an OR to test, the clauses are the same for every document.
        self.static = tuple(dict.fromkeys(c for _, c in clauses))


def _words(m: ev.Positional) -> tuple[Leaf, ...] | None:
    """The words of a clause that is one word or an OR of words, in the walk's order."""
    if isinstance(m, ev.Terms):
        one = m._single
        return None if one is None else ((one.kind, one.value, one.index_key, m.label),)
    if isinstance(m, ev.AnyOf):
        out: list[Leaf] = []
        for c in m.children:
            got = _words(c)
            if got is None:
                return None
            out += got
        return tuple(out)
    return None


def _shape(m: ev.Positional) -> tuple[object, ...]:
    """Everything a positional clause's hits depend on besides the document: two clauses of the
    same shape (in two rules) find the same hits in every document."""
    if isinstance(m, ev.Terms):
        return ("terms", tuple((e.kind, e.value) for e in m.elements), m.label)
    if isinstance(m, ev.AnyOf):
        return ("any", tuple(_shape(c) for c in m.children))
    if isinstance(m, Near):
        return ("near", m.distance, m.ordered, _shape(m.left), _shape(m.right))
    raise TypeError(f"no explanation step for {type(m).__name__}")


def _hit_steps(m: ev.Matcher, guards: Guards, out: list[HitStep]) -> None:
    if isinstance(m, ev.AnyOf) and _scoped(m):
        for member in m.children:
            _hit_steps(member, guards, out)
    elif isinstance(m, ev.Positional):
        leaves = _words(m)
        # The key (a string: its hash is kept) under which a document keeps the step's hits.
        shape = ("words", leaves) if leaves is not None else _shape(m)
        key = repr((m.fields, shape))
        out.append((guards, key, m.fields, leaves or (), m if leaves is None else None))
    elif isinstance(m, ev.AllOf):
        for c in m.children:
            _hit_steps(c, guards, out)
    elif isinstance(m, ev.EitherOf):
        for c in m.children:
            _hit_steps(c, (*guards, c), out)


def _text_words(guards: Guards, source: str) -> Clause:
    """A clause's guards that are one word (its stem) anywhere in the text, set apart: such a
    guard matches exactly when the text's stems hold that stem."""
    need: list[str] = []
    rest: list[ev.Matcher] = []
    for g in guards:
        if isinstance(g, ev.Terms) and g.fields == TEXT_FIELDS:
            one = g._single
            if one is not None and one.kind == "stem":  # Terms.matches: a stem in a field
                need.append(one.value)
                continue
        rest.append(g)
    return frozenset(need), tuple(rest), source


def _clause_steps(m: ev.Matcher, guards: Guards, out: list[ClauseStep]) -> None:
    if m.whole or not isinstance(m, ev.AnyOf | ev.AllOf | ev.EitherOf):
        out.append((guards, m.source))
    elif isinstance(m, ev.AllOf):
        for c in m.children:
            _clause_steps(c, guards, out)
    else:
        for c in m.children:
            _clause_steps(c, (*guards, c), out)


def plan(m: ev.Matcher) -> Plan:
    """The explanation plan of `m`, made on its first explanation and kept on it."""
    got = m.plan
    if not isinstance(got, Plan):  # None until then (evaluate.Matcher does not know the type)
        got = m.plan = Plan(m)
    return got


def _holds(guards: Guards, doc: Document, answers: dict[ev.Matcher, bool]) -> bool:
    """Whether every guard matches `doc`, each asked once per explanation (`answers`, by the
    matcher: they hash by identity): a long field's NEAR is asked over its whole length, and
    the clauses and the hits of an OR's branch ask the same guards."""
    for g in guards:
        ok = answers.get(g)
        if ok is None:
            ok = answers[g] = g.matches(doc)
        if not ok:
            return False
    return True


def _hits(p: Plan, doc: Document, answers: dict[ev.Matcher, bool]) -> Found:
    """What `_collect` finds, by the plan, each step's hits found once per document (the
    result may be a step's own: read it, never change it).

    Merging a step's hits (each position once, the first MAX_HITS) into those of the steps
    before it, skipping positions already held and stopping at MAX_HITS, keeps exactly what the
    walk keeps. While all the steps' hits together are at most MAX_HITS nothing is cut: the
    union, with an earlier step's hit for a position two steps hold, is then the same merge.
    Once the steps before hold MAX_HITS distinct positions, the merge reads no later step."""
    memo = doc.explained
    if memo is None:
        memo = doc.explained = {}
    parts: list[Found] = []
    size = 0
    for guards, key, names, leaves, walk in p.hits:
        if guards and not _holds(guards, doc, answers):
            continue
        found = memo.get(key)
        if found is None:
            found = memo[key] = _step_hits(names, leaves, walk, doc)
        if found:
            parts.append(found)
            size += len(found)
            # Once the steps so far hold MAX_HITS positions, the merge below keeps none of a
            # later step's: its hits (each step finds up to MAX_HITS, far into a long field)
            # are not looked for.
            if size >= MAX_HITS and (len(parts) == 1 or len(set().union(*parts)) >= MAX_HITS):
                break
    if len(parts) == 1:
        return parts[0]
    out: Found = {}
    if size <= MAX_HITS:
        if len(parts) == 2:  # most matches: two words
            return {**parts[1], **parts[0]}  # the earlier step's hit for a position kept
        for found in reversed(parts):  # C-speed updates: the earliest step's hit written last
            out.update(found)
        return out
    for found in parts:
        if not out:
            out = dict(found)  # distinct positions, at most MAX_HITS
            continue
        for k, h in found.items():
            if k not in out:
                if len(out) >= MAX_HITS:
                    return out
                out[k] = h
    return out


def _step_hits(
    names: tuple[str, ...], leaves: tuple[Leaf, ...], walk: ev.Positional | None, doc: Document
) -> Found:
    """One step's hits in `doc`, as the walk finds them (see Found)."""
    out: Found = {}
    if walk is not None:
        _collect(walk, doc, out)
        return out
    fields = doc.fields
    if len(leaves) == 1:  # one word, most steps: its positions are distinct, no test needed
        kind, value, key, label = leaves[0]
        for name in names:
            ft = fields[name]
            if key not in ft.stems:
                continue
            base, spans, text = _FIELD_ORDER[name] << _SHIFT, _NO_SPANS, ft.text
            for pos in ft.where(kind, value):
                if len(out) >= MAX_HITS:
                    return out
                if pos >= len(spans):
                    spans = ft.spans_to(pos)
                start, end = spans[pos]
                out[base | pos] = hit(name, text[start:end], label, pos, start, end)
        return out
    for name in names:
        ft = fields[name]
        stems = ft.stems
        base, spans, text = _FIELD_ORDER[name] << _SHIFT, _NO_SPANS, ft.text
        for kind, value, key, label in leaves:
            if key not in stems:  # a field without the word's stem: a set test
                continue
            for pos in ft.where(kind, value):
                k = base | pos
                if k not in out:
                    if len(out) >= MAX_HITS:
                        return out
                    if pos >= len(spans):
                        spans = ft.spans_to(pos)
                    start, end = spans[pos]
                    out[k] = hit(name, text[start:end], label, pos, start, end)
    return out


def explain(m: ev.Matcher, doc: Document) -> Explanation:
    """The clauses of `m` that are true for `doc` and the hits, in field then position order."""
    p = m.plan
    if not isinstance(p, Plan):  # read here, not through plan(): a call less per match
        p = plan(m)
    if p.guarded:
        text = doc.text_stems
        # Each member of a set named in an OR is a clause guarded by the set: asked again for
        # each, a set of 400 words named 5 times took 0.25 s to explain on an item holding them
        # (members x members x names). Matchers hash by identity: one answer per guard.
        held: dict[Guards, bool] = {}
        answers: dict[ev.Matcher, bool] = {}
        found_clauses = []
        for need, g, c in p.clauses:
            if need <= text:
                if g:
                    ok = held.get(g)
                    if ok is None:
                        ok = held[g] = _holds(g, doc, answers)
                    if not ok:
                        continue
                found_clauses.append(c)
        clauses = tuple(dict.fromkeys(found_clauses))
    else:
        clauses = p.static
        answers = {}
    found = _hits(p, doc, answers)
    return explanation(clauses, tuple(map(found.__getitem__, sorted(found))))


def explain_walk(m: ev.Matcher, doc: Document) -> Explanation:
    """`explain` by the plain walk of the query (what the plan must give; tests)."""
    clauses: list[str] = []
    m.clauses(doc, clauses)
    found: dict[int, Hit] = {}
    _collect(m, doc, found)
    return Explanation(tuple(dict.fromkeys(clauses)), tuple([found[k] for k in sorted(found)]))


def _snippet_field(doc: Document, hits: tuple[Hit, ...]) -> tuple[str, Sequence[Hit]] | None:
    """The field a snippet shows and its hits: the best field with a hit (`hits` are in field
    order), or for a match without hits (a match-all or pure-exclusion rule) the first text
    field that has text; None when none has."""
    if hits and hits[0].field == hits[-1].field:  # one field, all of them
        return hits[0].field, hits
    if hits:
        present = {h.field for h in hits}
        name = next(n for n in _SNIPPET_ORDER if n in present)
        return name, [h for h in hits if h.field == name]
    for name in _SNIPPET_ORDER[:3]:
        text = doc.fields[name].text
        if text and not text.isspace():  # not strip(): a copy of the whole field
            return name, ()
    return None


# The text fields, best first for a snippet: the fields' first three, last first (held by
# tests/test_query_explain.py).
_TEXT_BEST_FIRST = _SNIPPET_ORDER[:3]


def snippet(doc: Document, hits: tuple[Hit, ...]) -> str:
    """At most 300 characters around the first hit of the best field, matched words marked
    (`hits` in field order, as an explanation holds them).

    What `snippet_walk` gives, made with fewer steps (a snippet a match): the window and the
    marks in one loop, and only the window's whitespace folded (a test of the whole field's
    whitespace, to skip that fold, cost 2 ms on a 200 KB item)."""
    # What `_snippet_field` chooses, without a call, a set and a list for a match in text
    # fields (nearly all): hits are in field order, so a text field holding the last hit is the
    # best field with a hit, and its hits are the last ones.
    if hits and (name := hits[-1].field) in _TEXT_BEST_FIRST:
        i = len(hits) - 1
        while i and hits[i - 1].field == name:
            i -= 1
        mine: Sequence[Hit] = hits[i:] if i else hits
    else:
        chosen = _snippet_field(doc, hits)
        if chosen is None:
            return ""
        name, mine = chosen
    text = doc.fields[name].text
    size = len(text)
    first = mine[0].start if mine else 0
    budget = SNIPPET_MAX
    while True:
        lo = first - budget // 4
        if lo > 0:  # start on a word boundary
            space = text.find(" ", lo, first)
            if space >= 0:
                lo = space + 1
        else:
            lo = 0
        hi = lo + budget
        if hi < size:
            space = text.rfind(" ", first, hi)
            if space > first:
                hi = space
        else:
            hi = size
        out: list[str] = []
        at = lo
        for h in mine:
            start, end = h.start, h.end
            if start < at or end > hi:
                continue
            out.append(text[at:start])
            out.append(text[start:end])
            at = end
        out.append(text[at:hi])
        body = "**".join(out)  # text, word, text, word, ..., text: each word between marks
        body = " ".join(body.split())  # the marks add no whitespace: as the walk folds
        body = body.replace("** **", " ")  # one mark around a phrase
        if lo > 0:
            body = "…" + body
        if hi < size:
            body += "…"
        if len(body) <= SNIPPET_MAX:
            return body
        if budget < 10:  # pathological: plain text, cut
            return " ".join(text[lo:hi].split())[:SNIPPET_MAX]
        budget = budget * SNIPPET_MAX // len(body) - 1  # shrink in proportion to the overshoot


def _render(text: str, lo: int, hi: int, hits: Sequence[Hit]) -> str:
    out, at = [], lo
    for h in hits:
        if h.start < at or h.end > hi:
            continue
        out += [text[at : h.start], "**", text[h.start : h.end], "**"]
        at = h.end
    out.append(text[at:hi])
    body = " ".join("".join(out).split()).replace("** **", " ")  # one mark around a phrase
    return ("…" if lo > 0 else "") + body + ("…" if hi < len(text) else "")


def snippet_walk(doc: Document, hits: tuple[Hit, ...]) -> str:
    """`snippet` as first written, step by step (what `snippet` must give; tests): the same
    field, its window and marks made the plain way."""
    chosen = _snippet_field(doc, hits)
    if chosen is None:
        return ""
    name, mine = chosen
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


# Held back: why a rule did not fire. A rule written for real news is a conjunction, a positive
# part and many `NOT` clauses; when an item has the positive part but trips an exclusion, "no
# rule matched" hides the one clause a person must read to fix a miss. Computed only when asked
# (`rules test`, `rules backtest`), never by the daemon's matching.


@dataclass(frozen=True, slots=True)
class Veto:
    """An exclusion that failed: its clause as written (`NOT ...`) and what made its inside
    true (the clauses and the item's words that tripped it)."""

    clause: str
    tripped: Explanation


@dataclass(frozen=True, slots=True)
class HeldBack:
    """A query whose positive part held but one or more exclusions vetoed: the vetoes in the
    order written, and what the positive part matched (clauses and words, as a match's)."""

    vetoes: tuple[Veto, ...]
    positive: Explanation


def _conjuncts(m: ev.Matcher, out: list[ev.Matcher]) -> None:
    """The top-level conjuncts of `m`: an AND of ANDs is one AND (`(a NOT b) NOT c`). A field
    scope (`title:(a NOT b)`) stays one conjunct: its exclusions quoted alone would lose it."""
    if isinstance(m, ev.AllOf) and not m.whole:
        for c in m.children:
            _conjuncts(c, out)
    else:
        out.append(m)


def _merged(parts: list[Explanation]) -> Explanation:
    """Several conjuncts' explanations as one, hits in field then position order."""
    clauses: dict[str, None] = {}
    found: dict[tuple[int, int], Hit] = {}
    for p in parts:
        clauses.update(dict.fromkeys(p.clauses))
        for h in p.hits:
            key = (_FIELD_ORDER[h.field], h.position)
            if key not in found and len(found) < MAX_HITS:
                found[key] = h
    return Explanation(tuple(clauses), tuple([found[k] for k in sorted(found)]))


def held_back(m: ev.Matcher, doc: Document) -> HeldBack | None:
    """Why `m` does not match `doc`, when the answer is its exclusions: `m` is, at its top
    level, an AND of positive clauses (at least one) and `NOT` clauses, every positive clause
    holds and at least one `NOT` clause fails. None for any other query or outcome (a query
    that matches, a positive part that fails, an exclusion nested inside an OR): a miss of
    another shape is not the exclusions' doing, and is not explained."""
    parts: list[ev.Matcher] = []
    _conjuncts(m, parts)
    positives = [c for c in parts if not isinstance(c, ev.Without)]
    exclusions = [c for c in parts if isinstance(c, ev.Without)]
    if not positives or not exclusions:
        return None
    for c in positives:
        if not c.matches(doc):
            return None
    vetoes = tuple(
        Veto(w.source, explain(w.child, doc)) for w in exclusions if w.child.matches(doc)
    )
    if not vetoes:
        return None
    return HeldBack(vetoes, _merged([explain(c, doc) for c in positives]))

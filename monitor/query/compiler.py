"""Compile a query's syntax tree, with the named sets, into matchers. Pure.

A bare term is split with the item tokenizer, so a query word and a text word are always cut the
same way: `anti-tank` becomes the phrase "anti tank", `Russia's` the word russia. Errors carry the
offset of the fault in the query (or, for a set member, in that member).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from monitor.query import ast
from monitor.query import evaluate as ev
from monitor.query.lexer import MAX_QUERY, QueryError, lex
from monitor.query.near import MAX_WORK, Near
from monitor.query.normalize import SCOPES, TEXT_FIELDS, tokenize
from monitor.query.parser import parse


class SetMemberError(QueryError):
    """An error inside a named set's member: `member` is its index in the set."""

    def __init__(self, message: str, offset: int, set_name: str, member: int) -> None:
        super().__init__(message, offset)
        self.set_name = set_name
        self.member = member


# The elements of each piece compiled so far: rules repeat their words (a reload of 10,000 rules
# tokenised the same few thousand words again and again). Elements are immutable, so rules share
# them; only pieces that compile are kept (an error is raised again, at the new offset). Bounded
# against a rules folder of endless distinct words.
_PIECES: dict[tuple[str, bool], tuple[ev.Element, ...]] = {}
_PIECES_MAX = 100_000


def _piece(piece: str, offset: int, exact: bool) -> tuple[ev.Element, ...]:
    """The elements of one space-free piece: `weapon`, `=NATO`, `dispatch*`, `anti-tank`."""
    key = (piece, exact)
    got = _PIECES.get(key)
    if got is None:
        got = _compile_piece(piece, offset, exact)
        if len(_PIECES) >= _PIECES_MAX:
            _PIECES.clear()
        _PIECES[key] = got
    return got


def _compile_piece(piece: str, offset: int, exact: bool) -> tuple[ev.Element, ...]:
    at = offset
    if piece.startswith("="):
        exact, piece, at = True, piece[1:], at + 1
    prefix = piece.endswith("*")
    body = piece.rstrip("*")
    if "*" in body:
        raise QueryError("'*' may only end a word (dispatch*)", offset + body.index("*"))
    tokens = tokenize(body)
    if not tokens:
        raise QueryError(f"{piece!r} has no letters or digits to match", offset)
    if prefix and exact:
        raise QueryError("a word cannot be both exact (=) and a prefix (*): choose one", offset)
    if prefix and len(tokens) > 1:
        raise QueryError("a prefix (*) must be a single word, without hyphens", offset)
    out = []
    for t in tokens:
        if prefix:
            out.append(ev.Element("prefix", t.fold, t.fold))
        elif exact:
            smart = any(c.isupper() for c in t.raw)  # smart case: a capital means case-sensitive
            out.append(ev.Element("raw" if smart else "lower", t.raw if smart else t.lower, t.stem))
        else:
            out.append(ev.Element("stem", t.stem, t.stem))
    return tuple(out)


def compile_terms(
    text: str, offset: int, fields: tuple[str, ...], label: str, exact: bool = False
) -> ev.Terms:
    """A word or phrase (space- or hyphen-separated words) as one Terms matcher."""
    elements: list[ev.Element] = []
    i = 0
    for piece in text.split():
        i = text.index(piece, i)
        elements += _piece(piece, offset + i, exact)
        i += len(piece)
    if not elements:
        raise QueryError("an empty phrase matches nothing: put words inside the quotes", offset)
    return ev.Terms(tuple(elements), fields, label)


# The matcher of each set member compiled so far, by its text and fields: a rule names the same
# sets again and again (the example rules compiled 2,692 members for 3 queries, a few hundred of
# them distinct; about half of loading them). A member's `Terms` is never changed once made (a
# group or a field scope changes the `AnyOf` around a set, not its members) and is compared by
# value everywhere (the index's needs, the explanation's step keys), so queries share them.
_MEMBERS: dict[tuple[str, tuple[str, ...]], ev.Terms] = {}
_MEMBERS_MAX = 100_000


def compile_set_member(member: str, fields: tuple[str, ...]) -> ev.Terms:
    """A set member: a word, `=exact`, `prefix*`, or a phrase with or without quotes."""
    key = (member, fields)
    got = _MEMBERS.get(key)
    if got is None:
        got = _compile_set_member(member, fields)
        if len(_MEMBERS) >= _MEMBERS_MAX:
            _MEMBERS.clear()
        _MEMBERS[key] = got
    return got


def _compile_set_member(member: str, fields: tuple[str, ...]) -> ev.Terms:
    text, offset = member.strip(), len(member) - len(member.lstrip())
    exact = False
    if text.startswith('="') and text.endswith('"') and len(text) > 2:
        text, offset, exact = text[2:-1], offset + 2, True
    elif text.startswith('"') and text.endswith('"') and len(text) > 1:
        text, offset = text[1:-1], offset + 1
    return compile_terms(text, offset, fields, member.strip(), exact)


class CompiledSets:
    """The named sets of one load, each compiled once per field scope and shared by every query
    that names it: a rules folder naming a set of 2,000 members in 200 rules compiles 2,000
    members, not 400,000 (about 4.5 µs each: seconds of every load and reload). Each reference
    is still its own `AnyOf` (its own source and explanation), over the shared members and
    `OrParts`. Holds at most a set per field scope, for as long as the load keeps it."""

    def __init__(self, sets: Mapping[str, Sequence[str]]) -> None:
        self.sets = sets
        self._parts: dict[tuple[str, tuple[str, ...]], ev.OrParts] = {}

    def parts(self, name: str, fields: tuple[str, ...]) -> ev.OrParts:
        """The compiled members of a set (which must be defined) in these fields. Raises
        QueryError for a member that cannot be compiled (never kept: raised at each reference)."""
        key = (name, fields)
        got = self._parts.get(key)
        if got is None:
            kids = tuple(compile_set_member(m, fields) for m in self.sets[name])
            got = self._parts[key] = ev.OrParts(kids)
        return got


def _field_inside_near(scoped: ast.Scoped, near: ast.Near, nested: bool) -> QueryError:
    """A field scope inside a NEAR side. NEAR matches both sides in the fields the whole NEAR is
    in (one field's words at a time), so a scope within a side would be silently ignored."""
    op = "ONEAR" if near.ordered else "NEAR"
    f = scoped.field if scoped.field.lower() in SCOPES else "title"  # a valid field to copy
    if not nested:
        return QueryError(
            f"a field cannot go inside {op}: put it around the whole {op}, e.g. {f}:(a {op}/3 b)",
            scoped.start,
        )
    return QueryError(
        f"a field cannot go inside {op}, not even deeper in a group: put it around the whole "
        f"{op}, e.g. {f}:(a {op}/3 b); to scope one word of an OR, split it: "
        f"{f}:(a {op}/3 b) OR (c {op}/3 b)",
        scoped.start,
    )


# Set members one query may name, each `$name` counting its set's members again: a set is
# compiled once a load (`CompiledSets`), but an OR of its references, its matching and its
# explanation still go member by member, and without a cap a 22 KB file naming a set of 3,000
# words 1,000 times took 57 s and 540 MB to load. The example rules name 165 to 3,593.
MAX_SET_MEMBERS = 50_000


class Compiler:
    def __init__(self, query: str, sets: CompiledSets) -> None:
        self.query = query
        self.shared = sets
        self.sets = sets.sets
        self.near: ast.Near | None = None  # the innermost NEAR whose side is being compiled
        self.members = 0  # set members named so far

    def src(self, node: ast.Node) -> str:
        return self.query[node.start : node.end]

    def compile(self, node: ast.Node, fields: tuple[str, ...]) -> ev.Matcher:
        if isinstance(node, ast.Group):
            inner = self.compile(node.child, fields)
            inner.source = self.src(node)
            return inner
        if isinstance(node, ast.Scoped):
            if self.near is not None:
                raise _field_inside_near(node, self.near, nested=True)
            scope = SCOPES.get(node.field.lower())
            if scope is None:
                known = ", ".join(SCOPES)
                raise QueryError(f"unknown field {node.field!r} (fields: {known})", node.start)
            inner = self.compile(node.child, scope)
            inner.source = self.src(node)
            inner.whole = True
            return inner
        if isinstance(node, ast.Not):
            return ev.Without(self.compile(node.child, fields), self.src(node))
        if isinstance(node, ast.And):
            return ev.AllOf(tuple(self.compile(c, fields) for c in node.children), self.src(node))
        if isinstance(node, ast.Or):
            kids = tuple(self.compile(c, fields) for c in node.children)
            if all(isinstance(k, ev.Positional) for k in kids):
                return ev.AnyOf(kids, fields, self.src(node))  # type: ignore[arg-type]
            return ev.EitherOf(kids, self.src(node))
        if isinstance(node, ast.Near):
            left = self.operand(node.left, fields, node)
            right = self.operand(node.right, fields, node)
            near = Near(left, right, node.distance, node.ordered, fields, self.src(node))
            if near.match_work() > MAX_WORK:
                op = "ONEAR" if node.ordered else "NEAR"
                raise QueryError(
                    f"this {op} needs too much work to match on long texts: its sides are "
                    f"NEARs that can span up to {max(left.widths()[1], right.widths()[1]) + 1:,} "
                    f"words (work {near.match_work():,}, at most {MAX_WORK:,}): use fewer "
                    "NEAR/ONEAR in one clause, or smaller distances",
                    node.op_start,
                )
            return near
        return self.positional(node, fields)

    def operand(self, node: ast.Node, fields: tuple[str, ...], near: ast.Near) -> ev.Positional:
        op = "ONEAR" if near.ordered else "NEAR"
        inner = node.child if isinstance(node, ast.Group) else node
        if isinstance(inner, ast.Scoped):
            raise _field_inside_near(inner, near, nested=False)
        # A scope deeper in the side is refused by compile() while self.near is set.
        outer, self.near = self.near, near
        try:
            m = self.compile(node, fields)
        finally:
            self.near = outer
        if not isinstance(m, ev.Positional):
            raise QueryError(
                f"{op} takes words, phrases, sets or OR-groups of them, not AND or NOT", node.start
            )
        return m

    def positional(self, node: ast.Node, fields: tuple[str, ...]) -> ev.Positional:
        if isinstance(node, ast.Term):
            return compile_terms(node.text, node.start, fields, node.text)
        if isinstance(node, ast.Phrase):
            offset = node.start + (2 if node.exact else 1)
            return compile_terms(node.text, offset, fields, self.src(node), node.exact)
        assert isinstance(node, ast.SetRef)
        members = self.sets.get(node.name)
        if members is None:
            known = ", ".join(f"${s}" for s in sorted(self.sets)) or "none defined"
            raise QueryError(f"unknown set ${node.name} (sets: {known})", node.start)
        # A set that cannot be used is reported at the set by the rules loader, which compiles
        # the rules anyway (to report every fault at once): say so here at the reference, as an
        # empty OR cannot be matched (its widths, its index needs) and a member's own offset
        # would point into the query at the wrong place.
        if not members:
            raise QueryError(f"set ${node.name} is empty: give it at least one word", node.start)
        self.members += len(members)
        if self.members > MAX_SET_MEMBERS:
            raise QueryError(
                f"the sets this query names hold {self.members:,} members by here (each $name "
                f"counts its set's members again), more than the {MAX_SET_MEMBERS:,} a query may: "
                "name a large set once, or split the rule",
                node.start,
            )
        try:
            parts = self.shared.parts(node.name, fields)
        except QueryError as exc:
            raise QueryError(
                f"set ${node.name} has a member that cannot be used: {exc.message}", node.start
            ) from exc
        return ev.AnyOf(parts.children, fields, self.src(node), parts)


def compile_query(query: str, sets: Mapping[str, Sequence[str]] | CompiledSets) -> ev.Matcher:
    """Parse and compile a query; the empty query matches every item. Raises QueryError.

    Give the `CompiledSets` of the sets to compile many queries naming them (a load): each set
    is then compiled once for them all."""
    tree = parse(query)
    if tree is None:
        return ev.Everything()
    shared = sets if isinstance(sets, CompiledSets) else CompiledSets(sets)
    return Compiler(query, shared).compile(tree, TEXT_FIELDS)


def set_members_named(query: str, sets: Mapping[str, Sequence[str]]) -> int:
    """How many set members a query names, each `$name` counting its set's members again (an
    unknown set none). Raises QueryError where the query cannot be split into lexemes."""
    return sum(len(sets.get(lx.text, ())) for lx in lex(query) if lx.kind == "SET")


def check_set(name: str, members: Sequence[str]) -> None:
    """Raise SetMemberError for the first member of a set that cannot be compiled."""
    if not members:
        raise SetMemberError(f"set ${name} is empty: give it at least one word", 0, name, -1)
    for i, member in enumerate(members):
        if len(member) > MAX_QUERY:
            raise SetMemberError(
                f"this member is {len(member):,} characters long, more than the "
                f"{MAX_QUERY:,} allowed: a member is one word or phrase",
                0,
                name,
                i,
            )
        try:
            compile_set_member(member, TEXT_FIELDS)
        except QueryError as exc:
            raise SetMemberError(exc.message, exc.offset, name, i) from exc

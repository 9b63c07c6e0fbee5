"""Parse a query into its syntax tree. Pure.

Grammar (precedence, tightest first: NEAR/ONEAR, NOT, AND, OR):

    query   := [or]
    or      := and ("OR" and)*
    and     := not (["AND"] not)*          # neighbours are ANDed
    not     := "NOT" not | near
    near    := primary (("NEAR/n" | "ONEAR/n") primary)*     # left-associative
    primary := TERM | PHRASE | SET | FIELD primary | "(" or ")"
"""

from __future__ import annotations

from monitor.query import ast
from monitor.query.lexer import Lexeme, QueryError, lex

_STARTS = {"TERM", "PHRASE", "SET", "FIELD", "(", "NOT"}
# Parsing, compiling and matching all recurse once per level of the tree; a hostile or mistaken
# rule nested thousands deep would hit Python's recursion limit (a RecursionError, not an error).
MAX_DEPTH = 64


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.lexemes = lex(query)
        self.i = 0
        self.depth = 0

    def deeper(self, at: Lexeme) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QueryError(
                f"the query nests more than {MAX_DEPTH} levels deep (parentheses, NOT, NEAR, "
                "field:): simplify it",
                at.start,
            )

    def peek(self) -> Lexeme | None:
        return self.lexemes[self.i] if self.i < len(self.lexemes) else None

    def take(self) -> Lexeme:
        lx = self.lexemes[self.i]
        self.i += 1
        return lx

    def missing(self, after: Lexeme, what: str) -> QueryError:
        """`what` ("a term must follow OR") names the operator already; say what came instead."""
        got = self.peek()
        if got is None:
            return QueryError(f"{what}, but the query ends", after.start)
        return QueryError(f"{what}, not {got.text!r}", got.start)

    def parse(self) -> ast.Node | None:
        if not self.lexemes:
            return None
        node = self.or_()
        extra = self.peek()
        if extra is not None:
            if extra.kind == ")":
                raise QueryError("unmatched ')': remove it or add '(' before", extra.start)
            raise QueryError(f"unexpected {extra.text!r}", extra.start)
        return node

    def or_(self) -> ast.Node:
        children = [self.and_()]
        while (lx := self.peek()) is not None and lx.kind == "OR":
            self.take()
            if (nxt := self.peek()) is None or nxt.kind not in _STARTS:
                raise self.missing(lx, "a term must follow OR")
            children.append(self.and_())
        if len(children) == 1:
            return children[0]
        return ast.Or(tuple(children), children[0].start, children[-1].end)

    def and_(self) -> ast.Node:
        children = [self.not_()]
        while (lx := self.peek()) is not None and lx.kind in _STARTS | {"AND"}:
            if lx.kind == "AND":
                self.take()
                if (nxt := self.peek()) is None or nxt.kind not in _STARTS:
                    raise self.missing(lx, "a term must follow AND")
            children.append(self.not_())
        if len(children) == 1:
            return children[0]
        return ast.And(tuple(children), children[0].start, children[-1].end)

    def not_(self) -> ast.Node:
        lx = self.peek()
        if lx is not None and lx.kind == "NOT":
            self.take()
            if (nxt := self.peek()) is None or nxt.kind not in _STARTS:
                raise self.missing(lx, "a term must follow NOT")
            self.deeper(lx)
            child = self.not_()
            self.depth -= 1
            return ast.Not(child, lx.start, child.end)
        return self.near()

    def near(self) -> ast.Node:
        left = self.primary()
        chained = 0  # each NEAR of a chain nests the tree one level deeper (left-associative)
        while (lx := self.peek()) is not None and lx.kind == "NEAR":
            self.take()
            if (nxt := self.peek()) is None or nxt.kind in {"NOT", "AND", "OR", ")", "NEAR"}:
                raise self.missing(lx, "a word, phrase, set or group must follow " + lx.text)
            self.deeper(lx)
            chained += 1
            right = self.primary()
            left = ast.Near(left, right, lx.distance, lx.ordered, left.start, right.end, lx.start)
        self.depth -= chained
        return left

    def primary(self) -> ast.Node:
        lx = self.peek()
        if lx is None:  # callers check before descending; kept for safety
            raise QueryError("the query ends where a term was expected", len(self.query))
        if lx.kind == "TERM":
            self.take()
            return ast.Term(lx.text, lx.start, lx.end)
        if lx.kind == "PHRASE":
            self.take()
            return ast.Phrase(lx.text, lx.exact, lx.start, lx.end)
        if lx.kind == "SET":
            self.take()
            return ast.SetRef(lx.text, lx.start, lx.end)
        if lx.kind == "FIELD":
            self.take()
            if (nxt := self.peek()) is None or nxt.kind not in _STARTS - {"NOT"}:
                raise self.missing(lx, f"a term or group must follow {lx.text}:")
            self.deeper(lx)
            child = self.primary()
            self.depth -= 1
            return ast.Scoped(lx.text, child, lx.start, child.end, lx.end)
        if lx.kind == "(":
            self.take()
            if (nxt := self.peek()) is not None and nxt.kind == ")":
                raise QueryError("empty parentheses: put a term inside or remove them", lx.start)
            if nxt is None:
                raise QueryError("unclosed '(': add ')'", lx.start)
            self.deeper(lx)
            child = self.or_()
            self.depth -= 1
            close = self.peek()
            if close is None or close.kind != ")":
                raise QueryError("unclosed '(': add ')'", lx.start)
            self.take()
            return ast.Group(child, lx.start, close.end)
        if lx.kind == ")":
            raise QueryError("unmatched ')': remove it or add '(' before", lx.start)
        raise QueryError(f"{lx.text!r} cannot start a clause: put a term before it", lx.start)


def parse(query: str) -> ast.Node | None:
    """The syntax tree of a query, None for an empty query (which matches every item)."""
    return _Parser(query).parse()

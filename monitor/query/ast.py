"""The syntax tree of a query, with every node's place in the query text. Pure.

Offsets are 0-based character offsets into the query string (`end` exclusive), so that errors can
point at the fault and explanations can quote the clause that matched.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Term:
    """A bare word as written: `weapon`, `dispatch*`, `=NATO`, `anti-tank` (a phrase once split)."""

    text: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Phrase:
    """A quoted phrase; `exact` when written `="..."`."""

    text: str
    exact: bool
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class SetRef:
    """`$name`: a named set of words and phrases."""

    name: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Scoped:
    """`field:(...)`: the child matches only in that field."""

    field: str
    child: Node
    start: int
    end: int
    field_end: int


@dataclass(frozen=True, slots=True)
class Not:
    """`NOT child`: true when the child is not."""

    child: Node
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class And:
    """Every child true (`a b`, `a AND b`)."""

    children: tuple[Node, ...]
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Or:
    """Any child true (`a OR b`)."""

    children: tuple[Node, ...]
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Group:
    """Parentheses, kept so that a clause is quoted as written."""

    child: Node
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Near:
    """`left NEAR/n right` (either order) or `left ONEAR/n right` (left first)."""

    left: Node
    right: Node
    distance: int
    ordered: bool
    start: int
    end: int
    op_start: int


Node = Term | Phrase | SetRef | Scoped | Not | And | Or | Group | Near

"""Split a query into lexemes with their offsets; the one place that knows the surface syntax. Pure.

Operators are upper case (`AND`, `OR`, `NOT`, `NEAR/n`, `ONEAR/n`). `and`, `or` and `not` in
another case, alone, are refused (`=or` or a phrase finds the word), as are `near/5` and `NEAR5`.
A word followed by `:` is a field scope (`title:`). Everything else that is not space, a
parenthesis or a quote is a term (`weapon`, `dispatch*`, `=NATO`, `anti-tank`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from monitor.errors import NewsmonError

MAX_NEAR = 100
# Longer queries are lists of words that belong in a set; without a cap, one 5 MB query took
# 39 s to compile.
MAX_QUERY = 10_000

Kind = Literal["(", ")", "PHRASE", "SET", "FIELD", "AND", "OR", "NOT", "NEAR", "TERM"]


class QueryError(NewsmonError, ValueError):
    """A query that cannot be used; `offset` is the 0-based place of the fault in the query."""

    def __init__(self, message: str, offset: int) -> None:
        self.message = message
        self.offset = offset
        super().__init__(f"{message} (at character {offset + 1})")


@dataclass(frozen=True, slots=True)
class Lexeme:
    """One lexeme of a query, with its place (`start`, `end`) in the query text."""

    kind: Kind
    text: str  # the term, phrase content, set or field name
    start: int
    end: int
    distance: int = 0  # NEAR only
    ordered: bool = False  # NEAR only: ONEAR
    exact: bool = False  # PHRASE only: ="..."


# Typographic double quotes, as a query copied from a word processor, a chat or a web page has
# them: read as punctuation they silently turned a phrase into two words anywhere in the text.
# One character for one keeps every offset.
_QUOTES = str.maketrans(dict.fromkeys("\u201c\u201d\u201e\u201f\u00ab\u00bb\u2033", '"'))
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_FIELD = re.compile(r"([A-Za-z]+):")
_BARE = re.compile(r'[^\s()"]+')
_NEAR = re.compile(r"(O?NEAR)(?:/(\S*))?$")
# `near/5` or `NEAR5` was read as the words near and 5 (or the word near5): a rule that asked
# for a distance silently asked for two more words instead.
_MISWRITTEN_NEAR = re.compile(r"(o?near)(/?)([0-9]+)$", re.IGNORECASE)


def _near(text: str, start: int) -> Lexeme:
    m = _NEAR.match(text)
    assert m is not None
    op, dist = m.group(1), m.group(2)
    if dist is None:
        raise QueryError(f"{op} needs a distance, e.g. {op}/5", start)
    at = start + len(op) + 1
    if not dist.isdigit() or not dist.isascii():
        raise QueryError(f"{op} distance must be a whole number from 0 to {MAX_NEAR}", at)
    n = int(dist)
    if n > MAX_NEAR:
        raise QueryError(f"{op} distance {n} is too large (at most {MAX_NEAR})", at)
    return Lexeme("NEAR", op, start, start + len(text), distance=n, ordered=op == "ONEAR")


def lex(query: str) -> list[Lexeme]:
    """The lexemes of a query, or QueryError at the first character that cannot start one."""
    if len(query) > MAX_QUERY:
        raise QueryError(
            f"the query is {len(query):,} characters long, more than the {MAX_QUERY:,} allowed: "
            "put long lists of words in a set (`sets:`) and use it as $name, or split the rule",
            0,
        )
    query = query.translate(_QUOTES)
    out: list[Lexeme] = []
    i, n = 0, len(query)
    while i < n:
        c = query[i]
        if c.isspace():
            i += 1
        elif c in "()":
            out.append(Lexeme(c, c, i, i + 1))  # type: ignore[arg-type]
            i += 1
        elif c == '"' or (c == "=" and query.startswith('="', i)):
            q = i if c == '"' else i + 1
            close = query.find('"', q + 1)
            if close < 0:
                raise QueryError('unclosed quote: add the closing "', q)
            out.append(Lexeme("PHRASE", query[q + 1 : close], i, close + 1, exact=c == "="))
            i = close + 1
        elif c == "$":
            m = _NAME.match(query, i + 1)
            if not m:
                raise QueryError("a set name must follow $, e.g. $weapons", i)
            out.append(Lexeme("SET", m.group(), i, m.end()))
            i = m.end()
        else:
            f = _FIELD.match(query, i)
            if f:
                out.append(Lexeme("FIELD", f.group(1), i, f.end()))
                i = f.end()
                continue
            m = _BARE.match(query, i)
            assert m is not None
            word = m.group()
            if word in ("AND", "OR", "NOT"):
                out.append(Lexeme(word, word, i, m.end()))  # type: ignore[arg-type]
            elif _NEAR.match(word) or word.startswith(("NEAR/", "ONEAR/")):
                out.append(_near(word, i))
            elif word.lower() in ("and", "or", "not"):
                # `ransomware or cyberattack` asked for the word "or" too, and missed every item
                # that had one of the two alone.
                raise QueryError(
                    f"write {word.upper()} in capitals, as operators are (to find the word"
                    f" {word!r}, write ={word} or put it in a phrase)",
                    i,
                )
            elif bad := _MISWRITTEN_NEAR.match(word):
                op = bad.group(1).upper()
                raise QueryError(
                    f"write {op}/{bad.group(3)}: an operator is in capitals, its distance after a"
                    f" slash ({word} would be words to find)",
                    i,
                )
            elif word[0] == "-" and word[1:2].isalpha():
                # Web search's exclusion; here the hyphen is punctuation, and the rule would
                # silently ask for the very word it meant to exclude.
                raise QueryError(
                    f"write NOT {word[1:]}: a leading - excludes nothing here ({word} would be a"
                    " word to find)",
                    i,
                )
            else:
                out.append(Lexeme("TERM", word, i, m.end()))
            i = m.end()
    return out

"""Fuzzing the query language and the rules loader: a query string compiles or raises QueryError
(with an offset inside the query), a compiled query matches and explains any item without
raising, and `load_rules` on any YAML returns a RuleSet or raises RuleErrors. Within the deadline.

Found here: queries nested a few thousand deep (parentheses, NOT, NEAR chains, field:) and YAML
nested several hundred deep raised RecursionError; both are now refused with a located error. And
a rule whose `name:` is empty (null) crashed load_rules with a TypeError. And a query naming an
empty set ($z) in a NEAR or an AND under OR raised ValueError (min() of no members)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from monitor.errors import RuleErrors
from monitor.model import Item, Rule
from monitor.query.compiler import compile_query
from monitor.query.lexer import QueryError
from monitor.query.parser import MAX_DEPTH
from monitor.query.rulefiles import load_rules
from monitor.query.ruleset import RuleSet
from tests.fuzz.budget import budget

pytestmark = pytest.mark.fault

SETS = {"t": ["troops", "special forces", "dispatch*", "=NATO"], "e": ["x"]}
# Sets the rules loader reports as broken but still hands to the compiler (to report every fault).
BROKEN_SETS = {**SETS, "z": [], "b": ["*"]}
TOKENS = [
    "troops", "sent", "NATO", "=NATO", "=arms", "dispatch*", "*", "=", "NOT", "AND", "OR",
    "NEAR/3", "ONEAR/0", "NEAR/", "NEAR/x", "NEAR/99999999999", "(", ")", '"', '"special forces"',
    '""', "$t", "$e", "$z", "$b", "$nope", "$", "title:", "url:", "feed:", "bogus:", "text:(",
    "anti-tank", "Russia's", "1,500", "Kyïv", "ß", "İ", "\u0301", "\u200b", "\x00", "\ufffd",
    "'", "-", ":", "troops:", "or", "near/2", "\t", "\n",
]  # fmt: skip
query_soup = st.lists(st.sampled_from(TOKENS), max_size=20).map(" ".join) | st.lists(
    st.sampled_from(TOKENS), max_size=20
).map("".join)
words = st.sampled_from(["troops", "sent", "NATO", "arms", "armed", "Kyiv", "forces"])


def wrap(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(children, children).map(lambda p: f"({p[0]} {p[1]})"),
        st.tuples(children, children).map(lambda p: f"({p[0]} OR {p[1]})"),
        children.map(lambda c: f"(NOT {c})"),
        children.map(lambda c: f"title:({c})"),
    )


atoms = st.one_of(words, st.sampled_from(['"special forces"', '"troops"', "$t", "dispatch*"]))
# NEAR takes words, phrases, sets or OR-groups of them (not AND or NOT).
positional = atoms | st.lists(atoms, min_size=2, max_size=3).map(lambda a: f"({' OR '.join(a)})")
nears = st.recursive(
    positional,
    lambda inner: st.tuples(inner, st.sampled_from(["NEAR/2", "ONEAR/5"]), positional).map(
        " ".join
    ),
    max_leaves=5,
)
well_formed = st.recursive(atoms | nears, wrap, max_leaves=12)
item_text = st.lists(st.sampled_from(["troops", "were", "sent", "to", "NATO", "special",
                                      "forces", "dispatched", "Kyiv", "arms", "."]),
                     max_size=40).map(" ".join) | st.text(max_size=200)  # fmt: skip


def compile_or_error(query: str) -> QueryError | None:
    try:
        compile_query(query, BROKEN_SETS)
    except QueryError as exc:
        return exc
    return None


def match_all(query: str, title: str, content: str) -> None:
    rules = RuleSet.from_rules([Rule("r", "R", query)], SETS)
    item = Item(feed_id="f", key="k", title=title, content=content, url="https://x.example/a")
    for match in rules.match(item):
        assert match.rule.id == "r"


@budget(400)
@given(query_soup | st.text(max_size=80), item_text, item_text)
@example("(" * 5000 + "a" + ")" * 5000, "", "")
@example("NOT " * 5000 + "a", "", "")
@example("a NEAR/5 " * 3000 + "b", "", "")
@example("title:(" * 3000 + "a" + ")" * 3000, "", "")
@example("troops NEAR/3 $z", "", "")
@example("a OR (b $z)", "", "")
def test_any_query_compiles_or_raises_query_error(query: str, title: str, content: str) -> None:
    error = compile_or_error(query)
    if error is None:
        match_all(query, title, content)
    else:
        assert 0 <= error.offset <= len(query)
        assert str(error)


@budget(300)
@given(well_formed, item_text, item_text)
def test_well_formed_queries_compile_and_match(query: str, title: str, content: str) -> None:
    assert compile_or_error(query) is None, query
    match_all(query, title, content)


def test_the_deepest_allowed_query_compiles_and_matches_and_one_deeper_is_refused() -> None:
    deepest = "(" * MAX_DEPTH + "troops" + ")" * MAX_DEPTH
    match_all(deepest, "troops", "")
    match_all("NOT " * MAX_DEPTH + "troops", "x", "")
    match_all(" NEAR/3 ".join(["troops"] * (MAX_DEPTH + 1)), "troops troops troops", "")
    too_deep = compile_or_error("(" + deepest + ")")
    assert too_deep is not None
    assert "nests more than" in str(too_deep)


RULE_KEYS = ["id", "name", "query", "feeds", "notify", "severity", "tags", "enabled", "bogus"]
yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
    | query_soup | well_formed,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=8,
)  # fmt: skip
rule_maps = st.dictionaries(st.sampled_from(RULE_KEYS), yaml_values, max_size=8)
documents = st.fixed_dictionaries(
    {},
    optional={
        "rules": st.lists(rule_maps | yaml_values, max_size=4) | yaml_values,
        "sets": st.dictionaries(st.text(max_size=8), st.lists(query_soup | st.text(max_size=10),
                                                              max_size=4) | yaml_values,
                                max_size=3),
        "extra": yaml_values,
    },
)  # fmt: skip


def load_text(text: str) -> RuleSet | RuleErrors:
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "rules.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            return load_rules(folder)
        except RuleErrors as exc:
            failed = exc
    assert failed.errors
    assert all(str(e) for e in failed.errors)
    return failed


@budget(300)
@given(documents)
@example({"rules": [{"name": None, "id": False}]})
def test_generated_rule_files_load_or_raise_rule_errors(doc: dict[str, object]) -> None:
    load_text(yaml.safe_dump(doc, allow_unicode=True))


@budget(200)
@given(st.text(max_size=300))
@example("rules: " + "[" * 700 + "]" * 700)
@example("a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nsets:\n  s: *b\n")
@example("rules: &r\n  - id: x\n    name: y\n    query: troops\n    tags: *r\n")
@example("rules:\n  - id: x\n    name: y\n    query: " + "(" * 5000 + "a" + ")" * 5000 + "\n")
def test_any_text_as_a_rule_file_loads_or_raises_rule_errors(text: str) -> None:
    load_text(text)

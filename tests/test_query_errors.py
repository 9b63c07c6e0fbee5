"""Each query error names its place (0-based offset in the query) and what to do."""

import pytest

from monitor.query import evaluate as ev
from monitor.query.compiler import MAX_SET_MEMBERS, compile_query
from monitor.query.lexer import QueryError
from monitor.query.near import Near

SETS = {"troops": ["troops"], "empty": [], "broken": ["x", "*"]}


@pytest.mark.parametrize(
    ("query", "offset", "message"),
    [
        ("troops NEAR/x sent", 12, "NEAR distance must be a whole number"),
        ("troops NEAR/ sent", 12, "NEAR distance must be a whole number"),
        ("troops NEAR/-1 sent", 12, "NEAR distance must be a whole number"),
        ("troops NEAR/101 sent", 12, "too large"),
        ("troops NEAR sent", 7, "NEAR needs a distance"),
        ("troops ONEAR sent", 7, "ONEAR needs a distance"),
        ("troops NEAR/3", 7, "must follow NEAR"),
        ("troops NEAR/3 NOT sent", 14, "must follow NEAR"),
        ("(troops OR sent", 0, "unclosed '('"),
        ("troops OR sent)", 14, "unmatched ')'"),
        ("troops OR", 7, "must follow OR"),
        ("troops AND", 7, "must follow AND"),
        ("troops NOT", 7, "must follow NOT"),
        ("OR troops", 0, "cannot start a clause"),
        ("troops ()", 7, "empty parentheses"),
        ('troops "special forces', 7, "unclosed quote"),
        ('troops ""', 8, "empty phrase"),
        ("$nope OR troops", 0, "unknown set $nope"),
        # an empty set was a ValueError (min() of nothing) in a NEAR or the index's needs; a bad
        # member was placed at its own offset, in the wrong part of the query
        ("troops NEAR/3 $empty", 14, "set $empty is empty"),
        ("troops OR (sent $empty)", 16, "set $empty is empty"),
        ("troops $broken", 7, "set $broken has a member that cannot be used: '*' has no"),
        ("troops $", 7, "a set name must follow $"),
        ("headline:troops", 0, "unknown field 'headline'"),
        ("troops NEAR/3 title:sent", 14, "a field cannot go inside NEAR: put it around"),
        ("(title:sent) ONEAR/3 troops", 1, "a field cannot go inside ONEAR: put it around"),
        ("a NEAR/3 headline:b", 9, "put it around the whole NEAR, e.g. title:(a NEAR/3 b)"),
        ("(a AND b) NEAR/3 c", 0, "NEAR takes words, phrases, sets or OR-groups"),
        ("a ONEAR/3 NOT b", 10, "must follow ONEAR"),
        ("troops -- x", 7, "no letters or digits"),
        ("=nato*", 0, "both exact"),
        ("anti-tank*", 0, "single word"),
        ("tro*ops", 3, "'*' may only end a word"),
        # Read as the words near and 5 (or the word near5): a distance silently became words.
        ("troops near/5 sent", 7, "write NEAR/5: an operator is in capitals"),
        ("troops Onear/2 sent", 7, "write ONEAR/2"),
        ("troops NEAR5 sent", 7, "write NEAR/5: an operator is in capitals, its distance after"),
        # Read as the word "or": the rule asked for it too, and missed either word alone.
        ("ransomware or cyberattack", 11, "write OR in capitals, as operators are (to find the"),
        ("troops and sent", 7, "write AND in capitals"),
        ("troops Not drill", 7, "write NOT in capitals"),
        # Web search's exclusion: it asked for the very word it meant to exclude.
        ("ransomware -exercise", 11, "write NOT exercise: a leading - excludes nothing here"),
        ('"cyber attack" -drill*', 15, "write NOT drill*"),
    ],
)
def test_query_error(query: str, offset: int, message: str) -> None:
    with pytest.raises(QueryError) as exc:
        compile_query(query, SETS)
    assert message in exc.value.message
    assert exc.value.offset == offset


NESTED = "not even deeper in a group: put it around the whole"


@pytest.mark.parametrize(
    ("query", "offset", "op"),
    [
        ("(title:parade OR drill) NEAR/2 troops", 1, "NEAR"),
        # two levels deep, on either side
        ("((title:parade OR drill) OR march) NEAR/2 troops", 2, "NEAR"),
        ("troops ONEAR/2 (drill OR (march OR summary:parade))", 35, "ONEAR"),
        # under a NOT inside the side, and a NEAR that is itself under a NOT
        ("(drill OR NOT title:parade) NEAR/2 troops", 14, "NEAR"),
        ("news NOT ((drill OR title:parade) NEAR/2 troops)", 20, "NEAR"),
        # inside a NEAR that is a side of another; a field around an inner NEAR is still inside
        ("(a NEAR/1 (b OR title:c)) NEAR/3 d", 16, "NEAR"),
        ("(title:(a NEAR/2 b) OR c) NEAR/3 d", 1, "NEAR"),
    ],
)
def test_a_field_at_any_depth_inside_near_is_refused_at_the_field(
    query: str, offset: int, op: str
) -> None:
    """NEAR matches its sides in the fields the whole NEAR is in: a field within a side was
    silently ignored (`(title:parade OR drill) NEAR/2 troops` matched the body's words)."""
    with pytest.raises(QueryError) as exc:
        compile_query(query, SETS)
    field = query[offset:].split(":")[0]
    assert exc.value.message == (
        f"a field cannot go inside {op}, {NESTED} {op}, e.g. {field}:(a {op}/3 b); "
        f"to scope one word of an OR, split it: {field}:(a {op}/3 b) OR (c {op}/3 b)"
    )
    assert exc.value.offset == offset


def test_a_set_named_again_shares_its_members_and_a_bad_member_fails_every_time() -> None:
    # Rules name the same sets many times: each member is compiled once per fields and shared
    # (a member's matcher is never changed after it is made), not once per mention.
    sets = {"troops": ["troops", "special forces"], "bad": ["fine", "--"]}
    alone = compile_query("$troops", sets)
    near = compile_query("($troops) NEAR/3 sent", sets)
    titled = compile_query("title:($troops)", sets)
    assert isinstance(alone, ev.AnyOf)
    assert isinstance(titled, ev.AnyOf)
    assert isinstance(near, Near)
    assert isinstance(near.left, ev.AnyOf)
    assert [a is b for a, b in zip(alone.children, near.left.children, strict=True)] == [True] * 2
    assert titled.children[0] is not alone.children[0]
    assert titled.children[0].fields == ("title",)
    assert near.left.source == "($troops)"  # the group's text: on its own AnyOf, not the members
    assert alone.source == "$troops"
    for _ in range(2):  # a failure is not remembered: it is raised again, just as said
        with pytest.raises(QueryError, match="no letters or digits") as caught:
            compile_query("$bad", sets)
        assert caught.value.offset == 0


def test_a_query_naming_more_set_members_than_the_cap_is_refused_at_the_name() -> None:
    """Each `$name` costs its set's size to load and match: a 22 KB file naming a set of 3,000
    words 1,000 times took 57 s and 540 MB to load."""
    big = [f"w{i}" for i in range(MAX_SET_MEMBERS // 2 + 1)]
    compile_query("$big OR troops", {"big": big})
    with pytest.raises(QueryError) as exc:
        compile_query("$big OR $troops OR $big", {"big": big, **SETS})
    assert exc.value.offset == len("$big OR $troops OR ")
    assert f"more than the {MAX_SET_MEMBERS:,} a query may" in exc.value.message


@pytest.mark.parametrize(
    "query",
    [
        "troops near sent",
        "near/x",
        "nearly 5",
        "=near",
        "anti-tank",
        "-5 degrees",
        "=or",
        '"rock and roll"',
        "=not ONEAR/2 sent",
        "nothing OR order",
    ],
)
def test_near_as_a_word_is_still_a_word(query: str) -> None:
    compile_query(query, SETS)

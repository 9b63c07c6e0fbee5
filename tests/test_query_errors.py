"""Each query error names its place (0-based offset in the query) and what to do."""

import pytest

from monitor.query.compiler import compile_query
from monitor.query.lexer import QueryError

SETS = {"troops": ["troops"]}


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
        ("troops $", 7, "a set name must follow $"),
        ("headline:troops", 0, "unknown field 'headline'"),
        ("troops NEAR/3 title:sent", 14, "a field cannot go inside NEAR"),
        ("(a AND b) NEAR/3 c", 0, "NEAR takes words, phrases, sets or OR-groups"),
        ("a ONEAR/3 NOT b", 10, "must follow ONEAR"),
        ("troops -- x", 7, "no letters or digits"),
        ("=nato*", 0, "both exact"),
        ("anti-tank*", 0, "single word"),
        ("tro*ops", 3, "'*' may only end a word"),
    ],
)
def test_query_error(query: str, offset: int, message: str) -> None:
    with pytest.raises(QueryError) as exc:
        compile_query(query, SETS)
    assert message in exc.value.message
    assert exc.value.offset == offset

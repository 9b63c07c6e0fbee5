"""Parsing the Cache-Control header that steers the schedule (Retry-After: test_retry_after),
alone and as a real server on 127.0.0.1 sends it."""

from __future__ import annotations

import pytest

from monitor.feeds.fetch import parse_max_age
from tests.test_fetch import do_fetch
from tests.test_fetch_support import LocalServer, respond, run


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("max-age=600", 600.0),
        ("public, max-age=3600, must-revalidate", 3600.0),
        ('max-age="90"', 90.0),
        ("MAX-AGE=60", 60.0),
        ("max-age=abc", None),
        ("no-cache, max-age=600", None),
        ("max-age=600, no-store", None),
        ("private", None),
        ("max-age=\xb2", None),  # "²" as a header's Latin-1 reads 0xB2: a digit to isdigit
        ("max-age=\u0663", None),  # an Arabic-Indic three: not delta-seconds either
    ],
)
def test_parse_max_age(value: str | None, expected: float | None) -> None:
    assert parse_max_age(value) == expected


def test_a_max_age_of_superscript_digits_is_no_hint_not_a_crash() -> None:
    """`Cache-Control: max-age=\xb2` from a server crashed the poll with a ValueError
    (`check`: "crash: unexpected error (a bug: please report it)")."""
    server = LocalServer()
    try:
        server.routes["/feed"] = respond(200, b"<rss/>", {"Cache-Control": "max-age=\xb2"})
        result = run(do_fetch(server.url("/feed")))
    finally:
        server.close()
    assert (result.status, result.cache_max_age) == (200, None)

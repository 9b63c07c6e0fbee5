"""The copies of feedparser's tables and small functions in `fptables` are feedparser's own, and
fastfeed's W3C date reading is its `_parse_date` (issue 18: the fast paths do not import it).

If a feedparser upgrade changes one of them, these fail: copy the new value over.
"""

from __future__ import annotations

import string
import time
from datetime import date

from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor.feeds import fastfeed, fastxml, fptables


def test_tables_are_feedparsers() -> None:
    from feedparser.api import StrictFeedParser
    from feedparser.html import _cp1252
    from feedparser.sanitizer import _HTMLSanitizer
    from feedparser.urls import ACCEPTABLE_URI_SCHEMES

    assert {k.lower(): v for k, v in StrictFeedParser.namespaces.items()} == fptables.NAMESPACES
    assert {
        n.split("_", 2)[2] for n in dir(StrictFeedParser) if n.startswith(("_start_", "_end_"))
    } == fptables.HANDLERS
    assert _cp1252 == fptables.CP1252
    assert set(_HTMLSanitizer.acceptable_elements) == fptables.ACCEPTABLE_ELEMENTS
    assert tuple(ACCEPTABLE_URI_SCHEMES) == fptables.ACCEPTABLE_URI_SCHEMES


_HTMLISH = st.lists(
    st.sampled_from([*"<>/&#;ab é", "p", "em", "blink", "amp", "nbsp", "x1"]), max_size=20
).map("".join)


@settings(max_examples=500, deadline=None)
@given(text=_HTMLISH)
@example(text="a </b> &amp; c")
@example(text="</blink>")
@example(text="&bogus;</p>")
def test_looks_like_html_is_feedparsers(text: str) -> None:
    from feedparser.api import StrictFeedParser

    assert fptables.looks_like_html(text) == StrictFeedParser.looks_like_html(text)


_URL_PART = st.lists(
    st.sampled_from([*"/:.?#[]@ %ahx0", "http", "javascript", "e.com"]), max_size=12
).map("".join)


@settings(max_examples=500, deadline=None)
@given(base=_URL_PART, rel=_URL_PART)
@example(base="http://e.com/a/", rel="b")
@example(base="http://e.com/", rel="http:///x")
@example(base="javascript:alert(1)", rel="")
@example(base="http://[e.com/", rel="x")
def test_url_functions_are_feedparsers(base: str, rel: str) -> None:
    from feedparser.urls import _urljoin, make_safe_absolute_uri

    assert fptables.urljoin(base, rel) == _urljoin(base, rel)
    assert fptables.make_safe_absolute_uri(base, rel) == make_safe_absolute_uri(base, rel)
    assert fptables.make_safe_absolute_uri(base) == make_safe_absolute_uri(base)


@settings(max_examples=600, deadline=None)
@given(
    day=st.dates(date(1901, 1, 1), date(8999, 12, 31)),
    clock=st.tuples(st.integers(0, 24), st.integers(0, 60), st.integers(0, 61)),
    fraction=st.one_of(
        st.just(""), st.text(string.digits, min_size=1, max_size=8).map(".".__add__)
    ),
    zone=st.one_of(
        st.sampled_from(["Z", "z", "+00:00", "-00:00"]),
        st.builds(
            "{}{:02d}:{:02d}".format, st.sampled_from("+-"), st.integers(0, 99), st.integers(0, 99)
        ),
    ),
    sep=st.sampled_from("Tt"),
)
@example(day=date(1970, 1, 1), clock=(0, 0, 0), fraction="", zone="+14:00", sep="T")
@example(day=date(2021, 7, 15), clock=(20, 4, 49), fraction=".999999", zone="Z", sep="T")
def test_w3c_dates_are_feedparsers_struct_times(
    day: date, clock: tuple[int, int, int], fraction: str, zone: str, sep: str
) -> None:
    from feedparser.datetimes import _parse_date

    value = f"{day.isoformat()}{sep}{clock[0]:02d}:{clock[1]:02d}:{clock[2]:02d}{fraction}{zone}"
    try:
        fast = time.gmtime(fastfeed._w3dtf_seconds(value))
    except (fastxml._Decline, ValueError):
        return  # declined: fastfeed asks feedparser's _parse_date
    assert fast == _parse_date(value), value
    assert fastfeed._date(value) == fast


def test_other_dates_still_go_to_feedparser() -> None:
    from feedparser.datetimes import _parse_date

    for value in ("2021-07-15", "Thu, 15 Jul 2021 20:01:00 EDT", "2021-07-15 20:01:00"):
        assert fastfeed._date(value) == _parse_date(value), value


# feedparser 6.0's e-mail pattern in `_sync_author_detail`, which `fppatch` replaces.
_FEEDPARSERS_EMAIL = (
    r"""(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))"""
    r"""([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"""
)


def test_the_replaced_author_handler_is_feedparsers_but_its_pattern() -> None:
    import inspect
    import re

    import feedparser.mixin

    from monitor.feeds import fppatch

    source = inspect.getsource(feedparser.mixin)  # the module's text: not changed by install()
    original = source.split("    def _sync_author_detail(", 1)[1].split("\n    def ", 1)[0]
    assert f"re.search(r'''{_FEEDPARSERS_EMAIL}''', author)" in original
    ours = inspect.getsource(fppatch.sync_author_detail).split('"""', 2)[2]
    ours = re.sub(r"  # noqa: UP031.*", "", ours)  # kept as feedparser wrote them
    ours = ours.replace('"', "'").replace("_EMAIL.search(author)", "EMAIL")
    original = original.replace(f"re.search(r'''{_FEEDPARSERS_EMAIL}''', author)", "EMAIL")
    lines = [line.strip() for line in original.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("#")]
    assert [line.strip() for line in ours.splitlines() if line.strip()][1:] == lines[1:]


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="ab1.-_+@[]?=s ()<>x", max_size=40))
@example("bob (bob@example.org)")
@example("a.b@c.d.example.co ?subject=hi")
@example("x@[1.2.3.4]")
def test_the_linear_email_pattern_finds_feedparsers_address(author: str) -> None:
    import re

    from monitor.feeds.fppatch import _EMAIL

    theirs, ours = re.search(_FEEDPARSERS_EMAIL, author), _EMAIL.search(author)
    assert (theirs and (theirs.span(), theirs.groups())) == (ours and (ours.span(), ours.groups()))

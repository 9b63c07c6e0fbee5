import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.feeds.canonical import canonical_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # case, default ports, fragments, trailing slash
        ("HTTPS://WWW.Reuters.COM:443/world/europe/story-2026-11-27/#comments",
         "https://reuters.com/world/europe/story-2026-11-27"),
        ("http://example.com:80", "http://example.com/"),
        ("http://example.com:8080/a/", "http://example.com:8080/a"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/", "https://example.com/"),
        ("https://example.com/News/Story", "https://example.com/News/Story"),  # path case kept
        # tracking parameters, stable order of the rest
        ("https://www.bbc.co.uk/news/world-123?utm_source=twitter&utm_medium=social&at_campaign=x",
         "https://bbc.co.uk/news/world-123"),
        ("https://nytimes.com/2026/11/27/world/x.html?smid=tw-share&partner=rss&emc=rss",
         "https://nytimes.com/2026/11/27/world/x.html?emc=rss&partner=rss"),
        ("https://example.com/a?b=2&fbclid=IwAR0x&a=1&gclid=z&mc_cid=1&mc_eid=2",
         "https://example.com/a?a=1&b=2"),
        ("https://example.com/a?id=2&id=1", "https://example.com/a?id=2&id=1"),
        ("https://example.com/a?UTM_Source=x&igshid=1&_hsenc=p&_hsmi=2&yclid=3&msclkid=4&dclid=5",
         "https://example.com/a"),
        ("https://theguardian.com/world/2026/nov/27/x?CMP=share_btn_tw",
         "https://theguardian.com/world/2026/nov/27/x"),
        ("https://example.com/search?q=a+b&page=2", "https://example.com/search?page=2&q=a+b"),
        ("https://example.com/?", "https://example.com/"),
        # AMP and mobile variants
        ("https://www.example.com/news/story/amp/", "https://example.com/news/story"),
        ("https://example.com/news/story/amp", "https://example.com/news/story"),
        ("https://example.com/news/story?amp", "https://example.com/news/story"),
        ("https://example.com/news/story?amp=1", "https://example.com/news/story"),
        ("https://washingtonpost.com/x/?outputType=amp", "https://washingtonpost.com/x"),
        ("https://example.com/news/ampersand", "https://example.com/news/ampersand"),
        ("https://example.com/amplifier/x", "https://example.com/amplifier/x"),
        ("https://m.bbc.co.uk/news/x", "https://bbc.co.uk/news/x"),
        ("https://mobile.twitter.com/user/status/1", "https://twitter.com/user/status/1"),
        ("https://m.com/x", "https://m.com/x"),  # the site itself, not a mobile prefix
        ("https://media.example.com/x", "https://media.example.com/x"),
        # IDNA, non-ASCII paths, escapes
        ("https://Bücher.example/Straße?q=ü", "https://xn--bcher-kva.example/Stra%C3%9Fe?q=%C3%BC"),
        ("https://example.com/a%2fb", "https://example.com/a%2Fb"),
        ("https://example.com/a b", "https://example.com/a%20b"),
        ("https://[2001:DB8::1]:443/x", "https://[2001:db8::1]/x"),
        ("https://example.com/#!/user/1", "https://example.com/#!/user/1"),
        # not http(s), junk: returned stripped, never raises
        ("  mailto:Someone@Example.com ", "mailto:Someone@Example.com"),
        ("tag:example.com,2026:1", "tag:example.com,2026:1"),
        ("urn:uuid:1225c695-cfb8", "urn:uuid:1225c695-cfb8"),
        ("http://[::1:80/", "http://[::1:80/"),
        ("http://example.com:99999/", "http://example.com:99999/"),
        ("not a url", "not a url"),
        ("", ""),
        ("/relative/path", "/relative/path"),
    ],
)  # fmt: skip
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_canonical_url_is_idempotent() -> None:
    for url in ("HTTPS://WWW.X.com:443/a/?b=1&a=2&utm_x=1#f", "https://Bücher.example/ä/amp/"):
        once = canonical_url(url)
        assert canonical_url(once) == once


_URL_CHARS = "abcxyzABC019-._~!$&'()*+,;=:@/%?#"
_HOSTS = [
    "example.com", "www.bbc.co.uk", "m.x.org", "news.example.org", "127.0.0.1", "www.1.2",
    "www.com", "m.www.x.org", "mobile.m.x.org", "www.xn--bcher-kva.example", "a-b.c-d.e",
]  # fmt: skip


@settings(max_examples=1500, deadline=None)
@given(
    st.sampled_from(["http://", "https://", "HTTP://"]),
    st.sampled_from(_HOSTS),
    st.text(alphabet=_URL_CHARS, max_size=30),
)
def test_the_already_canonical_shortcut_agrees_with_the_full_rules(
    scheme: str, host: str, rest: str
) -> None:
    from monitor.feeds.canonical import _canonical_url

    url = f"{scheme}{host}{'/' if rest[:1] not in ('/', '') else ''}{rest}"
    assert canonical_url(url) == _canonical_url(url)


@settings(max_examples=1500, deadline=None)
@given(
    st.sampled_from(["http://", "https://"]),
    st.sampled_from(_HOSTS),
    st.text(alphabet="abz09-._~/%", max_size=20),
    st.lists(
        st.tuples(
            st.sampled_from(["a", "B", "utm_source", "UTM_x", "CMP", "amp", "outputType", "v", ""]),
            st.text(alphabet="ab1=?/:%2fAMP \"'#<é\t", max_size=8),
        ),
        max_size=5,
    ),
)
def test_the_shortcut_for_prefixed_hosts_and_queries_agrees_with_the_full_rules(
    scheme: str, host: str, path: str, params: list[tuple[str, str]]
) -> None:
    from monitor.feeds.canonical import _canonical_url

    query = "&".join(f"{name}={value}" if value else name for name, value in params)
    url = f"{scheme}{host}/{path}{'?' if params else ''}{query}"
    assert canonical_url(url) == _canonical_url(url)


@settings(max_examples=1000, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "B", "b", "utm_source", "fbclid", "amp", "v", ""]),
            st.text(alphabet="ab1=%2f é", max_size=6),
        ),
        max_size=5,
    )
)
def test_a_query_keeps_its_other_parameters_sorted_stably_by_name(
    params: list[tuple[str, str]],
) -> None:
    # _query skips the sort where none or one parameter is kept.
    from monitor.feeds.canonical import _QUERY_SAFE, _escape, _query

    query = "&".join(f"{name}={value}" if value else name for name, value in params)
    kept = []
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        lname = name.lower()
        tracking = lname.startswith("utm_") or lname == "fbclid"
        if pair and not tracking and not (lname == "amp" and value.lower() in ("", "1", "true")):
            kept.append((name, _escape(pair, _QUERY_SAFE)))
    expected = "&".join(pair for _, pair in sorted(kept, key=lambda item: item[0]))
    assert _query(query) == expected


def test_queries_are_read_once_per_text_and_the_memo_stays_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from monitor.feeds import canonical

    monkeypatch.setattr(canonical, "_QUERIES", {})
    read: list[str] = []
    query = canonical._query

    def reading(text: str) -> str:
        read.append(text)
        return query(text)

    monkeypatch.setattr(canonical, "_query", reading)
    first = canonical_url("https://www.example.com/a?b=2&utm_source=rss&a=1")
    second = canonical_url("https://www.example.com/b?b=2&utm_source=rss&a=1")
    assert (first, second) == ("https://example.com/a?a=1&b=2", "https://example.com/b?a=1&b=2")
    assert read == ["b=2&utm_source=rss&a=1"]  # the second one came from the memo
    long = "a=1&" * 100
    assert canonical_url("https://www.example.com/a?" + long) == canonical_url(
        "https://www.example.com/a?" + long
    )
    assert long not in canonical._QUERIES  # a long query is read, never kept
    for n in range(canonical._QUERIES_MAX + 10):
        canonical_url(f"https://www.example.com/a?n={n}")
        assert len(canonical._QUERIES) <= canonical._QUERIES_MAX

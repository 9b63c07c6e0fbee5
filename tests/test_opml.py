import pytest

from monitor.errors import ConfigError
from monitor.feeds.opml import parse_opml, slug

OPML = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Subscriptions</title></head>
  <body>
    <outline text="World News">
      <outline text="Europe">
        <outline type="rss" text="BBC World" xmlUrl="https://feeds.bbci.co.uk/news/world/rss.xml"/>
        <outline type="rss" text="Le Monde \xc3\xa0 la une" xmlUrl="https://www.lemonde.fr/rss/une.xml"
                 category="/press/french,daily"/>
      </outline>
      <outline type="rss" text="BBC World" xmlUrl="https://example.com/other-bbc.xml"/>
    </outline>
    <outline type="rss" title="" text="" xmlUrl="https://news.example.org/feeds/all.atom"/>
    <outline text="Again" ><outline type="rss" text="x" xmlUrl="https://www.lemonde.fr/rss/une.xml"/></outline>
    <outline text="Empty folder"/>
  </body>
</opml>
"""


def test_nested_outlines_become_feeds_with_tags_and_unique_ids() -> None:
    specs = parse_opml(OPML, "subs.opml")
    assert [s.id for s in specs] == ["bbc-world", "le-monde-a-la-une", "bbc-world-2",
                                     "news-example-org-feeds-all-atom"]  # fmt: skip
    bbc, monde, bbc2, untitled = specs
    assert bbc.url == "https://feeds.bbci.co.uk/news/world/rss.xml"
    assert bbc.tags == ("world-news", "europe")
    assert bbc.name == "BBC World"
    # the same xmlUrl twice is one feed with the tags of both places
    assert monde.tags == ("world-news", "europe", "press", "french", "daily", "again")
    assert bbc2.tags == ("world-news",)
    assert untitled.tags == ()


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        (
            b'<opml><body>\n<outline type="rss" text="No URL"/></body></opml>',
            2,
            "without an xmlUrl",
        ),
        (
            b'<opml><body>\n\n<outline text="F" xmlUrl="file:///etc/passwd"/></body></opml>',
            3,
            "http",
        ),
        (
            # urlsplit refuses it (a ValueError traceback from `feeds import` before)
            b'<opml><body>\n<outline text="F" xmlUrl="http://[bad/rss"/></body></opml>',
            2,
            "xmlUrl 'http://[bad/rss': the URL does not parse",
        ),
        (
            b'<opml><body>\n<outline text="F" xmlUrl="https://news.example:99999/"/></body></opml>',
            2,
            "the URL does not parse",
        ),
        (b"<opml><body>\n<outline text='x'></body></opml>", 2, "not well-formed"),
        (b"<rss><channel/></rss>", 1, "not an OPML"),
        (b'<!DOCTYPE opml [<!ENTITY a "b">]><opml><body/></opml>', 1, "entities"),
    ],
)
def test_errors_name_the_file_and_line(body: bytes, line: int, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_opml(body, "subs.opml")
    assert str(err.value).startswith(f"subs.opml:{line}:")
    assert message in str(err.value)


def test_every_bad_outline_is_named_at_once() -> None:
    """The import stopped at the first: a list with three `feed://` URLs took three rounds."""
    body = (
        b"<opml><body>\n"
        b'<outline text="A" xmlUrl="feed://a.example/rss"/>\n'
        b'<outline text="Tech"><outline text="B" type="rss"/></outline>\n'
        b'<outline text="Fine" xmlUrl="https://c.example/rss"/>\n'
        b'<outline text="D" xmlUrl="feed://d.example/rss"/>\n'
        b"</body></opml>"
    )
    with pytest.raises(ConfigError) as err:
        parse_opml(body, "subs.opml")
    located = [line.split(": ")[0] for line in str(err.value).splitlines() if line[:4] == "subs"]
    assert located == ["subs.opml:2:1", "subs.opml:3:22", "subs.opml:5:1"], str(err.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("World News", "world-news"), ("  Ça va?! ", "ca-va"), ("新闻", ""), ("a" * 80, "a" * 60)],
)
def test_slug(text: str, expected: str) -> None:
    assert slug(text) == expected


class _CountingSet(set[str]):
    probes = 0

    def __contains__(self, value: object) -> bool:
        _CountingSet.probes += 1
        return super().__contains__(value)


def test_many_outlines_of_one_name_take_ids_in_linear_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A large newsroom's list names hundreds of feeds "Top Stories": each id was found by trying
    # every suffix from 2 up again, 50 million tries (8 s) for 10,000 of them.
    import monitor.feeds.opml as opml

    n = 2000
    outlines = "".join(
        f'<outline text="Top Stories" xmlUrl="https://news{i}.example/rss"/>' for i in range(n)
    )
    body = f'<opml><body><outline text="top-stories-3" xmlUrl="https://x.example/"/>{outlines}'
    monkeypatch.setattr(opml, "set", _CountingSet, raising=False)
    _CountingSet.probes = 0
    specs = parse_opml(f"{body}</body></opml>".encode(), "subs.opml")
    ids = [s.id for s in specs]
    assert ids[:4] == ["top-stories-3", "top-stories", "top-stories-2", "top-stories-4"]
    assert ids[-1] == f"top-stories-{n + 1}"
    assert len(set(ids)) == n + 1
    assert _CountingSet.probes < 3 * n

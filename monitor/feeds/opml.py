"""OPML subscription lists to FeedSpecs (`newsmon feeds import FILE.opml`). Pure.

- Every `<outline>` with an `xmlUrl` is a feed; outlines without one are folders, and the
  folders around a feed become its tags, with its `category` attribute
  (comma-separated, `/a/b` paths split into `a` and `b`).
- Tags and ids are slugs (ASCII lower-case words joined by `-`); an id comes from the title (or
  `text`), else the URL's host and path, and is made unique with `-2`, `-3`, ...
- The same `xmlUrl` listed twice becomes one feed carrying the tags of both places.
- `xmlUrl` must be an http(s) URL the config accepts; an outline that says it is a feed
  (`type="rss"`, or with an `htmlUrl`) but lacks one is an error. Entity declarations are
  refused as in feeds.
Errors are ConfigError with the file, line and column, every outline's at once.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import urlsplit
from xml.parsers import expat

from monitor.errors import ConfigError, FeedError, SourceLocation
from monitor.feeds.prolog import check_prolog
from monitor.model import FeedSpec
from monitor.net.urls import url_problem

_NON_SLUG = re.compile(r"[^a-z0-9]+")
_FEED_TYPES = frozenset({"rss", "atom", "feed", "rdf", "json"})


@dataclass
class _Feed:
    url: str
    name: str
    tags: list[str] = field(default_factory=list)


def slug(text: str, limit: int = 60) -> str:
    """ASCII lower-case words joined by `-` (accents folded, other scripts dropped)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NON_SLUG.sub("-", folded.lower()).strip("-")[:limit].strip("-")


def parse_opml(data: bytes, source: str, duplicates: list[str] | None = None) -> list[FeedSpec]:
    """The feeds of an OPML document, in document order. Raises ConfigError.

    A feed listed twice is imported once with the tags of both; each repeat is said in
    `duplicates` (`FILE:LINE: ...`) when a list is given."""
    lines = data.decode("utf-8", errors="replace").splitlines()

    def error(message: str, line: int, column: int) -> ConfigError:
        text = lines[line - 1] if 0 < line <= len(lines) else ""
        return ConfigError(message, SourceLocation(source, line, column + 1, text.rstrip()))

    try:
        check_prolog(data)
    except FeedError as e:
        raise error(f"{e}; remove the DOCTYPE's entity declarations", 1, 0) from e

    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    feeds: dict[str, _Feed] = {}
    first_line: dict[str, int] = {}
    folders: list[str | None] = []  # one per open outline: its tag, or None for a feed
    seen_opml: list[bool] = []
    # Every outline's mistake is said at once, as the config's are: an export from another
    # reader with three `feed://` URLs is then one round of edits, not three.
    problems: list[ConfigError] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        if not seen_opml:
            seen_opml.append(name.lower() == "opml")
        if name != "outline":
            return
        title = (attrs.get("title") or attrs.get("text") or "").strip()
        url = (attrs.get("xmlUrl") or attrs.get("xmlurl") or "").strip()
        line, col = parser.CurrentLineNumber, parser.CurrentColumnNumber
        if not url:
            if attrs.get("type", "").lower() in _FEED_TYPES or attrs.get("htmlUrl"):
                problems.append(
                    error(f"outline {title!r} is a feed without an xmlUrl; add one", line, col)
                )
                folders.append(None)
                return
            folders.append(slug(title) or None)
            return
        problem = url_problem(url)  # as the config will check it once the list is pasted in
        if problem is not None:
            problems.append(error(f"xmlUrl {url!r}: {problem}", line, col))
            folders.append(None)
            return
        tags = [t for t in folders if t] + _categories(attrs.get("category", ""))
        if url in feeds and duplicates is not None:
            duplicates.append(
                f"{source}:{line}: {url} is listed again (first at line {first_line[url]});"
                " imported once, with the tags of both"
            )
        first_line.setdefault(url, line)
        feed = feeds.setdefault(url, _Feed(url, title))
        feed.tags.extend(t for t in tags if t not in feed.tags)
        folders.append(None)

    def end(name: str) -> None:
        if name == "outline" and folders:
            folders.pop()

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(data, True)
    except expat.ExpatError as e:
        raise error(f"not well-formed OPML: {expat.ErrorString(e.code)}", e.lineno, e.offset) from e
    if not seen_opml or not seen_opml[0]:
        raise error("not an OPML document (the root element is not <opml>)", 1, 0)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ConfigError("\n".join(str(p) for p in problems))
    return _specs(list(feeds.values()))


def _categories(value: str) -> list[str]:
    parts = (p for chunk in value.split(",") for p in chunk.split("/"))
    return [s for s in (slug(p) for p in parts) if s]


def _specs(feeds: list[_Feed]) -> list[FeedSpec]:
    used: set[str] = set()
    # base -> the last suffix taken for it: the next feed of that name tries the one after, so
    # 10,000 outlines all called "Top Stories" take 10,000 tries, not 50 million (8 s).
    last: dict[str, int] = {}
    specs: list[FeedSpec] = []
    for feed in feeds:
        parts = urlsplit(feed.url)
        base = slug(feed.name) or slug(f"{parts.hostname or ''} {parts.path}") or "feed"
        ident, n = base, last.get(base, 1)
        if n > 1:
            ident = f"{base}-{n}"
        while ident in used:
            n += 1
            ident = f"{base}-{n}"
        used.add(ident)
        last[base] = n
        specs.append(FeedSpec(id=ident, url=feed.url, name=feed.name, tags=tuple(feed.tags)))
    return specs

"""Item keys, story keys and content hashes: who an item is, across polls and feeds. Pure.

Item key (per feed), the fallback chain of DESIGN.md:

1. `g:` + hash(GUID) when the item has a GUID that is unique within this document;
   a GUID repeated inside the document is told apart, not collapsed:
   `g:` + hash(GUID, canonical link or else normalised title);
2. `u:` + hash(canonical link) for a GUID-less item (+ normalised title when several GUID-less
   items of the document share that link, e.g. all pointing at the home page);
3. `h:` + hash(normalised title or else summary, published date).

Keys are short (2 + 20 characters) and depend only on the item's own fields and on which GUIDs and
links repeat in the document. GUID churn (new GUIDs for the same items on every poll) changes item
keys by nature; the story key (canonical link, else normalised title) is what catches it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import NamedTuple
from urllib.parse import urlsplit

from monitor.model import Item

_SEP = "\x1f"
_WORDS = re.compile(r"\w+")


class KeyInput(NamedTuple):
    """What identity looks at in one entry: raw GUID, canonical link, title, summary, date.
    (A named tuple: one is made for every item parsed, at about a third of a frozen
    dataclass's cost.)"""

    guid: str | None
    url: str | None
    title: str = ""
    summary: str = ""
    published: datetime | None = None


def digest(*parts: str) -> str:
    """A 20-hex-digit BLAKE2b digest of the parts (joined with a separator that text lacks)."""
    return hashlib.blake2b(_SEP.join(parts).encode("utf-8"), digest_size=10).hexdigest()


def normalise_title(text: str) -> str:
    """NFKC, case-folded words (letters and digits of any script) joined by single spaces."""
    return " ".join(_WORDS.findall(unicodedata.normalize("NFKC", text).casefold()))


def assign_keys(entries: Sequence[KeyInput]) -> list[str]:
    """The item key of each entry of one document, in the same order (see module docstring)."""
    cleaned = [_clean(e.guid) for e in entries]
    guids = Counter(filter(None, cleaned))
    guidless_urls = Counter(
        [e.url for e, guid in zip(entries, cleaned, strict=True) if e.url and not guid]
    )
    keys: list[str] = []
    # The title is normalised only where a key uses it (most items have a GUID of their own).
    for entry, guid in zip(entries, cleaned, strict=True):
        if guid:
            if guids[guid] == 1:
                keys.append("g:" + digest(guid))
            elif entry.url:
                keys.append("g:" + digest(guid, entry.url, ""))
            else:
                keys.append("g:" + digest(guid, "", normalise_title(entry.title)))
        elif entry.url:
            extra = (normalise_title(entry.title),) if guidless_urls[entry.url] > 1 else ()
            keys.append("u:" + digest(entry.url, *extra))
        else:
            when = entry.published.isoformat() if entry.published else ""
            title = normalise_title(entry.title)
            keys.append("h:" + digest(title or normalise_title(entry.summary), when))
    return keys


def story_key(item: Item, shared: Collection[str] = ()) -> str:
    """The story an item tells, for dedup across feeds and across GUID churn.

    The canonical link, unless it is a site's home page or one of `shared` (`shared_links`:
    feeds that link every item to `/` or to one section page); else the normalised title; else
    the item's own key. Near-duplicate matching of differently worded titles is a later stage.
    """
    if item.url and item.url not in shared and not _is_home_page(item.url):
        return "u:" + digest(item.url)
    title = normalise_title(item.title)
    if title:
        return "t:" + digest(title)
    return "k:" + digest(item.feed_id, item.key)


def shared_links(items: Iterable[Item]) -> frozenset[str]:
    """The canonical links that items of one document with different titles share: a feed
    that links every item to one page ("/news", "/press-releases") names no article by them.
    Keyed by such a link, every story of the feed would be one: its first item alerts, the
    others are taken for re-issues of it within the story window."""
    urls = [item.url for item in items if item.url]
    if len(urls) == len(set(urls)):
        return frozenset()  # the common case, told without looking at titles
    titles: dict[str, set[str]] = {}
    for item in items:
        if item.url:
            titles.setdefault(item.url, set()).add(item.title)
    return frozenset(url for url, seen in titles.items() if len(seen) > 1)


def content_hash(item: Item) -> str:
    """A hash of the title and summary text, to notice an edited item with the same key."""
    return digest(one_line(item.title), one_line(item.summary))


def one_line(text: str) -> str:
    """`" ".join(text.split())`: words joined by single spaces. A printable text's only
    whitespace is " " (every other character str.split() splits on is unprintable;
    tests/test_fastxml.py checks every code point): without a doubled or outer space it is
    already that (most titles and summaries), told without splitting it into words. Here, not
    in htmltext: a round that hashes no new text need not import html's tables."""
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text
    return " ".join(text.split())


def _clean(guid: str | None) -> str:
    return guid.strip() if guid else ""


def _is_home_page(url: str) -> bool:
    # Most item URLs are http(s) with a path past "/": not a home page, told without urlsplit
    # (several µs an item). Tabs and newlines, which urlsplit drops first, take the full way.
    if url.startswith(("https://", "http://")) and not ("\t" in url or "\r" in url or "\n" in url):
        start = url.index("//") + 2
        slash = url.find("/", start)
        netloc, after = url[start:slash], url[slash + 1 : slash + 2]
        if slash > 0 and "?" not in netloc and "#" not in netloc and after and after not in "?#":
            return False  # a path past "/"
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.path in ("", "/") and not parts.query and not parts.fragment

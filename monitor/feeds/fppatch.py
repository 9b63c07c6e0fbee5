"""feedparser's handlers that cost superlinear time on a hostile document, replaced by linear
equivalents that give the same answers. Pure (it changes feedparser's class, once).

- `_sync_author_detail` finds an e-mail address in an author with
  `([a-zA-Z0-9_\\-.+]+)@...`, searched from every position: a run of those characters with no
  `@` after it is scanned again from each of its characters. An author of 60,000 letters took
  13 s (a megabyte: hours) in the loose parser, where `newsmon check` has no parse budget. The
  address found here is the same one: a match that starts inside such a run implies one from the
  run's start (what follows the run is the same), which the search meets first; so a match may
  start only where no run character precedes it, and the run is read possessively.

`install()` is called where feedparser is imported for a parse (`monitor.feeds.parse`);
`tests/test_feedparser_tables.py` holds the replacement to feedparser's own on generated authors.
"""

from __future__ import annotations

import re
from typing import Any

_EMAIL = re.compile(
    r"(?<![a-zA-Z0-9_\-.+])(([a-zA-Z0-9\_\-\.\+]++)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)"
    r"|(([a-zA-Z0-9\-]+\.)+))([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"
)


def sync_author_detail(self: Any, key: str = "author") -> None:
    """feedparser 6.0's `_FeedParserMixin._sync_author_detail`, with `_EMAIL` for its regex."""
    from feedparser.util import FeedParserDict

    context = self._get_context()
    detail = context.get("%ss" % key, [FeedParserDict()])[-1]  # noqa: UP031 (feedparser's line)
    if detail:
        name = detail.get("name")
        email = detail.get("email")
        if name and email:
            context[key] = "%s (%s)" % (name, email)  # noqa: UP031
        elif name:
            context[key] = name
        elif email:
            context[key] = email
    else:
        author, email = context.get(key), None
        if not author:
            return
        emailmatch = _EMAIL.search(author)
        if emailmatch:
            email = emailmatch.group(0)
            author = author.replace(email, "")
            author = author.replace("()", "")
            author = author.replace("<>", "")
            author = author.replace("&lt;&gt;", "")
            author = author.strip()
            if author and (author[0] == "("):
                author = author[1:]
            if author and (author[-1] == ")"):
                author = author[:-1]
            author = author.strip()
        if author or email:
            context.setdefault("%s_detail" % key, detail)  # noqa: UP031
        if author:
            detail["name"] = author
        if email:
            detail["email"] = email


def install() -> None:
    """Put the linear handlers in feedparser's mixin (idempotent)."""
    from feedparser.mixin import _FeedParserMixin

    _FeedParserMixin._sync_author_detail = sync_author_detail

"""Items from a feed that a person named on the command line: a local file or a URL. Does I/O.

Local files are read only here, because a person typed the path; feed URLs from a config file
always go through the guarded HTTP fetch.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from monitor.errors import FeedError
from monitor.feeds.fetch import FetchResult, fetch
from monitor.feeds.parse import ParsedFeed, parse_feed
from monitor.model import Item
from monitor.net.client import make_client
from monitor.net.guard import AddressGuard


@dataclass(frozen=True)
class NamedSource:
    """A feed named on the command line: `path` for a local file, else `url`."""

    feed_id: str
    url: str
    path: Path | None = None


def name_source(arg: str) -> NamedSource:
    """Classify a `--feed` argument; a path must exist, a URL must be http(s)."""
    scheme = urlsplit(arg).scheme.lower()
    if scheme in ("http", "https"):
        return NamedSource(feed_id=_feed_id_for(arg), url=arg)
    if scheme == "file":
        arg = urlsplit(arg).path
    elif "://" in arg:
        raise FeedError(
            "local_file", f"{arg}: {scheme}:// is not supported (give an http(s) URL or a file)"
        )
    path = Path(arg)
    if path.is_dir():
        raise FeedError("local_file", f"{arg}: is a folder, not a feed file (name one file in it)")
    if not path.is_file():
        what = "no such file" if not path.exists() else "not a regular file"
        raise FeedError(
            "local_file", f"{arg}: {what} (give a path to a feed file or an http(s) URL)"
        )
    resolved = path.resolve()
    return NamedSource(feed_id=_feed_id_for(path.stem), url=resolved.as_uri(), path=resolved)


def read_local(source: NamedSource, max_bytes: int) -> FetchResult:
    """Read a named local file as if it had been fetched with a 200."""
    assert source.path is not None
    try:
        with source.path.open("rb") as handle:
            body = handle.read(max_bytes + 1)
    except OSError as exc:
        raise FeedError("local_file", f"{source.path}: {exc.strerror}") from exc
    if len(body) > max_bytes:
        raise FeedError("too_large", f"{source.path}: larger than the {max_bytes} byte limit")
    return FetchResult(
        status=200,
        body=body,
        etag=None,
        last_modified=None,
        url=source.url,
        permanent_url=None,
        cache_max_age=None,
        retry_after=None,
        content_type=None,
        elapsed=0.0,
    )


def load_items(
    arg: str,
    *,
    guard: AddressGuard | None = None,
    max_bytes: int = 10 * 1024 * 1024,
    deadline: float = 30.0,
    max_items: int = 1000,
) -> list[Item]:
    """Fetch or read one named feed and parse it (for `newsmon rules test --feed`)."""
    source = name_source(arg)
    if source.path is not None:
        result = read_local(source, max_bytes)
    else:
        result = asyncio.run(_fetch_once(source.url, guard or AddressGuard(), max_bytes, deadline))
    return parse_result(source.feed_id, result, max_items).items


def parse_result(feed_id: str, result: FetchResult, max_items: int) -> ParsedFeed:
    assert result.body is not None
    return parse_feed(
        result.body,
        feed_id=feed_id,
        feed_url=result.url,
        content_type=result.content_type,
        max_items=max_items,
    )


async def _fetch_once(
    url: str, guard: AddressGuard, max_bytes: int, deadline: float
) -> FetchResult:
    async with make_client(guard) as client:
        return await fetch(client, url, max_bytes=max_bytes, deadline=deadline)


def _feed_id_for(text: str) -> str:
    """A readable, stable id for a feed named on the command line."""
    parts = urlsplit(text)
    base = (parts.hostname or "") + parts.path if parts.scheme else text
    slug = "".join(ch if ch.isalnum() else "-" for ch in base.lower()).strip("-")
    slug = "-".join(filter(None, slug.split("-")))[:48] or "feed"
    if parts.scheme:
        slug += "-" + hashlib.sha256(text.encode()).hexdigest()[:6]
    return slug

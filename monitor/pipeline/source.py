"""Feeds a person names for one look: polled once, without state. Does I/O.

`newsmon check` (without `--deliver`), `rules test --feed` and `archive import` poll through
`poll_named`: the poller of the daemon (monitor.pipeline.poll) with no store, so nothing is read
or written and every current item is matched, fetched by the same `http_fetcher` under the same
per-host limits. Local files are read only here, because a person typed the path; feed URLs
from a config file always go through the guarded HTTP fetch.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from monitor.clock import Clock, SystemClock
from monitor.errors import FeedError
from monitor.feeds.fetch import FetchResult
from monitor.model import FeedState
from monitor.net.feedclient import make_feed_client
from monitor.net.guard import AddressGuard
from monitor.net.hostlimits import HostLimiter, patience_for
from monitor.net.urls import shown_url
from monitor.offload import on_cpu_thread, run_main
from monitor.pipeline.poll import (
    Fetcher,
    FetchPolicy,
    Poller,
    PollReport,
    http_fetcher,
    poll_contained,
)
from monitor.pipeline.rules import CurrentRules
from monitor.query.ruleset import RuleSet


@dataclass(frozen=True)
class NamedSource:
    """A feed named on the command line (or configured, for `check`): `path` for a local file,
    else `url`."""

    feed_id: str
    url: str
    path: Path | None = None
    tags: tuple[str, ...] = ()
    interval_s: float = 300.0  # a poll without state schedules nothing; an error backs off from it

    def feed(self) -> FeedState:
        """The feed as a poll takes it: never polled, so no validators and no baseline."""
        return FeedState(
            id=self.feed_id,
            url=self.url,
            name=self.feed_id,
            tags=self.tags,
            interval_s=self.interval_s,
            backfill_s=0.0,
        )


def name_source(arg: str) -> NamedSource:
    """Classify a `--feed` argument; a path must exist, a URL must be http(s)."""
    if not arg.strip():  # `--feed "$FEED"` with FEED unset: Path("") is the current folder
        raise FeedError("local_file", "an empty feed name: give a path to a feed file or a URL")
    try:
        scheme = urlsplit(arg).scheme.lower()
    except ValueError as exc:  # "http://[bad": urlsplit refuses it before anyone can
        raise FeedError(
            "local_file",
            f"{shown_url(arg)}: is not a usable URL ({exc}); give an http(s) URL or a file",
        ) from exc
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


def local_or_http(sources: Iterable[NamedSource], http: Fetcher, max_bytes: int) -> Fetcher:
    """Read the local files among `sources`; fetch every other feed with `http`."""
    local = {source.url: source for source in sources if source.path is not None}

    async def fetch_feed(feed: FeedState) -> FetchResult:
        source = local.get(feed.url)
        return read_local(source, max_bytes) if source is not None else await http(feed)

    return fetch_feed


def reporting(fetcher: Fetcher, fetched: Callable[[str], None]) -> Fetcher:
    """`fetcher`, telling `fetched` the feed id after each fetch, failed or not (a progress bar)."""

    async def fetch_feed(feed: FeedState) -> FetchResult:
        try:
            return await fetcher(feed)
        finally:
            fetched(feed.id)

    return fetch_feed


async def poll_named(
    sources: Sequence[NamedSource],
    rules: RuleSet | None,
    *,
    guard: AddressGuard,
    policy: FetchPolicy = FetchPolicy(),  # noqa: B008 - frozen
    connect_timeout: float = 10.0,
    per_host: int = 2,
    total: int = 50,
    fetched: Callable[[str], None] | None = None,
    clock: Clock | None = None,
    keep_items: bool = False,
) -> list[PollReport]:
    """Poll each source once without state, all at once within the host limits; the reports
    in the order of `sources`. `rules`: None matches nothing; `keep_items`: every parsed item
    in the reports. Parsing runs on the one CPU thread, a document at a time, as in the daemon."""
    limiter = HostLimiter(per_host=per_host, total=total, patience=patience_for(policy.deadline))
    async with make_feed_client(guard, connect_timeout=connect_timeout) as client:
        fetcher = local_or_http(sources, http_fetcher(client, limiter, policy), policy.max_body)
        poller = Poller(
            store=None,
            fetcher=reporting(fetcher, fetched) if fetched is not None else fetcher,
            rules=CurrentRules(rules, []) if rules is not None else None,
            clock=clock or SystemClock(),
            owner="",
            max_items=policy.max_items,
            io=asyncio.to_thread,
            cpu=on_cpu_thread,
            keep_items=keep_items,
        )
        return await asyncio.gather(*(poll_contained(poller.poll, s.feed()) for s in sources))


def poll_one(
    arg: str | NamedSource,
    rules: RuleSet | None,
    *,
    guard: AddressGuard | None = None,
    policy: FetchPolicy = FetchPolicy(),  # noqa: B008 - frozen
    keep_items: bool = False,
) -> PollReport:
    """Poll one feed a person named (`rules test --feed`, `archive import`); raises the
    FeedError it failed with."""
    source = name_source(arg) if isinstance(arg, str) else arg
    polled = poll_named(
        [source], rules, guard=guard or AddressGuard(), policy=policy, keep_items=keep_items
    )
    (report,) = run_main(polled)
    failure = report.failure()
    if failure is not None:
        raise failure
    return report


def _feed_id_for(text: str) -> str:
    """A readable, stable id for a feed named on the command line."""
    parts = urlsplit(text)
    base = (parts.hostname or "") + parts.path if parts.scheme else text
    slug = "".join(ch if ch.isalnum() else "-" for ch in base.lower()).strip("-")
    slug = "-".join(filter(None, slug.split("-")))[:48] or "feed"
    if parts.scheme:
        slug += "-" + hashlib.sha256(text.encode()).hexdigest()[:6]
    return slug

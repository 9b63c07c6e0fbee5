"""One bounded, conditional fetch of a feed URL. Does network I/O through a `FeedClient`.

    fetch(client, url, etag=..., last_modified=...)
      within `deadline` seconds overall (the client's timeouts are per read; a trickle is cut
      off here):
        GET url with If-None-Match / If-Modified-Since, Accept-Encoding we can bound, and
          Basic auth from the URL's `user:password@` (to its own origin only)
        3xx with Location -> next hop (the guard checks it at connect time), at most max_redirects
        304 -> FetchResult(status=304, body=None)
        other non-2xx -> FeedStatusError (kind http_status, with retry_after)
        2xx -> raw bytes decoded by us, decoded size capped at max_bytes -> FetchResult

Every failure is a `FeedError` with a kind: timeout, too_large, too_many_redirects,
blocked_address, http_status, connect, tls, parse (a body that does not decode), memory_busy (the
deadline passed while the body waited for a turn to grow past its allowance; see
monitor.net.bodies).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from monitor.errors import FeedError
from monitor.net.bodies import BodyClaim, BodyTurns
from monitor.net.decode import ACCEPT_ENCODING, DecodeError, make_decoder
from monitor.net.feedclient import FeedClient, FeedResponse, HTTPFailure
from monitor.net.retry_after import parse_retry_after
from monitor.net.urls import hide_url_secrets

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT = frozenset({301, 308})
# A redirect's body is read (and dropped) up to this many bytes so its connection can be reused;
# past it the connection is closed instead.
_DRAIN_LIMIT = 64 * 1024
# A body may come in at most one piece (a chunk, or a read) per this many bytes of the reply
# cap: each piece costs about 7 us of h11 and our own CPU whatever its size, and a server
# sending one-byte chunks as fast as it can kept a core busy until the fetch deadline (9.8 s of
# CPU for a 10 s deadline, 30 s with the default) before the byte cap was near.
_BYTES_PER_PIECE = 64


@dataclass(frozen=True)
class FetchResult:
    """The outcome of a fetch that got an answer worth acting on (2xx or 304).

    On a 304, `etag` / `last_modified` are the server's new ones when it sent any, else the ones
    that were sent; on a 2xx they are exactly what the server sent (None: drop the old ones).
    `permanent_url` is set when every hop to the final URL was 301/308: the stored feed URL
    should move there. `elapsed` is seconds from the first request to the end of the body.
    `turn`: the turn a body past its allowance holds (monitor.net.bodies); whoever keeps the
    result releases it once the body is dropped.
    """

    status: int
    body: bytes | None
    url: str
    permanent_url: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    cache_max_age: float | None = None
    retry_after: float | None = None
    content_type: str | None = None
    elapsed: float = 0.0
    turn: BodyClaim | None = field(default=None, compare=False, repr=False)


class FeedStatusError(FeedError):
    """A non-2xx, non-304 answer. `retry_after` is in seconds when the server gave one."""

    def __init__(
        self, status: int, message: str, *, retry_after: float | None = None, url: str = ""
    ) -> None:
        super().__init__("http_status", message, status=status)
        self.retry_after = retry_after
        self.url = url


def parse_max_age(cache_control: str | None) -> float | None:
    """`max-age` from Cache-Control in seconds; None when absent, invalid or no-store/no-cache."""
    if not cache_control:
        return None
    max_age: float | None = None
    for directive in cache_control.lower().split(","):
        name, _, arg = directive.strip().partition("=")
        if name in ("no-store", "no-cache"):
            return None
        if name == "max-age":
            arg = arg.strip().strip('"')
            # ASCII digits only: `isdigit` takes "²" (Latin-1 0xB2, which a header can carry),
            # and `float` refuses it; a ValueError here crashed the poll.
            max_age = float(arg) if arg.isascii() and arg.isdigit() else None
    return max_age


def _server_now(response: FeedResponse) -> datetime:
    """The server's clock (its Date header), so an HTTP-date Retry-After ignores our skew."""
    try:
        return parsedate_to_datetime(response.headers.get("date", ""))
    except (TypeError, ValueError, IndexError, OverflowError):  # Overflow: year 99999999999
        return datetime.now(UTC)


def _retry_after(response: FeedResponse) -> float | None:
    """Retry-After in seconds; the Date header is parsed only when there is one to convert."""
    value = response.headers.get("retry-after")
    return parse_retry_after(value, _server_now(response)) if value else None


async def _read_body(
    response: FeedResponse, max_bytes: int, max_reply_bytes: int, claim: BodyClaim | None
) -> bytes:
    try:
        decoder = make_decoder(response.headers.get("content-encoding"))
    except DecodeError as e:
        raise FeedError("parse", f"{response.url}: {e}") from e
    body = bytearray()
    received = chunks = 0
    max_chunks = max(max_reply_bytes // _BYTES_PER_PIECE, 1024)
    # Past this size the body needs a turn (whoever holds none has the allowance as its limit).
    limit = claim.turns.allowance if claim is not None else max_bytes

    async def add(pieces: Iterator[bytes]) -> None:
        nonlocal limit
        for piece in pieces:
            size = len(body) + len(piece)
            if size > max_bytes:
                raise FeedError(
                    "too_large", f"{response.url}: body exceeds {max_bytes} bytes decoded"
                )
            if size > limit:
                assert claim is not None
                await claim.grow(size)  # nothing more is read meanwhile: TCP holds the server
                limit = max_bytes
            body.extend(piece)

    try:
        async for chunk in response.aiter_raw():
            received += len(chunk)
            chunks += 1
            if max(received, response.wire_bytes) > max_reply_bytes:
                raise FeedError(
                    "too_large", f"{response.url}: more than {max_reply_bytes} bytes received"
                )
            if chunks > max_chunks:
                raise FeedError(
                    "too_large",
                    f"{response.url}: the body came in more than {max_chunks} pieces"
                    f" ({received // chunks} bytes each on average); refused to bound the cost",
                )
            await add(decoder.decode(chunk))
        await add(decoder.finish())
    except DecodeError as e:
        raise FeedError("parse", f"{response.url}: {e}") from e
    return bytes(body)


@functools.lru_cache(maxsize=4096)
def _parse_url(url: str) -> httpx.URL:
    """A feed's URL, parsed once: a poll asks for the same URLs again and again, and parsing
    one costs about as much as the rest of a 304 exchange. httpx.URL is immutable."""
    return httpx.URL(url)


async def _drain(response: FeedResponse) -> None:
    """Read what is left of a body we do not want (a 304's is empty, a redirect's small).

    A connection goes back to the pool only when the exchange was read to its end; closing a
    response early drops the connection, and the next request pays a new TCP (and TLS)
    handshake. A body past `_DRAIN_LIMIT` is not worth reading: that connection is dropped.
    """
    received = 0
    async for chunk in response.aiter_raw():
        received += len(chunk)
        if max(received, response.wire_bytes) > _DRAIN_LIMIT:  # chunk framing counts too
            return


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def _credentials(url: httpx.URL, feed_url: httpx.URL) -> list[tuple[str, str]]:
    """Basic auth for the request to `url`: its own `user:password@`, else the feed URL's when
    `url` is on the feed URL's origin (or is its https form: a same-host upgrade), as httpx
    sent them; a redirect to another origin never gets the feed's password."""
    source = url
    if not url.userinfo:
        same = _origin(url) == _origin(feed_url) or (
            feed_url.scheme == "http"
            and url.scheme == "https"
            and url.host == feed_url.host
            and feed_url.port in (None, 80)
            and url.port in (None, 443)
        )
        if not (same and feed_url.userinfo):
            return []
        source = feed_url
    pair = f"{source.username}:{source.password}".encode()
    return [("Authorization", "Basic " + base64.b64encode(pair).decode("ascii"))]


async def _fetch(
    client: FeedClient,
    url: str,
    headers: list[tuple[str, str]],
    max_bytes: int,
    max_redirects: int,
    max_reply_bytes: int,
    started: float,
    claim: BodyClaim | None,
) -> FetchResult:
    current = feed_url = _parse_url(url)
    seen = {str(current)}
    permanent = True
    if current.scheme not in ("http", "https"):
        raise FeedError("connect", f"{url}: not an http(s) URL")
    for _hop in range(max_redirects + 1):
        response = await client.get(current, headers + _credentials(current, feed_url))
        try:
            status = response.status
            if status in _REDIRECTS and "location" in response.headers:
                permanent = permanent and status in _PERMANENT
                current = current.join(response.headers["location"])
                if current.scheme not in ("http", "https"):
                    raise FeedError("http_status", f"{url}: redirected to a non-HTTP URL {current}")
                if str(current) in seen:
                    raise FeedError("too_many_redirects", f"{url}: redirect loop at {current}")
                seen.add(str(current))
                await _drain(response)
                continue
            if status != 304 and not 200 <= status < 300:
                raise FeedStatusError(
                    status,
                    f"{current}: HTTP {status} {response.reason}".rstrip(),
                    retry_after=parse_retry_after(
                        response.headers.get("retry-after"), _server_now(response)
                    ),
                    url=str(current),
                )
            if status == 304:
                body = None
                await _drain(response)
            else:
                body = await _read_body(response, max_bytes, max_reply_bytes, claim)
            moved = permanent and len(seen) > 1  # seen holds every hop's URL: >1 means redirected
            # A 304 confirms the validators we sent; a 200 without them has none any more.
            kept = dict(headers) if status == 304 else {}
            answer = response.headers
            return FetchResult(
                status=status,
                body=body,
                url=str(current),
                permanent_url=str(current) if moved else None,
                etag=answer.get("etag") or kept.get("If-None-Match"),
                last_modified=answer.get("last-modified") or kept.get("If-Modified-Since"),
                cache_max_age=parse_max_age(answer.get("cache-control")),
                retry_after=_retry_after(response),
                content_type=answer.get("content-type"),
                elapsed=time.monotonic() - started,
                turn=claim if claim is not None and claim.held else None,
            )
        finally:
            await response.aclose()
    raise FeedError("too_many_redirects", f"{url}: more than {max_redirects} redirects")


async def fetch(
    client: FeedClient,
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    deadline: float = 30.0,
    max_redirects: int = 5,
    max_reply_bytes: int | None = None,
    turns: BodyTurns | None = None,
) -> FetchResult:
    """Fetch `url` once, conditionally, within `deadline` seconds; see the module docstring.

    `max_bytes` caps the decoded body; `max_reply_bytes` caps the bytes received on the wire
    (default: `max_bytes`; a compressed body is smaller than its decoded form unless padded to
    waste our time). `turns`: a body past their allowance waits for one (within the deadline)
    and the result holds it (`FetchResult.turn`); None: no bound but `max_bytes`.
    """
    headers = [("Accept", ACCEPT), ("Accept-Encoding", ACCEPT_ENCODING)]
    if etag:
        headers.append(("If-None-Match", etag))
    if last_modified:
        headers.append(("If-Modified-Since", last_modified))
    started = time.monotonic()
    reply_cap = max_bytes if max_reply_bytes is None else max_reply_bytes
    claim = turns.claim() if turns is not None else None
    try:
        return await _fetch_within(
            client, url, headers, max_bytes, max_redirects, reply_cap, started, deadline, claim
        )
    except FeedError as e:
        # Every message names the URL (or a redirect's), which may carry a password or an API
        # key; the message goes to the log, the store's last_error and `feeds list`.
        e.args = (hide_url_secrets(str(e), url),)
        if claim is not None:
            claim.release()
        raise
    except BaseException:
        if claim is not None:
            claim.release()
        raise


async def _fetch_within(
    client: FeedClient,
    url: str,
    headers: list[tuple[str, str]],
    max_bytes: int,
    max_redirects: int,
    reply_cap: int,
    started: float,
    deadline: float,
    claim: BodyClaim | None,
) -> FetchResult:
    try:
        async with asyncio.timeout(deadline):
            return await _fetch(
                client, url, headers, max_bytes, max_redirects, reply_cap, started, claim
            )
    except TimeoutError as e:
        if claim is not None and claim.gave_up:
            turns = claim.turns
            raise FeedError(
                "memory_busy",
                f"{url}: no complete answer within {deadline:g} s: its body passed"
                f" {turns.allowance // 1024} KiB and waited {claim.waited_s:.1f} s for one of the"
                f" {turns.count} turns to hold a large body (body_memory / max_body), all held"
                " by other feeds' bodies",
            ) from e
        waited = claim.waited_s if claim is not None else 0.0
        spent = f" ({waited:.1f} s of it waiting for a turn to hold a large body)"
        spent = spent if waited >= 0.05 else ""
        raise FeedError("timeout", f"{url}: no complete answer within {deadline:g} s{spent}") from e
    except HTTPFailure as e:
        raise FeedError(e.kind, f"{url}: {e.detail}") from e
    except httpx.InvalidURL as e:  # the URL, or a redirect's Location, as httpx parses URLs
        raise FeedError("connect", f"{url}: not a fetchable URL: {e}") from e

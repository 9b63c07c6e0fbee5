"""Database URLs as logs and errors show them (the password hidden, the user kept), and the one
query parameter that is newsmon's, not libpq's (`pool_mode`). Pure.

Apart from `monitor.store`'s `open_store`, so that the stores (PostgreSQL's error messages) can use
it without importing the package that imports them.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from monitor.errors import ConfigError

# The password runs to the authority's last `@`: one written with an `@` or `/` in it, not
# percent-encoded, is still hidden whole (libpq reads `bob:p@ss@h` as host `ss@h`).
_PASSWORD = re.compile(r"(://[^:/@?#]*:)([^?#]*)@")
# libpq also takes the password as a query parameter: `postgresql://bob@h/db?password=...`.
_QUERY_PASSWORD = re.compile(r"([?&](?:ssl)?password=)([^&#]*)", re.IGNORECASE)
_MIN_PIECE = 4  # a shorter piece of a password is hidden only where it sits in the URL


# A database URL is read as libpq reads it, so these two show it, not `monitor.net.urls`'
# `shown_url` / `hide_url_secrets` (http(s) URLs of feeds and destinations, read as urlsplit
# does): those hide the whole userinfo (a feed's user name may be a token) and stop at its first
# `@`, which would show the tail of `bob:p@ss/w@h`; these keep the user name (the role a failed
# login is about) and hide the password to the authority's last `@`, as libpq parses it.
def shown_database_url(url: str) -> str:
    """A database URL as logs and errors show it: the password (in the userinfo, to the
    authority's last `@`, or `?password=` / `?sslpassword=`) replaced by `***`, the user kept."""
    return _QUERY_PASSWORD.sub(r"\1***", _PASSWORD.sub(r"\1***@", url))


def hide_database_password(text: str, url: str) -> str:
    """A driver's error `text` about the database `url` without the URL's password: libpq
    quotes the whole URI when it cannot parse it (`... in URI: "postgresql://bob:s3cret@[bad/x"`),
    and names a host that holds the tail of a password with an `@` in it (`failed to resolve
    host 'ss@h'`)."""
    passwords = [m.group(2) for m in (_PASSWORD.search(url), *_QUERY_PASSWORD.finditer(url)) if m]
    pieces = {p for pw in passwords for p in (pw, *re.split(r"[@/:]", pw)) if len(p) >= _MIN_PIECE}
    text = text.replace(url, shown_database_url(url))
    for piece in sorted(pieces, key=len, reverse=True):
        text = text.replace(piece, "***")
    return text


POOL_MODES = ("session", "transaction")


def split_pool_mode(url: str) -> tuple[str, bool]:
    """The URL without its `pool_mode=` query parameter (libpq refuses parameters it does not
    know), and whether it says `transaction`: PostgreSQL reached through a pooler that hands
    each transaction to any of its server connections (PgBouncer's `pool_mode = transaction`,
    Supavisor's and pgcat's transaction mode). Such a pooler cannot keep a server-side prepared
    statement for the client that made it, so the store makes none. `session` (a pooler in
    session mode, or none) is the default; any other value is a ConfigError."""
    at = _query_start(url)
    if at < 0:
        return url, False
    head, query = url[:at], url[at + 1 :]
    kept: list[str] = []
    mode = "session"
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        if unquote(name) != "pool_mode":
            kept.append(pair)
            continue
        mode = unquote(value)
        if mode not in POOL_MODES:
            raise ConfigError(
                f"database URL {shown_database_url(url)!r}: pool_mode={mode!r} is not known;"
                " write pool_mode=transaction when PostgreSQL is reached through a pooler in"
                " transaction mode (PgBouncer, Supavisor, pgcat), or leave it out"
            )
    rest = "&".join(kept)
    return (f"{head}?{rest}" if rest else head), mode == "transaction"


def _query_start(url: str) -> int:
    """The index of the `?` that starts `url`'s query, as libpq finds it, or -1: the userinfo
    ends at the first `@` met before any `/` (a `?` in a password is no query), and the query
    starts at the first `?` after it. A value holding a `/` or an `@` (`sslrootcert=/etc/...`)
    is in the query still."""
    scheme = url.find("://")
    if scheme < 0:  # `host=... dbname=...`: keywords, no query to read
        return -1
    start = scheme + 3
    end = start
    while end < len(url) and url[end] not in "@/":
        end += 1
    if end < len(url) and url[end] == "@":
        start = end + 1
    return url.find("?", start)

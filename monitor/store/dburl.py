"""Database URLs as logs and errors show them: the password hidden, the user kept. Pure.

Apart from `monitor.store`'s `open_store`, so that the stores (PostgreSQL's error messages) can use
it without importing the package that imports them.
"""

from __future__ import annotations

import re

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

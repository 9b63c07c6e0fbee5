"""Whether a URL can be fetched or posted to: http(s), a host, nothing a person mistyped. Pure.

The config checks its feeds' and destinations' URLs with it when it is read, and an OPML import
checks each feed's `xmlUrl` the same way before the list is pasted into a config.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

# str.isspace() and the C0 controls and DEL; in a str pattern `\s` is str.isspace() (both
# CPython's Py_UNICODE_ISSPACE), and a search costs a tenth of a loop over the characters (a
# config of 1,000 feeds checks every URL at start).
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")
_HOST = re.compile(r"^[\w.-]+$|^\[[0-9A-Fa-f:.]+\]$")  # a name (IDN letters too) or [IPv6]


def url_problem(url: str) -> str | None:
    """What makes `url` unusable as an http(s) URL to fetch or post to, or None; never quotes
    the URL (a destination's may hold a secret). Checked when the config is read, so a typo is
    not found a day of retries later."""
    if _SPACE_OR_CONTROL.search(url):
        return "the URL contains a space or control character"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "the URL does not parse (a bad port or [IPv6] address?)"
    if parts.scheme.lower() not in ("http", "https"):
        return "the URL must start with http:// or https://"
    host = parts.netloc.rpartition("@")[2]
    if port is not None or host.endswith(":"):
        host = host.rpartition(":")[0]
    if not parts.hostname or not _HOST.match(host):
        return "the URL has no valid host name"
    return None


# A query parameter whose name says it holds a credential (`apikey`, `access_token`, `sig`, ...).
# The patterns below read text a server wrote (a reason phrase, a `Location`, a redirect's URL:
# up to 100 KiB), so each must be linear: `name*(?:key|...)name*` backtracks quadratically over
# a long name (99 KB of `&keykey...` took 18 s of CPU, on the event loop). So the name is found
# by a lookahead (atomic: never tried again) and then read whole, possessively.
_SECRET_WORD = "key|token|secret|pass|pwd|auth|sig|session|sid|cred"  # noqa: S105 (not a password)
_SECRET_PARAM = rf"(?=[\w.\-]*?(?:{_SECRET_WORD}))[\w.\-]*+"
# A scheme's length is bounded for the same reason (`a.a.a.a...` before one `://`): the scheme
# stays as it was in the text, so starting within it changes nothing but the cost.
_USERINFO = re.compile(r"([A-Za-z0-9+.\-]{1,32}://)[^\s/?#@]*@")
# The value ends where the URL does: at `&`, `#`, `;`, a space, or a `: ` that starts a message.
_PARAM = re.compile(rf"([?&;]{_SECRET_PARAM}=)[^&#\s;]*?(?=[&#\s;]|:\s|:$|$)", re.IGNORECASE)
HIDDEN = "***"
_MIN_SECRET = 4  # a shorter password is hidden only where it sits in a URL (by the patterns)


def shown_url(url: str) -> str:
    """`url` as logs, errors and listings show it: no `user:password@`, and no value of a query
    parameter named like a credential (`?apikey=***`). A feed's URL may carry either. (A
    database URL is read by libpq's rules: `monitor.store.shown_database_url`.)"""
    return hide_url_secrets(url)


def hide_url_secrets(text: str, *urls: str) -> str:
    """`text` (an error message, a log value) with every URL's userinfo and credential-named
    query values hidden, and also the credentials of `urls` wherever else they appear (a
    library's message may quote the host's password apart from its URL)."""
    for url in urls:
        for secret in url_credentials(url):
            text = text.replace(secret, HIDDEN)
    if "://" in text:
        text = _USERINFO.sub(rf"\1{HIDDEN}@", text)
    if "=" in text:
        text = _PARAM.sub(rf"\1{HIDDEN}", text)
    return text


def url_credentials(url: str) -> list[str]:
    """The userinfo, password and credential-named query values of `url`, longest first."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found = [parts.netloc.rpartition("@")[0], parts.password or ""]
    found += [m.group(0).partition("=")[2] for m in _PARAM.finditer("?" + parts.query)]
    return sorted({s for s in found if len(s) >= _MIN_SECRET}, key=len, reverse=True)


_SECRET_NAME = re.compile(rf"^{_SECRET_PARAM}$", re.IGNORECASE)


def public_query(query: str) -> str:
    """`query` (no `?`) without its credential-named parameters (`apikey=...&format=rss` ->
    `format=rss`)."""
    kept = [p for p in query.split("&") if not _SECRET_NAME.match(p.partition("=")[0])]
    return "&".join(p for p in kept if p)


def public_url(url: str) -> str:
    """`url` without its userinfo and its credential-named query parameters: a feed's URL as
    it may go into an alert document, and the base its items' relative links are resolved
    against (`urljoin` keeps the base's `user:password@`)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    query = public_query(parts.query)
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))

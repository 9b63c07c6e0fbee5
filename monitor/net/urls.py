"""Whether a URL can be fetched or posted to: http(s), a host, nothing a person mistyped. Pure.

The config checks its feeds' and destinations' URLs with it when it is read, and an OPML import
checks each feed's `xmlUrl` the same way before the list is pasted into a config.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

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

"""Canonical URLs: one spelling per article link, for identity and cross-feed dedup. Pure.

`canonical_url` is for recognising the same article, never for fetching. The rules (each one
table-tested in tests/test_canonical.py, and documented in docs/identity.md):

- only http and https URLs are rewritten; anything else comes back stripped, as given;
- scheme and host lower-case; the host in IDNA (punycode) form; a trailing dot dropped;
- a leading `www.`, `m.` or `mobile.` label is dropped when at least two labels remain
  (`m.example.com`, `www.example.com` and `example.com` are one site);
- the default port (80 for http, 443 for https) dropped; user info kept;
- the fragment dropped, except a `#!` "hashbang" route, which is the page itself;
- tracking parameters removed (`utm_*` and the names in `TRACKING_PARAMS`, case-insensitive),
  and the AMP switches `amp` / `amp=1` / `outputType=amp`; the remaining parameters sorted by
  name, stably (equal names keep their order, since `a=1&a=2` may differ from `a=2&a=1`);
- the path: empty becomes `/`; an AMP suffix segment (`/amp` or `/amp/`) removed; a trailing
  slash removed from every path but `/` (`/news/story/` and `/news/story` are one article);
  percent-escapes upper-cased; characters outside URI syntax percent-encoded (UTF-8).

It never raises: input that does not parse as a URL comes back stripped.
"""

from __future__ import annotations

import re
from operator import itemgetter
from urllib.parse import quote, urlsplit, urlunsplit

TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid",
        "twclid", "ttclid", "igshid", "li_fat_id", "mc_cid", "mc_eid", "_hsenc", "_hsmi",
        "__hstc", "__hssc", "__hsfp", "hsctatracking", "mkt_tok", "ref_src", "ref_url",
        "_ga", "_gl", "oly_anon_id", "oly_enc_id", "rb_clickid", "s_cid", "vero_id",
        "vero_conv", "wt.mc_id", "at_medium", "at_campaign", "ocid", "cmp", "smid",
        "smtyp", "ncid", "sr_share", "spm", "soc_src", "soc_trk", "cmpid", "icid",
    }
)  # fmt: skip
_AMP_PARAMS = {"amp": ("", "1", "true"), "outputtype": ("amp",)}
_DEFAULT_PORT = {"http": 80, "https": 443}
_HOST_PREFIXES = ("www.", "m.", "mobile.")
_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


# A URL that is already canonical: lower-case http(s) host without www./m./mobile., no port,
# user, query or fragment, a path of URI characters without escapes that does not end in "/"
# (unless it is "/") or "/amp". Most article links are; they skip the parse (a hypothesis test
# in tests/test_canonical.py holds this to `_canonical`).
_ALREADY_CANONICAL = re.compile(
    r"https?://(?!www\.|m\.|mobile\.)[a-z0-9-]+(?:\.[a-z0-9-]+)+"
    r"(?:/|/[A-Za-z0-9._~!$&'()*+,;=:@/-]*[A-Za-z0-9._~!$&'()*+,;=:@-])"
)
# Nearly so: the same, but perhaps with a www./m./mobile. label, a trailing slash, or a query of
# printable ASCII (no fragment). Publishers' links mostly look like this (`www.`, `?CMP=...`):
# only the host prefix, path and query rules are applied, without `urlsplit` (about 3x cheaper;
# the same hypothesis test holds it to `_canonical`).
_SIMPLE = re.compile(
    r"(https?)://(www\.|m\.|mobile\.)?((?!www\.|m\.|mobile\.)[a-z0-9-]+(?:\.[a-z0-9-]+)+)"
    r"(/[A-Za-z0-9._~!$&'()*+,;=:@/-]*)(?:\?([!\x24-\x7e\x22]*))?"
)


def canonical_url(url: str) -> str:
    """The canonical form of `url` (see the module docstring). Never raises."""
    if _ALREADY_CANONICAL.fullmatch(url) and not url.endswith("/amp"):
        return url
    simple = _SIMPLE.fullmatch(url)
    if simple is not None:
        scheme, prefix, host, path, query = simple.groups()
        if prefix and host.replace(".", "").isdigit():
            host = prefix + host  # `www.1.2` keeps its label, as `_host` does
        query = _known_query(query) if query else ""
        return f"{scheme}://{host}{_path(path)}{'?' if query else ''}{query}"
    return _canonical_url(url)


def _canonical_url(url: str) -> str:
    """`canonical_url` without the shortcut."""
    stripped = url.strip()
    try:
        return _canonical(stripped)
    except (ValueError, UnicodeError):
        return stripped


def _canonical(url: str) -> str:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORT or not parts.hostname:
        return url
    host = _host(parts.hostname)
    port = parts.port  # raises ValueError on a junk port
    netloc = host if ":" not in host else f"[{host}]"
    if port is not None and port != _DEFAULT_PORT[scheme]:
        netloc = f"{netloc}:{port}"
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at:
        netloc = f"{userinfo}@{netloc}"
    path = _path(parts.path)
    query = _query(parts.query)
    fragment = parts.fragment if parts.fragment.startswith("!") else ""
    return urlunsplit((scheme, netloc, path, query, fragment))


def _host(hostname: str) -> str:
    host = hostname.rstrip(".").lower()
    if not host.isascii():
        host = host.encode("idna").decode("ascii")
    for prefix in _HOST_PREFIXES:
        rest = host[len(prefix) :]
        if host.startswith(prefix) and "." in rest and not rest.replace(".", "").isdigit():
            return rest
    return host


def _path(path: str) -> str:
    path = _escape(path, _PATH_SAFE)
    if path.endswith(("/amp", "/amp/")):
        path = path[: path.rindex("/amp")]
    return path.rstrip("/") or "/"


# Queries made canonical, by their text: a feed's links mostly share one tracking query
# (`?at_medium=RSS&at_campaign=...`), within a document and from poll to poll. Bounded in
# entries and in the length of what is kept, like fastfeed's date memo.
_QUERIES: dict[str, str] = {}
_QUERIES_MAX = 1024
_QUERY_KEY_MAX = 160


def _known_query(query: str) -> str:
    """`_query`, read once per text."""
    out = _QUERIES.get(query)
    if out is None:
        out = _query(query)
        if len(query) <= _QUERY_KEY_MAX:
            if len(_QUERIES) >= _QUERIES_MAX:
                _QUERIES.clear()
            _QUERIES[query] = out
    return out


def _query(query: str) -> str:
    if not query:
        return ""
    kept: list[tuple[str, str]] = []
    for pair in query.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        lname = name.lower()
        if lname.startswith("utm_") or lname in TRACKING_PARAMS:
            continue
        if lname in _AMP_PARAMS and value.lower() in _AMP_PARAMS[lname]:
            continue
        kept.append((name, _escape(pair, _QUERY_SAFE)))
    if len(kept) < 2:  # most queries keep none or one parameter: nothing to sort
        return kept[0][1] if kept else ""
    kept.sort(key=itemgetter(0))
    return "&".join([pair for _, pair in kept])


def _escape(text: str, safe: str) -> str:
    if not text.isascii() or " " in text:
        text = quote(text, safe=safe)
    if "%" not in text:
        return text  # no escape to upper-case (most paths and parameters)
    return _ESCAPE.sub(lambda m: m.group(0).upper(), text)

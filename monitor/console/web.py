"""HTTP pieces of the console: the request as the console sees it, its answers, the security
headers every answer carries, cookies, forms and the client's address. Pure.

The headers: a Content-Security-Policy that allows nothing but this origin's stylesheet and
images (no script at all, not even from here: the console needs none), framing refused, MIME
sniffing off, no Referer sent (a URL of the console could carry a query), and every violation
reported to `/ui/csp-report`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import parse_qs

from monitor.errors import NewsmonError

__all__ = [
    "CSP",
    "SECURITY_HEADERS",
    "BadRequest",
    "Reply",
    "Request",
    "client_of",
    "cookie_header",
    "cookies",
    "is_https",
]

BASE: Final = "/ui"
CSP_REPORT_PATH: Final = f"{BASE}/csp-report"
CSP: Final = (
    "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "
    f"report-uri {CSP_REPORT_PATH}"
)
SECURITY_HEADERS: Final = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}
HTML: Final = "text/html; charset=utf-8"
SESSION_COOKIE: Final = "newsmon_session"
LOGIN_COOKIE: Final = "newsmon_login"
MAX_FORM_FIELDS: Final = 50


@dataclass(frozen=True)
class Request:
    """One request to `/ui/...`: headers lower-cased, the body already read (bounded)."""

    method: str
    path: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    client: str = ""  # the peer address
    scheme: str = "http"

    def cookie(self, name: str) -> str | None:
        """The value of cookie `name`: the first one sent under that name (see `cookies`)."""
        return cookies(self.headers.get("cookie", "")).get(name)

    def params(self) -> dict[str, str]:
        """The query string's fields (the first of each name)."""
        return _fields(self.query)

    def form(self) -> dict[str, str]:
        """A urlencoded body's fields (the first of each name); {} for any other body."""
        ctype = self.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            return {}
        return _fields(self.body.decode("utf-8", "replace"))


def cookies(header: str) -> dict[str, str]:
    """The cookies of a `Cookie` header, the first of each name, read as browsers write them.

    Not `http.cookies.SimpleCookie`: it dropped every cookie of the header when one of them
    was not to its taste (`prefs=dark mode`, a JSON value), and cookies ignore ports, so any
    other app on the same host could make the console forget its own and refuse every login;
    it took quadratic time on backslashes (8 KB of them: 0.3 s on the event loop); and the last
    of two same-named cookies won, where the browser sends the one of the longest path (ours,
    `/ui`) first. Here each `name=value` pair stands alone and the first of a name wins."""
    found: dict[str, str] = {}
    for pair in header.split(";"):
        name, eq, value = pair.partition("=")
        name, value = name.strip(), value.strip()
        if eq and name:
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            found.setdefault(name, value)
    return found


class BadRequest(NewsmonError, ValueError):
    """A request the console cannot read: answered 400 with this message."""


def _fields(text: str) -> dict[str, str]:
    try:
        parsed = parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError:  # parse_qs's only refusal here: too many fields
        raise BadRequest(f"more than {MAX_FORM_FIELDS} fields in the query or form") from None
    return {k: v[0] for k, v in parsed.items() if v}


@dataclass
class Reply:
    """An answer: status, content type, body and extra headers (`set-cookie` at most once)."""

    status: int
    body: bytes = b""
    ctype: str = HTML
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def redirect(cls, location: str, status: int = 303, **headers: str) -> Reply:
        return cls(status, b"", "text/plain; charset=utf-8", {"location": location, **headers})

    @classmethod
    def text(cls, status: int, text: str, **headers: str) -> Reply:
        return cls(status, (text + "\n").encode(), "text/plain; charset=utf-8", dict(headers))

    def secured(self) -> Reply:
        """This answer with the security headers added."""
        self.headers = {**SECURITY_HEADERS, **self.headers}
        return self


def _in(address: str, networks: Iterable[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(n, strict=False) for n in networks)


def client_of(request: Request, trusted: Iterable[str]) -> str:
    """The client's address: the peer's, or, when the peer is a trusted proxy, the last
    `X-Forwarded-For` hop that is not one (a client can write that header; only a proxy's word
    counts)."""
    trusted = tuple(trusted)
    if not trusted or not _in(request.client, trusted):
        return request.client
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _in(hop, trusted):
            return hop[:64]
    return request.client


def is_https(request: Request, trusted: Iterable[str]) -> bool:
    """Whether the browser's connection is https: ours, or a trusted proxy's word for it."""
    if request.scheme == "https":
        return True
    if _in(request.client, trusted):
        proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        return proto == "https"
    return False


def cookie_header(name: str, value: str, *, max_age: int, secure: bool, path: str = BASE) -> str:
    """A Set-Cookie value: HttpOnly, SameSite=Strict, scoped to the console's path."""
    parts = [f"{name}={value}", f"Path={path}", f"Max-Age={max_age}", "HttpOnly", "SameSite=Strict"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)

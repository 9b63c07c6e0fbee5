"""Who is asking: passwords, bearer tokens, signed sessions and the login rate limit. Pure (the
clock is passed in; randomness from `secrets`).

- Passwords are kept only as scrypt hashes with a random salt, made when the console starts;
  a login hashes the attempt and compares in constant time against every password (so the time
  taken does not say which role nearly matched).
- Bearer tokens are long random strings checked on every request of a script: they are kept as
  HMAC-SHA256 digests under a random per-process key (a slow hash per request would make every
  scripted call cost 50 ms of CPU; a token's entropy is what protects it, not the hash's cost).
- A session is a cookie `base64(json).signature`, signed with HMAC-SHA256 under a random key
  made at start: a forged or edited cookie fails the check, and a restart ends every session.
  It carries its role, its expiry and a random id; logout revokes the id until it expires.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import secrets
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.config.ui import Credential, Role

__all__ = ["Authority", "LoginLimiter", "Session"]

# scrypt at n=2**14, r=8 (about 16 MiB and 30-60 ms per hash): the cost OWASP lists as a minimum.
_SCRYPT: dict[str, int] = {"n": 1 << 14, "r": 8, "p": 1, "dklen": 32, "maxmem": 64 * 1024 * 1024}
_REVOKED_MAX = 10_000


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in browser (or a bearer token's request: `sid` empty, no cookie)."""

    role: Role
    sid: str
    expires: float  # epoch seconds

    @property
    def admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True, slots=True)
class _Hashed:
    role: Role
    salt: bytes
    digest: bytes


class Authority:
    """Checks passwords, tokens and session cookies against what was configured."""

    def __init__(self, credentials: Iterable[Credential], session_ttl: timedelta) -> None:
        self._key = secrets.token_bytes(32)
        self._ttl = session_ttl.total_seconds()
        self._passwords: list[_Hashed] = []
        self._tokens: list[tuple[Role, bytes]] = []
        for c in credentials:
            if c.kind == "password":
                salt = secrets.token_bytes(16)
                self._passwords.append(_Hashed(c.role, salt, _scrypt(c.value, salt)))
            else:
                self._tokens.append((c.role, self._mac(b"token", c.value.encode("utf-8"))))
        self._revoked: dict[str, float] = {}

    @property
    def has_passwords(self) -> bool:
        return bool(self._passwords)

    @property
    def password_roles(self) -> frozenset[Role]:
        """The roles a password can log in as."""
        return frozenset(h.role for h in self._passwords)

    def _mac(self, purpose: bytes, data: bytes) -> bytes:
        return hmac.new(self._key, purpose + b"\0" + data, hashlib.sha256).digest()

    # -- passwords and tokens -----------------------------------------------------------------
    def check_password(self, attempt: str) -> Role | None:
        """The role whose password this is, or None. Every password is compared, always."""
        found: Role | None = None
        for h in self._passwords:
            if hmac.compare_digest(_scrypt(attempt, h.salt), h.digest):
                found = h.role
        return found

    def check_bearer(self, header: str | None) -> Session | None:
        """A session for an `Authorization: Bearer TOKEN` header that carries a known token."""
        if not header or not self._tokens:
            return None
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        digest = self._mac(b"token", given.strip().encode("utf-8", "surrogatepass"))
        found: Role | None = None
        for role, known in self._tokens:
            if hmac.compare_digest(digest, known):
                found = role
        return None if found is None else Session(found, "", 0.0)

    # -- sessions ------------------------------------------------------------------------------
    def issue(self, role: Role, now: datetime) -> tuple[Session, str]:
        """A new session and its cookie value."""
        session = Session(role, _b64(secrets.token_bytes(18)), now.timestamp() + self._ttl)
        body = _b64(json.dumps([session.role, session.sid, session.expires]).encode())
        return session, f"{body}.{_b64(self._mac(b'session', body.encode()))}"

    def session(self, cookie: str | None, now: datetime) -> Session | None:
        """The session a cookie value carries, if its signature holds and it has not expired or
        been revoked."""
        if not cookie or len(cookie) > 512:
            return None
        body, _, signature = cookie.partition(".")
        try:
            expected = _b64(self._mac(b"session", body.encode("ascii")))
            if not hmac.compare_digest(signature.encode("ascii"), expected.encode("ascii")):
                return None
            role, sid, expires = json.loads(_unb64(body))
        except (ValueError, TypeError, UnicodeError):
            return None
        if role not in ("read", "admin") or not isinstance(sid, str):
            return None
        if not isinstance(expires, int | float) or expires <= now.timestamp():
            return None
        if sid in self._revoked:
            return None
        return Session(role, sid, float(expires))

    def revoke(self, session: Session, now: datetime) -> None:
        """End a session before its expiry (logout). Expired revocations are forgotten."""
        if not session.sid:
            return
        stamp = now.timestamp()
        if len(self._revoked) >= _REVOKED_MAX:
            self._revoked = {k: v for k, v in self._revoked.items() if v > stamp}
        self._revoked[session.sid] = session.expires

    # -- CSRF ----------------------------------------------------------------------------------
    def csrf_token(self, binding: str) -> str:
        """The CSRF token of a session id (or of a login form's nonce)."""
        return _b64(self._mac(b"csrf", binding.encode("utf-8")))

    def csrf_ok(self, binding: str, given: str | None) -> bool:
        if not binding or not given:
            return False
        expected = self.csrf_token(binding).encode("ascii")
        return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected)


def _scrypt(text: str, salt: bytes) -> bytes:
    return hashlib.scrypt(text.encode("utf-8", "surrogatepass"), salt=salt, **_SCRYPT)


class LoginLimiter:
    """Failed logins per client address within a sliding window, and overall (ten times as
    many: a spread-out guessing run is stopped too). Times are epoch seconds from the caller's
    clock."""

    def __init__(self, attempts: int, window: timedelta, max_clients: int = 10_000) -> None:
        self.attempts = attempts
        self.window = window.total_seconds()
        self._failures: dict[str, deque[float]] = {}
        self._all: deque[float] = deque()
        self._max_clients = max_clients

    def _trim(self, times: deque[float], now: float) -> None:
        while times and times[0] <= now - self.window:
            times.popleft()

    def retry_after(self, client: str, now: datetime) -> float:
        """Seconds until `client` may try again; 0 when it may try now."""
        stamp = now.timestamp()
        self._trim(self._all, stamp)
        waits = []
        if len(self._all) >= self.attempts * 10:
            waits.append(self._all[0] + self.window - stamp)
        times = self._failures.get(client)
        if times is not None:
            self._trim(times, stamp)
            if len(times) >= self.attempts:
                waits.append(times[0] + self.window - stamp)
        return max(waits, default=0.0)

    def failed(self, client: str, now: datetime) -> None:
        stamp = now.timestamp()
        if client not in self._failures and len(self._failures) >= self._max_clients:
            # Forget clients whose failures have all aged out; bounded memory under a spray.
            old = stamp - self.window
            for key in [k for k, v in self._failures.items() if not v or v[-1] <= old]:
                del self._failures[key]
        self._failures.setdefault(client, deque()).append(stamp)
        self._all.append(stamp)

    def succeeded(self, client: str, now: datetime | None = None, *, forgive: bool = True) -> None:
        """`client` logged in: its failures are forgotten (unless not `forgive`), and the
        attempt counted as failed at `now` (before its password was checked) no longer counts
        against it or everyone."""
        times = self._failures.get(client)
        if forgive:
            self._failures.pop(client, None)
        elif times is not None and now is not None:
            with contextlib.suppress(ValueError):
                times.remove(now.timestamp())
        if now is not None:
            with contextlib.suppress(ValueError):  # already aged out of the window
                self._all.remove(now.timestamp())

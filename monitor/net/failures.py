"""What an outbound connection failure was, in words, from the cause chain of an error.

Shared by feeds (a feed's error says why it could not be fetched) and delivery (a delivery's
error must never show the URL, so it takes only the fixed texts of `socket_error`). Pure.
"""

from __future__ import annotations

import errno
import re
import socket
import ssl

_CODE = re.compile(r"^[A-Z0-9_]{1,64}$")  # OpenSSL's reason codes: fixed words, no host
_SOCKET_ERRORS = {
    errno.ECONNREFUSED: "connection refused (nothing listens on that port?)",
    errno.ECONNRESET: "connection reset by the server",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.ETIMEDOUT: "connecting timed out",
}


def socket_error(error: BaseException) -> str | None:
    """The well-known socket error under httpx's and anyio's wrappers, in words ("connection
    refused"), or None. Only fixed texts: safe where a URL must not be shown (deliveries)."""
    seen: BaseException | None = error
    for _ in range(10):
        if seen is None:
            return None
        if isinstance(seen, OSError) and seen.errno in _SOCKET_ERRORS:
            return _SOCKET_ERRORS[seen.errno]
        seen = seen.__cause__ or seen.__context__
    return None


def delivery_failure(error: BaseException) -> str | None:
    """`socket_error`, or a fixed text for a host name that does not resolve and for a TLS
    handshake that failed (with OpenSSL's reason code, a fixed word such as
    `WRONG_VERSION_NUMBER`): both read as a bare "ConnectError" before, the same as each other.
    Never the URL or the host name (a hook's host may be its secret)."""
    known = socket_error(error)
    seen: BaseException | None = error
    for _ in range(10):
        if known is not None or seen is None:
            return known
        if isinstance(seen, socket.gaierror):
            known = "the host name does not resolve (DNS)"
        elif isinstance(seen, ssl.SSLError):
            code = seen.reason if isinstance(seen.reason, str) else None
            detail = f" ({code})" if code and _CODE.match(code) else ""
            hint = ": is it https on a plain-HTTP port?" if code == "WRONG_VERSION_NUMBER" else ""
            known = f"TLS handshake failed{detail}{hint}"
        seen = seen.__cause__ or seen.__context__
    return known


def connect_reason(error: BaseException) -> str:
    """What went wrong connecting, in words ("All connection attempts failed", httpx's text for a
    refused connection, says nothing of what happened)."""
    known = socket_error(error)
    if known is not None:
        return known
    seen: BaseException | None = error
    for _ in range(10):
        if seen is None:
            break
        if isinstance(seen, OSError) and seen.errno is not None and seen.strerror:
            return seen.strerror.lower()
        seen = seen.__cause__ or seen.__context__
    return str(error) or type(error).__name__

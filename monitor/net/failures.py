"""What an outbound connection failure was, in words, from the cause chain of an error.

Shared by feeds (a feed's error says why it could not be fetched) and delivery (a delivery's
error must never show the URL, so it takes only the fixed texts of `socket_error`). Pure.
"""

from __future__ import annotations

import errno

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

"""What both guarded HTTP clients share to open a connection: resolve a host, check every address
with the guard, and the process's TLS context. Does I/O (DNS lookups).

The feed client (`monitor.net.feedclient`, h11) and the httpx client of deliveries
(`monitor.net.client`, whose connection pool needs httpcore) both connect through
`checked_addresses`; keeping it here lets a feed poll connect without importing httpcore, which a
run that delivers nothing (every feed answered 304, nothing matched) never needs.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable

import httpx

from monitor import __version__
from monitor.net.guard import AddressGuard, addresses_of

USER_AGENT = f"newsmon/{__version__} (+https://github.com/newsmon/newsmon)"

Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses `getaddrinfo` gives for `host` (in its order, which connects prefer)."""
    loop = asyncio.get_running_loop()
    return addresses_of(await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM))


async def checked_addresses(
    guard: AddressGuard, resolver: Resolver, host: str, port: int, timeout: float | None
) -> list[str]:
    """The addresses to connect to for `host`, every one checked by `guard` (it raises
    BlockedAddressError if any is refused): a literal as it is (bracketed or not), else what
    `resolver` answers within `timeout`. Raises TimeoutError, or the resolver's OSError or
    UnicodeError, for the caller to word in its own errors. Both clients connect through it."""
    literal = host.strip("[]")
    try:
        ipaddress.ip_address(literal)
    except ValueError:
        pass
    else:
        return guard.check_addresses(literal, [literal])
    async with asyncio.timeout(timeout):
        found = await resolver(host, port)
    return guard.check_addresses(host, found)


@functools.cache
def default_context(verify: bool) -> ssl.SSLContext:
    """The process's shared context for `verify=True` (or False); SSLContext is shareable."""
    return httpx.create_ssl_context(verify=verify, trust_env=False)

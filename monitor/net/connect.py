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
from concurrent.futures import ThreadPoolExecutor

import httpx

from monitor import __version__
from monitor.net.guard import AddressGuard, addresses_of

USER_AGENT = f"newsmon/{__version__} (+https://github.com/newsmon/newsmon)"

Resolver = Callable[[str, int], Awaitable[list[str]]]


# Lookups block a thread for as long as the resolver takes, which a feed's domain decides (a
# name server that never answers: 10-20 s of the C library's retries), and a lookup given up at
# the connect timeout goes on in its thread. On the event loop's default executor (6 threads on
# 2 CPUs) a dozen such feeds held every thread the store's calls run on: a healthy feed due every
# 2 s was polled every 21 s. Their own threads: created as needed, so an idle daemon has none.
_DNS_THREADS = 32
_dns: ThreadPoolExecutor | None = None


def _dns_executor() -> ThreadPoolExecutor:
    global _dns
    if _dns is None:
        _dns = ThreadPoolExecutor(_DNS_THREADS, thread_name_prefix="newsmon-dns")
    return _dns


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses `getaddrinfo` gives for `host` (in its order, which connects prefer), looked
    up on threads of their own, never the event loop's default executor."""
    lookup = functools.partial(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    infos = await asyncio.get_running_loop().run_in_executor(_dns_executor(), lookup)
    return addresses_of(infos)


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

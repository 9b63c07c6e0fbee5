"""The guarded httpx client (deliveries, webhooks): every TCP connection goes through the address
guard. Does I/O. Feed polls use the leaner `monitor.net.feedclient`, guarded the same way.

The guard runs at CONNECT time, inside an httpcore network backend: `GuardedBackend.connect_tcp`
resolves the host itself, refuses it if any address is refused, and connects the inner backend
to a checked IP literal, so there is no second DNS lookup an attacker could answer differently.
TLS is unaffected: httpcore calls `start_tls(server_hostname=<origin host>)` on the stream it got
back (httpcore/_async/connection.py, `_connect`), so SNI and certificate checks use the name in
the URL, not the IP. Because the check sits below the client, every redirect hop and every
pooled connection to a new origin is checked too.

`make_client` builds an `httpx.AsyncClient` that never follows redirects itself (deliveries do
not follow them) and ignores proxy settings from the environment (a proxy would connect for us,
out of the guard's sight).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable

import httpcore
import httpx

from monitor.errors import BlockedAddressError
from monitor.net.connect import (
    USER_AGENT,
    Resolver,
    checked_addresses,
    default_context,
    system_resolver,
)
from monitor.net.guard import AddressGuard

SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that resolves, checks, then connects to a checked address.

    `resolver` is injectable so tests can play a DNS server that answers a private address.
    """

    def __init__(
        self,
        guard: AddressGuard,
        inner: httpcore.AsyncNetworkBackend | None = None,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.guard = guard
        self._inner = inner if inner is not None else httpcore.AnyIOBackend()
        self._resolver = resolver

    async def _addresses(self, host: str, port: int, timeout: float | None) -> list[str]:
        try:
            return await checked_addresses(self.guard, self._resolver, host, port, timeout)
        except TimeoutError as e:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from e
        except (OSError, UnicodeError) as e:
            raise httpcore.ConnectError(f"cannot resolve {host}: {e}") from e

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._addresses(host, port, timeout)
        error: Exception | None = None
        for address in addresses:  # every address passed the guard; try them in DNS order
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                error = e
        assert error is not None  # check_addresses never returns an empty list
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddressError(f"refused to connect to the unix socket {path}")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def make_transport(
    guard: AddressGuard,
    *,
    verify: ssl.SSLContext | bool = True,
    max_connections: int = 100,
    inner_backend: httpcore.AsyncNetworkBackend | None = None,
    resolver: Resolver = system_resolver,
) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose connection pool connects only through `GuardedBackend`."""
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=20)
    # One SSL context for both pools, and for every client of the process (feeds, webhooks):
    # building one loads the CA bundle (about 20 ms of CPU each time).
    context = verify if isinstance(verify, ssl.SSLContext) else default_context(verify)
    transport = httpx.AsyncHTTPTransport(verify=context, trust_env=False, limits=limits)
    # httpx 0.28 has no public way to pass a network backend, so the pool it built is replaced
    # by an identical one that has ours (private attribute `_pool`; pinned by
    # tests/test_guard_http.py::test_transport_pool_uses_guarded_backend).
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedBackend(guard, inner_backend, resolver),
    )
    return transport


def make_client(
    guard: AddressGuard,
    *,
    connect_timeout: float = 10.0,
    read_timeout: float = 30.0,
    user_agent: str = USER_AGENT,
    verify: ssl.SSLContext | bool = True,
    max_connections: int = 100,
    inner_backend: httpcore.AsyncNetworkBackend | None = None,
    resolver: Resolver = system_resolver,
) -> httpx.AsyncClient:
    """A client for webhooks and deliveries: guarded, no automatic redirects, no proxies from env.

    `read_timeout` is per read; a whole fetch is bounded by `fetch(..., deadline=)`.
    """
    return httpx.AsyncClient(
        transport=make_transport(
            guard,
            verify=verify,
            max_connections=max_connections,
            inner_backend=inner_backend,
            resolver=resolver,
        ),
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
        headers={"User-Agent": user_agent},
    )

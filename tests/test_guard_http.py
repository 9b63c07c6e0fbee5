"""The guard at connect time, against real servers on 127.0.0.1: a refused URL reaches nothing.

Feeds are fetched through `FeedClient` (monitor.net.feedclient), deliveries through the httpx
client of `make_client`: the address tests run against both (`via`)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.errors import BlockedAddressError, FeedError
from monitor.feeds.fetch import fetch
from monitor.net.client import GuardedBackend, make_client, make_transport
from monitor.net.connect import Resolver, system_resolver
from monitor.net.feedclient import FeedClient, make_feed_client
from monitor.net.guard import AddressGuard
from tests.test_fetch_support import LocalServer, redirect, respond, run

DATA = Path(__file__).parent / "data" / "fetch"
LOCAL = AddressGuard(["127.0.0.1/32"])


@pytest.fixture
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    srv.routes["/feed"] = respond(200, b"<rss/>", {"Content-Type": "application/rss+xml"})
    yield srv
    srv.close()


def fake_dns(table: dict[str, list[str]]) -> Resolver:
    async def resolve(host: str, port: int) -> list[str]:
        return table[host]

    return resolve


VIA = ["feed", "httpx"]


async def get(
    url: str, guard: AddressGuard, resolver: Resolver | None = None, via: str = "feed"
) -> int:
    """The status of GET `url` through the feed client (`fetch`) or the httpx client."""
    dns = resolver or system_resolver
    if via == "httpx":
        async with make_client(guard, resolver=dns) as http:
            return (await http.get(url)).status_code
    async with make_feed_client(guard, resolver=dns) as client:
        return (await fetch(client, url, deadline=5)).status


@pytest.mark.parametrize("via", VIA)
def test_allow_listed_loopback_is_fetched(server: LocalServer, via: str) -> None:
    assert run(get(server.url("/feed"), LOCAL, via=via)) == 200
    assert server.requests[0][1]["user-agent"].startswith("newsmon/")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1", "2130706433", "0x7f.1", "localhost"])
@pytest.mark.parametrize("via", VIA)
def test_loopback_spellings_are_refused_before_connecting(
    server: LocalServer, host: str, via: str
) -> None:
    with pytest.raises(BlockedAddressError, match="loopback") as info:
        run(get(server.url("/feed", host=host), AddressGuard(), via=via))
    assert info.value.kind == "blocked_address"
    assert server.connections == 0
    assert server.requests == []


def test_octal_spelling_is_refused_by_the_url_parser(server: LocalServer) -> None:
    # httpx itself rejects 0177.0.0.1 as an invalid IPv4 address; either way nothing is reached.
    with pytest.raises(FeedError, match="Invalid IPv4"):
        run(get(server.url("/feed", host="0177.0.0.1"), AddressGuard()))
    assert server.connections == 0


@pytest.mark.parametrize("host", ["[::ffff:127.0.0.1]", "[::1]", "[::ffff:7f00:1]"])
@pytest.mark.parametrize("via", VIA)
def test_ipv6_forms_of_loopback_are_refused(server: LocalServer, host: str, via: str) -> None:
    # Refused even with 127.0.0.1/32 allowed for the other tests: ::1 is another address.
    guard = AddressGuard() if "ffff" in host else LOCAL
    with pytest.raises(BlockedAddressError):
        run(get(server.url("/feed", host=host), guard, via=via))
    assert server.connections == 0


@pytest.mark.parametrize("via", VIA)
def test_one_private_address_among_allowed_ones_refuses_the_host(
    server: LocalServer, via: str
) -> None:
    dns = fake_dns({"rebind.example": ["127.0.0.1", "10.0.0.7"]})
    with pytest.raises(BlockedAddressError, match=r"10\.0\.0\.7"):
        run(get(server.url("/feed", host="rebind.example"), LOCAL, dns, via=via))
    assert server.connections == 0


@pytest.mark.parametrize("via", VIA)
def test_connects_to_the_checked_address_and_keeps_the_host_name(
    server: LocalServer, via: str
) -> None:
    dns = fake_dns({"feeds.example": ["127.0.0.1"]})
    assert run(get(server.url("/feed", host="feeds.example"), LOCAL, dns, via=via)) == 200
    assert server.requests[0][1]["host"] == f"feeds.example:{server.port}"


def test_redirect_to_a_refused_address_is_refused_at_the_hop(server: LocalServer) -> None:
    # The first hop is allowed by host name; the redirect points at the raw loopback address.
    guard = AddressGuard(["allowed.example"])
    dns = fake_dns({"allowed.example": ["127.0.0.1"]})
    server.routes["/start"] = redirect(302, server.url("/secret"))
    server.routes["/secret"] = respond(200, b"secret")
    with pytest.raises(BlockedAddressError, match="loopback"):
        run(get(server.url("/start", host="allowed.example"), guard, dns))
    assert [path for path, _ in server.requests] == ["/start"]


def test_transport_pool_uses_guarded_backend() -> None:
    # Pins the private-attribute wiring in make_transport (httpx 0.28 `_pool`, httpcore
    # `_network_backend`): if either moves, this fails before the guard silently stops working.
    transport = make_transport(AddressGuard())
    assert isinstance(transport._pool._network_backend, GuardedBackend)


@pytest.mark.parametrize("via", VIA)
def test_proxy_settings_from_environment_are_ignored(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch, via: str
) -> None:
    # A proxy would connect on our behalf, out of the guard's sight; port 9 has nothing on it.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    assert run(get(server.url("/feed"), LOCAL, via=via)) == 200


def test_unix_sockets_are_refused() -> None:
    async def go() -> None:
        await GuardedBackend(AddressGuard()).connect_unix_socket("/run/docker.sock")

    with pytest.raises(BlockedAddressError):
        run(go())


@pytest.fixture
def tls_server() -> Iterator[tuple[LocalServer, list[str | None]]]:
    names: list[str | None] = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(DATA / "localhost-cert.pem", DATA / "localhost-key.pem")
    context.sni_callback = lambda _sock, name, _ctx: names.append(name)
    srv = LocalServer(tls=context)
    srv.routes["/feed"] = respond(200, b"<rss/>")
    yield srv, names
    srv.close()


def _trusting_client(guard: AddressGuard) -> FeedClient:
    verify = ssl.create_default_context(cafile=str(DATA / "localhost-cert.pem"))
    return make_feed_client(guard, verify=verify)


def test_tls_uses_the_url_host_name_for_sni_and_verification(
    tls_server: tuple[LocalServer, list[str | None]],
) -> None:
    # The certificate names only DNS:localhost. We connect to a checked IP, yet SNI says
    # `localhost` and verification passes, so start_tls got the host name, not the address.
    srv, names = tls_server

    async def go() -> int:
        async with _trusting_client(AddressGuard(["localhost"])) as client:
            return (await fetch(client, srv.url("/feed", host="localhost"), deadline=5)).status

    assert run(go()) == 200
    assert names == ["localhost"]


def test_tls_certificate_for_another_name_is_a_tls_error(
    tls_server: tuple[LocalServer, list[str | None]],
) -> None:
    srv, _ = tls_server

    async def go() -> None:
        async with _trusting_client(LOCAL) as client:
            await fetch(client, srv.url("/feed"), deadline=5)

    with pytest.raises(FeedError) as info:
        run(go())
    assert info.value.kind == "tls"


def test_client_stays_usable_after_a_refusal(server: LocalServer) -> None:
    async def go() -> int:
        async with make_feed_client(LOCAL) as client:
            with pytest.raises(BlockedAddressError):
                await fetch(client, server.url("/feed", host="[::1]"), deadline=5)
            return (await fetch(client, server.url("/feed"), deadline=5)).status

    assert run(go()) == 200
    assert server.connections == 1

"""Which Host headers the listener answers (monitor.net.hosts), as pure rules: DNS rebinding
makes a browser send the attacker's host name; localhost, IP addresses and listed names pass."""

from __future__ import annotations

import pytest

from monitor.net.hosts import HostCheck, host_check, host_of, parse_allowed_host

EVIL = "rebind.example"


@pytest.mark.parametrize(
    ("header", "host"),
    [
        ("localhost:9464", "localhost"),
        ("LocalHost.", "localhost"),
        ("127.0.0.1", "127.0.0.1"),
        ("[::1]:9464", "::1"),
        ("[::1]", "::1"),
        ("newsmon.example.org:443", "newsmon.example.org"),
        ("host:", "host"),
        ("::1", None),  # an IPv6 address must be in brackets
        ("[::1]x", None),
        ("[nonsense]:1", None),
        ("a:b", None),
        ("a:1:2", None),
    ],
)
def test_host_of_reads_host_and_port(header: str, host: str | None) -> None:
    assert host_of(header) == host


@pytest.mark.parametrize(
    "header",
    ["localhost", "localhost:9464", "127.0.0.1:9464", "127.8.9.10", "[::1]:9464",
     "[::ffff:127.0.0.1]:80", "10.0.0.7:9464", "[2001:db8::1]", "proxy.example", "PROXY.example.:1",
     None, ""],
)  # fmt: skip
def test_loopback_names_addresses_and_listed_names_are_accepted(header: str | None) -> None:
    assert HostCheck(frozenset({"proxy.example"})).accepts(header)


@pytest.mark.parametrize(
    "header",
    [EVIL, f"{EVIL}:9464", "localhost.rebind.example", "127.0.0.1.nip.io", "127.1",
     "proxy.example.rebind.example", "a:b", "::1"],
)  # fmt: skip
def test_other_names_are_refused(header: str) -> None:
    assert not HostCheck(frozenset({"proxy.example"})).accepts(header)


def test_the_check_is_on_for_loopback_and_off_elsewhere_unless_listed() -> None:
    for bound in ("127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"):
        assert host_check([], bound) == HostCheck(frozenset())
        assert host_check(["*"], bound) is None
    for bound in ("0.0.0.0", "::", "10.0.0.7"):
        assert host_check([], bound) is None
        assert host_check(["Proxy.Example."], bound) == HostCheck(frozenset({"proxy.example"}))
        assert host_check(["proxy.example", "*"], bound) is None
    # The listener's own name (http_addr: myhost.lan:9464) is its health check's Host.
    check = host_check(["proxy.example"], "10.0.0.7", named="MyHost.lan")
    assert check is not None
    assert check.accepts("myhost.lan:9464")


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("https://newsmon.example.org", "is a URL; write only its host name"),
        ("newsmon.example.org:443", "without a port"),
        ("*.example.org", "cannot hold a wildcard"),
        ("10.0.0.0/8", "not a host name"),
        ("bad name", "not a host name"),
        ("a..b", "not a host name"),
    ],
)
def test_a_bad_entry_says_what_to_write(entry: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_allowed_host(entry)
    assert parse_allowed_host("[::1]") == "::1"
    assert parse_allowed_host(" my_proxy ") == "my_proxy"

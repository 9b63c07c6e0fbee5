"""The address guard's decisions: the whole matrix of refused and allowed addresses."""

from __future__ import annotations

import re

import pytest
import yaml

from monitor.errors import BlockedAddressError, FeedError
from monitor.net.guard import AddressGuard, parse_allow_list

REFUSED = [
    # (address, words the reason must contain)
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("0.0.0.0", "0.0.0.0/8"),
    ("0.1.2.3", "0.0.0.0/8"),
    ("10.0.0.1", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("100.64.0.1", "carrier-grade"),
    ("100.127.255.255", "carrier-grade"),
    ("169.254.169.254", "metadata"),
    ("169.254.1.1", "link-local"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("192.0.2.1", "not a public"),  # documentation (TEST-NET-1)
    ("198.18.0.1", "not a public"),  # benchmarking
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("fec0::1", "site-local"),
    ("fc00::1", "unique-local"),
    ("fd12:3456::1", "unique-local"),
    ("fd00:ec2::254", "metadata"),
    ("ff02::1", "multicast"),
    ("2001:db8::1", "not a public"),  # documentation
    ("3fff::1", "documentation"),
    ("100::1", "outside IPv6 global unicast"),  # discard-only
    ("5f00::1", "outside IPv6 global unicast"),  # SRv6 SIDs
    ("::1:7f00:1", "outside IPv6 global unicast"),  # ::/8, reserved
    ("::ffff:0:7f00:1", "loopback"),  # SIIT IPv4-translated
    ("::ffff:0:a9fe:a9fe", "metadata"),
    # IPv6 forms that carry an IPv4 address: the IPv4 inside is judged.
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:169.254.169.254", "metadata"),
    ("::ffff:10.1.2.3", "private"),
    ("::127.0.0.1", "loopback"),  # IPv4-compatible (deprecated form)
    ("::a9fe:a9fe", "metadata"),
    ("64:ff9b::a9fe:a9fe", "metadata"),  # NAT64; ipaddress calls this global
    ("64:ff9b::7f00:1", "loopback"),
    ("64:ff9b::6440:1", "carrier-grade"),
    ("64:ff9b:1::a9fe:a9fe", "local-use NAT64"),
    ("64:ff9b:1::808:808", "local-use NAT64"),
    ("2002:a9fe:a9fe::1", "metadata"),  # 6to4; ipaddress calls this global
    ("2002:7f00:1::", "loopback"),
    ("2002:c0a8:101::1", "private"),
    # Teredo: server 65.54.227.120, client 127.0.0.1 obfuscated (bits inverted).
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"),
]

ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.215.14",
    "100.63.255.255",  # just below 100.64/10
    "100.128.0.0",  # just above
    "172.15.255.255",
    "172.32.0.0",
    "2606:4700:4700::1111",
    "2a00:1450:4001:81d::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",  # NAT64 of a public address
    "2002:808:808::1",  # 6to4 of a public address
    "2001:0:4136:e378:8000:63bf:f7f7:f7f7",  # Teredo client 8.8.8.8, public server
]


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_refused_addresses(address: str, reason: str) -> None:
    got = AddressGuard().check_ip(address)
    assert got is not None, address
    assert reason in got


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_pass(address: str) -> None:
    assert AddressGuard().check_ip(address) is None


@pytest.mark.parametrize(
    ("allow", "address", "expected"),
    [
        (["127.0.0.1/32"], "127.0.0.1", None),
        (["127.0.0.1/32"], "127.0.0.2", "loopback"),
        (["127.0.0.1"], "127.0.0.1", None),
        (["10.0.0.0/8"], "10.200.0.1", None),
        (["10.0.0.0/8"], "::ffff:10.200.0.1", None),  # the IPv4 inside is allow-listed
        (["10.0.0.0/8"], "192.168.0.1", "private"),
        (["fd00::/8"], "fd00::5", None),
        (["fd00::/8"], "fd00:ec2::254", None),  # explicitly allowed wins, even for metadata
        (["::1/128"], "127.0.0.1", "loopback"),  # families do not mix
    ],
)
def test_allow_list(allow: list[str], address: str, expected: str | None) -> None:
    got = AddressGuard(allow).check_ip(address)
    if expected is None:
        assert got is None
    else:
        assert got is not None
        assert expected in got


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("10.0.0.0/8", ["10.0.0.0/8"]),
        (" 10.0.0.0/8 , feeds.internal. ,, ::1 ", ["10.0.0.0/8", "feeds.internal", "::1"]),
        ("Feeds.Example.COM", ["feeds.example.com"]),
        ("localhost", ["localhost"]),
    ],
)
def test_parse_allow_list(text: str, expected: list[str]) -> None:
    assert parse_allow_list(text) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("10.0.0.1/8", "not a valid CIDR"),  # host bits set: probably a typo
        ("10.0.0.0/33", "not a valid CIDR"),
        ("fd00::/200", "not a valid CIDR"),
        ("http://feeds.example.com", "write only its host name"),
        ("bad host", "neither a CIDR"),
        ("-x.example", "neither a CIDR"),
        ("127.1", "looks like an address"),
        ("0x7f.1", "looks like an address"),
    ],
)
def test_parse_allow_list_refuses_bad_entries(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words) as info:
        parse_allow_list(f"10.0.0.0/8,{text}")
    assert repr(text.strip()) in str(info.value)


def test_check_addresses_refuses_one_private_among_public() -> None:
    # DNS rebinding: a name that answers a public and a private address is refused whole.
    guard = AddressGuard()
    with pytest.raises(BlockedAddressError, match=r"evil\.example \(10\.0\.0\.7\): private"):
        guard.check_addresses("evil.example", ["93.184.215.14", "10.0.0.7", "8.8.8.8"])
    assert guard.check_addresses("ok.example", ["8.8.8.8", "8.8.8.8", "1.1.1.1"]) == [
        "8.8.8.8",
        "1.1.1.1",
    ]


def test_allow_listed_host_name_skips_address_checks() -> None:
    guard = AddressGuard(["feeds.internal"])
    assert guard.check_addresses("FEEDS.internal.", ["10.0.0.7"]) == ["10.0.0.7"]
    with pytest.raises(BlockedAddressError):
        guard.check_addresses("other.internal", ["10.0.0.7"])


def test_no_address_is_a_connect_error() -> None:
    with pytest.raises(FeedError) as info:
        AddressGuard().check_addresses("nothing.example", [])
    assert info.value.kind == "connect"


@pytest.mark.parametrize(
    "host", ["127.1", "2130706433", "0x7f.1", "0177.0.0.1", "localhost", "127.0.0.1", "::1"]
)
def test_check_host_judges_resolved_addresses_not_spelling(host: str) -> None:
    # getaddrinfo turns every one of these spellings into a loopback address.
    with pytest.raises(BlockedAddressError, match="loopback") as info:
        AddressGuard().check_host(host, 80)
    assert info.value.kind == "blocked_address"


def test_check_host_with_allow_list_returns_addresses() -> None:
    assert AddressGuard(["127.0.0.0/8"]).check_host("2130706433", 80) == ["127.0.0.1"]


def test_check_host_unresolvable_is_connect_error() -> None:
    with pytest.raises(FeedError) as info:
        AddressGuard().check_host("no-such-host.invalid", 80)
    assert info.value.kind == "connect"


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "10.1.2.3"])
def test_a_refusal_says_what_to_write_and_what_it_says_lets_the_address_through(
    address: str,
) -> None:
    """It named only NEWSMON_ALLOW_NETWORKS, not the config key, nor what to put in either."""
    with pytest.raises(BlockedAddressError) as info:
        AddressGuard().check_addresses("feeds.internal", [address])
    said = str(info.value)
    config = re.search(r"\(allow_networks: (\[.*?\])\)", said)
    env = re.search(r"NEWSMON_ALLOW_NETWORKS=(\S+)$", said)
    assert config, said
    assert env, said
    for allow in (yaml.safe_load(config.group(1)), parse_allow_list(env.group(1))):
        assert AddressGuard(allow).check_addresses("feeds.internal", [address]) == [address]

"""The outbound address guard: public addresses only, unless allow-listed.

`AddressGuard.check_ip` is pure; `AddressGuard.check_host` resolves a name (blocking DNS I/O).
The decision is always made on resolved addresses, never on the spelling in a URL: `127.1`,
`2130706433` and `0x7f.1` are host names to httpx, and `getaddrinfo` turns them into 127.0.0.1.
A host is refused if ANY of its addresses is refused, so a name that answers one public and one
private address (DNS rebinding) does not get through. The connect-time enforcement that uses this
lives in `monitor.net.feedclient` (feeds) and `monitor.net.client` (httpx, deliveries).

Why not just `ipaddress`: `is_private` is False for 100.64.0.0/10, and `is_global` is True for
NAT64 (`64:ff9b::a9fe:a9fe` embeds 169.254.169.254), 6to4 and the RFC 8215 local-use NAT64 prefix;
so the IPv6 forms that carry an IPv4 address are unwrapped and the IPv4 inside is judged.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable, Sequence
from typing import Any

from monitor.errors import BlockedAddressError, FeedError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# Named ranges first, so the reason a user reads says what the address is.
_V4_REFUSED: tuple[tuple[IPNetwork, str], ...] = (
    (_V4("169.254.169.254/32"), "cloud metadata address"),
    (_V4("0.0.0.0/8"), "'this network' (0.0.0.0/8)"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("10.0.0.0/8"), "private network"),
    (_V4("172.16.0.0/12"), "private network"),
    (_V4("192.168.0.0/16"), "private network"),
    (_V4("100.64.0.0/10"), "carrier-grade NAT (100.64.0.0/10)"),
    (_V4("169.254.0.0/16"), "link-local"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("240.0.0.0/4"), "reserved"),
)
_V6_REFUSED: tuple[tuple[IPNetwork, str], ...] = (
    (_V6("fd00:ec2::254/128"), "cloud metadata address"),
    (_V6("::/128"), "unspecified"),
    (_V6("::1/128"), "loopback"),
    (_V6("fe80::/10"), "link-local"),
    (_V6("fec0::/10"), "site-local"),
    (_V6("fc00::/7"), "unique-local"),
    (_V6("ff00::/8"), "multicast"),
    # RFC 8215 local-use NAT64: where the IPv4 sits depends on a local prefix length, and the
    # prefix is local by definition, so it is refused whole (Python 3.11 calls it global).
    (_V6("64:ff9b:1::/48"), "local-use NAT64 (64:ff9b:1::/48)"),
    (_V6("3fff::/20"), "documentation"),  # RFC 9637; newer than Python 3.11's tables
)
_NAT64 = _V6("64:ff9b::/96")
_V4_COMPAT = _V6("::/96")
_V4_TRANSLATED = _V6("::ffff:0:0:0/96")  # SIIT (RFC 2765), not the same as IPv4-mapped
_GLOBAL_UNICAST = _V6("2000::/3")  # all IPv6 unicast space IANA allocates; the rest is refused

# A DNS label: letters, digits, hyphen, underscore (seen in real names); 1-63 characters.
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


def _embedded_v4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo)."""
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip in _NAT64 or ip in _V4_TRANSLATED or (ip in _V4_COMPAT and int(ip) > 1):
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        server, client = ip.teredo
        return [server, client]
    return []


def _v4_reason(ip: ipaddress.IPv4Address) -> str | None:
    for network, reason in _V4_REFUSED:
        if ip in network:
            return reason
    # Catch-all for the rest of the IANA special-purpose registry (documentation, benchmarking,
    # 192.0.0.0/24, broadcast).
    return None if ip.is_global else "not a public address"


def _host_name(entry: str) -> str:
    return entry.strip().rstrip(".").lower()


def parse_allow_list(text: str) -> list[str]:
    """Split NEWSMON_ALLOW_NETWORKS (comma-separated CIDRs, addresses or host names).

    Raises ValueError naming the bad entry. A bare address means that one address; a CIDR with
    host bits set (`10.0.0.1/8`) is refused because it is probably a typo.
    """
    entries: list[str] = []
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        if "://" in entry:
            raise ValueError(f"allow-list entry {entry!r} is a URL; write only its host name")
        try:
            ipaddress.ip_network(entry, strict=True)
        except ValueError as e:
            if "/" in entry or ":" in entry:
                raise ValueError(f"allow-list entry {entry!r} is not a valid CIDR: {e}") from e
        else:
            entries.append(entry)
            continue
        name = _host_name(entry)
        labels = name.split(".")
        if len(name) > 253 or not all(_LABEL.match(label) for label in labels):
            raise ValueError(
                f"allow-list entry {entry!r} is neither a CIDR (10.0.0.0/8) nor a host name"
            )
        if labels[-1].isdigit() or labels[-1].startswith("0x"):
            # `127.1` or `0x7f.1` would be a name here but an address to getaddrinfo.
            raise ValueError(
                f"allow-list entry {entry!r} looks like an address; write it as a.b.c.d or a CIDR"
            )
        entries.append(name)
    return entries


class AddressGuard:
    """Decides which addresses outbound requests may reach. Immutable after construction."""

    def __init__(self, allow: Sequence[str] = ()) -> None:
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for entry in parse_allow_list(",".join(allow)):
            try:
                networks.append(ipaddress.ip_network(entry))
            except ValueError:
                hosts.add(entry)
        self._networks: tuple[IPNetwork, ...] = tuple(networks)
        self._hosts: frozenset[str] = frozenset(hosts)

    def __repr__(self) -> str:
        allowed = [str(n) for n in self._networks] + sorted(self._hosts)
        return f"AddressGuard(allow={allowed!r})"

    def _allowed(self, ip: IPAddress) -> bool:
        return any(ip.version == n.version and ip in n for n in self._networks)

    def host_allowed(self, host: str) -> bool:
        """True when the host name itself is allow-listed (its addresses are then not checked)."""
        return _host_name(host) in self._hosts

    def check_ip(self, ip: str | IPAddress) -> str | None:
        """Why `ip` is refused, or None when it may be connected to."""
        addr = ipaddress.ip_address(ip.split("%", 1)[0] if isinstance(ip, str) else ip)
        if self._allowed(addr):
            return None
        if isinstance(addr, ipaddress.IPv4Address):
            return _v4_reason(addr)
        inner = _embedded_v4(addr)
        if inner:
            if any(self._allowed(v4) for v4 in inner):
                return None
            for v4 in inner:
                reason = _v4_reason(v4)
                if reason:
                    return f"{reason} ({v4} inside {addr})"
            return None
        for network, reason in _V6_REFUSED:
            if addr in network:
                return reason
        if addr not in _GLOBAL_UNICAST:
            return "outside IPv6 global unicast (2000::/3)"
        return None if addr.is_global else "not a public address"

    def check_addresses(self, host: str, addresses: Iterable[str]) -> list[str]:
        """Return `addresses` (deduplicated, in order) or raise if any one is refused."""
        result = list(dict.fromkeys(addresses))
        if not result:
            raise FeedError("connect", f"{host} has no address")
        if self.host_allowed(host):
            return result
        for address in result:
            reason = self.check_ip(address)
            if reason:
                shown = host if host == address else f"{host} ({address})"
                raise BlockedAddressError(
                    f"refused to connect to {shown}: {reason}; if this is intended, allow it"
                    f" in the config (allow_networks: ['{address}']) or with"
                    f" NEWSMON_ALLOW_NETWORKS={address}"
                )
        return result

    def check_host(self, host: str, port: int) -> list[str]:
        """Resolve `host` and return its addresses; raise BlockedAddressError if any is refused."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as e:
            raise FeedError("connect", f"cannot resolve {host}: {e}") from e
        return self.check_addresses(host, addresses_of(infos))


def addresses_of(infos: Iterable[tuple[Any, ...]]) -> list[str]:
    """The address strings of `getaddrinfo` results (the IPv6 scope id is not kept)."""
    return [str(info[4][0]) for info in infos]

"""Which `Host` headers the daemon's own listener answers: its guard against DNS rebinding. Pure.

DNS rebinding: a page the user opens at `http://evil.example:9464/` turns `evil.example` into
127.0.0.1, and the browser, which thinks it is still talking to the page's own site, lets the
page read `/metrics` and post to the console. The browser always sends the page's host name,
`Host: evil.example:9464`, and that is what gives it away. So, as Jupyter does, a listener on a
loopback address answers only requests whose Host is `localhost`, an IP address, the listener's
own host name, or a name listed in `http_allowed_hosts`; `*` turns the check off. An IP address
is always accepted: a page can only make the browser send one when its own origin is that
address, which is then the listener itself (and Kubernetes probes and Prometheus's scrapes send
the pod's address). A listener on any other address (the container's 0.0.0.0) answers every Host
unless the list is set, because a reverse proxy that passes on the original Host must keep
working without it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ANY", "HostCheck", "host_check", "host_of", "parse_allowed_host"]

ANY = "*"  # in `http_allowed_hosts`: every Host is accepted (the check is off)
# Letters, digits, `-` and `_` (compose service names have one) in dot-separated labels.
_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
_PORT = re.compile(r"^[0-9]*$")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def parse_allowed_host(entry: str) -> str:
    """One `http_allowed_hosts` entry, as compared: lower case, without a final dot (an IPv6
    address without its brackets). ValueError saying what to write instead."""
    text = entry.strip()
    if text == ANY:
        return ANY
    if "://" in text:
        raise ValueError(f"{entry!r} is a URL; write only its host name (newsmon.example.org)")
    if "/" in text:
        raise ValueError(f"{entry!r} is not a host name (for example newsmon.example.org)")
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    if _is_ip(bare):
        return str(ipaddress.ip_address(bare))
    if "*" in text:
        raise ValueError(
            f"{entry!r}: a name cannot hold a wildcard; list each name, or give '*' alone"
            " to turn the check off"
        )
    if ":" in text:
        raise ValueError(f"{entry!r}: write the name without a port (every port is accepted)")
    name = text.lower().removesuffix(".")
    if not name or len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
        raise ValueError(f"{entry!r} is not a host name (for example newsmon.example.org)")
    return name


def host_of(header: str) -> str | None:
    """The host name or address of a `Host` header, as compared (lower case, no final dot, an
    IPv6 address without brackets); None when it is not `host[:port]` at all."""
    text = header.strip()
    if text.startswith("["):
        inside, sep, rest = text[1:].partition("]")
        if not sep or not _is_ip(inside) or not (rest == "" or rest.startswith(":")):
            return None
        port = rest[1:]
        host = inside
    else:
        host, _, port = text.partition(":")
        if ":" in port:  # an IPv6 address without brackets: no browser sends that
            return None
    if not _PORT.match(port):
        return None
    return host.lower().removesuffix(".")


@dataclass(frozen=True)
class HostCheck:
    """Accepts a request's `Host` when it is `localhost`, an IP address, or one of `names`
    (each as `parse_allowed_host` gives it). A request without a Host (HTTP/1.0) is accepted:
    a browser always sends one."""

    names: frozenset[str]

    def accepts(self, header: str | None) -> bool:
        if header is None or not header.strip():
            return True
        host = host_of(header)
        if host is None:
            return False
        return host == "localhost" or host in self.names or _is_ip(host)


def host_check(allowed: Iterable[str], bound: str, named: str = "") -> HostCheck | None:
    """The check for a listener bound to address `bound` (as the socket says) and configured as
    `named` (the host part of `http_addr`, maybe a name); `allowed` is `http_allowed_hosts`.
    None when every Host is to be accepted: `*` is listed, or the list is empty and the listener
    is not on a loopback address."""
    names = {parse_allowed_host(entry) for entry in allowed}
    if ANY in names:
        return None
    if not names and not _loopback(bound):
        return None
    own = named.strip("[]").lower().removesuffix(".")
    if own and not _is_ip(own):
        names.add(own)  # the listener's own name: `newsmon healthcheck` sends it as its Host
    return HostCheck(frozenset(names))


def _loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))

"""`newsmon healthcheck` (also `python -m monitor.cli.healthcheck`): GET /healthz on the daemon's
own HTTP listener and exit 0 when it answers 2xx, 1 otherwise. Does I/O (one local HTTP request).

The container's HEALTHCHECK runs `python -m monitor.cli.healthcheck`, which imports only this module
and the standard library: every 30 s, loading the whole CLI (feedparser, httpx, APScheduler, ...)
would cost far more CPU than the check itself. Exit codes follow Docker's HEALTHCHECK contract
(0 healthy, 1 unhealthy; 2 is reserved there), so every failure, a bad address included, is 1.
The config file is read only when neither --addr nor NEWSMON_HTTP_ADDR names the listener (the
image sets the variable), for the `http_addr` a user set there.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from monitor.errors import ConfigError

ADDR_ENV = "NEWSMON_HTTP_ADDR"
CONFIG_ENV = "NEWSMON_CONFIG"
DEFAULT_ADDR = "127.0.0.1:9464"
HEALTH_PATH = "/healthz"
DEFAULT_TIMEOUT = 3.0

HEALTHY = 0
UNHEALTHY = 1

EXAMPLES = """\
examples:
  newsmon healthcheck                         GET /healthz on $NEWSMON_HTTP_ADDR, else the
                                              config's http_addr, else 127.0.0.1:9464
  newsmon healthcheck --addr 127.0.0.1:9464   on that address
  python -m monitor.cli.healthcheck           the same, as the container's HEALTHCHECK runs it

exit codes: 0 healthy, 1 unhealthy, unreachable or a bad address; 2 a mistake in the command
line (an unknown option, a --timeout that is not seconds from 0 to a day)
"""


class AddressError(ConfigError):
    """NEWSMON_HTTP_ADDR is not host:port."""


def health_url(addr: str, path: str = HEALTH_PATH, source: str = ADDR_ENV) -> str:
    """The URL to probe for a listener bound to `addr` (host:port, IPv6 host in brackets).
    `source`: where `addr` was given (`--addr` or the variable), for the messages.

    A wildcard bind address (0.0.0.0, ::, empty host) is probed on loopback of the same family,
    because the probe runs beside the daemon, in the same network namespace.
    """
    addr = addr.strip()
    if not addr:
        off = (
            "the HTTP listener is off, nothing to check" if source != "--addr" else "give host:port"
        )
        raise AddressError(f"{source} is empty: {off}")
    what = f"{source}={addr!r}" if source == ADDR_ENV else f"{source} {addr!r}"
    if "://" in addr:  # a URL: its "http" would be read as a host and "//..." as an IPv6 one
        raise AddressError(f"{what}: give host:port, without {addr.split('://', 1)[0]}://")
    host, sep, port_text = addr.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise AddressError(f"{what} is not host:port (for example 0.0.0.0:9464)")
    bracketed = host.startswith("[") and host.endswith("]")
    bare = host[1:-1] if bracketed else host
    if ":" in bare and not bracketed:  # "::1:9464" could be read two ways
        raise AddressError(f"{what}: put an IPv6 host in brackets, e.g. [::1]:9464")
    if bare in ("", "0.0.0.0"):  # noqa: S104 - a bind address being translated, not bound
        bare = "127.0.0.1"
    elif bare == "::":
        bare = "::1"
    try:
        is_v6 = ipaddress.ip_address(bare).version == 6
    except ValueError:
        is_v6 = False  # a host name such as localhost
    if bracketed and not is_v6:
        raise AddressError(f"{what}: only an IPv6 address goes in brackets")
    shown = f"[{bare}]" if is_v6 else bare
    return f"http://{shown}:{int(port_text)}{path}"


def probe(url: str, timeout: float = DEFAULT_TIMEOUT) -> tuple[int, str]:
    """GET `url`; (exit code, one line that says what was seen)."""
    # No proxy: the listener is local, and an http_proxy in the container's environment
    # must not turn the probe into a request to somewhere else.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as reply:
            status = int(reply.status)
    except urllib.error.HTTPError as exc:
        return UNHEALTHY, f"unhealthy: {url} answered {exc.code}"
    except (OSError, ValueError) as exc:  # refused, timed out, reset, bad URL
        reason = getattr(exc, "reason", exc)
        return UNHEALTHY, f"unhealthy: {url} unreachable ({reason})"
    if 200 <= status < 300:
        return HEALTHY, f"healthy: {url} answered {status}"
    return UNHEALTHY, f"unhealthy: {url} answered {status}"


def config_addr(config: str | None) -> tuple[str, str] | None:
    """(the `http_addr`, where it was set) of the config `newsmon run` reads: `config`, else
    $NEWSMON_CONFIG, else ./newsmon.yaml if present; None when it sets none. Raises ConfigError."""
    name = config or os.environ.get(CONFIG_ENV) or ""
    path = Path(name or "newsmon.yaml")
    if not name and not path.is_file():
        return None
    # Only here: the container's probe has NEWSMON_HTTP_ADDR and never reads YAML.
    from monitor.config.yamlfile import read_yaml

    data = read_yaml(path).data
    if "http_addr" not in data:
        return None
    value = data["http_addr"]
    return ("" if value is None else str(value)), f"http_addr in {path}"


def check(
    addr: str | None, timeout: float = DEFAULT_TIMEOUT, config: str | None = None
) -> tuple[int, str]:
    """Probe the listener at `addr`, else $NEWSMON_HTTP_ADDR, else the config's `http_addr`,
    else the loopback default."""
    source = "--addr"
    try:
        if addr is None:
            addr, source = os.environ.get(ADDR_ENV), ADDR_ENV
        if addr is None:
            addr, source = config_addr(config) or (DEFAULT_ADDR, "the default")
        url = health_url(addr, source=source)
    except ConfigError as exc:
        return UNHEALTHY, f"unhealthy: {exc}"
    code, line = probe(url, timeout)
    if code != HEALTHY and source != "--addr":  # which address it tried, and why that one
        line += f" (address: {source})"
    return code, line


def _run(args: argparse.Namespace) -> int:
    code, line = check(args.addr, args.timeout, args.config)
    print(line, file=sys.stdout if code == HEALTHY else sys.stderr)
    return code


MAX_TIMEOUT = 86_400.0  # a day; past about 9e9 s the socket's timeout overflows (a traceback)


def _seconds(text: str) -> float:
    """argparse type of --timeout: a number of seconds above 0 and at most a day (urllib took 0
    for "do not wait" and refused a negative one or NaN only once the probe ran)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(
            f"must be more than 0 seconds and at most {MAX_TIMEOUT:g}, not {text}"
        )
    return value


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--addr",
        metavar="HOST:PORT",
        help=f"the daemon's HTTP listener (default: ${ADDR_ENV}, else the config's http_addr,"
        f" else {DEFAULT_ADDR})",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help=f"the YAML config whose http_addr to probe (default: ${CONFIG_ENV}, else"
        " ./newsmon.yaml if present)",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"give up after this long (default {DEFAULT_TIMEOUT:g})",
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "healthcheck",
        help="exit 0 when the running daemon answers /healthz",
        description="GET /healthz on the running daemon's HTTP listener; for container probes.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_arguments(parser)
    parser.set_defaults(func=_run)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m monitor.cli.healthcheck",
        description="GET /healthz on the running daemon's HTTP listener; for container probes.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_arguments(parser)
    return _run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())

"""Value parsers for settings written by people: byte sizes, comma lists, URLs. Pure.

Durations live in `monitor.durations`; this module adds what only the configuration needs.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from monitor.durations import parse_duration

# SI units are powers of 1000, IEC units powers of 1024, as `ls`, `df` and HTTP tools print them.
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)
SIZE_HELP = "use bytes or a unit: 512KB, 10MiB, 1GB"


def parse_size(value: Any) -> int:
    """A byte count from `10MiB`, `512KB`, `2GB` or a plain number of bytes."""
    if isinstance(value, bool):
        # TRY004: a user's value; pydantic reads ValueError
        raise ValueError(f"not a size: {value!r} ({SIZE_HELP})")  # noqa: TRY004
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a size cannot be negative: {value!r}")
        return value
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match and match.group(2).lower() in _SIZE_UNITS:
            return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])
    raise ValueError(f"not a size: {value!r} ({SIZE_HELP})")


def format_size(size: int) -> str:
    """The shortest exact IEC or SI form: 10485760 -> `10MiB`, 512000 -> `512KB`."""
    for unit in ("GiB", "MiB", "KiB", "GB", "MB", "KB"):
        factor = _SIZE_UNITS[unit.lower()]
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def to_duration(value: Any) -> timedelta:
    """`parse_duration` for any input a YAML file or an environment variable can give."""
    if value is None or isinstance(value, list | dict):
        raise ValueError(f"not a duration: {value!r} (use 90s, 5m, 2h, 7d or seconds)")
    return parse_duration(value)


def split_list(value: Any, sep: str = ",") -> Any:
    """A comma- (or space-) separated string becomes a list; a list is left for pydantic."""
    if value is None:
        return []
    if isinstance(value, str):
        parts = value.split(sep) if sep.strip() else value.split()
        return [part.strip() for part in parts if part.strip()]
    return value


# str.isspace() and the C0 controls and DEL; in a str pattern `\s` is str.isspace() (both
# CPython's Py_UNICODE_ISSPACE), and a search costs a tenth of a loop over the characters (a
# config of 1,000 feeds checks every URL at start).
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")
_HOST = re.compile(r"^[\w.-]+$|^\[[0-9A-Fa-f:.]+\]$")  # a name (IDN letters too) or [IPv6]


def url_problem(url: str) -> str | None:
    """What makes `url` unusable as an http(s) URL to fetch or post to, or None; never quotes
    the URL (a destination's may hold a secret). Checked when the config is read, so a typo is
    not found a day of retries later."""
    if _SPACE_OR_CONTROL.search(url):
        return "the URL contains a space or control character"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "the URL does not parse (a bad port or [IPv6] address?)"
    if parts.scheme.lower() not in ("http", "https"):
        return "the URL must start with http:// or https://"
    host = parts.netloc.rpartition("@")[2]
    if port is not None or host.endswith(":"):
        host = host.rpartition(":")[0]
    if not parts.hostname or not _HOST.match(host):
        return "the URL has no valid host name"
    return None

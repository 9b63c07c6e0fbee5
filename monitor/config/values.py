"""Value parsers for settings written by people: byte sizes, comma lists. Pure.

Durations live in `monitor.durations`; this module adds what only the configuration needs.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

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


# Every duration of the configuration is added to or taken from the current time (a lease's
# end, a retention's start): past about 2,000 years that leaves datetime's years 1-9999 and
# raised OverflowError mid-poll. A thousand years takes in `backfill: 100000d` ("all").
MAX_DURATION = timedelta(days=365000)


def to_duration(value: Any) -> timedelta:
    """`parse_duration` for any input a YAML file or an environment variable can give."""
    if value is None or isinstance(value, list | dict):
        raise ValueError(f"not a duration: {value!r} (use 90s, 5m, 2h, 7d or seconds)")
    duration = parse_duration(value)
    if duration > MAX_DURATION:
        raise ValueError(f"duration too long: {value!r} (at most 365000d, 1,000 years)")
    return duration


def split_list(value: Any, sep: str = ",") -> Any:
    """A comma- (or space-) separated string becomes a list; a list is left for pydantic."""
    if value is None:
        return []
    if isinstance(value, str):
        parts = value.split(sep) if sep.strip() else value.split()
        return [part.strip() for part in parts if part.strip()]
    return value

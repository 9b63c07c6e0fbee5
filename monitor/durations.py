"""Durations as users write them: `90s`, `5m`, `2h`, `7d`, or a plain number of seconds. Pure."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$", re.IGNORECASE)


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """Parse a duration; raise ValueError with a message that shows the accepted forms."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        # TRY004: a user's value; pydantic reads ValueError
        raise ValueError(f"not a duration: {value!r} (use 90s, 5m, 2h, 7d or seconds)")  # noqa: TRY004
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a duration cannot be negative: {value!r}")
        return _seconds(float(value), value)
    match = _PATTERN.match(value)
    if not match:
        raise ValueError(f"not a duration: {value!r} (use 90s, 5m, 2h, 7d or seconds)")
    number, unit = match.groups()
    return _seconds(float(number) * _UNITS[(unit or "s").lower()], value)


def _seconds(seconds: float, written: object) -> timedelta:
    try:
        return timedelta(seconds=seconds)
    except OverflowError:  # beyond timedelta's 999,999,999 days
        raise ValueError(f"duration too long: {written!r}") from None


def format_duration(delta: timedelta) -> str:
    """The shortest exact form: 300 s -> `5m`, 90 s -> `90s`."""
    seconds = delta.total_seconds()
    for unit in ("d", "h", "m"):
        size = _UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"

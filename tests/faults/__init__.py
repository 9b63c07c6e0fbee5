"""Fault tests: real `newsmon` processes killed, starved of their store, fed hostile input.

Every test here is marked `fault`; `NEWSMON_SOAK=1` makes the long ones longer (see
docs/reliability.md)."""

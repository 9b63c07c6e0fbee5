"""Property-based fuzzing (hypothesis) of the parsers that take untrusted or user-written text.

Bounded for CI; `NEWSMON_SOAK=1` runs many more examples (see docs/reliability.md)."""

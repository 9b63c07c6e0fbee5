"""Outbound HTTP, shared by feeds and delivery.

`guard` (the address guard, pure), `client` (the guarded client), `hostlimits` (per-host
politeness), `retry_after` (the Retry-After header, pure), `failures` (a failed connection in
words, pure).
"""

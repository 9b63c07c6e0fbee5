"""Outbound HTTP, shared by feeds and delivery.

`guard` (the address guard, pure), `client` (the guarded client), `hostlimits` (per-host
politeness).
"""

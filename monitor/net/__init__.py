"""Outbound HTTP, shared by feeds and delivery.

`guard` (the address guard, pure), `feedclient` (the guarded feed client: h11 on asyncio streams),
`client` (the guarded httpx client, for deliveries), `hostlimits` (per-host
politeness), `retry_after` (the Retry-After header, pure), `failures` (a failed connection in
words, pure).
"""

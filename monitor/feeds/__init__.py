"""Feeds: from a URL to items with identity.

Fetching: `guard` (the address guard, pure), `http` (the guarded client), `fetch` (bounded
conditional GETs), `limits` (per-host politeness), `schedule` (poll times, pure).
Parsing: `prolog` (entity refusal), `parse` (feedparser, bytes in), `jsonfeed`, `htmltext`.
Identity: `canonical` (canonical URLs) and `identity` (item and story keys), both pure.
`source` reads a feed that a person named on the command line; `opml` imports subscriptions.
"""

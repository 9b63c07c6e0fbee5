"""Feeds: from a URL to items with identity.

Fetching: `fetch` (bounded conditional GETs over `monitor.net`'s guarded client),
`schedule` (poll times, pure).
Parsing: `prolog` (entity refusal), `parse` (feedparser, bytes in), `jsonfeed`, `htmltext`;
`utf8`, `fastxml`, `fastfeed` and `fptables` read most documents exactly as feedparser would,
without importing it.
Identity: `canonical` (canonical URLs) and `identity` (item and story keys), both pure.
`opml` imports subscriptions.
"""

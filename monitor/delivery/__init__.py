"""Delivery: alerts from the outbox to webhooks, Slack and the channels of `delivery.channels`,
signed, rate-limited, retried.

Pure parts: `document` (the versioned alert document), `signing` (Standard Webhooks), `slack`
(Block Kit rendering), `webhook` (the request to send), `retry` (schedule, Retry-After,
classification), `ratelimit` (token buckets). I/O: `deliverer` (claims outbox rows and posts them).
"""

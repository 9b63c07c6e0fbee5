"""Fetching feeds: the address guard, the guarded HTTP client, bounded fetches, per-host limits
and the poll-schedule arithmetic. `guard` and `schedule` are pure; `http`, `fetch` and `limits`
do I/O or coordinate it."""

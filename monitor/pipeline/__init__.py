"""The poll flow, one feed at a time: fetch → parse → decide → commit.

`poll` carries out one poll (fetch, parse, store reads, commit; does I/O), `decide` makes every
choice of a poll (pure), `source` polls feeds a person names once, without state (`check`,
`rules test --feed`, `archive import`), `archive` keeps polled items for `backtest`, which
replays rules over them.
"""

"""The poll flow, one feed at a time: fetch → parse → decide → commit.

`poll` carries out one poll (fetch, parse, store reads, commit; does I/O), `decide` makes every
choice of a poll (pure), `source` reads a feed a person named on the command line, `archive` keeps
polled items for `backtest`, which replays rules over them.
"""

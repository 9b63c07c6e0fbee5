"""What the daemon would do with the matches `newsmon check` prints. Pure.

`newsmon check` matches every current item; `newsmon run` and `check --deliver` alert only new
items of configured feeds, published within `retention`, after a feed's silent first poll. These
notes say so next to the matches, so that a match the daemon will not send is never a surprise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from monitor.durations import format_duration
from monitor.model import Item, Match
from monitor.net.urls import shown_url
from monitor.pipeline.decide import held_by_baseline
from monitor.plural import counted


def too_old(item: Item, now: datetime, retention: timedelta) -> bool:
    """The pipeline's `too_old`: published before the retention window."""
    return item.published is not None and item.published < now - retention


def remark(now: datetime, retention: timedelta) -> Callable[[Item], str | None]:
    """The line printed under a matched item the daemon would skip."""
    kept = format_duration(retention)

    def note(item: Item) -> str | None:
        if too_old(item, now, retention):
            return f"daemon skips it: older than retention ({kept}), too_old"
        return None

    return note


def daemon_notes(
    found: Sequence[tuple[Item, Sequence[Match]]],
    now: datetime,
    retention: timedelta,
    unpolled: Sequence[str],
    first_polls: Mapping[str, float],
) -> list[str]:
    """One line per reason the daemon would not alert what `check` printed.

    `unpolled` are the `--feed` arguments that are not configured feeds (the daemon never polls
    them); `first_polls` the configured feeds whose first poll, a silent baseline, is still
    ahead, with their `backfill` in seconds: the baseline is named only when it would hold back
    a printed match (one of those feeds', published before its backfill reaches)."""
    if not found:
        return []
    notes = []
    old = sum(too_old(item, now, retention) for item, _ in found)
    if old:
        cutoff = (now - retention).strftime("%Y-%m-%d")
        notes.append(
            f"{old} of {counted(len(found), 'matched item')} {'was' if old == 1 else 'were'}"
            f" published before {cutoff} (retention "
            f"{format_duration(retention)}): `newsmon run` and `check --deliver` skip "
            f"{'it' if old == 1 else 'them'} "
            "(too_old) and alert only newer items"
        )
    for arg in unpolled:
        notes.append(
            f"{shown_url(arg)} is not one of the config's feeds: `newsmon run` and"
            " `check --deliver` do not poll it (add its http(s) URL to `feeds:` in the config)"
        )
    held = (
        item.feed_id in first_polls
        and not too_old(item, now, retention)
        and held_by_baseline(item, first_polls[item.feed_id], now)
        for item, _ in found
    )
    if not unpolled and any(held):
        notes.append(
            "the daemon's first poll of a feed records its items without alerting (a baseline, "
            "see a feed's `backfill`); later polls alert new matching items once"
        )
    return notes

"""`newsmon check`: one pass over the feeds, for cron, CI or a person trying a rule. Does I/O.

Without `--deliver` it fetches, parses and matches every current item, prints the matches, and
writes no state. With `--deliver` it is one daemon cycle: poll every configured feed against the
store (new items only, baseline respected), enqueue alerts, deliver what is due, exit.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, TextIO
from urllib.parse import urlsplit

from monitor.cli.common import (
    STDERR,
    add_config_args,
    load_config_from_args,
    setup_logging,
    store_exists,
)
from monitor.cli.explain import daemon_notes, remark
from monitor.cli.render import print_json_lines, print_matches
from monitor.clock import SystemClock
from monitor.config import Config
from monitor.controls import strip_controls
from monitor.errors import NewsmonError
from monitor.model import Item, Match
from monitor.net.urls import shown_url

if TYPE_CHECKING:  # rich is imported when a bar is drawn: cron and --deliver runs never pay it
    from rich.progress import Progress, TaskID

EPILOG = """\
examples:
  newsmon check --config examples/newsmon.yaml --feed seeds/article.rss
  newsmon check --feed https://feeds.example.org/world.rss --json
  newsmon check --deliver          # one daemon cycle, e.g. from cron every 5 minutes

exit codes: 0 something matched, 1 nothing matched, 2 a usage, config, rule or feed error
On a terminal a progress bar shows the feeds fetched so far (two feeds or more).
"""
MIN_FEEDS_FOR_BAR = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "check",
        help="one pass over the feeds: print the matches (or deliver them with --deliver)",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_args(parser, logs_as_configured=True)
    parser.add_argument(
        "--feed",
        action="append",
        default=[],
        metavar="URL_OR_PATH",
        help="check this feed instead of the configured ones (repeatable; a local file is allowed)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per match and line")
    parser.add_argument(
        "--deliver",
        action="store_true",
        help="one daemon cycle: record state, enqueue alerts for new items, deliver them",
    )
    # Both paths call settle_heap once the rules are loaded (see monitor.cli.entry), and the
    # process ends as soon as the command is done (monitor.cli.leave).
    parser.set_defaults(func=run_check, settles_heap=True, leaves_at_once=True)


def run_check(args: argparse.Namespace) -> int:
    for arg in args.feed:
        try:
            urlsplit(arg)
        except ValueError as exc:  # "http://[bad": urlsplit refuses it before anyone can
            shown = shown_url(arg)  # a URL's password or API key is not printed
            print(f"newsmon: --feed {shown!r} is not a usable URL ({exc})", file=sys.stderr)
            return 2
    config = load_config_from_args(args)
    setup_logging(args, config, stream=STDERR)
    if args.deliver and args.feed:
        print(
            "newsmon: --deliver polls the configured feeds; add the feed to the config "
            "file (feeds: [{id, url}]) instead of --feed",
            file=sys.stderr,
        )
        return 2
    if not args.feed and not config.feeds:
        where = f"{config.path}" if config.path is not None else "no config file found"
        # --deliver refuses --feed (above): offering it there would send the user in a circle.
        other = "" if args.deliver else ", or name one with --feed URL_OR_PATH"
        print(
            f"newsmon: no feeds to check ({where}: no `feeds:`); add feeds to the config{other}",
            file=sys.stderr,
        )
        return 2
    now = SystemClock().now()
    if args.deliver:
        from monitor.process.cycle import run_cycle

        outcome = run_cycle(config, rules_override=args.rules)
        matches, failures = outcome.matches, outcome.failures
        names = outcome.titles | {spec.id: spec.name for spec in config.feed_specs() if spec.name}
        report(matches, args.json, names)
        print(f"newsmon: {outcome.summary()}", file=sys.stderr)
    else:
        from monitor.cli.oneshot import check_feeds
        from monitor.pipeline.source import name_source

        bar = ProgressBar(sys.stderr)
        try:
            result = check_feeds(config, args.feed, rules_override=args.rules, progress=bar)
        finally:
            bar.stop()
        matches, failures = result.found, result.failures
        report(matches, args.json, result.titles, remark(now, config.retention))
        configured = {spec.url for spec in config.feed_specs()}
        unpolled = [a for a in args.feed if name_source(a).url not in configured]
        first = first_polls_ahead(config) if matches and not unpolled else {}
        for note in daemon_notes(matches, now, config.retention, unpolled, first):
            print(f"note: {note}", file=sys.stderr)
        if result.scoped:
            print(
                "note: tried on every item of a feed the config does not list, though they watch"
                f" only some feeds: {', '.join(result.scoped)}; `newsmon run` applies each to its"
                " feeds only",
                file=sys.stderr,
            )
    for feed_id, error in failures:
        print(strip_controls(f"newsmon: feed {feed_id}: {error}"), file=sys.stderr)
    if failures:
        return 2
    return 0 if matches else 1


def first_polls_ahead(config: Config) -> dict[str, float]:
    """The configured feeds whose first daemon poll (a silent baseline) is still ahead, each with
    its `backfill` in seconds: those the SQLite store has not polled (no store yet: every one).
    A PostgreSQL store is not asked, nor one that cannot be read: every feed is taken as new.
    (`check` needs no database and writes nothing; in CI a server may be out of reach.)"""
    from monitor.store import open_store, sqlite_path

    ahead = {spec.id: spec.backfill_s for spec in config.feed_specs()}
    if sqlite_path(config.database_url.strip()) in (None, ":memory:") or not store_exists(config):
        return ahead
    try:
        store = open_store(config.database_url, timeout=config.database_timeout, migrate=False)
        try:
            done = {feed.id for feed in store.list_feeds() if feed.baseline_done}
        finally:
            store.close()
    except NewsmonError:
        return ahead
    return {feed: backfill for feed, backfill in ahead.items() if feed not in done}


def report(
    matches: Sequence[tuple[Item, Sequence[Match]]],
    as_json: bool,
    feed_names: Mapping[str, str],
    note: Callable[[Item], str | None] | None = None,
) -> None:
    pairs = ((item, m) for item, found in matches for m in found)
    if as_json:
        print_json_lines(pairs, sys.stdout)
    else:
        print_matches(pairs, sys.stdout, feed_names=feed_names, remark=note)


class ProgressBar:
    """A rich progress bar on `stream` while feeds are fetched: only on a terminal and for two
    feeds or more; transient (it is gone when the results print). Colour follows rich's rules
    (none with NO_COLOR)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def start(self, total: int) -> None:
        if total < MIN_FEEDS_FOR_BAR or not _isatty(self.stream):
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._bar = Progress(
            TextColumn("checking feeds"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            console=Console(file=self.stream),
            transient=True,
        )
        self._task = self._bar.add_task("", total=total)
        self._bar.start()

    def advance(self, feed_id: str) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, advance=1, description=feed_id)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False

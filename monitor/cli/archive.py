"""`newsmon archive import`: load feed files or snapshots into the item archive. Does I/O.

A command of its own rather than a `check` option: `check` without `--deliver` writes nothing,
and `check --deliver` is a daemon cycle that marks items seen and alerts; an import does neither.
It only adds items to the archive, so `rules backtest` can run on history a user already has:
the seen keys, the outbox and the story index are untouched, so the daemon alerts (or not) on a
live item exactly as it would have without the import.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from monitor.cli.common import add_config_args, load_config_from_args
from monitor.config import Config
from monitor.durations import format_duration
from monitor.errors import FeedError, NewsmonError
from monitor.feeds.identity import shared_links, story_key
from monitor.model import ArchivedItem, Item
from monitor.net.urls import hide_url_secrets, shown_url
from monitor.pipeline.archive import archived
from monitor.plural import counted

EPILOG = """\
examples:
  newsmon archive import saved/world-2026-11-30.rss
  newsmon archive import snapshots/reuters/ --feed-id reuters-world
  newsmon archive import https://feeds.example.org/world.rss
  newsmon rules backtest --since 30d                then try the rules on them

A folder is read as snapshots of one feed (every file in it and its subfolders, sorted by path,
hidden ones skipped; a file that is not a feed is reported and skipped). Items are filed under
--feed-id, else the configured feed with that URL, else a folder's name, else a file's name. An
item counts as first seen when it was published (the import time when it has no date); one
older than archive_retention is skipped, as pruning would drop it. An item already archived is
kept as it is.
Only the archive is written: no alert is sent and no item is marked seen, so the daemon alerts on
live items exactly as it would have without the import.
exit codes: 0 every source was read, 2 an error (the sources that could be read are imported)
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "archive",
        help="load feed files you have into the item archive, for rules backtest",
        description="The item archive that `newsmon rules backtest` runs on.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    importing = commands.add_parser(
        "import",
        help="archive the items of feed files, folders of snapshots or URLs (no alerts)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_args(importing, rules=False)
    importing.add_argument("sources", metavar="FILE_OR_DIR_OR_URL", nargs="+")
    importing.add_argument("--feed-id", metavar="ID", help="file the items under this feed id")
    importing.set_defaults(func=cmd_import)


@dataclass
class ImportTally:
    files: int = 0
    parsed: int = 0
    added: int = 0
    too_old: int = 0
    failures: list[str] = field(default_factory=list)
    cut: list[str] = field(default_factory=list)  # files with more items than max_items_per_poll

    @property
    def already(self) -> int:
        return self.parsed - self.added - self.too_old


def source_files(arg: str) -> tuple[list[str], str | None]:
    """The feed sources an argument names (a folder: its files, sorted) and the feed id a
    folder gives its files (its name), if any."""
    if not arg.strip():  # "$DIR" unset: not the current folder (Path("")); name_source says so
        return [arg], None
    try:
        if urlsplit(arg).scheme.lower() in ("http", "https"):
            return [arg], None
    except ValueError:  # "http://[bad": not a path either; name_source says what is wrong
        return [arg], None
    path = Path(arg)
    if path.is_dir():
        files = sorted(
            str(p)
            for p in path.rglob("*")
            # Hidden files and folders (.git, .DS_Store) are no snapshots: each was an error.
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        # The folder's name files its items: bytes that are not UTF-8 (lone surrogates here, which
        # the store cannot write) become U+FFFD.
        return files, os.fsencode(path.resolve().name).decode("utf-8", "replace")
    return [arg], None


def import_rows(
    items: Sequence[Item], feed_id: str, now: datetime, kept: timedelta
) -> tuple[list[ArchivedItem], int]:
    """The archive rows of imported items (filed under `feed_id`, first seen when published)
    and how many were skipped as older than the archive keeps."""
    oldest = now - kept
    rows: list[ArchivedItem] = []
    too_old = 0
    shared = shared_links(items)  # one document's section-page links name no story, as in a poll
    for item in items:
        seen_at = item.published if item.published is not None and item.published < now else now
        if seen_at < oldest:
            too_old += 1
            continue
        item = _refiled(item, feed_id)
        rows.append(archived(item, story_key(item, shared), seen_at))
    return rows, too_old


def _refiled(item: Item, feed_id: str) -> Item:
    from dataclasses import replace

    return item if item.feed_id == feed_id else replace(item, feed_id=feed_id)


def _configured_id(config: Config, url: str) -> str | None:
    return next((f.id for f in config.feeds if f.url == url), None)


def cmd_import(args: argparse.Namespace) -> int:
    from monitor.pipeline.source import poll_one
    from monitor.process.bootstrap import make_guard, named_feed_policy
    from monitor.store import open_store

    config = load_config_from_args(args)
    kept = config.archive_kept
    if kept <= timedelta(0):
        raise NewsmonError(
            f"the archive is off ({config.setting_source('archive_retention')} is 0): "
            "set archive_retention (for example 90d) to keep items for rules backtest"
        )
    now = datetime.now(UTC)
    policy = named_feed_policy(config)  # as `rules test --feed` reads
    tally = ImportTally()
    store = open_store(config.database_url, timeout=config.database_timeout)
    try:
        for arg in args.sources:
            files, folder_id = source_files(arg)
            if not files:
                tally.failures.append(f"{arg}: an empty folder")
            for source in files:
                try:
                    polled = poll_one(
                        source, None, guard=make_guard(config), policy=policy, keep_items=True
                    )
                    items = polled.items
                except FeedError as exc:
                    shown = shown_url(source)  # a URL's password or API key is not printed
                    text = hide_url_secrets(str(exc), source)
                    tally.failures.append(text if text.startswith(shown) else f"{shown}: {text}")
                    continue
                feed_id = (
                    args.feed_id
                    or _configured_id(config, source)
                    or folder_id
                    or (items[0].feed_id if items else "feed")
                )
                if polled.document_items > len(items):  # else the rest would go unsaid
                    tally.cut.append(
                        f"{shown_url(source)}: read the first {len(items):,} of its "
                        f"{polled.document_items:,} items, as max_items_per_poll allows: set"
                        " NEWSMON_MAX_ITEMS_PER_POLL higher for this import, or split the file"
                    )
                rows, too_old = import_rows(items, feed_id, now, kept)
                tally.files += 1
                tally.parsed += len(items)
                tally.too_old += too_old
                tally.added += store.archive_items(rows)
    finally:
        store.close()
    for failure in tally.failures:
        print(f"newsmon: {failure}", file=sys.stderr)
    for cut in tally.cut:
        print(f"note: {cut}", file=sys.stderr)
    old = (
        f", {tally.too_old:,} older than archive_retention ({format_duration(kept)}) skipped"
        if tally.too_old
        else ""
    )
    print(
        f"archived {counted(tally.added, 'new item')} from {counted(tally.files, 'feed file')} "
        f"({tally.already:,} already there{old}); no alerts sent, no items marked seen"
    )
    return 2 if tally.failures else 0

"""`newsmon feeds list` and `newsmon feeds import`. Does I/O."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

import yaml

from monitor.cli.common import (
    MIB,
    add_config_args,
    load_config_from_args,
    no_store_yet,
    read_capped,
    store_exists,
)
from monitor.cli.render import columns, stamp
from monitor.controls import strip_controls_deep
from monitor.errors import ConfigError
from monitor.model import FeedState
from monitor.net.urls import hide_url_secrets, shown_url
from monitor.plural import counted

OPML_MAX_BYTES = 16 * MIB  # some 100,000 feeds

EPILOG = """\
examples:
  newsmon feeds list                       per feed: status, last fetch, error, next poll
  newsmon feeds list --json
  newsmon feeds import subscriptions.opml > feeds.yaml    then paste the list into the config
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "feeds",
        help="feed health, and OPML import",
        description="Feed health as the store knows it, and OPML import.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    listing = commands.add_parser(
        "list",
        help="per feed: last fetch, status, error, next poll",
        epilog="example:\n  newsmon feeds list --config /config/newsmon.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_args(listing, rules=False)
    listing.add_argument("--json", action="store_true", help="one JSON object per feed and line")
    listing.set_defaults(func=list_feeds)
    importing = commands.add_parser(
        "import",
        help="turn an OPML subscription list into the config's feeds: list",
        # Raw (the epilog's columns), so the description is wrapped here.
        description="Print the feeds of an OPML subscription list as a `feeds:` list for\n"
        "newsmon.yaml, on stdout (it writes no file). Its entries are indented as `newsmon init`\n"
        "writes them: paste them under the config's `feeds:`.",
        epilog="example:\n  newsmon feeds import subscriptions.opml > feeds.yaml"
        "    then paste the entries under the config's feeds:",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    importing.add_argument("opml", metavar="FILE.opml")
    importing.set_defaults(func=import_opml)


def list_feeds(args: argparse.Namespace) -> int:
    from monitor.store import open_store

    config = load_config_from_args(args)
    feeds: list[FeedState] = []
    # Feeds the config lists again whose state the store kept when they were removed: that
    # state goes on once the list is applied, so it is shown, not "not polled yet".
    back: dict[str, FeedState] = {}
    if store_exists(config):  # a read must not create the store
        store = open_store(config.database_url, timeout=config.database_timeout)
        try:
            store.migrate()
            feeds = store.list_feeds()
            active = {feed.id for feed in feeds}
            for spec in config.feed_specs():
                kept = None if spec.id in active else store.get_feed(spec.id)
                if kept is not None:
                    back[spec.id] = kept
        finally:
            store.close()
    else:
        print(no_store_yet(config), file=sys.stderr)
    configured = {spec.id for spec in config.feed_specs()}
    feeds = sorted([*feeds, *back.values()], key=lambda feed: feed.id)
    # A feed just added to the config is in no store row yet: listed, so that it is not missing.
    polled = {feed.id for feed in feeds}
    waiting = [spec for spec in config.feed_specs() if spec.id not in polled]
    if args.json:
        for feed in feeds:
            # The error quotes a server (a reason phrase); `jq -r` would print its controls.
            print(json.dumps(strip_controls_deep(feed_json(feed, feed.id in configured))))
        for spec in waiting:  # as in the table, or a script watching the list misses new feeds
            print(json.dumps(strip_controls_deep(waiting_json(spec.id, spec.url))))
        return 0
    if not feeds and not waiting:
        print("no feeds polled yet (run `newsmon check --deliver` or `newsmon run`)")
        return 0
    rows = []
    for feed in feeds:
        flag = (
            " (back in config)"
            if feed.id in back
            else ("" if feed.id in configured else " (not in config)")
        )
        error = (
            f"[{feed.error_kind}] {hide_url_secrets(feed.last_error, feed.url)}"
            f" (x{feed.error_count})"
            if feed.last_error
            else ""
        )
        rows.append(
            [
                feed.id,
                feed.status + flag,
                stamp(feed.last_fetch_at),
                stamp(feed.next_poll_at),
                error,
            ]
        )
    rows.extend([spec.id, "not polled yet", "-", "-", ""] for spec in waiting)
    for line in columns(rows, ["FEED", "STATUS", "LAST FETCH", "NEXT POLL", "ERROR"]):
        print(line)
    return 0


def feed_json(feed: FeedState, configured: bool) -> dict[str, object]:
    return {
        "id": feed.id,
        "url": shown_url(feed.url),
        "status": feed.status,
        "configured": configured,
        "last_fetch_at": _iso(feed.last_fetch_at),
        "last_success_at": _iso(feed.last_success_at),
        "next_poll_at": _iso(feed.next_poll_at),
        "error": hide_url_secrets(feed.last_error, feed.url) if feed.last_error else None,
        "error_kind": feed.error_kind,
        "error_count": feed.error_count,
    }


def waiting_json(feed_id: str, url: str) -> dict[str, object]:
    """A configured feed the store has no row of yet, in `feed_json`'s shape."""
    return {
        "id": feed_id,
        "url": shown_url(url),
        "status": "not_polled",
        "configured": True,
        "last_fetch_at": None,
        "last_success_at": None,
        "next_poll_at": None,
        "error": None,
        "error_kind": None,
        "error_count": 0,
    }


def import_opml(args: argparse.Namespace) -> int:
    from monitor.feeds.opml import parse_opml

    path = Path(args.opml)
    try:
        data = read_capped(path, OPML_MAX_BYTES, "a subscription list")
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from exc
    duplicates: list[str] = []
    specs = parse_opml(data, str(path), duplicates)
    for line in duplicates:
        print(f"newsmon: {line}", file=sys.stderr)
    entries = []
    for spec in specs:
        entry: dict[str, object] = {"id": spec.id, "url": spec.url}
        if spec.name:
            entry["name"] = spec.name
        if spec.tags:
            entry["tags"] = list(spec.tags)
        entries.append(entry)
    sys.stdout.write(f"# {counted(len(entries), 'feed')} imported from {path.name}\n")
    # Indented as `newsmon init` writes its list, so the entries paste under that `feeds:`
    # (a list indented two ways in one sequence is a YAML error).
    listed = yaml.safe_dump(
        entries, sort_keys=False, allow_unicode=True, default_flow_style=None, width=10**6
    )
    sys.stdout.write("feeds:\n" + "".join(f"  {line}" for line in listed.splitlines(True)))
    return 0


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None

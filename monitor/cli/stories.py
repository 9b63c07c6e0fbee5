"""`newsmon stories`: the stories the store knows and their sightings. Does I/O (config, store,
stdout).

    newsmon stories list [--story KEY] [--json] [--limit N]

Without `--story`: the stories with recorded sightings, most recently sighted first, with how
many sightings each has and the title of the first. With `--story KEY`: every sighting of that
story (feed, item key, time, link, title), earliest first: only the first could alert (it did
when a rule matched it outside a feed's silent first poll).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from monitor.cli.common import add_config_args, at_least_one, no_store_yet
from monitor.cli.render import columns, stamp
from monitor.controls import strip_controls, strip_controls_deep
from monitor.model import StorySource
from monitor.plural import counted

EPILOG = """\
examples:
  newsmon stories list                       the newest stories, with how many feeds saw each
  newsmon stories list --story u:3f2a9c...   every feed and item that told this story
  newsmon stories list --json --limit 500
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "stories",
        help="list stories and their sources (the same story seen in several feeds)",
        description="List the stories the store knows and where each was seen.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(func=lambda args: _usage(parser))
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    listing = commands.add_parser(
        "list",
        help="stories, or the sightings of one story",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_args(listing, rules=False)
    listing.add_argument("--story", metavar="KEY", help="every sighting of this story")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.add_argument(
        "--limit", type=at_least_one, default=50, metavar="N", help="at most N stories (50)"
    )
    listing.set_defaults(func=cmd_list)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def source_json(s: StorySource) -> dict[str, Any]:
    return {"story": s.story_key, "feed": s.feed_id, "item_key": s.item_key,
            "seen_at": _iso(s.seen_at), "url": s.url, "title": s.title}  # fmt: skip


def cmd_list(args: argparse.Namespace) -> int:
    from monitor.cli.common import store_exists
    from monitor.config import load_config
    from monitor.store import open_store

    config = load_config(args.config)
    if not store_exists(config):  # a read must not create the store
        print(no_store_yet(config), file=sys.stderr)
        return _none(args.story)
    store = open_store(config.database_url, timeout=config.database_timeout)
    try:
        if args.story:
            sources = store.list_story_sources(args.story)
            if not sources:
                return _none(args.story)
            if args.json:
                for s in sources:
                    print(json.dumps(strip_controls_deep(source_json(s)), ensure_ascii=False))
                return 0
            # ITEM is FEED/ITEM_KEY, what `newsmon feedback` and `rules tune --like` take.
            rows = [
                [stamp(s.seen_at), f"{s.feed_id}/{s.item_key}", s.title, s.url or ""]
                for s in sources
            ]
            for line in columns(rows, ["SEEN", "ITEM", "TITLE", "URL"]):
                print(line)
            print("ITEM: the feed and the item's key, as `newsmon feedback ITEM` takes it")
            return 0
        stories = store.list_stories(args.limit)
        if not stories:
            return _none(None)
        rows = []
        for key, count in stories:
            first = store.list_story_sources(key)[:1]
            title = first[0].title if first else ""
            if args.json:
                print(json.dumps({"story": key, "sources": count, "title": strip_controls(title)},
                                 ensure_ascii=False))  # fmt: skip
            else:
                seen = stamp(first[0].seen_at) if first else "-"
                rows.append([key, str(count), seen, title])
        if not args.json:
            for line in columns(rows, ["STORY", "SIGHTINGS", "FIRST SEEN", "TITLE"]):
                print(line)
            print(
                f"{counted(len(stories), 'story', 'stories')}, newest first; SIGHTINGS: the items,"
                " in any feed, that told the story (`--story KEY` lists them; only the first"
                " could alert)"
            )
        return 0
    finally:
        store.close()


def _none(story: str | None) -> int:
    if story:
        print(f"newsmon: no sightings of story {story!r}", file=sys.stderr)
    else:
        print(  # on stderr: stdout stays empty, or valid JSON lines with --json
            "no stories yet: `newsmon run` and `newsmon check --deliver` record them as they "
            "poll (a feed's first poll is a silent baseline)",
            file=sys.stderr,
        )
    return 1

"""`newsmon deliveries`: list the outbox and dead letters, replay them, re-enable a destination.
Does I/O (the config, the store, stdout).

    newsmon deliveries list [--dead] [--json] [--limit N]
    newsmon deliveries replay ID [ID ...] | --all-dead
    newsmon deliveries enable NAME

Disabled destinations (a revoked Slack hook, a 410) are shown first and loudly, because every
alert for them is a dead letter until someone fixes and re-enables them. A replay keeps each
alert's id, so receivers see the same idempotency key (`webhook-id`) as before.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NoReturn

from monitor.cli.common import at_least_one, no_store_yet
from monitor.cli.render import columns, stamp
from monitor.clock import SystemClock
from monitor.config import Config
from monitor.controls import strip_controls_deep
from monitor.errors import ConfigError, NewsmonError
from monitor.model import OutboxRow
from monitor.plural import counted
from monitor.store.base import Store

STATUSES = ("pending", "delivered", "dead")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "deliveries",
        help="list alerts in the outbox and dead letters; replay them",
        description="List the alert outbox and dead letters; replay dead letters.",
        epilog=(
            "examples:\n  newsmon deliveries list --dead\n"
            "  newsmon deliveries replay --all-dead\n  newsmon deliveries enable team-slack\n"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(func=lambda args: _usage(parser))
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="FILE",
        help="the YAML config (default: $NEWSMON_CONFIG, else ./newsmon.yaml if present)",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    listing = commands.add_parser(
        "list",
        parents=[common],
        help="alerts, newest first (disabled destinations first)",
        epilog="examples:\n  newsmon deliveries list\n  newsmon deliveries list --dead --json\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    which = listing.add_mutually_exclusive_group()
    which.add_argument("--dead", action="store_true", help="only dead letters (--status dead)")
    which.add_argument("--status", choices=STATUSES, help="only alerts with this status")
    listing.add_argument("--json", action="store_true", help="one JSON document on stdout")
    listing.add_argument(
        "--limit", type=at_least_one, default=100, metavar="N", help="at most N alerts (100)"
    )
    listing.set_defaults(func=cmd_list)

    replay = commands.add_parser(
        "replay",
        parents=[common],
        help="queue dead letters to be sent again, with the same ids",
        description="Put dead letters back in the outbox, with the same ids (receivers see the\n"
        "same webhook-id): the running daemon sends them, or the next `newsmon check --deliver`.",
        epilog=(
            "examples:\n  newsmon deliveries replay msg_6c2ba1d0c35ff1c61dff4524f36d2da2\n"
            "  newsmon deliveries replay --all-dead\n"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # Not an argparse mutually exclusive group: a positional in one cannot be read intermixed
    # (`replay ID --config C ID2` left ID2 over, "unknown argument"); `cmd_replay` checks it.
    replay.add_argument("ids", nargs="*", default=[], metavar="ID", help="alert ids")
    replay.add_argument("--all-dead", action="store_true", help="every dead letter")
    replay.set_defaults(func=cmd_replay)

    enable = commands.add_parser(
        "enable",
        parents=[common],
        help="re-enable a disabled destination",
        epilog="example:\n  newsmon deliveries enable team-slack   # then: replay --all-dead\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    enable.add_argument("name", help="the destination's name")
    enable.set_defaults(func=cmd_enable)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


@contextmanager
def _open(args: argparse.Namespace, config: Config | None = None) -> Iterator[Store]:
    from monitor.config import load_config
    from monitor.store import open_store

    config = config or load_config(getattr(args, "config", None))
    store = open_store(config.database_url, timeout=config.database_timeout)
    try:
        yield store
    finally:
        store.close()


def _iso(when: datetime | None) -> str | None:
    return when.isoformat().replace("+00:00", "Z") if when else None


def _title(row: OutboxRow) -> str:
    item = row.document.get("item")
    title = item.get("title") if isinstance(item, dict) else None
    return title if isinstance(title, str) else ""


def row_json(row: OutboxRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "destination": row.destination,
        "status": row.status,
        "attempts": row.attempts,
        "created_at": _iso(row.created_at),
        "next_attempt_at": _iso(row.next_attempt_at) if row.status == "pending" else None,
        "delivered_at": _iso(row.delivered_at),
        "last_error": row.last_error,
        "title": _title(row),
    }


def disabled_banner(disabled: dict[str, str]) -> list[str]:
    lines = []
    for name, reason in sorted(disabled.items()):
        lines.append(f"!! DESTINATION DISABLED: {name}: {reason}")
    if lines:
        lines.append(
            "!! its alerts are dead letters; fix it, then `newsmon deliveries enable NAME` "
            "and `newsmon deliveries replay --all-dead`"
        )
    return lines


def paused_banner(paused: dict[str, datetime]) -> list[str]:
    """The destinations whose service asked every process to wait (a 429's Retry-After, at
    most an hour): their due alerts wait too, and without this they read as due and unsent."""
    return [
        f"!! PAUSED: {name} until {stamp(until)}: it answered 429 (too many requests);"
        " its alerts wait until then"
        for name, until in sorted(paused.items())
    ]


def unconfigured(config: Config, pending: list[str]) -> list[str]:
    """The destinations pending alerts wait for (`pending`, all of them, not only the rows
    listed) that the config no longer names (removed or renamed): no process sends to them, so
    their alerts would wait, unsaid, for ever. None without a config file (it names no
    destination at all)."""
    if config.path is None:
        return []
    names = {d.name for d in config.destinations}
    return sorted(set(pending) - names)


def unconfigured_banner(config: Config, missing: list[str]) -> list[str]:
    if not missing:
        return []
    return [
        f"!! NOT SENT: pending alerts for {', '.join(missing)}, not a destination in"
        f" {config.path}; they wait until a destination of that name is configured again"
    ]


def _waits_for_pause(row: OutboxRow, paused: dict[str, datetime]) -> bool:
    """Whether pending `row` is due before its destination's pause ends: it waits for it."""
    until = paused.get(row.destination)
    due = row.next_attempt_at
    return row.status == "pending" and until is not None and (due is None or due < until)


def _short(text: str | None, width: int) -> str:
    text = (text or "").replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def cmd_list(args: argparse.Namespace) -> int:
    from monitor.cli.common import store_exists
    from monitor.config import load_config

    status = "dead" if args.dead else args.status
    config = load_config(getattr(args, "config", None))
    disabled: dict[str, str] = {}
    rows: list[OutboxRow] = []
    pending, oldest = 0, None
    waited_for: list[str] = []
    paused: dict[str, datetime] = {}
    now = SystemClock().now()
    if store_exists(config):  # a read must not create the store
        with _open(args, config) as store:
            disabled = store.disabled_destinations()
            rows = store.list_alerts(status=status, limit=args.limit)
            pending, oldest = store.outbox_stats(now)
            waited_for = store.pending_destinations()
            paused = store.paused_destinations(now)
    else:
        print(no_store_yet(config), file=sys.stderr)
    missing = unconfigured(config, waited_for)
    if args.json:
        doc = {
            "disabled_destinations": disabled,
            "unconfigured_destinations": missing,
            "paused_destinations": {name: _iso(until) for name, until in sorted(paused.items())},
            "pending": pending,
            "oldest_pending_age_s": oldest,
            "alerts": [row_json(r) for r in rows],
        }
        print(json.dumps(strip_controls_deep(doc), ensure_ascii=False, indent=2))
        return 0
    banners = disabled_banner(disabled) + unconfigured_banner(config, missing)
    for line in banners + paused_banner(paused):
        print(line)
    age = f", oldest {oldest:.0f}s old" if oldest is not None else ""
    print(f"{pending} pending{age}")
    if not rows:
        print("no dead letters" if status == "dead" else "no alerts")
        return 0
    table = []
    for row in rows:
        # One meaning per column: when the alert was made, and when it is next tried (pending)
        # or was delivered; a dead letter has neither.
        then = row.next_attempt_at if row.status == "pending" else row.delivered_at
        detail = row.last_error if row.status != "delivered" and row.last_error else _title(row)
        if row.status == "pending" and row.destination in missing:
            detail = "not sent: no such destination in the config"
        elif _waits_for_pause(row, paused):
            detail = f"waits: {row.destination} paused until {stamp(paused[row.destination])}"
        table.append([row.id, row.destination, row.status, str(row.attempts),
                      stamp(row.created_at), stamp(then), _short(detail, 60)])  # fmt: skip
    header = [
        "ID",
        "DESTINATION",
        "STATUS",
        "TRIES",
        "CREATED",
        "NEXT TRY / DELIVERED",
        "ERROR / TITLE",
    ]
    for line in columns(table, header):
        print(line)
    return 0


def _refuse(args: argparse.Namespace, message: str) -> NoReturn:
    """A usage error said by the command's parser (`newsmon deliveries replay: ...`, exit 2)."""
    parser = getattr(args, "_parser", None)
    if isinstance(parser, argparse.ArgumentParser):
        parser.error(message)
    raise NewsmonError(message)


def cmd_replay(args: argparse.Namespace) -> int:
    from monitor.cli.common import store_exists
    from monitor.config import load_config

    # argparse's own words for the group this replaced.
    if not args.ids and not args.all_dead:
        _refuse(args, "one of the arguments ID --all-dead is required")
    if args.ids and args.all_dead:
        _refuse(args, "argument --all-dead: not allowed with argument ID")
    config = load_config(getattr(args, "config", None))
    if not store_exists(config):
        print(f"newsmon: no store at {config.database_url}: nothing to replay", file=sys.stderr)
        return 1
    with _open(args, config) as store:
        for line in disabled_banner(store.disabled_destinations()):
            print(line, file=sys.stderr)
        now = SystemClock().now()
        if args.all_dead:
            count = store.replay(None, now)
            print(_replayed(count))
            return 0 if count else 1
        problems = []
        for alert_id in args.ids:
            row = store.get_alert(alert_id)
            if row is None:
                problems.append(f"{alert_id}: no such alert")
            elif row.status != "dead":
                problems.append(f"{alert_id}: is {row.status}, only dead letters are replayed")
        count = store.replay(list(args.ids), now)
    for problem in problems:
        print(f"newsmon: {problem}", file=sys.stderr)
    print(_replayed(count))
    return 0 if count and not problems else 1


CHECK_DELIVER = "`newsmon check --deliver`"


def _replayed(count: int) -> str:
    """What replay did: it queues, it does not send. Said, since a user without a daemon (cron
    running `check --deliver`) otherwise waits for a post that only the next cycle makes."""
    done = f"replayed {counted(count, 'dead letter')} (same ids)"
    if not count:
        return done
    them = "it" if count == 1 else "them"
    return f"{done}: pending again; `newsmon run` sends {them}, or the next {CHECK_DELIVER}"


def cmd_enable(args: argparse.Namespace) -> int:
    from monitor.cli.common import store_exists
    from monitor.config import load_config

    config = load_config(getattr(args, "config", None))
    configured = config.destination(args.name) is not None
    # A destination removed from the config may still be disabled in the store: enabling it is
    # harmless. One that is in neither is a typo.
    disabled = False
    if configured or store_exists(config):
        with _open(args, config) as store:
            disabled = args.name in store.disabled_destinations()
            if disabled:
                store.enable_destination(args.name)
    if not disabled and not configured:
        if config.path is None:
            raise ConfigError(
                f"no such destination {args.name!r}: no config file found"
                " (give --config FILE or set NEWSMON_CONFIG)"
            )
        names = ", ".join(sorted(d.name for d in config.destinations)) or "none"
        raise ConfigError(
            f"no such destination {args.name!r} in {config.path} (destinations: {names})"
        )
    if not disabled:
        print(f"newsmon: destination {args.name!r} is not disabled", file=sys.stderr)
        return 1
    print(
        f"enabled {args.name}; replay its dead letters with `newsmon deliveries replay --all-dead`"
    )
    return 0
